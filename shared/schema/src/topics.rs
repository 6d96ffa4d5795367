//! Default Kafka topic names of the ferrobeat pipeline (see the mission's pipeline picture).

/// Every sampled event, as the agent produces it.
pub const ALL: &str = "metric.all";
/// Cpu events, routed unchanged by the processor.
pub const CPU: &str = "metric.cpu";
/// Memory events, routed unchanged by the processor.
pub const MEMORY: &str = "metric.memory";
/// Alerts for cpu events whose `system.cpu.total.norm.pct` exceeds the threshold.
pub const CPU_ALERT: &str = "metric.cpu.alert";
/// Records the processor could not handle, with headers naming why.
pub const DEAD_LETTER: &str = "metric.dlq";

/// The topics the pipeline needs, in the order `setup` creates them.
pub const PIPELINE: [&str; 5] = [ALL, CPU, MEMORY, CPU_ALERT, DEAD_LETTER];
