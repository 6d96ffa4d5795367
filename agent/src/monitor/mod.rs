//! Self-monitoring: the agent's counters, logged as changes every interval ([`log_changes`]),
//! and the answers of its optional HTTP endpoint ([`AgentMetrics::answer`]: `/metrics` in
//! Prometheus text, `/health` as decided by [`health()`], `/ready`), served by
//! [`ferrobeat_toolbox::endpoint`].

mod changes;
mod health;

pub use changes::{describe_changes, log_changes};
pub use health::{DEFAULT_UNHEALTHY_AFTER, Health, health};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferrobeat_schema::Metricset;
use ferrobeat_toolbox::endpoint::Reply;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::spool::SpoolStats;

/// One of the agent's event counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Events received from the sampler.
    Sampled,
    /// Events whose delivery Kafka acknowledged (or written to stdout).
    Acknowledged,
    /// Delivery attempts that failed (the event stays spooled and is sent again).
    Failed,
    /// Events written to the disk spool.
    Spooled,
    /// Events dropped, unsent, because the spool (or, when it is unwritable, the memory
    /// queue) was full.
    Dropped,
    /// Spool frames found damaged and skipped.
    Corrupt,
    /// Spool writes that failed (those events were kept in memory instead).
    SpoolErrors,
}

impl Count {
    /// Every counter, in a stable order.
    pub const ALL: [Count; 7] = [
        Count::Sampled,
        Count::Acknowledged,
        Count::Failed,
        Count::Spooled,
        Count::Dropped,
        Count::Corrupt,
        Count::SpoolErrors,
    ];

    /// The name in logs and, with `ferrobeat_agent_` before and `_total` after, in Prometheus.
    pub fn name(self) -> &'static str {
        match self {
            Count::Sampled => "events_sampled",
            Count::Acknowledged => "events_acknowledged",
            Count::Failed => "events_failed",
            Count::Spooled => "events_spooled",
            Count::Dropped => "events_dropped",
            Count::Corrupt => "spool_corrupt_frames",
            Count::SpoolErrors => "spool_write_errors",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Count::Sampled => "Events received from the sampler",
            Count::Acknowledged => "Events whose delivery was acknowledged",
            Count::Failed => "Delivery attempts that failed and will be retried from the spool",
            Count::Spooled => "Events written to the disk spool",
            Count::Dropped => {
                "Events dropped unsent because the spool (or the memory queue) was full"
            }
            Count::Corrupt => "Damaged spool frames skipped",
            Count::SpoolErrors => "Spool writes that failed; those events were kept in memory",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The agent's counters and gauges, shared by the shipper, the logger and the endpoint.
#[derive(Debug)]
pub struct AgentMetrics {
    counters: [Counter; Count::ALL.len()],
    spool_depth: Gauge,
    spool_bytes: Gauge,
    sampling: SamplingFamily,
    rounds: RoundsFamily,
    rounds_failed: RoundsFamily,
    /// When the last acknowledgement came, in milliseconds since the Unix epoch (0: never).
    last_acknowledged_ms: AtomicI64,
    /// Since when events have been waiting in the spool, in milliseconds since the Unix
    /// epoch (0: the spool is empty).
    waiting_since_ms: AtomicI64,
    /// How long events may wait without a delivery before `/health` turns 503.
    unhealthy_after: Duration,
    registry: Registry,
}

/// The `metricset` label.
type MetricsetLabel = [(&'static str, &'static str); 1];

/// Collection-time histograms by `metricset`.
type SamplingFamily = Family<MetricsetLabel, Histogram, fn() -> Histogram>;

/// Round counters by `metricset`.
type RoundsFamily = Family<MetricsetLabel, Counter>;

fn metricset_label(metricset: Metricset) -> MetricsetLabel {
    [("metricset", metricset.name())]
}

/// Buckets for one metricset's collection time: 10 µs to about 2.6 s.
fn sampling_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

/// The values at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Each [`Count`], by its position in [`Count::ALL`].
    pub counts: [u64; Count::ALL.len()],
    /// Events in the spool not yet acknowledged.
    pub spool_depth: i64,
    /// Bytes of the spool's segment files.
    pub spool_bytes: i64,
}

impl AgentMetrics {
    /// Fresh metrics, all zero, registered for Prometheus under `ferrobeat_agent_`; `/health`
    /// turns 503 after [`DEFAULT_UNHEALTHY_AFTER`] without a delivery.
    pub fn new() -> Arc<Self> {
        Self::with_unhealthy_after(DEFAULT_UNHEALTHY_AFTER)
    }

