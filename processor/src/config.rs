//! The processor's configuration file (TOML) and its validation.
//!
//! Every key has a default, so an empty file is a valid configuration. Unknown keys, values of the
//! wrong type and values out of range are refused with the file, `line:column`, the dotted key
//! and the reason. `processor/ferrobeat-processor.toml` lists every key with its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrobeat_streams::config::{KafkaConfig, RuntimeConfig, StreamsConfig};
use ferrobeat_streams::errors::{ErrorHandlingConfig, ErrorPolicy};
use ferrobeat_streams::topology::validate_topic_name;
use ferrobeat_toolbox::config::{self as toml_config, Invalid, humantime_serde};
use ferrobeat_toolbox::intercept::{InterceptorSpec, Interceptors};
use serde::Deserialize;

pub use ferrobeat_streams::config::{MAX_THREADS, UncaughtErrorPolicy};
pub use ferrobeat_toolbox::config::{ConfigError, Origin};

use crate::metric_topology::alerting::AlertingConfig;
use crate::metric_topology::summary::SummariesConfig;
use crate::metric_topology::{MetricPipeline, MetricTopologyConfig};

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
    /// `[alerting]`: an alert per hot sample, or per transition of a host's state.
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// `[summaries]`: one record per host and closed window (off unless a topic is set).
    #[serde(default)]
    pub summaries: SummariesConfig,
    /// `[errors]`: what to do with a record the topology cannot process.
    #[serde(default)]
    pub errors: ErrorsConfig,
    /// `[monitoring]`: the metrics endpoint, the metrics level, statistics.
    #[serde(default)]
    pub monitoring: MonitoringConfig,
    /// `[[interceptors]]`: hooks around the consumers and producers, by registered name.
    #[serde(default)]
    pub interceptors: Vec<InterceptorSpec>,
}

/// `[errors]`: the streams library's error handling, with the metric pipeline's dead-letter
/// topic (`metric.dlq`) as its default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorsConfig {
    /// `dead-letter` (default), `log-and-continue` or `fail`.
    pub policy: ErrorPolicy,
    /// Where dead letters go; used by the `dead-letter` policy only.
    pub dead_letter_topic: String,
}

impl Default for ErrorsConfig {
    fn default() -> Self {
        ErrorsConfig {
            policy: ErrorPolicy::default(),
            dead_letter_topic: ferrobeat_schema::topics::DEAD_LETTER.to_owned(),
        }
    }
}

