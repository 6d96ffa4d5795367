//! The pure stream-processing DSL (no Kafka): declare a graph with [`StreamsBuilder`] and
//! [`KStream`], freeze it into a [`Topology`], run records through [`Topology::process`].
//!
//! Records keep their key, value, timestamp and headers and know their source topic,
//! partition and offset ([`crate::record::InputRecord`]). Serdes ([`serdes`]) turn bytes into
//! the values operators see at the sources and back at the sinks; values may borrow the
//! consumed bytes, so pass-through records are never copied.

mod builder;
mod describe;
mod group;
mod internal;
mod node;
mod process;
mod repartition;
pub mod serdes;
mod table;
mod time;
mod window;

use std::fmt;
use std::sync::Arc;

pub use builder::{BranchedKStream, KStream, StreamsBuilder};
pub use describe::{NodeDescription, NodeRole, Subtopology, TopologyDescription};
pub use group::{Aggregator, Initializer, KGroupedStream, Reducer};
pub use internal::{
    CHANGELOG_CONFIG, InternalTopic, InternalTopicError, InternalTopicKind, REPARTITION_CONFIG,
    WINDOW_CHANGELOG_CLEANUP_POLICY, WINDOW_CHANGELOG_EXTRA_RETENTION_MS, planned_partitions,
};
pub use process::{ProcessorBuilder, ProcessorContext, StoreEntry};
pub use table::{GlobalKTable, KTable};
pub use time::PunctuationType;
pub(crate) use time::no_record;
pub use window::{
    ReadOwned, Suppressed, TimeWindowedKStream, TimeWindows, Window, Windowed, WindowedKey,
};

use crate::record::{InputRecord, OutputRecord};
use crate::state::{GlobalStores, StoreError, StoreSpec, TaskState};
use node::{RecordContext, SourceNode};

/// Which stage of a record's trip failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessingErrorKind {
    /// The source could not read the record's key or value.
    Deserialization,
    /// An operator refused the record (e.g. a field it needs is missing).
    Processing,
    /// A sink could not write the key or value.
    Serialization,
}

impl ProcessingErrorKind {
    // An enum-to-text match, as elsewhere: one arm per variant.
    /// The kind as one word, as used in logs and dead-letter headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deserialization => "deserialization",
            Self::Processing => "processing",
            Self::Serialization => "serialization",
        }
    }
}

impl fmt::Display for ProcessingErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record the topology could not process, naming the node and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} error in node {node}: {message}")]
pub struct ProcessingError {
    /// Which stage failed.
    pub kind: ProcessingErrorKind,
    /// The name of the node that failed (`KSTREAM-SOURCE-0000000000`, a branch name, ...).
    pub node: String,
    /// What is wrong with the record, and where.
    pub message: String,
}

impl ProcessingError {
    /// An error of `kind` at `node`.
    pub fn new(kind: ProcessingErrorKind, node: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            node: node.to_owned(),
            message: message.into(),
        }
    }
}

/// A graph that cannot become a topology.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Two sources read the same topic (a record would not know which to take).
    #[error("topic {0:?} is read by more than one source")]
    DuplicateSourceTopic(String),
    /// Two nodes were given the same name.
    #[error("node name {0:?} is used more than once")]
    DuplicateNodeName(String),
    /// The builder was built already; declare a new one.
    #[error("this StreamsBuilder was built already; a builder builds one topology")]
    AlreadyBuilt,
    /// A join reads a stream whose key was changed (`select_key`, `map`): its records are on
    /// the partitions of their old keys, so they would meet the wrong table partition.
    #[error(
        "node {join} joins a stream re-keyed by {rekeyed}: write it to a topic partitioned by \
         the new key first (only aggregations repartition by themselves yet)"
    )]
    RepartitionRequired {
        /// The join node.
        join: String,
        /// The node that changed the key.
        rekeyed: String,
    },
    /// Two stores were declared with the same name.
    #[error("store name {0:?} is declared more than once")]
    DuplicateStoreName(String),
    /// A store was declared ([`StreamsBuilder::add_state_store`]) but no processor connects to it.
    #[error("store {0:?} is declared but no processor connects to it")]
    UnconnectedStore(String),
    /// A processor connects to a store no one declared ([`StreamsBuilder::add_state_store`]).
    #[error("processor {node} connects to store {store:?}, which is not declared")]
    UnknownStore {
        /// The processor node.
        node: String,
        /// The store name it gave.
        store: String,
    },
    /// An operator was declared with arguments it cannot run with (windows of size 0, a
    /// hop larger than the window, a join with a table that cannot be looked up, ...).
    #[error("node {node}: {reason}")]
    Refused {
        /// The node that was refused (or the node its input comes from).
        node: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bug in this crate: the graph's edges do not match its node types.
    #[error("internal error: graph node {0} could not be assembled")]
    Internal(String),
}

