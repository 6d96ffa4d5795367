//! What types cannot check: non-empty and well-formed names, sane bounds, librdkafka
//! settings the agent owns.

use std::time::Duration;

use ferrobeat_toolbox::config::Invalid;
use ferrobeat_toolbox::intercept::Interceptors;

use super::{AgentConfig, KafkaConfig, OutputKind, SpoolConfig};

/// Librdkafka settings the agent owns: setting them in `[kafka.properties]` would break the
/// delivery guarantee or duplicate a typed key, so they are refused there.
const RESERVED_PROPERTIES: [(&str, &str); 8] = [
    ("bootstrap.servers", "set `kafka.bootstrap_servers` instead"),
    (
        "metadata.broker.list",
        "set `kafka.bootstrap_servers` instead",
    ),
    ("acks", "the agent always uses acks=all"),
    ("request.required.acks", "the agent always uses acks=all"),
    (
        "enable.idempotence",
        "the agent always uses the idempotent producer",
    ),
    ("compression.type", "set `kafka.compression` instead"),
    ("compression.codec", "set `kafka.compression` instead"),
    ("message.timeout.ms", "set `kafka.delivery_timeout` instead"),
];

impl AgentConfig {
    /// Checks what types cannot: non-empty and well-formed names, sane bounds.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.collect
            .validate()
            .map_err(|e| Invalid::new(format!("collect.{}", e.key), e.reason))?;
        self.event
            .validate()
            .map_err(|(key, reason)| Invalid::new(format!("event.{key}"), reason))?;
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(Invalid::new("name", "must not be empty when set"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(Invalid::new("data_dir", "must not be empty"));
        }
        if self.output == OutputKind::Kafka {
            self.kafka.validate()?;
        }
        self.spool.validate()?;
        if self.monitoring.log_interval < Duration::from_secs(1) {
            return Err(Invalid::new(
                "monitoring.log_interval",
                "must be at least 1s",
            ));
        }
        if self.monitoring.unhealthy_after < Duration::from_secs(1) {
            return Err(Invalid::new(
                "monitoring.unhealthy_after",
                "must be at least 1s",
            ));
        }
        Interceptors::from_specs(&self.interceptors)
            .map(drop)
            .map_err(|error| Invalid::new(error.key(), error.reason))
    }
}

impl KafkaConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let servers = self.bootstrap_servers.trim();
        if servers.is_empty() {
            return Err(Invalid::new(
                "kafka.bootstrap_servers",
                "must name at least one broker as host:port",
            ));
        }
        for server in servers.split(',').map(str::trim) {
            let port = server
                .rsplit_once(':')
                .filter(|(host, _)| !host.is_empty())
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .filter(|&port| port != 0);
            if port.is_none() {
                return Err(Invalid::new(
                    "kafka.bootstrap_servers",
                    format!("{server:?} is not host:port"),
                ));
            }
        }
        check_topic_name(&self.topic).map_err(|reason| Invalid::new("kafka.topic", reason))?;
        if self.delivery_timeout < Duration::from_secs(1) {
            return Err(Invalid::new(
                "kafka.delivery_timeout",
                "must be at least 1s",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(Invalid::new("kafka.max_in_flight", "must be at least 1"));
        }
        for name in self.properties.keys() {
            if let Some((_, reason)) = RESERVED_PROPERTIES.iter().find(|(n, _)| n == name) {
                return Err(Invalid::new(
                    format!("kafka.properties.\"{name}\""),
                    format!("cannot be set here: {reason}"),
                ));
            }
        }
        // Names and values librdkafka does not accept.
        self.properties
            .check(&[])
            .map_err(|refused| Invalid::new(refused.key, refused.reason))
    }
}

impl SpoolConfig {
    fn validate(&self) -> Result<(), Invalid> {
        const MIN_SEGMENT: u64 = 4096;
        if self.segment_bytes < MIN_SEGMENT {
            return Err(Invalid::new(
                "spool.segment_bytes",
                format!(
                    "{} is below the minimum of {MIN_SEGMENT}",
                    self.segment_bytes
                ),
            ));
        }
        if self.max_bytes < 2 * self.segment_bytes {
            return Err(Invalid::new(
                "spool.max_bytes",
                format!(
                    "{} must be at least twice spool.segment_bytes ({})",
                    self.max_bytes, self.segment_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Kafka's rule for topic names: 1 to 249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`.
fn check_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 249 {
        return Err(format!("{topic:?} must be 1 to 249 characters long"));
    }
    if topic == "." || topic == ".." {
        return Err(format!("{topic:?} is not a valid topic name"));
    }
    if let Some(bad) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{topic:?} contains {bad:?}; topic names allow only letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}