    /// Fresh metrics whose `/health` turns 503 once events have waited in the spool for
    /// `unhealthy_after` without any delivery succeeding.
    pub fn with_unhealthy_after(unhealthy_after: Duration) -> Arc<Self> {
        let mut registry = Registry::with_prefix("ferrobeat_agent");
        let counters: [Counter; Count::ALL.len()] = Default::default();
        for count in Count::ALL {
            registry.register(count.name(), count.help(), counters[count.index()].clone());
        }
        let spool_depth = Gauge::default();
        let spool_bytes = Gauge::default();
        registry.register(
            "spool_depth_events",
            "Events in the spool not yet acknowledged",
            spool_depth.clone(),
        );
        registry.register(
            "spool_size_bytes",
            "Bytes of the spool's segment files",
            spool_bytes.clone(),
        );
        let sampling: SamplingFamily = Family::new_with_constructor(sampling_histogram);
        registry.register(
            "sampling_duration_seconds",
            "Time to read one round of a metricset from the system (its events' event.duration), failed rounds included",
            sampling.clone(),
        );
        let rounds = RoundsFamily::default();
        registry.register(
            "sampling_rounds",
            "Collection rounds of a metricset",
            rounds.clone(),
        );
        let rounds_failed = RoundsFamily::default();
        registry.register(
            "sampling_rounds_failed",
            "Collection rounds of a metricset that produced no events because reading or computing failed",
            rounds_failed.clone(),
        );
        Arc::new(AgentMetrics {
            counters,
            spool_depth,
            spool_bytes,
            sampling,
            rounds,
            rounds_failed,
            last_acknowledged_ms: AtomicI64::new(0),
            waiting_since_ms: AtomicI64::new(0),
            unhealthy_after,
            registry,
        })
    }

    /// Adds `n` to a counter.
    pub fn add(&self, count: Count, n: u64) {
        if n > 0 {
            self.counters[count.index()].inc_by(n);
            if count == Count::Acknowledged {
                self.last_acknowledged_ms
                    .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
            }
        }
    }

    /// Records a collection round of `metricset` that read the system for `duration` and
    /// `failed` or not (reported by the sampler).
    pub fn round_collected(&self, metricset: Metricset, duration: Duration, failed: bool) {
        let label = metricset_label(metricset);
        self.sampling
            .get_or_create(&label)
            .observe(duration.as_secs_f64());
        self.rounds.get_or_create(&label).inc();
        if failed {
            self.rounds_failed.get_or_create(&label).inc();
        }
    }

    /// Collection rounds of `metricset` so far.
    pub fn rounds(&self, metricset: Metricset) -> u64 {
        self.rounds
            .get(&metricset_label(metricset))
            .map_or(0, |counter| counter.get())
    }

    /// Collection rounds of `metricset` that failed so far.
    pub fn rounds_failed(&self, metricset: Metricset) -> u64 {
        self.rounds_failed
            .get(&metricset_label(metricset))
            .map_or(0, |counter| counter.get())
    }

    /// When a delivery was last acknowledged.
    pub fn last_acknowledged(&self) -> Option<DateTime<Utc>> {
        instant_of(&self.last_acknowledged_ms)
    }

    /// Since when events have been waiting in the spool; `None` while it is empty.
    pub fn waiting_since(&self) -> Option<DateTime<Utc>> {
        instant_of(&self.waiting_since_ms)
    }

    /// The health at `now`, `stopping` once a stop was requested.
    pub fn health(&self, now: DateTime<Utc>, stopping: bool) -> Health {
        health(
            now,
            stopping,
            self.waiting_since(),
            self.last_acknowledged(),
            self.unhealthy_after,
        )
    }

    /// The answer to `GET path`; `stopping` once a stop was requested.
    ///
    /// * `/metrics`: Prometheus text;
    /// * `/health`: 200 while sampling and shipping, 503 once stopping or when events have
    ///   waited in the spool longer than `unhealthy_after` without a delivery ([`health()`]);
    ///   JSON with the status, the reason when unhealthy, the spool depth and the last
    ///   acknowledgement;
    /// * `/ready`: 200 once a first round was sampled, until stopping.
    pub fn answer(&self, path: &str, stopping: bool) -> Reply {
        match path {
            "/metrics" => Reply::openmetrics(self.prometheus_text()),
            "/health" => {
                let health = self.health(Utc::now(), stopping);
                let spool_depth = self.spool_depth.get();
                let body = serde_json::json!({
                    "status": health.word(),
                    "reason": health.reason(spool_depth),
                    "spool_depth": spool_depth,
                    "last_acknowledged": self.last_acknowledged().map(|at| at.to_rfc3339()),
                    "events_sampled": self.get(Count::Sampled),
                });
                Reply::json(health.status(), &body)
            }
            "/ready" if !stopping && self.get(Count::Sampled) > 0 => Reply::text(200, "ready"),
            "/ready" => Reply::text(503, "not ready"),
            _ => Reply::text(404, "try /metrics, /health or /ready"),
        }
    }

