// over 500 lines: about 160 are unit tests; the hooks, their views and the loader are one public API.
//! Interceptors around the Kafka clients of both programs, after Kafka's
//! `ConsumerInterceptor` / `ProducerInterceptor`: hooks called when a record is consumed, when
//! an output is sent, when its delivery report comes back and after offsets are committed.
//!
//! * The hooks see plain, read-only views ([`RecordView`], [`Acknowledgement`], [`Commit`]),
//!   so this module needs no Kafka client types and one trait serves the agent and the
//!   processor. Unlike Kafka's `onConsume`/`onSend`, a hook cannot change the record.
//! * Interceptors are chosen by name in the configuration file (`[[interceptors]]`, see
//!   [`InterceptorSpec`]); [`REGISTRY`] maps every name to its constructor.
//! * A chain ([`Interceptors`]) costs one length check per event when it is empty: the view
//!   is built by a closure that is not called then, so nothing is allocated.
//! * Like Kafka's interceptors, a hook that panics is caught and logged, and the record goes
//!   on; a hook must not block, it runs on the client's thread.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::{Map, Value};

/// The tracing target of the [`LoggingInterceptor`]'s lines and of hook panics.
pub const LOG_TARGET: &str = "ferrobeat::interceptor";

/// One record header, as a hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderView<'a> {
    /// Header name.
    pub key: &'a str,
    /// Header value (`None`: a null value).
    pub value: Option<&'a [u8]>,
}

/// A record consumed, or about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition, when known (not before a send: the partitioner picks it).
    pub partition: Option<i32>,
    /// Offset, when known (consumed records only).
    pub offset: Option<i64>,
    /// Timestamp in milliseconds since the epoch, when set.
    pub timestamp: Option<i64>,
    /// Key bytes.
    pub key: Option<&'a [u8]>,
    /// Value bytes.
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: Vec<HeaderView<'a>>,
}

/// A delivery report: where a sent record landed, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition, when known.
    pub partition: Option<i32>,
    /// Offset, when the record was written.
    pub offset: Option<i64>,
    /// The delivery error, as text; `None` when the record was acknowledged.
    pub error: Option<String>,
}

#[cfg(feature = "kafka")]
impl<'a> Acknowledgement<'a> {
    /// The view of an rdkafka delivery report (`kafka` feature): librdkafka's negative
    /// partition or offset (unknown) becomes `None`.
    pub fn of_delivery(result: &'a rdkafka::message::DeliveryResult<'_>) -> Self {
        use rdkafka::Message;
        let (message, error) = match result {
            Ok(message) => (message, None),
            Err((error, message)) => (message, Some(error.to_string())),
        };
        Acknowledgement {
            topic: message.topic(),
            partition: Some(message.partition()).filter(|partition| *partition >= 0),
            offset: Some(message.offset()).filter(|offset| *offset >= 0),
            error,
        }
    }
}

/// One committed position: the next offset to consume in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedOffset<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// The committed offset.
    pub offset: i64,
}

/// An offset commit and the broker's answer (commits are synchronous).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit<'a> {
    /// The offsets committed.
    pub offsets: Vec<CommittedOffset<'a>>,
    /// The error, as text; `None` on success.
    pub error: Option<String>,
}

