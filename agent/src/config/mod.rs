//! The agent's configuration: a TOML file, overridden by command-line flags, checked whole at
//! start-up. Every refusal names where the value came from (file and line, or flag), the key
//! and the reason.
//!
//! * this module: the typed configuration and its defaults;
//! * `load`: reading the file (or the default path), applying the flags, and the errors
//!   that name the origin of a refused value;
//! * `overrides`: the command-line flags that win over the file;
//! * `validate`: what types cannot check (names, bounds, reserved librdkafka settings).

mod load;
mod overrides;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferrobeat_toolbox::intercept::InterceptorSpec;
use ferrobeat_toolbox::properties::KafkaProperties;
use serde::{Deserialize, Deserializer};

pub use ferrobeat_toolbox::config::Invalid;
pub use load::{ConfigError, Origin, default_config_path, default_data_dir, load, parse};
pub use overrides::Overrides;

use crate::collect::{CollectConfig, EventConfig, parse_duration};
use crate::monitor::DEFAULT_UNHEALTHY_AFTER;
use crate::spool::SpoolLimits;

/// The whole configuration. `Default` is what an empty file means.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// The name reported in `host.name` and `agent.name`; the host name when absent.
    pub name: Option<String>,
    /// Where the agent keeps `agent.id` and its spool.
    pub data_dir: PathBuf,
    /// Where events go.
    pub output: OutputKind,
    /// What to sample and how often (`[collect]`).
    pub collect: CollectConfig,
    /// The shipper name and version the events carry (`[event]`).
    pub event: EventConfig,
    /// The Kafka output (`[kafka]`).
    pub kafka: KafkaConfig,
    /// The disk spool (`[spool]`).
    pub spool: SpoolConfig,
    /// Self-monitoring (`[monitoring]`).
    pub monitoring: MonitoringConfig,
    /// Hooks around the Kafka producer (`[[interceptors]]`); the agent calls `on_send` and
    /// `on_acknowledgement` only, as it consumes nothing.
    pub interceptors: Vec<InterceptorSpec>,
}

/// Where events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// To Kafka, through the spool, at least once.
    #[default]
    Kafka,
    /// As NDJSON on standard output (for debugging and piping).
    Stdout,
}

/// `[kafka]`: the producer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of brokers to bootstrap from.
    pub bootstrap_servers: String,
    /// The topic every event goes to.
    pub topic: String,
    /// What to put in the record key.
    pub key: RecordKey,
    /// Compression of record batches.
    pub compression: Compression,
    /// How long the producer waits to fill a batch (librdkafka `linger.ms`).
    #[serde(deserialize_with = "duration")]
    pub linger: Duration,
    /// How long a record may wait for its acknowledgement before it counts as failed and is
    /// sent again from the spool (librdkafka `message.timeout.ms`).
    #[serde(deserialize_with = "duration")]
    pub delivery_timeout: Duration,
    /// How long shutdown waits for outstanding acknowledgements; the rest stays spooled.
    #[serde(deserialize_with = "duration")]
    pub flush_timeout: Duration,
    /// The most records handed to the producer and not yet acknowledged; the rest wait in
    /// the spool, so memory stays bounded while Kafka is away.
    pub max_in_flight: usize,
    /// Further librdkafka settings passed through as they are (TLS, SASL, …).
    pub properties: KafkaProperties,
}

/// What the record key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKey {
    /// No key: records spread over all partitions (the pipeline's policy).
    #[default]
    None,
    /// The host name (`host.name`), keeping one host's events in one partition.
    Hostname,
}

/// Record batch compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    #[default]
    Zstd,
}

impl Compression {
    /// The name librdkafka's `compression.type` takes.
    pub fn librdkafka_name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// `[spool]`: the disk spool's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// The most bytes the spool holds; past it the oldest records are dropped and counted.
    pub max_bytes: u64,
    /// The size at which a segment file is sealed and a new one started.
    pub segment_bytes: u64,
}

/// `[monitoring]`: the agent's own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// How often non-zero counter changes are logged.
    #[serde(deserialize_with = "duration")]
    pub log_interval: Duration,
    /// Address of the Prometheus text endpoint (`127.0.0.1:9464`); off when absent.
    pub metrics_addr: Option<SocketAddr>,
    /// How long events may wait in the spool without any delivery succeeding before
    /// `/health` answers 503.
    #[serde(deserialize_with = "duration")]
    pub unhealthy_after: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            name: None,
            data_dir: default_data_dir(),
            output: OutputKind::default(),
            collect: CollectConfig::default(),
            event: EventConfig::default(),
            kafka: KafkaConfig::default(),
            spool: SpoolConfig::default(),
            monitoring: MonitoringConfig::default(),
            interceptors: Vec::new(),
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "localhost:9092".to_owned(),
            topic: ferrobeat_schema::topics::ALL.to_owned(),
            key: RecordKey::default(),
            compression: Compression::default(),
            linger: Duration::from_millis(100),
            delivery_timeout: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(5),
            max_in_flight: 10_000,
            properties: KafkaProperties::default(),
        }
    }
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: 256 * 1024 * 1024,
            segment_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            log_interval: Duration::from_secs(30),
            metrics_addr: None,
            unhealthy_after: DEFAULT_UNHEALTHY_AFTER,
        }
    }
}

impl From<SpoolConfig> for SpoolLimits {
    fn from(config: SpoolConfig) -> Self {
        SpoolLimits {
            max_bytes: config.max_bytes,
            segment_bytes: config.segment_bytes,
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}
