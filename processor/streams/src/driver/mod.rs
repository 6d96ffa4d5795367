//! The `TopologyTestDriver` of this library: runs a [`Topology`] synchronously, without a
//! broker. Pipe records into input topics, read what the topology wrote from output topics.
//!
//! ```
//! use ferrobeat_streams::driver::TopologyTestDriver;
//! use ferrobeat_streams::topology::{StreamsBuilder, serdes::{Bytes, Nullable, Utf8}};
//! let builder = StreamsBuilder::new();
//! builder.stream::<Nullable<Bytes>, Utf8>("in").filter(|_, v| v.len() > 5).to("out");
//! let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
//! let input = driver.create_input_topic("in");
//! input.pipe_values(["short", "longer one"]);
//! let output = driver.create_output_topic("out");
//! assert_eq!(output.read_value_strings_to_list(), ["longer one"]);
//! assert!(output.is_empty());
//! ```
//!
//! Failed records go through the [`ErrorHandlingConfig`] as in the runtime: by default they
//! land on the dead-letter topic (read it with [`TopologyTestDriver::create_output_topic`]);
//! under the `fail` policy piping panics, as Kafka Streams' driver throws (use
//! [`TestInputTopic::try_pipe_record`] to get the error instead).
//!
//! Time: stream-time punctuations fire as piped records move the task's stream time; the
//! wall clock is simulated and moves only with [`TopologyTestDriver::advance_wall_clock`],
//! firing the wall-clock punctuations due (see `time.rs`).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

mod outputs;
mod time;

use crate::errors::ErrorHandlingConfig;
use crate::record::{Header, InputRecord, OutputRecord, SourcePosition};
use crate::state::{GlobalStores, TaskState};
use crate::topology::{ProcessingError, Topology};

/// The application id a driver names changelog topics after unless told otherwise.
pub const DRIVER_APPLICATION_ID: &str = "topology-test-driver";

/// A record piped into or read from the driver, owning its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestRecord {
    /// Record key, `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Record value, `None` for a null value.
    pub value: Option<Vec<u8>>,
    /// Timestamp in milliseconds; when piping, `None` takes the input topic's clock.
    pub timestamp: Option<i64>,
    /// Headers, in order.
    pub headers: Vec<Header<'static>>,
}

impl TestRecord {
    /// A keyless record with this value.
    pub fn from_value(value: impl AsRef<[u8]>) -> Self {
        Self {
            value: Some(value.as_ref().to_vec()),
            ..Self::default()
        }
    }

    /// A record with this key and value.
    pub fn from_key_value(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        Self {
            key: Some(key.as_ref().to_vec()),
            ..Self::from_value(value)
        }
    }

    /// The same record with this timestamp.
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The same record with one more header.
    pub fn with_header(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push(Header {
            key: Cow::Owned(key.to_owned()),
            value: Some(Cow::Owned(value.as_ref().to_vec())),
        });
        self
    }

    /// The value as text (lossy), `None` for a null value.
    pub fn value_string(&self) -> Option<String> {
        self.value
            .as_deref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The value of the last header named `key`, as text (lossy).
    pub fn header_string(&self, key: &str) -> Option<String> {
        self.headers
            .iter()
            .rev()
            .find(|h| h.key == key)
            .and_then(|h| h.value.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn from_output(output: OutputRecord<'_>) -> Self {
        Self {
            key: output.key.map(|k| k.into_owned()),
            value: output.value.map(|v| v.into_owned()),
            timestamp: Some(output.timestamp),
            headers: output.headers.into_iter().map(Header::into_owned).collect(),
        }
    }
}

#[derive(Default)]
struct DriverState {
    /// Records written per topic, oldest first.
    outputs: HashMap<String, VecDeque<TestRecord>>,
    /// Next offset per input topic (all input is on partition 0).
    next_offsets: HashMap<String, i64>,
    /// Every error the error policy handled, in order.
    errors: Vec<ProcessingError>,
}

/// Runs a topology on piped records, synchronously and without a broker.
///
/// Every input topic is one partition, so the topology runs as one task: its tables and joins
/// see every record. Store changes are written to `<application id>-<store>-changelog` output
/// topics, as the runtime writes them. A record written to a repartition topic
/// (`<application id>-<store>-repartition`, see [`Topology::for_application`]) is kept there
/// as an output and piped back into the topology at once, as Kafka Streams' driver does.
pub struct TopologyTestDriver {
    topology: Topology,
    error_handling: ErrorHandlingConfig,
    application_id: String,
    state: RefCell<DriverState>,
    task: RefCell<TaskState>,
    globals: GlobalStores,
    /// The simulated wall clock (ms since the epoch), see [`TopologyTestDriver::advance_wall_clock`].
    wall_clock: Cell<i64>,
}

// Debug by hand: only the telling fields (others hold clients, threads or closures).
impl std::fmt::Debug for TopologyTestDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopologyTestDriver")
            .field("topology", &self.topology)
            .field("error_handling", &self.error_handling)
            .finish_non_exhaustive()
    }
}

impl TopologyTestDriver {
    /// A driver with the default error handling (dead letters to [`crate::errors::DEFAULT_DEAD_LETTER_TOPIC`]).
    pub fn new(topology: Topology) -> Self {
        Self::with_error_handling(topology, ErrorHandlingConfig::default())
    }