/// Hooks around a program's Kafka clients. Every hook does nothing unless overridden; a
/// program calls only the hooks that apply to it (the agent never consumes, so it calls
/// neither [`on_consume`](Interceptor::on_consume) nor [`on_commit`](Interceptor::on_commit)).
pub trait Interceptor: Send + Sync + fmt::Debug {
    /// A record was consumed, before it is processed.
    fn on_consume(&self, _record: &RecordView<'_>) {}
    /// A record is about to be handed to the producer (again on every re-send).
    fn on_send(&self, _record: &RecordView<'_>) {}
    /// A delivery report came back, success or failure.
    fn on_acknowledgement(&self, _acknowledgement: &Acknowledgement<'_>) {}
    /// Offsets were committed (or the commit failed).
    fn on_commit(&self, _commit: &Commit<'_>) {}
}

/// One `[[interceptors]]` entry: a registered name and that interceptor's options.
///
/// ```toml
/// [[interceptors]]
/// name = "logging"
/// level = "info"      # the logging interceptor's options
/// sample_every = 100
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InterceptorSpec {
    /// A name in [`REGISTRY`].
    pub name: String,
    /// Every other key of the entry, checked by the interceptor's constructor.
    #[serde(flatten)]
    pub options: Map<String, Value>,
}

/// An interceptor entry that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{}`: {reason}", self.key())]
pub struct InterceptorError {
    /// The entry's position in `[[interceptors]]`, from 0.
    pub index: usize,
    /// The key within the entry (`name`, or an option).
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

impl InterceptorError {
    /// The key as configuration errors name it: `interceptors[0].name`.
    pub fn key(&self) -> String {
        format!("interceptors[{}].{}", self.index, self.field)
    }
}

/// An option of one interceptor that was refused by its constructor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The option's key.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

/// Builds an interceptor from its entry's options.
pub type Constructor = fn(&Map<String, Value>) -> Result<Box<dyn Interceptor>, OptionError>;

/// Every interceptor that can be named in a configuration file. Adding one is one line.
pub const REGISTRY: &[(&str, Constructor)] = &[("logging", LoggingInterceptor::build)];

/// Deserializes an interceptor's options into its typed settings (which should deny unknown
/// fields), naming the offending key on failure.
pub fn parse_options<T: serde::de::DeserializeOwned>(
    options: &Map<String, Value>,
) -> Result<T, OptionError> {
    serde_path_to_error::deserialize(Value::Object(options.clone())).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        // An unknown key is reported at the entry's root ("."): name it from the message.
        let field = if path == "." {
            inner
                .split('`')
                .nth(1)
                .map_or_else(|| "name".to_owned(), str::to_owned)
        } else {
            path
        };
        OptionError {
            field,
            reason: inner,
        }
    })
}

/// One interceptor of a chain, with its name and panic count.
#[derive(Debug)]
struct Link {
    name: String,
    interceptor: Box<dyn Interceptor>,
    panics: AtomicU64,
}

/// An ordered chain of interceptors, cheap to clone and share between threads. Each hook
/// method takes a closure building the view, called only when the chain is not empty.
#[derive(Debug, Clone, Default)]
pub struct Interceptors {
    chain: Arc<[Link]>,
}

impl Interceptors {
    /// A chain of `(name, interceptor)` pairs, called in order.
    pub fn new(interceptors: Vec<(String, Box<dyn Interceptor>)>) -> Self {
        let chain: Vec<Link> = interceptors
            .into_iter()
            .map(|(name, interceptor)| Link {
                name,
                interceptor,
                panics: AtomicU64::new(0),
            })
            .collect();
        Interceptors {
            chain: chain.into(),
        }
    }

    /// The chain configured by `specs`, each built by its [`REGISTRY`] constructor.
    ///
    /// # Errors
    /// The first entry whose name is not registered or whose options are refused.
    pub fn from_specs(specs: &[InterceptorSpec]) -> Result<Self, InterceptorError> {
        let mut chain = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let Some((_, build)) = REGISTRY.iter().find(|(name, _)| *name == spec.name) else {
                let known: Vec<&str> = REGISTRY.iter().map(|(name, _)| *name).collect();
                return Err(InterceptorError {
                    index,
                    field: "name".to_owned(),
                    reason: format!(
                        "unknown interceptor `{}`; known: {}",
                        spec.name,
                        known.join(", ")
                    ),
                });
            };
            let interceptor = build(&spec.options).map_err(|error| InterceptorError {
                index,
                field: error.field,
                reason: error.reason,
            })?;
            chain.push((spec.name.clone(), interceptor));
        }
        Ok(Interceptors::new(chain))
    }

    /// Whether the chain is empty (every hook then returns at once).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.chain.is_empty()
    }

    /// Calls every [`Interceptor::on_consume`] with the view `record` builds.
    #[inline]
    pub fn on_consume<'a>(&self, record: impl FnOnce() -> RecordView<'a>) {
        if !self.is_empty() {
            let record = record();
            self.each("on_consume", |interceptor| interceptor.on_consume(&record));
        }
    }