    /// A counter's value.
    pub fn get(&self, count: Count) -> u64 {
        self.counters[count.index()].get()
    }

    /// Sets the spool gauges, and notes when events started waiting in it.
    pub fn set_spool(&self, stats: &SpoolStats) {
        if stats.depth == 0 {
            self.waiting_since_ms.store(0, Ordering::Relaxed);
        } else {
            // Only the first non-empty report after an empty one starts the wait.
            let _ = self.waiting_since_ms.compare_exchange(
                0,
                Utc::now().timestamp_millis(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        self.spool_depth
            .set(i64::try_from(stats.depth).unwrap_or(i64::MAX));
        self.spool_bytes
            .set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
    }

    /// Every value now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            counts: Count::ALL.map(|c| self.get(c)),
            spool_depth: self.spool_depth.get(),
            spool_bytes: self.spool_bytes.get(),
        }
    }

    /// The Prometheus text exposition of every value.
    pub fn prometheus_text(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The instant an atomic holds, in milliseconds since the Unix epoch (0: none).
fn instant_of(ms: &AtomicI64) -> Option<DateTime<Utc>> {
    match ms.load(Ordering::Relaxed) {
        0 => None,
        ms => DateTime::from_timestamp_millis(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_rounds_are_exported_by_metricset() {
        let metrics = AgentMetrics::new();
        metrics.round_collected(Metricset::Diskio, Duration::from_micros(40), true);
        metrics.round_collected(Metricset::Diskio, Duration::from_micros(50), true);
        metrics.round_collected(Metricset::Cpu, Duration::from_micros(60), false);
        assert_eq!(metrics.rounds_failed(Metricset::Diskio), 2);
        assert_eq!(metrics.rounds(Metricset::Diskio), 2);
        assert_eq!(metrics.rounds_failed(Metricset::Cpu), 0);
        assert_eq!(metrics.rounds(Metricset::Cpu), 1);
        let text = metrics.answer("/metrics", false).body;
        for line in [
            "ferrobeat_agent_sampling_rounds_failed_total{metricset=\"diskio\"} 2",
            "ferrobeat_agent_sampling_rounds_total{metricset=\"diskio\"} 2",
            "ferrobeat_agent_sampling_rounds_total{metricset=\"cpu\"} 1",
            "ferrobeat_agent_sampling_duration_seconds_count{metricset=\"diskio\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in {text}");
        }
    }

    #[test]
    fn prometheus_text_has_every_metric() {
        let metrics = AgentMetrics::new();
        metrics.add(Count::Dropped, 2);
        let text = metrics.prometheus_text();
        for count in Count::ALL {
            assert!(
                text.contains(&format!("ferrobeat_agent_{}_total", count.name())),
                "{text}"
            );
        }
        assert!(
            text.contains("ferrobeat_agent_events_dropped_total 2"),
            "{text}"
        );
        assert!(
            text.contains("ferrobeat_agent_spool_depth_events 0"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn endpoint_answers_health_ready_and_sampling_latency() {
        let metrics = AgentMetrics::new();
        assert_eq!(metrics.answer("/ready", false).status, 503);
        let health = metrics.answer("/health", false);
        assert_eq!(health.status, 200);
        let body: serde_json::Value = serde_json::from_str(&health.body).expect("json");
        assert_eq!(body["last_acknowledged"], serde_json::Value::Null);

        metrics.add(Count::Sampled, 1);
        metrics.round_collected(Metricset::Cpu, Duration::from_nanos(2_847_417), false);
        metrics.add(Count::Acknowledged, 1);
        metrics.set_spool(&SpoolStats {
            depth: 3,
            bytes: 10,
            dropped: 0,
            corrupt: 0,
        });
        assert_eq!(metrics.answer("/ready", false).status, 200);
        let body: serde_json::Value =
            serde_json::from_str(&metrics.answer("/health", false).body).expect("json");
        assert_eq!(body["status"], "running");
        assert_eq!(body["spool_depth"], 3);
        assert!(body["last_acknowledged"].is_string(), "{body}");

        let text = metrics.answer("/metrics", false).body;
        assert!(
            text.contains("ferrobeat_agent_sampling_duration_seconds_count{metricset=\"cpu\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "ferrobeat_agent_sampling_duration_seconds_sum{metricset=\"cpu\"} 0.002847417"
            ),
            "{text}"
        );
        assert_eq!(metrics.answer("/health", true).status, 503);
        assert_eq!(metrics.answer("/ready", true).status, 503);
        assert_eq!(metrics.answer("/", false).status, 404);
    }
}