    /// A driver applying `error_handling` to records the topology fails on.
    pub fn with_error_handling(topology: Topology, error_handling: ErrorHandlingConfig) -> Self {
        let globals = topology.new_global_stores();
        let task = RefCell::new(topology.new_task_state(&globals));
        Self {
            topology: topology.for_application(DRIVER_APPLICATION_ID),
            error_handling,
            application_id: DRIVER_APPLICATION_ID.to_owned(),
            state: RefCell::default(),
            task,
            globals,
            wall_clock: Cell::new(0),
        }
    }

    /// The same driver, naming changelog topics after `application_id`.
    pub fn with_application_id(mut self, application_id: &str) -> Self {
        application_id.clone_into(&mut self.application_id);
        self.topology = self.topology.for_application(application_id);
        self
    }

    /// The content of state store `name` (a table's, local or global), in key order: what
    /// Kafka Streams' driver returns from `getKeyValueStore`.
    pub fn key_value_store(&self, name: &str) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let task = self.task.borrow();
        match task.store(name) {
            Some(store) => Some(
                store
                    .entries()
                    .map(|(key, value)| (key.to_vec(), value.to_vec()))
                    .collect(),
            ),
            None => self.globals.snapshot(name),
        }
    }

    /// Records a join or an aggregation dropped because their key was null.
    pub fn dropped_without_key(&self) -> u64 {
        self.task.borrow().dropped_without_key()
    }

    /// Records a windowed aggregation dropped because all their windows had closed.
    pub fn dropped_late(&self) -> u64 {
        self.task.borrow().dropped_late()
    }

    /// An input topic whose records get timestamps 0, 1, 2, ... unless they carry one.
    ///
    /// # Panics
    /// When no source of the topology reads `topic` (Kafka Streams' driver throws too).
    pub fn create_input_topic(&self, topic: &str) -> TestInputTopic<'_> {
        self.create_input_topic_with_clock(topic, 0, 1)
    }

    /// An input topic whose records get timestamps `start`, `start + advance`, ... unless
    /// they carry one.
    ///
    /// # Panics
    /// When no source of the topology reads `topic`.
    pub fn create_input_topic_with_clock(
        &self,
        topic: &str,
        start: i64,
        advance: i64,
    ) -> TestInputTopic<'_> {
        assert!(
            self.topology.source_topics().contains(&topic)
                || self.topology.global_topics().contains(&topic),
            "the topology reads no topic {topic:?} (it reads {:?} and globally {:?})",
            self.topology.source_topics(),
            self.topology.global_topics(),
        );
        TestInputTopic {
            driver: self,
            topic: topic.to_owned(),
            clock: Cell::new(start),
            advance,
        }
    }

    /// An output topic: a reader of the records written to `topic`.
    pub fn create_output_topic(&self, topic: &str) -> TestOutputTopic<'_> {
        TestOutputTopic {
            driver: self,
            topic: topic.to_owned(),
        }
    }

    /// Every processing error handled so far (dead-lettered or skipped), oldest first.
    pub fn errors(&self) -> Vec<ProcessingError> {
        self.state.borrow().errors.clone()
    }

    /// Names of the topics written to so far, sorted.
    pub fn produced_topic_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.state.borrow().outputs.keys().cloned().collect();
        names.sort();
        names
    }

    fn pipe(&self, topic: &str, record: TestRecord, timestamp: i64) -> Result<(), ProcessingError> {
        let offset = {
            let mut state = self.state.borrow_mut();
            let next = state.next_offsets.entry(topic.to_owned()).or_insert(0);
            *next += 1;
            *next - 1
        };
        let input = InputRecord {
            source: SourcePosition {
                topic,
                partition: 0,
                offset,
            },
            timestamp,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: record.headers.iter().map(Header::borrowed).collect(),
        };
        if self.topology.global_topics().contains(&topic) {
            return self.topology.update_global(&self.globals, &input);
        }
        let mut produced = Vec::new();
        let mut task = self.task.borrow_mut();
        let outcome = self
            .topology
            .process_in(&mut task, &input, &mut |output| produced.push(output));
        self.write_changes(&mut task, timestamp);
        if let Err(error) = outcome {
            // As the runtime: what was emitted for a failed record is discarded.
            produced.clear();
            self.handle_error(&input, error, &mut produced)?;
        }
        // As the runtime after each record: the stream-time punctuations due.
        let errors = self
            .topology
            .punctuate_stream_time(&mut task, &mut |output| produced.push(output));
        let stream_time = task.stream_time().unwrap_or(timestamp);
        self.write_changes(&mut task, stream_time);
        drop(task);
        self.handle_errors(errors, stream_time, &mut produced)?;
        self.write_outputs(produced, timestamp)
    }
}

