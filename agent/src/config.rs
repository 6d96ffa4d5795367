//! The agent's configuration: a TOML file, overridden by command-line flags, checked whole at
//! start-up. Every refusal names where the value came from (file and line, or flag), the key
//! and the reason.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrobeat_schema::Metricset;
use ferrobeat_schema::intercept::{InterceptorSpec, Interceptors};
use ferrobeat_schema::properties::KafkaProperties;
use serde::{Deserialize, Deserializer};

use crate::collect::{CollectConfig, parse_duration};
use crate::monitor::DEFAULT_UNHEALTHY_AFTER;
use crate::spool::SpoolLimits;

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
}

impl Overrides {
    /// The flag that set `key`, if one did.
    fn flag_for(&self, key: &str) -> Option<&'static str> {
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
            _ => None,
        }
    }

    fn apply(&self, config: &mut AgentConfig) {
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
    }
}

/// Where a refused value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A configuration file, with the 1-based line and column when known.
    File {
        /// The file.
        path: PathBuf,
        /// Line and column of the value.
        position: Option<(usize, usize)>,
    },
    /// A command-line flag.
    Flag(&'static str),
    /// The built-in default (no file was found at the default path).
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}", path.display()),
            Origin::File {
                path,
                position: None,
            } => write!(f, "{}", path.display()),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Default => f.write_str("built-in default"),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{origin}: invalid TOML: {reason}")]
    Syntax {
        /// The file and position.
        origin: Origin,
        /// What the parser expected.
        reason: String,
    },
    /// A key is unknown, or its value is of the wrong type or out of range.
    #[error("{origin}: key `{key}`: {reason}")]
    Value {
        /// The file and position, or the flag.
        origin: Origin,
        /// The dotted key (`kafka.compression`).
        key: String,
        /// Why it is refused.
        reason: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Value { key, .. } => Some(key),
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
        }
    }
}

/// The configuration file used when `-c/--config` is not given.
pub fn default_config_path() -> PathBuf {
    if cfg!(target_os = "linux") {
        PathBuf::from("/etc/ferrobeat-agent/ferrobeat-agent.toml")
    } else {
        platform_app_dir().join("ferrobeat-agent.toml")
    }
}

/// The data directory used when `data_dir` is not set: `/var/lib/ferrobeat-agent` on Linux,
/// the user's application data directory elsewhere.
pub fn default_data_dir() -> PathBuf {
    if cfg!(target_os = "linux") {
        PathBuf::from("/var/lib/ferrobeat-agent")
    } else {
        platform_app_dir()
    }
}

fn platform_app_dir() -> PathBuf {
    let home = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        home("HOME").map(|h| h.join("Library").join("Application Support"))
    } else if cfg!(windows) {
        home("LOCALAPPDATA")
    } else {
        home("XDG_DATA_HOME").or_else(|| home("HOME").map(|h| h.join(".local").join("share")))
    };
    base.unwrap_or_else(std::env::temp_dir)
        .join("ferrobeat-agent")
}

/// Loads the configuration: the file at `path` (which must exist), or else the default
/// path when a file is there, or else the defaults; then the flags; then checks it whole.
///
/// # Errors
/// The first problem found, naming its origin, key and reason.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<AgentConfig, ConfigError> {
    let file = match path {
        Some(path) => Some(path.to_path_buf()),
        None => Some(default_config_path()).filter(|p| p.is_file()),
    };
    let text = match &file {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?,
        None => String::new(),
    };
    let mut config = match &file {
        Some(path) => parse(&text, path)?,
        None => AgentConfig::default(),
    };
    overrides.apply(&mut config);
    config.validate().map_err(|invalid| {
        let origin = match (overrides.flag_for(&invalid.key), file) {
            (Some(flag), _) => Origin::Flag(flag),
            (None, Some(path)) => Origin::File {
                position: key_position(&text, &invalid.key),
                path,
            },
            (None, None) => Origin::Default,
        };
        ConfigError::Value {
            origin,
            key: invalid.key,
            reason: invalid.reason,
        }
    })?;
    Ok(config)
}

/// Parses configuration text; `path` is only used to name the file in errors.
///
/// # Errors
/// [`ConfigError::Syntax`] for malformed TOML, [`ConfigError::Value`] for an unknown key or
/// a value of the wrong type (not yet [`AgentConfig::validate`]d).
pub fn parse(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
    let origin_at = |span: Option<std::ops::Range<usize>>| Origin::File {
        path: path.to_path_buf(),
        position: span.map(|s| line_column(text, s.start)),
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|err| ConfigError::Syntax {
        origin: origin_at(err.span()),
        reason: err.message().trim().to_owned(),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        ConfigError::Value {
            origin: origin_at(inner.span()),
            key,
            reason: inner.message().trim().to_owned(),
        }
    })
}

/// Line and column of `key` (dotted, segments with dots quoted) in the TOML `text`, when
/// the file sets it.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut position = None;
    for segment in key_segments(key) {
        let (name, value) = table.iter().find(|(name, _)| name.get_ref() == segment)?;
        position = Some(line_column(text, name.span().start));
        match value.get_ref().as_table() {
            Some(inner) => table = inner,
            None => break,
        }
    }
    position
}

/// Splits `kafka.properties."ssl.ca.location"` into its three segments.
fn key_segments(key: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            segments.push(&quoted[..end]);
            rest = quoted.get(end + 1..).unwrap_or_default();
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            segments.push(&rest[..end]);
            rest = &rest[end..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    segments
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// A value that parsed but is refused, with the dotted key it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The dotted key (`kafka.topic`).
    pub key: String,
    /// Why it is refused.
    pub reason: String,
}

impl Invalid {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl AgentConfig {
    /// Checks what types cannot: non-empty and well-formed names, sane bounds.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.collect
            .validate()
            .map_err(|e| Invalid::new(format!("collect.{}", e.key), e.reason))?;
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
        Ok(())
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

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_segments_respect_quotes() {
        assert_eq!(key_segments("kafka.topic"), ["kafka", "topic"]);
        assert_eq!(
            key_segments("kafka.properties.\"ssl.ca.location\""),
            ["kafka", "properties", "ssl.ca.location"]
        );
        assert_eq!(key_segments("name"), ["name"]);
    }

    #[test]
    fn key_position_finds_nested_keys() {
        let text =
            "output = \"kafka\"\n\n[kafka]\ntopic = \"x\"\n  [kafka.properties]\n  \"a.b\" = 1\n";
        assert_eq!(key_position(text, "output"), Some((1, 1)));
        assert_eq!(key_position(text, "kafka.topic"), Some((4, 1)));
        assert_eq!(key_position(text, "kafka.properties.\"a.b\""), Some((6, 3)));
        assert_eq!(key_position(text, "spool.max_bytes"), None);
    }
}
