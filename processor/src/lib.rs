//! ferrobeat-processor: a small Kafka Streams for Rust and the metric topology built on it.
//!
//! * `topology`: the pure DSL (`StreamsBuilder`, `KStream`, `Topology::describe`), no Kafka;
//! * `driver`: the `TopologyTestDriver`, running a topology synchronously without a broker;
//! * `metric_topology`: the seed application (route by metricset, alert on hot CPUs);
//! * `runtime`: the Kafka runtime (consumer group, tasks, at-least-once commits, states).
//! * `monitor`: Prometheus series, the `/metrics`, `/health` and `/ready` endpoint, logging;
//! * `lag`: the `lag` command (consumer lag and Burrow-style statuses of the group).
//! * `config`: the TOML configuration file (`[kafka]`, `[runtime]`, `[topology]`, `[errors]`).
#![warn(missing_docs)]
pub mod config;
pub mod driver;
pub mod errors;
pub mod lag;
pub mod metric_topology;
pub mod monitor;
pub mod record;
pub mod runtime;
pub mod setup;
pub mod topology;