/// A runnable topology: immutable, shareable between threads, built by
/// [`StreamsBuilder::build`].
#[derive(Clone)]
pub struct Topology {
    sources: Arc<[(String, Arc<dyn SourceNode>)]>,
    global_sources: Arc<[(String, Arc<dyn SourceNode>)]>,
    stores: Arc<[StoreSpec]>,
    /// What [`Topology::process`] runs with: no local store, empty global stores (cloned, not
    /// allocated, per record).
    stateless: (Arc<[String]>, GlobalStores),
    /// The sink topic names, each once; sink nodes hold an index into it, so outputs borrow
    /// their topic from the topology instead of copying it per record.
    sink_names: Arc<[Box<str>]>,
    /// The repartition topics: (name as described, name the sources and sinks use), the
    /// latter prefixed with the application id by [`Topology::for_application`].
    repartitions: Arc<[(String, String)]>,
    /// Punctuation schedules and time-driven nodes ([`time`]).
    time: Arc<time::TopologyTime>,
    description: TopologyDescription,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("description", &self.description.to_string())
            .finish()
    }
}

impl Topology {
    fn new(
        sources: Vec<(String, Arc<dyn SourceNode>)>,
        global_sources: Vec<(String, Arc<dyn SourceNode>)>,
        stores: Vec<StoreSpec>,
        sink_names: Vec<Box<str>>,
        internal_topics: Vec<String>,
        time: time::TopologyTime,
        description: TopologyDescription,
    ) -> Self {
        let mut topology = Self {
            sources: sources.into(),
            global_sources: global_sources.into(),
            stores: stores.into(),
            stateless: (Arc::from([]), GlobalStores::new(Arc::from([]))),
            sink_names: sink_names.into(),
            repartitions: internal_topics
                .into_iter()
                .map(|topic| (topic.clone(), topic))
                .collect(),
            time: Arc::new(time),
            description,
        };
        topology.stateless.1 = topology.new_global_stores();
        topology
    }

    /// Its state stores, local ones first in declaration order, then the global ones.
    pub fn stores(&self) -> &[StoreSpec] {
        &self.stores
    }

    /// The topics global tables read (every instance reads every partition of them).
    pub fn global_topics(&self) -> Vec<&str> {
        self.global_sources
            .iter()
            .map(|(topic, _)| topic.as_str())
            .collect()
    }

    /// Empty global stores for this topology's global tables, shared by all its tasks.
    pub fn new_global_stores(&self) -> GlobalStores {
        GlobalStores::new(self.store_names(true))
    }

    /// Empty in-memory stores for one task of this topology, reading `globals`.
    pub fn new_task_state(&self, globals: &GlobalStores) -> TaskState {
        TaskState::in_memory(self.store_names(false), globals.clone())
    }

    /// The local stores of a task, persistent in `directory` (see
    /// [`task_directory`](crate::state::task_directory)), with the global stores `globals`.
    ///
    /// # Errors
    /// [`StoreError`] naming the store file that cannot be opened.
    pub fn open_task_state(
        &self,
        globals: &GlobalStores,
        directory: &std::path::Path,
    ) -> Result<TaskState, StoreError> {
        TaskState::persistent(self.store_names(false), globals.clone(), directory)
    }

    fn store_names(&self, global: bool) -> Arc<[String]> {
        self.stores
            .iter()
            .filter(|store| store.global == global)
            .map(|store| store.name.clone())
            .collect()
    }

    /// The topics its sources read, in declaration order.
    pub fn source_topics(&self) -> Vec<&str> {
        self.sources
            .iter()
            .map(|(topic, _)| topic.as_str())
            .collect()
    }

