//! The metric topology (the reference design's `MetricStreams`), built with the DSL:
//!
//! * from `metric.all`, split by `metricset.name`: `cpu` → `metric.cpu`, `memory` →
//!   `metric.memory`, each extra route `name` → its topic; the record bytes unchanged;
//!   other metricsets are dropped, counted per metricset ([`UnroutedCounts`]) and logged the
//!   first time each is seen;
//! * cpu events whose `system.cpu.total.norm.pct` is strictly greater than the threshold →
//!   `metric.cpu.alert`, value = the event's `host` object with `"timestamp"` = `@timestamp`
//!   appended, compact. An event without it (Metricbeat configured without normalised
//!   percentages) is compared on `total.pct / cores` instead, counted in [`NormalisedCounts`].
//!
//! Each record is parsed once into a borrowed [`MetricEvent`]; pass-through outputs borrow
//! the input. A record that is not a Metricbeat event, lacks `metricset.name`, or (cpu)
//! lacks what routing or the alert needs fails with a [`ferrobeat_streams::topology::ProcessingError`].

pub mod alerting;
mod event;
mod inventory;
mod minify;
mod pipeline;
mod scan;
pub mod summaries;
pub mod summary;
pub mod sustained;
pub mod transitions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use ferrobeat_schema::topics;
use serde::Deserialize;

pub use event::{CpuNorm, MetricEvent, MetricEventSerde};
pub use inventory::InventoryCounts;
pub use pipeline::{MetricPipeline, metric_pipeline};

use ferrobeat_streams::topology::{Topology, validate_topic_name};

/// The metricset routed to the cpu topic and checked for alerts.
pub const CPU_METRICSET: &str = "cpu";
/// The metricset routed to the memory topic.
pub const MEMORY_METRICSET: &str = "memory";

/// Topics and threshold of the metric topology; every key is optional.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricTopologyConfig {
    /// Where events are read (default `metric.all`).
    pub input_topic: String,
    /// Where cpu events go (default `metric.cpu`).
    pub cpu_topic: String,
    /// Where memory events go (default `metric.memory`).
    pub memory_topic: String,
    /// Where alerts go (default `metric.cpu.alert`).
    pub alert_topic: String,
    /// Alert when `system.cpu.total.norm.pct` is strictly greater than this (default 0.5).
    pub alert_threshold: f64,
    /// More routes: metricset name → topic (e.g. `network = "metric.network"`).
    pub extra_routes: BTreeMap<String, String>,
    /// A compacted topic keyed by host name whose values are JSON objects: each alert of a
    /// host found there gains `"inventory": <that object>` (off when absent).
    pub inventory_topic: Option<String>,
}

impl Default for MetricTopologyConfig {
    fn default() -> Self {
        Self {
            input_topic: topics::ALL.to_owned(),
            cpu_topic: topics::CPU.to_owned(),
            memory_topic: topics::MEMORY.to_owned(),
            alert_topic: topics::CPU_ALERT.to_owned(),
            alert_threshold: 0.5,
            extra_routes: BTreeMap::new(),
            inventory_topic: None,
        }
    }
}

/// A metric topology setting that cannot work, naming the key and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{key}`: {reason}")]
pub struct MetricTopologyConfigError {
    /// The offending key (`alert_threshold`, `extra_routes.network`, ...).
    pub key: String,
    /// Why it is refused.
    pub reason: String,
}

impl MetricTopologyConfig {
    /// Every topic the topology reads or writes, with its key: the input first, then the
    /// outputs (`cpu_topic`, `memory_topic`, `alert_topic`, `extra_routes.NAME`), then the
    /// inventory topic when set (`inventory_topic`).
    pub fn topic_keys(&self) -> Vec<(String, String)> {
        [
            ("input_topic", &self.input_topic),
            ("cpu_topic", &self.cpu_topic),
            ("memory_topic", &self.memory_topic),
            ("alert_topic", &self.alert_topic),
        ]
        .into_iter()
        .map(|(key, topic)| (key.to_owned(), topic.clone()))
        .chain(
            self.extra_routes
                .iter()
                .map(|(metricset, topic)| (format!("extra_routes.{metricset}"), topic.clone())),
        )
        .chain(
            self.inventory_topic
                .iter()
                .map(|topic| ("inventory_topic".to_owned(), topic.clone())),
        )
        .collect()
    }

    /// Checks the settings: valid topic names, no output topic equal to the input topic, a
    /// finite threshold in `0..=1`, extra routes for other metricsets than cpu and memory.
    ///
    /// # Errors
    /// The first problem found, naming the key.
    pub fn validate(&self) -> Result<(), MetricTopologyConfigError> {
        let refuse = |key: &str, reason: String| MetricTopologyConfigError {
            key: key.to_owned(),
            reason,
        };
        if !(self.alert_threshold.is_finite() && (0.0..=1.0).contains(&self.alert_threshold)) {
            return Err(refuse(
                "alert_threshold",
                format!(
                    "{} is not a fraction between 0 and 1 (norm.pct ranges 0..1)",
                    self.alert_threshold
                ),
            ));
        }
        validate_topic_name(&self.input_topic).map_err(|reason| refuse("input_topic", reason))?;
        for (key, topic) in self.topic_keys().into_iter().skip(1) {
            validate_topic_name(&topic).map_err(|reason| refuse(&key, reason))?;
            if topic == self.input_topic {
                return Err(refuse(
                    &key,
                    format!("{topic:?} is also the input topic; records would loop"),
                ));
            }
        }
        if let Some(inventory) = &self.inventory_topic
            && let Some((key, _)) = self
                .topic_keys()
                .into_iter()
                .find(|(key, topic)| topic == inventory && key != "inventory_topic")
        {
            return Err(refuse(
                "inventory_topic",
                format!("{inventory:?} is also `{key}`: the inventory needs a topic of its own"),
            ));
        }
        for metricset in self.extra_routes.keys() {
            let key = format!("extra_routes.{metricset}");
            if metricset.is_empty() {
                return Err(refuse(
                    "extra_routes",
                    "a metricset name cannot be empty".to_owned(),
                ));
            }
            if metricset == CPU_METRICSET || metricset == MEMORY_METRICSET {
                return Err(refuse(
                    &key,
                    format!("{metricset} is routed by `{metricset}_topic`"),
                ));
            }
        }
        Ok(())
    }
}