impl ErrorsConfig {
    /// The topic dead letters go to, if this policy writes any.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        (self.policy == ErrorPolicy::DeadLetter).then_some(self.dead_letter_topic.as_str())
    }

    /// The streams library's form.
    pub fn handling(&self) -> ErrorHandlingConfig {
        ErrorHandlingConfig {
            policy: self.policy,
            dead_letter_topic: self.dead_letter_topic.clone(),
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
    // Applies flags over the file, as the agent does: each program has its own flags.
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

/// The configuration file read when `-c/--config` is not given, if it exists (as the agent
/// reads `/etc/ferrobeat-agent/ferrobeat-agent.toml`).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ferrobeat-processor/ferrobeat-processor.toml";

/// A `-X NAME=VALUE` flag: a librdkafka property set over `[kafka.properties]`.
pub type PropertyFlag = (String, String);

impl ProcessorConfig {
    /// Reads, parses and validates `file`.
    ///
    /// # Errors
    /// The first problem found, naming the file, the position, the key and the reason.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        Self::parse(&toml_config::read(file)?, file)
    }

    /// Loads the configuration of a command: `file` (which must exist), else `default` when a
    /// file is there, else the built-in defaults; sets the `-X` `properties` over
    /// `[kafka.properties]`; validates the whole.
    ///
    /// # Errors
    /// The first problem found, naming the file and position or the flag, the key and the
    /// reason.
    pub fn load_with(
        file: Option<&Path>,
        default: &Path,
        properties: &[PropertyFlag],
    ) -> Result<Self, ConfigError> {
        let file: Option<PathBuf> = file
            .map(Path::to_path_buf)
            .or_else(|| default.is_file().then(|| default.to_path_buf()));
        match &file {
            Some(file) => Self::from_text(&toml_config::read(file)?, Some(file), properties),
            None => Self::from_text("", None, properties),
        }
    }

    /// Parses and validates `text`, naming `file` in errors.
    ///
    /// # Errors
    /// The first problem found, naming the file, the position, the key and the reason.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        Self::from_text(text, Some(file), &[])
    }

    /// `text` read from `file` (none: the defaults), with `properties` over it, validated.
    fn from_text(
        text: &str,
        file: Option<&Path>,
        properties: &[PropertyFlag],
    ) -> Result<Self, ConfigError> {
        let mut config: ProcessorConfig = match file {
            Some(file) => toml_config::parse(text, file)?,
            None => ProcessorConfig::default(),
        };
        for (name, value) in properties {
            config.kafka.properties.insert(name.clone(), value.clone());
        }
        config.validate().map_err(|invalid| {
            let from_flag = invalid
                .key
                .strip_prefix("kafka.properties.\"")
                .and_then(|rest| rest.strip_suffix('"'))
                .is_some_and(|name| properties.iter().any(|(flag, _)| flag == name));
            let flag = from_flag.then_some("-X");
            match file {
                Some(file) => invalid.located(text, file, flag),
                None => ConfigError::Value {
                    origin: flag.map_or(Origin::Default, Origin::Flag),
                    key: invalid.key,
                    reason: invalid.reason,
                },
            }
        })?;
        Ok(config)
    }

    /// Checks values a type cannot: ranges, non-empty names, librdkafka property names and
    /// values, and topics that would loop.
    ///
    /// # Errors
    /// The first refused key and why.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.kafka.validate()?;
        self.runtime.validate()?;
        if self.monitoring.statistics_interval.is_zero() {
            return Err(Invalid::new(
                "monitoring.statistics_interval",
                "must be greater than 0",
            ));
        }
        self.topology
            .validate()
            .map_err(|error| Invalid::new(error.key, error.reason).within("topology"))?;
        self.alerting
            .validate()
            .map_err(|(key, reason)| Invalid::new(key, reason).within("alerting"))?;
        self.summaries
            .validate()
            .map_err(|(key, reason)| Invalid::new(key, reason).within("summaries"))?;
        self.refuse_shared_summaries_topic()?;
        self.errors
            .handling()
            .validate()
            .map_err(|error| Invalid::new(error.key, error.reason).within("errors"))?;
        self.refuse_looping_dead_letters()?;
        Interceptors::from_specs(&self.interceptors)
            .map(drop)
            .map_err(|error| Invalid::new(error.key(), error.reason))
    }

    /// The sections the metric topology is built from.
    pub fn pipeline(&self) -> MetricPipeline<'_> {
        MetricPipeline {
            topology: &self.topology,
            alerting: &self.alerting,
            summaries: &self.summaries,
        }
    }

    /// Every topic the metric topology reads or writes, with its dotted key
    /// (`topology.cpu_topic`, ..., `summaries.topic`).
    fn topic_keys(&self) -> Vec<(String, String)> {
        self.topology
            .topic_keys()
            .into_iter()
            .map(|(key, topic)| (format!("topology.{key}"), topic))
            .chain(
                self.summaries
                    .topic
                    .iter()
                    .map(|topic| ("summaries.topic".to_owned(), topic.clone())),
            )
            .collect()
    }

    /// The summaries need a topic of their own: a valid name that no other key uses.
    fn refuse_shared_summaries_topic(&self) -> Result<(), Invalid> {
        let Some(summaries) = &self.summaries.topic else {
            return Ok(());
        };
        validate_topic_name(summaries).map_err(|reason| Invalid::new("summaries.topic", reason))?;
        match self
            .topology
            .topic_keys()
            .into_iter()
            .find(|(_, topic)| topic == summaries)
        {
            Some((key, _)) => Err(Invalid::new(
                "summaries.topic",
                format!(
                    "{summaries:?} is also topology.{key}: summaries need a topic of their own"
                ),
            )),
            None => Ok(()),
        }
    }

    /// A dead-letter topic that is also the input or an output would feed bad records back in
    /// forever (each pass adding headers) or mix them with good ones.
    fn refuse_looping_dead_letters(&self) -> Result<(), Invalid> {
        if self.errors.policy != ErrorPolicy::DeadLetter {
            return Ok(());
        }
        let dead_letters = &self.errors.dead_letter_topic;
        match self
            .topic_keys()
            .into_iter()
            .find(|(_, topic)| topic == dead_letters)
        {
            Some((key, _)) => Err(Invalid::new(
                "errors.dead_letter_topic",
                format!(
                    "{dead_letters:?} is also {key}: dead letters must go to a topic of their own"
                ),
            )),
            None => Ok(()),
        }
    }

    /// What the streams runtime runs with.
    pub fn streams(&self) -> Result<StreamsConfig, Invalid> {
        Ok(StreamsConfig {
            kafka: self.kafka.clone(),
            runtime: self.runtime.clone(),
            errors: self.errors.handling(),
            interceptors: Interceptors::from_specs(&self.interceptors)
                .map_err(|error| Invalid::new(error.key(), error.reason))?,
            statistics_interval: self.monitoring.statistics_interval,
        })
    }
}

/// `[monitoring]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Where to serve `/metrics`, `/health` and `/ready`; off when absent. Loopback
    /// (`127.0.0.1:9464`) keeps it on the host; any other address is an explicit choice.
    pub metrics_addr: Option<SocketAddr>,
    /// Which series to record, as Kafka Streams' `metrics.recording.level`.
    pub level: MetricsLevel,
    /// How often each consumer reports its statistics (consumer lag).
    #[serde(with = "humantime_serde")]
    pub statistics_interval: Duration,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            metrics_addr: None,
            level: MetricsLevel::Info,
            statistics_interval: ferrobeat_streams::config::DEFAULT_STATISTICS_INTERVAL,
        }
    }
}

/// Kafka Streams' metric recording levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsLevel {
    /// Thread, topic and client series.
    #[default]
    Info,
    /// Also per-task and per-node series (a hash lookup per record and per node more).
    Debug,
}
