//! The processor's configuration file (TOML) and its validation.
//!
//! Every key has a default, so an empty file is a valid configuration. Unknown keys, values of the
//! wrong type and values out of range are refused with the file, the dotted key and the reason.
//! `processor/ferrobeat-processor.toml` lists every key with its default.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use ferrobeat_schema::intercept::{InterceptorSpec, Interceptors};
use ferrobeat_schema::properties::KafkaProperties;

use crate::errors::ErrorHandlingConfig;
use crate::metric_topology::MetricTopologyConfig;
use crate::monitor::MonitoringConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorConfig {
    /// `[kafka]`: where the brokers are, the application id, librdkafka properties.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// `[runtime]`: threads, commits, backpressure, shutdown.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// `[topology]`: topics and the alert threshold of the metric topology.
    #[serde(default)]
    pub topology: MetricTopologyConfig,
    /// `[errors]`: what to do with a record the topology cannot process.
    #[serde(default)]
    pub errors: ErrorHandlingConfig,
    /// `[monitoring]`: the metrics endpoint, the metrics level, statistics.
    #[serde(default)]
    pub monitoring: MonitoringConfig,
    /// `[[interceptors]]`: hooks around the consumers and producers, by registered name.
    #[serde(default)]
    pub interceptors: Vec<InterceptorSpec>,
}

/// `[kafka]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of bootstrap brokers.
    #[serde(default = "KafkaConfig::default_bootstrap_servers")]
    pub bootstrap_servers: String,
    /// Application id: the consumer group, and the prefix of the clients' ids.
    #[serde(default = "KafkaConfig::default_application_id")]
    pub application_id: String,
    /// `[kafka.properties]`: librdkafka properties applied to the consumers and the producers
    /// (TLS, SASL, timeouts...).
    #[serde(default)]
    pub properties: KafkaProperties,
}

impl KafkaConfig {
    fn default_bootstrap_servers() -> String {
        "localhost:9092".to_owned()
    }

    fn default_application_id() -> String {
        "ferrobeat-processor".to_owned()
    }

    /// A client of these brokers named `client_id`, with `[kafka.properties]` applied (TLS,
    /// SASL...): what the `setup` and `lag` commands connect with.
    pub fn client_config(&self, client_id: &str) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", client_id);
        for (name, value) in &self.properties {
            config.set(name, value);
        }
        config
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: Self::default_bootstrap_servers(),
            application_id: Self::default_application_id(),
            properties: KafkaProperties::default(),
        }
    }
}

/// Properties the runtime sets itself, for at-least-once delivery; `[kafka.properties]` may not
/// override them.
pub const RUNTIME_OWNED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.idempotence",
    "acks",
    "request.required.acks",
];

/// What happens when a worker fails unexpectedly (Kafka Streams' uncaught exception handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UncaughtErrorPolicy {
    /// Start a new worker in place of the failed one; the client keeps running.
    ReplaceWorker,
    /// Shut the whole client down: PENDING_ERROR, then ERROR.
    #[default]
    ShutdownClient,
}

/// `[runtime]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Worker threads, each a group member with its own partitions (`num.stream.threads`).
    pub threads: usize,
    /// How often acknowledged offsets are committed, in milliseconds.
    pub commit_interval_ms: u64,
    /// Records with unacknowledged outputs, per worker, above which fetching pauses.
    pub max_in_flight_records: usize,
    /// Input bytes of records with unacknowledged outputs, per worker, above which fetching pauses.
    pub max_in_flight_bytes: usize,
    /// How long a shutdown may take to finish in-flight work and commit, in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// Re-sends of an output whose delivery failed with a retriable error. Then the `[errors]`
    /// policy applies: `dead-letter` sends it to the dead-letter topic, `log-and-continue` drops
    /// it (counted), `fail` fails the worker.
    pub production_retries: u32,
    /// What to do when a worker fails unexpectedly.
    pub uncaught_error_policy: UncaughtErrorPolicy,
    /// Warn if a worker has no partition assignment after this many milliseconds.
    pub assignment_warning_ms: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            threads: 1,
            commit_interval_ms: 1000,
            max_in_flight_records: 10_000,
            max_in_flight_bytes: 64 * 1024 * 1024,
            shutdown_timeout_ms: 30_000,
            production_retries: 5,
            uncaught_error_policy: UncaughtErrorPolicy::default(),
            assignment_warning_ms: 30_000,
        }
    }
}

impl RuntimeConfig {
    /// The commit interval as a duration.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }

    /// The shutdown bound as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    /// The no-assignment warning delay as a duration.
    pub fn assignment_warning(&self) -> Duration {
        Duration::from_millis(self.assignment_warning_ms)
    }
}