/// What the metric topology counts beside the runtime's series, shared with the monitoring.
#[derive(Debug, Default)]
pub struct TopologyCounts {
    /// Records of metricsets no route takes.
    pub unrouted: UnroutedCounts,
    /// Cpu events whose normalised total was computed.
    pub normalised: NormalisedCounts,
    /// Inventory values that were not JSON objects.
    pub inventory_invalid: InventoryCounts,
    /// Alert records of `transitions` mode, by status.
    pub transitions: sustained::TransitionCounts,
}

/// Records of metricsets no route takes, dropped, counted per metricset.
#[derive(Debug, Default)]
pub struct UnroutedCounts(Mutex<BTreeMap<String, u64>>);

impl UnroutedCounts {
    /// Counts one dropped record of `metricset`; logs the first of each metricset.
    pub fn record(&self, metricset: &str) {
        let mut counts = self.0.lock();
        match counts.get_mut(metricset) {
            Some(count) => *count += 1,
            None => {
                tracing::info!(
                    metricset,
                    "dropping records of metricset {metricset:?}: no route takes them (route them \
                     with topology.extra_routes.{metricset} = \"TOPIC\"); counted in \
                     records_dropped_total{{reason=\"unrouted\"}}"
                );
                counts.insert(metricset.to_owned(), 1);
            }
        }
    }

    /// The counts so far, by metricset.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().clone()
    }
}

/// Cpu events whose `system.cpu.total.norm.pct` was computed from `total.pct / cores`
/// because they lacked it.
#[derive(Debug, Default)]
pub struct NormalisedCounts(AtomicU64);

impl NormalisedCounts {
    /// Counts one computed value; logs the first.
    pub fn record(&self) {
        if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::info!(
                "cpu events lack system.cpu.total.norm.pct (a Metricbeat whose cpu.metrics leaves \
                 out normalized_percentages): comparing total.pct / cores with the threshold \
                 instead; counted in cpu_norm_computed_total"
            );
        }
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Builds the reference design's metric topology (an alert per hot sample, no summaries).
/// Call [`MetricTopologyConfig::validate`] first: invalid topic names are not checked here.
pub fn metric_topology(config: &MetricTopologyConfig) -> Topology {
    metric_pipeline(MetricPipeline::stateless(config), Arc::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(config: &MetricTopologyConfig) -> (String, String) {
        let err = config.validate().expect_err("invalid config");
        (err.key, err.reason)
    }

    #[test]
    fn defaults_are_the_pipeline_topics() {
        let config: MetricTopologyConfig = toml::from_str("").expect("empty config");
        assert_eq!(config, MetricTopologyConfig::default());
        assert_eq!(config.validate(), Ok(()));
        let topology = metric_topology(&config);
        assert_eq!(topology.source_topics(), ["metric.all"]);
        assert_eq!(
            topology.sink_topics(),
            ["metric.cpu", "metric.memory", "metric.cpu.alert"]
        );
    }

    #[test]
    fn config_reads_extra_routes_and_refuses_unknown_keys() {
        let config: MetricTopologyConfig =
            toml::from_str("alert_threshold = 0.9\n[extra_routes]\nnetwork = \"metric.network\"")
                .expect("valid config");
        assert_eq!(config.alert_threshold, 0.9);
        assert_eq!(
            config.extra_routes.get("network").map(String::as_str),
            Some("metric.network")
        );
        let err =
            toml::from_str::<MetricTopologyConfig>("threshold = 0.9").expect_err("unknown key");
        assert!(
            err.to_string().contains("unknown field `threshold`"),
            "{err}"
        );
    }

    #[test]
    fn validate_names_the_key() {
        for threshold in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            let config = MetricTopologyConfig {
                alert_threshold: threshold,
                ..Default::default()
            };
            assert_eq!(refused(&config).0, "alert_threshold");
        }
        let config = MetricTopologyConfig {
            cpu_topic: "metric.all".to_owned(),
            ..Default::default()
        };
        assert_eq!(
            refused(&config),
            (
                "cpu_topic".to_owned(),
                "\"metric.all\" is also the input topic; records would loop".to_owned()
            )
        );
        let config = MetricTopologyConfig {
            alert_topic: String::new(),
            ..Default::default()
        };
        assert_eq!(
            refused(&config),
            (
                "alert_topic".to_owned(),
                "a topic name cannot be empty".to_owned()
            )
        );
        let mut config = MetricTopologyConfig::default();
        config
            .extra_routes
            .insert("memory".to_owned(), "metric.mem2".to_owned());
        assert_eq!(refused(&config).0, "extra_routes.memory");
        let mut config = MetricTopologyConfig::default();
        config
            .extra_routes
            .insert("network".to_owned(), "metric/net".to_owned());
        assert_eq!(refused(&config).0, "extra_routes.network");
    }
}