    /// Calls every [`Interceptor::on_send`] with the view `record` builds.
    #[inline]
    pub fn on_send<'a>(&self, record: impl FnOnce() -> RecordView<'a>) {
        if !self.is_empty() {
            let record = record();
            self.each("on_send", |interceptor| interceptor.on_send(&record));
        }
    }

    /// Calls every [`Interceptor::on_acknowledgement`] with the view `acknowledgement` builds.
    #[inline]
    pub fn on_acknowledgement<'a>(&self, acknowledgement: impl FnOnce() -> Acknowledgement<'a>) {
        if !self.is_empty() {
            let acknowledgement = acknowledgement();
            self.each("on_acknowledgement", |interceptor| {
                interceptor.on_acknowledgement(&acknowledgement);
            });
        }
    }

    /// Calls every [`Interceptor::on_commit`] with the view `commit` builds.
    #[inline]
    pub fn on_commit<'a>(&self, commit: impl FnOnce() -> Commit<'a>) {
        if !self.is_empty() {
            let commit = commit();
            self.each("on_commit", |interceptor| interceptor.on_commit(&commit));
        }
    }

    /// Runs `hook` on every interceptor; a panic is caught, counted and logged (the first,
    /// then every 1000th of each interceptor).
    fn each(&self, hook: &'static str, hook_call: impl Fn(&dyn Interceptor)) {
        for link in self.chain.iter() {
            let outcome = catch_unwind(AssertUnwindSafe(|| hook_call(link.interceptor.as_ref())));
            if let Err(panic) = outcome {
                let panics = link.panics.fetch_add(1, Ordering::Relaxed) + 1;
                if panics % 1000 == 1 {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".to_owned());
                    tracing::error!(
                        target: LOG_TARGET,
                        interceptor = %link.name,
                        hook,
                        panics,
                        "interceptor panicked, ignored: {message}"
                    );
                }
            }
        }
    }
}

/// The level of the [`LoggingInterceptor`]'s lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `TRACE`.
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    #[default]
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

/// The options of the `logging` interceptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingOptions {
    /// The level of its lines (`info` by default; the log filter must let it through).
    pub level: LogLevel,
    /// Log one event of each hook in this many (1: every event).
    pub sample_every: u64,
}

impl Default for LoggingOptions {
    fn default() -> Self {
        LoggingOptions {
            level: LogLevel::Info,
            sample_every: 1,
        }
    }
}

/// Writes a tracing line (target [`LOG_TARGET`]) for every event, or every Nth of each hook,
/// like the logging interceptors of the Kafka Streams examples. Each line carries `seen`, the
/// number of events of that hook so far.
#[derive(Debug)]
pub struct LoggingInterceptor {
    options: LoggingOptions,
    /// Events seen, per hook: consume, send, acknowledgement, commit.
    seen: [AtomicU64; 4],
}

/// Emits one event at a level chosen at run time (tracing's macros take a constant one).
macro_rules! log_at {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            LogLevel::Trace => tracing::trace!(target: LOG_TARGET, $($rest)+),
            LogLevel::Debug => tracing::debug!(target: LOG_TARGET, $($rest)+),
            LogLevel::Info => tracing::info!(target: LOG_TARGET, $($rest)+),
            LogLevel::Warn => tracing::warn!(target: LOG_TARGET, $($rest)+),
            LogLevel::Error => tracing::error!(target: LOG_TARGET, $($rest)+),
        }
    };
}

impl LoggingInterceptor {
    /// A logging interceptor with `options`.
    pub fn new(options: LoggingOptions) -> Self {
        LoggingInterceptor {
            options,
            seen: Default::default(),
        }
    }

