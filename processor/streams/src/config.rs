//! What a [`StreamsRuntime`](crate::runtime::StreamsRuntime) runs with (Kafka Streams'
//! `StreamsConfig`): where the brokers are, the application id that names the consumer group,
//! the worker threads, commits, backpressure and shutdown, the error policy and interceptors.
//!
//! `KafkaConfig`, `RuntimeConfig` and `ErrorHandlingConfig` deserialise from an application's
//! configuration file (`[kafka]`, `[runtime]`, `[errors]`); every key has a default and
//! durations are written `"1s"`.

use std::path::PathBuf;
use std::time::Duration;

use ferrobeat_toolbox::config::{Invalid, humantime_serde};
use ferrobeat_toolbox::intercept::Interceptors;
use ferrobeat_toolbox::properties::KafkaProperties;
use serde::Deserialize;

use crate::errors::ErrorHandlingConfig;

/// Everything the runtime needs besides the topology.
#[derive(Debug, Clone, Default)]
pub struct StreamsConfig {
    /// Brokers, application id, librdkafka properties.
    pub kafka: KafkaConfig,
    /// Threads, commits, backpressure, shutdown.
    pub runtime: RuntimeConfig,
    /// What to do with a record the topology cannot process.
    pub errors: ErrorHandlingConfig,
    /// Hooks around the consumers and producers.
    pub interceptors: Interceptors,
    /// How often each consumer reports its statistics (consumer lag), and the global tables'
    /// reader its position, to the runtime's [`RuntimeObserver`](crate::runtime::RuntimeObserver).
    pub statistics_interval: Duration,
}

impl StreamsConfig {
    /// The defaults, for `application_id` on `bootstrap_servers`.
    pub fn new(bootstrap_servers: &str, application_id: &str) -> Self {
        StreamsConfig {
            kafka: KafkaConfig {
                bootstrap_servers: bootstrap_servers.to_owned(),
                application_id: application_id.to_owned(),
                properties: KafkaProperties::default(),
            },
            statistics_interval: DEFAULT_STATISTICS_INTERVAL,
            ..StreamsConfig::default()
        }
    }
}

/// How often consumers report statistics unless told otherwise.
pub const DEFAULT_STATISTICS_INTERVAL: Duration = Duration::from_secs(5);

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
    /// SASL...): what administrative commands connect with.
    pub fn client_config(&self, client_id: &str) -> rdkafka::ClientConfig {
        ferrobeat_toolbox::kafka::with_properties(
            ferrobeat_toolbox::kafka::base_client_config(&self.bootstrap_servers, client_id),
            &self.properties,
        )
    }

    /// Refuses empty names and properties the runtime owns or librdkafka refuses.
    ///
    /// # Errors
    /// The first refused key, relative to `[kafka]`'s parent (`kafka.application_id`).
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(Invalid::new(
                "kafka.bootstrap_servers",
                "must name at least one broker",
            ));
        }
        if self.application_id.trim().is_empty() {
            return Err(Invalid::new("kafka.application_id", "must not be empty"));
        }
        self.properties.check(RUNTIME_OWNED_PROPERTIES)
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

const OWNED_FOR_AT_LEAST_ONCE: &str = "is set by the runtime for at-least-once delivery and \
     cannot be overridden (use kafka.bootstrap_servers / kafka.application_id for the broker \
     list and group)";

/// Properties the runtime sets itself, for at-least-once delivery; `[kafka.properties]` may not
/// override them.
pub const RUNTIME_OWNED_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", OWNED_FOR_AT_LEAST_ONCE),
    ("group.id", OWNED_FOR_AT_LEAST_ONCE),
    ("enable.auto.commit", OWNED_FOR_AT_LEAST_ONCE),
    ("enable.auto.offset.store", OWNED_FOR_AT_LEAST_ONCE),
    ("enable.idempotence", OWNED_FOR_AT_LEAST_ONCE),
    ("acks", OWNED_FOR_AT_LEAST_ONCE),
    ("request.required.acks", OWNED_FOR_AT_LEAST_ONCE),
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

/// The most worker threads one process may run.
pub const MAX_THREADS: usize = 256;