    /// The topics its sinks write, each once, in the order of [`Topology::describe`]
    /// (repartition topics by the name records are written to).
    pub fn sink_topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = Vec::new();
        for node in self.description.subtopologies.iter().flat_map(|s| &s.nodes) {
            if let NodeRole::Sink { topic } = &node.role {
                let topic = self.topic_name(topic);
                if !topics.contains(&topic) {
                    topics.push(topic);
                }
            }
        }
        topics
    }

    /// Its shape; `Display` prints Kafka Streams' format, see also
    /// [`TopologyDescription::to_dot`] and [`TopologyDescription::to_mermaid`].
    pub fn describe(&self) -> TopologyDescription {
        self.description.clone()
    }

    /// The source topics read together by one sub-topology (two or more: a stream and the
    /// table it joins), whose records a task takes in timestamp order. A sub-topology reading a
    /// repartition topic is a task of its own, as in Kafka Streams: it is not held back by the
    /// topics that feed it.
    pub fn co_read_source_topics(&self) -> Vec<&str> {
        self.description
            .subtopologies
            .iter()
            .filter(|subtopology| !subtopology.global)
            .flat_map(|subtopology| {
                let topics: Vec<&str> = subtopology
                    .nodes
                    .iter()
                    .filter_map(|node| match &node.role {
                        NodeRole::Source { topics } => Some(topics),
                        _ => None,
                    })
                    .flatten()
                    .map(String::as_str)
                    .collect();
                if topics.len() >= 2 {
                    topics
                } else {
                    Vec::new()
                }
            })
            .collect()
    }

    /// Runs one consumed record through the topology, handing each output to `emit` (in order).
    ///
    /// Outputs inherit the record's timestamp and headers; pass-through values borrow it, and
    /// output topic names borrow the topology (so outputs live no longer than both).
    ///
    /// # Errors
    /// [`ProcessingError`] naming the node and the reason when the record cannot be
    /// processed, or when no source reads its topic. The caller discards what was emitted
    /// for this record and applies its error policy ([`crate::errors`]).
    ///
    /// Each call builds a task state of its own and starts from empty state stores: use it for
    /// stateless topologies and tests. To run many records, or a stateful topology, keep a
    /// task's state and call [`Topology::process_in`] (what the runtime's workers do), which
    /// does not pay that set-up per record.
    pub fn process<'a>(
        &'a self,
        record: &InputRecord<'a>,
        emit: &mut dyn FnMut(OutputRecord<'a>),
    ) -> Result<(), ProcessingError> {
        let (no_stores, globals) = &self.stateless;
        let mut state = TaskState::in_memory(Arc::clone(no_stores), globals.clone());
        self.run(&mut state, record, emit, None)
    }

    /// As [`Topology::process`], with the stores of the task the record belongs to: tables
    /// read from its topic update them, joins read them. The changes wait in `state` for the
    /// caller to write to the changelogs ([`TaskState::take_changes`]).
    ///
    /// # Errors
    /// As [`Topology::process`].
    pub fn process_in<'a>(
        &'a self,
        state: &mut TaskState,
        record: &InputRecord<'a>,
        emit: &mut dyn FnMut(OutputRecord<'a>),
    ) -> Result<(), ProcessingError> {
        self.run(state, record, emit, None)
    }

    /// Applies one record of a global table's topic to the global stores (what a global
    /// table's reader does before, and while, tasks process).
    ///
    /// # Errors
    /// [`ProcessingError`] when the record cannot be read, or no global table reads its topic.
    pub fn update_global(
        &self,
        globals: &GlobalStores,
        record: &InputRecord<'_>,
    ) -> Result<(), ProcessingError> {
        let topic = record.source.topic;
        let (_, source) = self
            .global_sources
            .iter()
            .find(|(known, _)| known == topic)
            .ok_or_else(|| no_source(topic))?;
        let mut state = TaskState::in_memory(Arc::from([]), globals.clone());
        source.process(&mut RecordContext {
            input: record,
            timestamp: record.timestamp,
            emit: &mut |_| {},
            on_node: None,
            sink_names: &self.sink_names,
            state: &mut state,
        })
    }

    /// As [`Topology::process_in`], telling `on_node` the name of every node the record enters,
    /// in order (Kafka Streams' per-node `process-total` at the DEBUG recording level).
    ///
    /// # Errors
    /// As [`Topology::process`].
    pub fn process_observed<'a>(
        &'a self,
        state: &mut TaskState,
        record: &InputRecord<'a>,
        emit: &mut dyn FnMut(OutputRecord<'a>),
        on_node: &mut dyn FnMut(&str),
    ) -> Result<(), ProcessingError> {
        self.run(state, record, emit, Some(on_node))
    }

    fn run<'a, 'r>(
        &'a self,
        state: &'r mut TaskState,
        record: &'r InputRecord<'a>,
        emit: &'r mut dyn FnMut(OutputRecord<'a>),
        on_node: Option<&'r mut dyn FnMut(&str)>,
    ) -> Result<(), ProcessingError> {
        let topic = record.source.topic;
        let source = self
            .sources
            .iter()
            .find(|(known, _)| known == topic)
            .ok_or_else(|| no_source(topic))?;
        state.time_mut().observe_record(record.timestamp);
        source.1.process(&mut RecordContext {
            input: record,
            timestamp: record.timestamp,
            sink_names: &self.sink_names,
            emit,
            on_node,
            state,
        })
    }
}

fn no_source(topic: &str) -> ProcessingError {
    ProcessingError::new(
        ProcessingErrorKind::Processing,
        "topology",
        format!("no source reads topic {topic:?}"),
    )
}

/// Checks a Kafka topic name: 1 to 249 characters among ASCII letters, digits, `.`, `_`, `-`,
/// and not `.` or `..`.
///
/// # Errors
/// A message saying what is wrong with the name.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a topic name cannot be empty".to_owned());
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid topic name"));
    }
    if name.len() > 249 {
        return Err(format!("topic name {name:?} is longer than 249 characters"));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(bad) => Err(format!(
            "topic name {name:?} contains {bad:?}; only ASCII letters, digits, '.', '_' and '-' are allowed"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