    /// The [`REGISTRY`] constructor: `level` and `sample_every` (at least 1).
    ///
    /// # Errors
    /// An unknown option, a value of the wrong type, or `sample_every = 0`.
    pub fn build(options: &Map<String, Value>) -> Result<Box<dyn Interceptor>, OptionError> {
        let options: LoggingOptions = parse_options(options)?;
        if options.sample_every == 0 {
            return Err(OptionError {
                field: "sample_every".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(Box::new(LoggingInterceptor::new(options)))
    }

    /// Counts an event of hook `index`; returns the count when this one is to be logged.
    fn sample(&self, index: usize) -> Option<u64> {
        let seen = self.seen[index].fetch_add(1, Ordering::Relaxed) + 1;
        (seen - 1)
            .is_multiple_of(self.options.sample_every)
            .then_some(seen)
    }
}

impl Interceptor for LoggingInterceptor {
    // One logging hook per interceptor event, each logging that event's own fields.
    fn on_consume(&self, record: &RecordView<'_>) {
        if let Some(seen) = self.sample(0) {
            log_at!(
                self.options.level,
                seen,
                topic = record.topic,
                partition = record.partition,
                offset = record.offset,
                timestamp = record.timestamp,
                key_bytes = record.key.map(<[u8]>::len),
                value_bytes = record.value.map(<[u8]>::len),
                headers = record.headers.len(),
                "on_consume"
            );
        }
    }

    fn on_send(&self, record: &RecordView<'_>) {
        if let Some(seen) = self.sample(1) {
            log_at!(
                self.options.level,
                seen,
                topic = record.topic,
                timestamp = record.timestamp,
                key_bytes = record.key.map(<[u8]>::len),
                value_bytes = record.value.map(<[u8]>::len),
                headers = record.headers.len(),
                "on_send"
            );
        }
    }

    fn on_acknowledgement(&self, acknowledgement: &Acknowledgement<'_>) {
        if let Some(seen) = self.sample(2) {
            log_at!(
                self.options.level,
                seen,
                topic = acknowledgement.topic,
                partition = acknowledgement.partition,
                offset = acknowledgement.offset,
                error = acknowledgement.error.as_deref(),
                "on_acknowledgement"
            );
        }
    }

    fn on_commit(&self, commit: &Commit<'_>) {
        if let Some(seen) = self.sample(3) {
            let offsets: Vec<String> = commit
                .offsets
                .iter()
                .map(|offset| format!("{}-{}@{}", offset.topic, offset.partition, offset.offset))
                .collect();
            log_at!(
                self.options.level,
                seen,
                offsets = offsets.join(","),
                error = commit.error.as_deref(),
                "on_commit"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn spec(text: &str) -> Vec<InterceptorSpec> {
        #[derive(Deserialize)]
        struct File {
            interceptors: Vec<InterceptorSpec>,
        }
        serde_json::from_str::<File>(text)
            .map(|file| file.interceptors)
            .unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn refused(text: &str) -> InterceptorError {
        match Interceptors::from_specs(&spec(text)) {
            Ok(chain) => panic!("{text} accepted: {chain:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn builds_the_logging_interceptor_with_its_options() {
        let chain = Interceptors::from_specs(&spec(
            r#"{"interceptors": [{"name": "logging", "level": "debug", "sample_every": 10},
                                 {"name": "logging"}]}"#,
        ))
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(chain.chain.len(), 2);
        assert!(!chain.is_empty());
        assert!(Interceptors::from_specs(&[]).is_ok_and(|chain| chain.is_empty()));
    }

    #[test]
    fn refuses_an_unknown_name_naming_the_key() {
        let error = refused(r#"{"interceptors": [{"name": "logging"}, {"name": "audit"}]}"#);
        assert_eq!(error.key(), "interceptors[1].name");
        assert!(error.reason.contains("`audit`"), "{error}");
        assert!(error.reason.contains("known: logging"), "{error}");
    }

    #[test]
    fn refuses_bad_options_naming_the_option() {
        let unknown = refused(r#"{"interceptors": [{"name": "logging", "levl": "info"}]}"#);
        assert_eq!(unknown.key(), "interceptors[0].levl");
        let level = refused(r#"{"interceptors": [{"name": "logging", "level": "loud"}]}"#);
        assert_eq!(level.key(), "interceptors[0].level");
        assert!(level.reason.contains("loud"), "{level}");
        let zero = refused(r#"{"interceptors": [{"name": "logging", "sample_every": 0}]}"#);
        assert_eq!(zero.key(), "interceptors[0].sample_every");
        let negative = refused(r#"{"interceptors": [{"name": "logging", "sample_every": -3}]}"#);
        assert_eq!(negative.key(), "interceptors[0].sample_every");
    }

    #[test]
    fn samples_every_nth_event_of_each_hook() {
        let logging = LoggingInterceptor::new(LoggingOptions {
            level: LogLevel::Info,
            sample_every: 3,
        });
        let logged: Vec<Option<u64>> = (0..7).map(|_| logging.sample(1)).collect();
        assert_eq!(
            logged,
            [Some(1), None, None, Some(4), None, None, Some(7)],
            "counts per hook"
        );
        assert_eq!(logging.sample(0), Some(1), "hooks are counted apart");
    }

    /// Records the hooks called, and panics on `on_send`.
    #[derive(Debug, Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
    }

    impl Interceptor for Recorder {
        fn on_consume(&self, record: &RecordView<'_>) {
            self.calls
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(format!("consume {}@{:?}", record.topic, record.offset));
        }
        fn on_send(&self, _record: &RecordView<'_>) {
            panic!("boom");
        }
        fn on_acknowledgement(&self, acknowledgement: &Acknowledgement<'_>) {
            self.calls
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(format!("ack {:?}", acknowledgement.error));
        }
    }

    fn record(topic: &str) -> RecordView<'_> {
        RecordView {
            topic,
            partition: Some(0),
            offset: Some(5),
            timestamp: None,
            key: None,
            value: Some(b"v"),
            headers: Vec::new(),
        }
    }

    #[test]
    fn calls_hooks_in_order_and_survives_a_panicking_hook() {
        let first = Arc::new(Recorder::default());
        #[derive(Debug)]
        struct Shared(Arc<Recorder>);
        impl Interceptor for Shared {
            fn on_consume(&self, record: &RecordView<'_>) {
                self.0.on_consume(record);
            }
            fn on_send(&self, record: &RecordView<'_>) {
                self.0.on_send(record);
            }
            fn on_acknowledgement(&self, acknowledgement: &Acknowledgement<'_>) {
                self.0.on_acknowledgement(acknowledgement);
            }
        }
        let chain = Interceptors::new(vec![
            ("first".to_owned(), Box::new(Shared(Arc::clone(&first)))),
            ("second".to_owned(), Box::new(Shared(Arc::clone(&first)))),
        ]);
        chain.on_consume(|| record("in"));
        chain.on_send(|| record("out"));
        chain.on_send(|| record("out"));
        chain.on_acknowledgement(|| Acknowledgement {
            topic: "out",
            partition: Some(1),
            offset: None,
            error: Some("timed out".to_owned()),
        });
        let calls = first
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert_eq!(
            calls,
            [
                "consume in@Some(5)",
                "consume in@Some(5)",
                "ack Some(\"timed out\")",
                "ack Some(\"timed out\")"
            ]
        );
        let panics: Vec<u64> = chain
            .chain
            .iter()
            .map(|link| link.panics.load(Ordering::Relaxed))
            .collect();
        assert_eq!(panics, [2, 2]);
    }

    #[test]
    fn an_empty_chain_never_builds_a_view() {
        let chain = Interceptors::default();
        chain.on_consume(|| panic!("built a view for nobody"));
        chain.on_commit(|| panic!("built a view for nobody"));
    }
}