/// `[runtime]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Worker threads, each a group member with its own partitions (`num.stream.threads`).
    pub threads: usize,
    /// How often acknowledged offsets are committed (`commit.interval.ms`).
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Records with unacknowledged outputs, per worker, above which the worker holds back from
    /// its consumer. A backstop for tiny records: with records of a few hundred bytes or more,
    /// `max_in_flight_bytes` binds first.
    pub max_in_flight_records: usize,
    /// Input bytes of records with unacknowledged outputs, per worker, above which the worker
    /// holds back from its consumer: with the consumer's prefetch (8 MiB) it bounds what a
    /// worker buffers, fetched and not yet acknowledged.
    pub max_in_flight_bytes: usize,
    /// How long a shutdown may take to finish in-flight work and commit.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Re-sends of an output whose delivery failed with a retriable error. Then the `[errors]`
    /// policy applies: `dead-letter` sends it to the dead-letter topic, `log-and-continue` drops
    /// it (counted), `fail` fails the worker.
    pub production_retries: u32,
    /// What to do when a worker fails unexpectedly.
    pub uncaught_error_policy: UncaughtErrorPolicy,
    /// Under `replace-worker`: at most this many replacements within `replacement_window`; one
    /// more failure shuts the client down (a record that fails every worker cannot loop).
    pub max_worker_replacements: usize,
    /// The window `max_worker_replacements` counts in.
    #[serde(with = "humantime_serde")]
    pub replacement_window: Duration,
    /// Warn if a worker has had no partition assignment for this long.
    #[serde(with = "humantime_serde")]
    pub assignment_warning: Duration,
    /// Replication factor of the changelog topics the runtime creates; the broker's default
    /// when unset.
    pub replication_factor: Option<i32>,
    /// How long restoring one store from its changelog may take before the worker fails.
    #[serde(with = "humantime_serde")]
    pub restore_timeout: Duration,
    /// Where persistent state stores live (`state.dir`): each task's stores in
    /// `<state_dir>/<application id>/0_<partition>/`, with the changelog offset they reflect,
    /// so a restart restores only the changelog's tail. Unset: stores are in memory and are
    /// restored from the whole changelog on every start.
    pub state_dir: Option<PathBuf>,
    /// How long a stateful task with nothing buffered from one of its partitions, which is
    /// caught up, waits for it before processing its other partitions' records out of
    /// timestamp order (Kafka Streams' `max.task.idle.ms`); `0s` waits only for partitions the
    /// broker holds more records of. See [`crate::runtime::task_order`].
    #[serde(with = "humantime_serde")]
    pub max_task_idle: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            threads: 1,
            commit_interval: Duration::from_secs(1),
            max_in_flight_records: 100_000,
            max_in_flight_bytes: 8 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(30),
            production_retries: 5,
            uncaught_error_policy: UncaughtErrorPolicy::default(),
            max_worker_replacements: 5,
            replacement_window: Duration::from_secs(300),
            assignment_warning: Duration::from_secs(30),
            replication_factor: None,
            restore_timeout: Duration::from_secs(300),
            state_dir: None,
            max_task_idle: Duration::ZERO,
        }
    }
}

impl RuntimeConfig {
    /// Refuses zero counts and durations, and more than [`MAX_THREADS`] threads.
    ///
    /// # Errors
    /// The first refused key, as `runtime.KEY`.
    pub fn validate(&self) -> Result<(), Invalid> {
        let counts = [
            ("threads", self.threads),
            ("max_in_flight_records", self.max_in_flight_records),
            ("max_in_flight_bytes", self.max_in_flight_bytes),
        ];
        let durations = [
            ("commit_interval", self.commit_interval),
            ("shutdown_timeout", self.shutdown_timeout),
            ("replacement_window", self.replacement_window),
            ("restore_timeout", self.restore_timeout),
        ];
        let zero = counts
            .iter()
            .find(|(_, value)| *value == 0)
            .map(|(key, _)| key)
            .or_else(|| {
                durations
                    .iter()
                    .find(|(_, value)| value.is_zero())
                    .map(|(key, _)| key)
            });
        if let Some(key) = zero {
            return Err(Invalid::new(*key, "must be greater than 0").within("runtime"));
        }
        if self.replication_factor.is_some_and(|factor| factor < 1) {
            return Err(Invalid::new("replication_factor", "must be at least 1").within("runtime"));
        }
        if self
            .state_dir
            .as_ref()
            .is_some_and(|dir| dir.as_os_str().is_empty())
        {
            return Err(Invalid::new("state_dir", "must not be empty").within("runtime"));
        }
        if self.threads > MAX_THREADS {
            return Err(
                Invalid::new("threads", format!("must be at most {MAX_THREADS}")).within("runtime"),
            );
        }
        Ok(())
    }
}