/// Pipes records into one input topic of a [`TopologyTestDriver`].
#[derive(Debug)]
pub struct TestInputTopic<'d> {
    driver: &'d TopologyTestDriver,
    topic: String,
    clock: Cell<i64>,
    advance: i64,
}

impl TestInputTopic<'_> {
    /// Pipes a record; a record without timestamp takes the topic's clock, which advances.
    ///
    /// # Errors
    /// The record's [`ProcessingError`] under the `fail` policy only; other policies handle it.
    pub fn try_pipe_record(&self, record: TestRecord) -> Result<(), ProcessingError> {
        let timestamp = record.timestamp.unwrap_or_else(|| {
            let now = self.clock.get();
            self.clock.set(now + self.advance);
            now
        });
        self.driver.pipe(&self.topic, record, timestamp)?;
        // As the runtime's loop after a record: what is due at the wall clock.
        self.driver.tick()
    }

    /// Pipes a record.
    ///
    /// # Panics
    /// Under the `fail` policy, when the topology fails on the record.
    pub fn pipe_record(&self, record: TestRecord) {
        if let Err(error) = self.try_pipe_record(record) {
            panic!(
                "the topology failed on a record piped into {:?}: {error}",
                self.topic
            );
        }
    }

    /// Pipes a keyless record with this value.
    pub fn pipe_value(&self, value: impl AsRef<[u8]>) {
        self.pipe_record(TestRecord::from_value(value));
    }

    /// Pipes a record with this key and value.
    pub fn pipe_key_value(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.pipe_record(TestRecord::from_key_value(key, value));
    }

    /// Pipes a keyless record with this value and timestamp.
    pub fn pipe_value_at(&self, value: impl AsRef<[u8]>, timestamp: i64) {
        self.pipe_record(TestRecord::from_value(value).with_timestamp(timestamp));
    }

    /// Pipes keyless records with these values, in order.
    pub fn pipe_values<V: AsRef<[u8]>>(&self, values: impl IntoIterator<Item = V>) {
        values.into_iter().for_each(|value| self.pipe_value(value));
    }

    /// Pipes records with these keys and values, in order.
    pub fn pipe_key_values<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) {
        pairs
            .into_iter()
            .for_each(|(key, value)| self.pipe_key_value(key, value));
    }
}

/// Reads, oldest first, the records a [`TopologyTestDriver`] wrote to one topic.
#[derive(Debug)]
pub struct TestOutputTopic<'d> {
    driver: &'d TopologyTestDriver,
    topic: String,
}

/// A key and a value as read from an output topic (`None` = null).
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

impl TestOutputTopic<'_> {
    /// Takes the oldest unread record.
    pub fn read_record(&self) -> Option<TestRecord> {
        self.driver
            .state
            .borrow_mut()
            .outputs
            .get_mut(&self.topic)
            .and_then(VecDeque::pop_front)
    }

    /// Takes the oldest unread record's value (`Some(None)` for a null value).
    pub fn read_value(&self) -> Option<Option<Vec<u8>>> {
        self.read_record().map(|record| record.value)
    }

    /// Takes the oldest unread record's value as text (lossy; a null value reads as `""`).
    pub fn read_value_string(&self) -> Option<String> {
        self.read_record()
            .map(|record| record.value_string().unwrap_or_default())
    }

    /// Takes the oldest unread record's key and value.
    pub fn read_key_value(&self) -> Option<KeyValue> {
        self.read_record().map(|record| (record.key, record.value))
    }

    /// Takes every unread record.
    pub fn read_records_to_list(&self) -> Vec<TestRecord> {
        self.driver
            .state
            .borrow_mut()
            .outputs
            .get_mut(&self.topic)
            .map(|queue| queue.drain(..).collect())
            .unwrap_or_default()
    }

    /// Takes every unread value.
    pub fn read_values_to_list(&self) -> Vec<Option<Vec<u8>>> {
        self.read_records_to_list()
            .into_iter()
            .map(|record| record.value)
            .collect()
    }

    /// Takes every unread value as text (lossy; null values read as `""`).
    pub fn read_value_strings_to_list(&self) -> Vec<String> {
        self.read_records_to_list()
            .iter()
            .map(|record| record.value_string().unwrap_or_default())
            .collect()
    }

    /// Takes every unread key and value.
    pub fn read_key_values_to_list(&self) -> Vec<KeyValue> {
        self.read_records_to_list()
            .into_iter()
            .map(|record| (record.key, record.value))
            .collect()
    }

    /// How many records are unread.
    pub fn queue_size(&self) -> usize {
        self.driver
            .state
            .borrow()
            .outputs
            .get(&self.topic)
            .map_or(0, VecDeque::len)
    }

    /// Whether every record written so far has been read.
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }
}