/// A configuration that was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {file}: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{file}:{location}: invalid TOML: {reason}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// `line:column` of the error.
        location: Location,
        /// What is wrong.
        reason: String,
    },
    /// A key is unknown, or its value has the wrong type or is out of range.
    #[error("{file}{location}: key `{key}`: {reason}")]
    Invalid {
        /// The file (or the command-line flag that set the value).
        file: PathBuf,
        /// Where in the file, when known.
        location: OptionalLocation,
        /// Dotted key, e.g. `runtime.threads`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl Location {
    fn of_offset(text: &str, offset: usize) -> Location {
        let before = &text[..offset.min(text.len())];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A location that may be unknown (a value from the command line has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalLocation(pub Option<Location>);

impl fmt::Display for OptionalLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(location) => write!(f, ":{location}"),
            None => Ok(()),
        }
    }
}

impl ConfigError {
    fn invalid(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: file.to_owned(),
            location: OptionalLocation(None),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Values given on the command line, which win over the file. The command line's parsers keep
/// them in range (non-empty names, 1..=[`MAX_THREADS`] threads).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--bootstrap-servers`: `kafka.bootstrap_servers`.
    pub bootstrap_servers: Option<String>,
    /// `--application-id`: `kafka.application_id`.
    pub application_id: Option<String>,
    /// `--threads`: `runtime.threads`.
    pub threads: Option<usize>,
    /// `--metrics-addr`: `monitoring.metrics_addr`.
    pub metrics_addr: Option<SocketAddr>,
}

impl Overrides {
    /// Sets every key given on the command line in `config`.
    pub fn apply(&self, config: &mut ProcessorConfig) {
        if let Some(servers) = &self.bootstrap_servers {
            config.kafka.bootstrap_servers.clone_from(servers);
        }
        if let Some(id) = &self.application_id {
            config.kafka.application_id.clone_from(id);
        }
        if let Some(threads) = self.threads {
            config.runtime.threads = threads;
        }
        if let Some(addr) = self.metrics_addr {
            config.monitoring.metrics_addr = Some(addr);
        }
    }
}

impl ProcessorConfig {
    /// Reads, parses and validates `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::parse(&text, file)
    }

    /// Parses and validates `text`, naming `file` in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|error| ConfigError::Syntax {
                file: file.to_owned(),
                location: Location::of_offset(text, error.span().map_or(0, |span| span.start)),
                reason: error.message().trim().to_owned(),
            })?;
        let config: ProcessorConfig =
            serde_path_to_error::deserialize(deserializer).map_err(|error| {
                let key = error.path().to_string();
                let inner = error.into_inner();
                ConfigError::Invalid {
                    file: file.to_owned(),
                    location: OptionalLocation(
                        inner
                            .span()
                            .map(|span| Location::of_offset(text, span.start)),
                    ),
                    key,
                    reason: inner.message().trim().to_owned(),
                }
            })?;
        config.validate(file)?;
        Ok(config)
    }

    /// Checks values a type cannot: ranges, non-empty names, librdkafka property names and values.
    pub fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let kafka = &self.kafka;
        if kafka.bootstrap_servers.trim().is_empty() {
            return Err(ConfigError::invalid(
                file,
                "kafka.bootstrap_servers",
                "must name at least one broker",
            ));
        }
        if kafka.application_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                file,
                "kafka.application_id",
                "must not be empty",
            ));
        }
        for (name, value) in &kafka.properties {
            let key = format!("kafka.properties.{name}");
            if RUNTIME_OWNED_PROPERTIES.contains(&name.as_str()) {
                return Err(ConfigError::invalid(
                    file,
                    key,
                    "is set by the runtime for at-least-once delivery and cannot be overridden \
                     (use kafka.bootstrap_servers / kafka.application_id for the broker list and group)",
                ));
            }
            let mut probe = rdkafka::ClientConfig::new();
            probe.set(name, value);
            if let Err(error) = probe.create_native_config() {
                return Err(ConfigError::invalid(file, key, error.to_string()));
            }
        }
        let runtime = &self.runtime;
        let positive = [
            ("runtime.threads", runtime.threads as u64),
            ("runtime.commit_interval_ms", runtime.commit_interval_ms),
            (
                "runtime.max_in_flight_records",
                runtime.max_in_flight_records as u64,
            ),
            (
                "runtime.max_in_flight_bytes",
                runtime.max_in_flight_bytes as u64,
            ),
            ("runtime.shutdown_timeout_ms", runtime.shutdown_timeout_ms),
            (
                "monitoring.statistics_interval_ms",
                self.monitoring.statistics_interval_ms,
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::invalid(file, *key, "must be greater than 0"));
        }
        if runtime.threads > MAX_THREADS {
            return Err(ConfigError::invalid(
                file,
                "runtime.threads",
                format!("must be at most {MAX_THREADS}"),
            ));
        }
        self.topology.validate().map_err(|error| {
            ConfigError::invalid(file, format!("topology.{}", error.key), error.reason)
        })?;
        self.errors.validate().map_err(|error| {
            ConfigError::invalid(file, format!("errors.{}", error.key), error.reason)
        })?;
        Interceptors::from_specs(&self.interceptors)
            .map(drop)
            .map_err(|error| ConfigError::invalid(file, error.key(), error.reason))
    }
}

/// The most worker threads one process may run.
pub const MAX_THREADS: usize = 256;
