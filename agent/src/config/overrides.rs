//! Values given on the command line, which win over the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferrobeat_schema::Metricset;

use super::{AgentConfig, OutputKind};

/// Values given on the command line, which win over the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--bootstrap-servers`.
    pub bootstrap_servers: Option<String>,
    /// `--topic`.
    pub topic: Option<String>,
    /// `--period`.
    pub period: Option<Duration>,
    /// `--metricsets`.
    pub metricsets: Option<Vec<Metricset>>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--output`.
    pub output: Option<OutputKind>,
    /// `--metrics-addr`.
    pub metrics_addr: Option<SocketAddr>,
    /// `-X NAME=VALUE`, repeatable: librdkafka properties over `[kafka.properties]`.
    pub properties: Vec<(String, String)>,
}

impl Overrides {
    /// The flag that set `key`, if one did.
    pub(super) fn flag_for(&self, key: &str) -> Option<&'static str> {
        let set = |flag, present: bool| present.then_some(flag);
        match key {
            "kafka.bootstrap_servers" => {
                set("--bootstrap-servers", self.bootstrap_servers.is_some())
            }
            "kafka.topic" => set("--topic", self.topic.is_some()),
            "collect.period" => set("--period", self.period.is_some()),
            "collect.metricsets" => set("--metricsets", self.metricsets.is_some()),
            "data_dir" => set("--data-dir", self.data_dir.is_some()),
            "output" => set("--output", self.output.is_some()),
            "monitoring.metrics_addr" => set("--metrics-addr", self.metrics_addr.is_some()),
            _ => {
                let name = key
                    .strip_prefix("kafka.properties.\"")
                    .and_then(|rest| rest.strip_suffix('"'))?;
                set("-X", self.properties.iter().any(|(flag, _)| flag == name))
            }
        }
    }

    // Applies flags over the file, as the processor does: each program has its own flags.
    pub(super) fn apply(&self, config: &mut AgentConfig) {
        if let Some(servers) = &self.bootstrap_servers {
            config.kafka.bootstrap_servers.clone_from(servers);
        }
        if let Some(topic) = &self.topic {
            config.kafka.topic.clone_from(topic);
        }
        if let Some(period) = self.period {
            config.collect.period = period;
        }
        if let Some(metricsets) = &self.metricsets {
            config.collect.metricsets.clone_from(metricsets);
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir.clone_from(dir);
        }
        if let Some(output) = self.output {
            config.output = output;
        }
        if let Some(addr) = self.metrics_addr {
            config.monitoring.metrics_addr = Some(addr);
        }
        for (name, value) in &self.properties {
            config.kafka.properties.insert(name.clone(), value.clone());
        }
    }
}
