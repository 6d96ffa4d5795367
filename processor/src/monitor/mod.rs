//! Operating the processor: Prometheus series ([`metrics`]), the answers of the `/metrics`,
//! `/health` and `/ready` endpoint ([`Monitor::answer`], served by
//! [`ferrobeat_toolbox::endpoint`]), and logging ([`logging`]).
//!
//! The series mirror Kafka Streams' metric levels: `info` (the default) has the thread-level
//! poll/process/commit counts and latencies, records consumed and produced per topic, dropped
//! and dead-lettered records by reason, end-to-end latency at sources and sinks, the client
//! state, assigned partitions, consumer lag per partition and rebalances; `debug` adds records
//! processed per task (source partition) and per topology node.

pub mod logging;
pub mod metrics;
pub mod restore;

use std::sync::Arc;

use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use ferrobeat_toolbox::endpoint::Reply;
use prometheus_client::registry::Registry;

use self::metrics::RuntimeMetrics;
use self::restore::RestoreMetrics;
pub use crate::config::{MetricsLevel, MonitoringConfig};
use crate::metric_topology::TopologyCounts;

/// The Prometheus registry of one process, over one client.
#[derive(Debug)]
pub struct Monitor {
    registry: Registry,
    runtime: Arc<StreamsRuntime>,
    metrics: Arc<RuntimeMetrics>,
    restore: Option<Arc<RestoreMetrics>>,
}

impl Monitor {
    /// A registry (prefix `ferrobeat_processor`) holding `runtime`'s series, which it reports
    /// to `metrics`, and what its topology counted (`counts`).
    pub fn new(
        runtime: Arc<StreamsRuntime>,
        metrics: Arc<RuntimeMetrics>,
        counts: Arc<TopologyCounts>,
    ) -> Self {
        let mut registry = Registry::with_prefix("ferrobeat_processor");
        metrics.register(&mut registry, runtime.stats_handle(), counts);
        Monitor {
            registry,
            runtime,
            metrics,
            restore: None,
        }
    }

    /// Also serves the restoration of state stores: its series, and the store partitions
    /// being restored in `/health`.
    pub fn with_restore(mut self, restore: Arc<RestoreMetrics>) -> Self {
        restore.register(&mut self.registry);
        self.restore = Some(restore);
        self
    }

    /// The OpenMetrics text of every series.
    pub fn metrics_text(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// The answer to `GET path`.
    pub fn answer(&self, path: &str) -> Reply {
        let metrics = &self.metrics;
        match path {
            "/metrics" => Reply::openmetrics(self.metrics_text()),
            "/health" => health(
                self.runtime.state(),
                &metrics.assigned_partitions(),
                &self
                    .restore
                    .as_ref()
                    .map(|restore| restore.restoring())
                    .unwrap_or_default(),
            ),
            "/ready" => ready(self.runtime.state(), metrics.ever_running()),
            _ => Reply::text(404, "try /metrics, /health or /ready"),
        }
    }
}

/// `/health`: 200 while RUNNING, 503 otherwise; the body names the state, the partitions and
/// the store partitions being restored (a client restoring is REBALANCING).
pub fn health(state: ClientState, partitions: &[String], restoring: &[String]) -> Reply {
    let status = if state == ClientState::Running {
        200
    } else {
        503
    };
    let body = serde_json::json!({
        "state": state.name(),
        "assigned_partitions": partitions,
        "restoring": restoring,
    });
    Reply::json(status, &body)
}

/// `/ready`: 200 once the client has been RUNNING and while it is not shutting down.
pub fn ready(state: ClientState, ever_running: bool) -> Reply {
    let ready = ever_running && state.is_running_or_rebalancing();
    if ready {
        Reply::text(200, "ready")
    } else {
        Reply::text(503, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_ok_only_while_running() {
        let running = health(ClientState::Running, &["metric.all-0".to_owned()], &[]);
        assert_eq!(running.status, 200);
        let body: serde_json::Value = serde_json::from_str(&running.body).expect("json");
        assert_eq!(body["state"], "RUNNING");
        assert_eq!(body["assigned_partitions"][0], "metric.all-0");
        let restoring = health(ClientState::Rebalancing, &[], &["s-2".to_owned()]);
        let body: serde_json::Value = serde_json::from_str(&restoring.body).expect("json");
        assert_eq!(
            (restoring.status, &body["restoring"][0]),
            (503, &serde_json::json!("s-2"))
        );
        for state in ClientState::ALL {
            if state != ClientState::Running {
                assert_eq!(health(state, &[], &[]).status, 503, "{state}");
            }
        }
    }

    #[test]
    fn bad_monitoring_settings_are_refused_naming_the_key() {
        let file = std::path::Path::new("processor.toml");
        for (text, key) in [
            ("[monitoring]\nlevel = \"verbose\"\n", "monitoring.level"),
            (
                "[monitoring]\nmetrics_addr = \"nowhere\"\n",
                "monitoring.metrics_addr",
            ),
            (
                "[monitoring]\nstatistics_interval = \"0s\"\n",
                "monitoring.statistics_interval",
            ),
            ("[monitoring]\nport = 9464\n", "monitoring"),
        ] {
            let error = crate::config::ProcessorConfig::parse(text, file)
                .expect_err(text)
                .to_string();
            assert!(error.contains(&format!("key `{key}")), "{text}: {error}");
            assert!(error.contains("processor.toml"), "{error}");
        }
        let config = crate::config::ProcessorConfig::parse(
            "[monitoring]\nmetrics_addr = \"127.0.0.1:9464\"\nlevel = \"debug\"\n",
            file,
        )
        .expect("valid");
        assert_eq!(
            config.monitoring.metrics_addr,
            Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        assert_eq!(config.monitoring.level, MetricsLevel::Debug);
    }

    #[test]
    fn ready_after_the_first_running_until_shutdown() {
        assert_eq!(ready(ClientState::Rebalancing, false).status, 503);
        assert_eq!(ready(ClientState::Running, true).status, 200);
        assert_eq!(ready(ClientState::Rebalancing, true).status, 200);
        assert_eq!(ready(ClientState::PendingShutdown, true).status, 503);
        assert_eq!(ready(ClientState::Error, true).status, 503);
    }
}
