//! Why a worker stops before it is asked to.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::topology::ProcessingError;

/// Why a worker stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A Kafka client could not be created or subscribed.
    #[error("worker {worker}: {action}: {source}")]
    Kafka {
        /// Worker name.
        worker: String,
        /// What it was doing.
        action: &'static str,
        /// The client's error.
        source: Box<KafkaError>,
    },
    /// The topology failed on a record and the error policy is `fail`.
    #[error(
        "worker {worker}: record {topic}-{partition}@{offset} failed and the error policy is fail: {error}"
    )]
    Processing {
        /// Worker name.
        worker: String,
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
        /// What the topology reported.
        error: Box<ProcessingError>,
    },
    /// A punctuation failed and the error policy is `fail`.
    #[error(
        "worker {worker}: a punctuation of task {partition} failed and the error policy is fail: \
         {error}"
    )]
    Punctuation {
        /// Worker name.
        worker: String,
        /// The task's partition.
        partition: i32,
        /// What the punctuator reported.
        error: Box<ProcessingError>,
    },
    /// An output could not be written (after its retries, and to the dead-letter topic where
    /// the policy sends it there); the input record's offset is not committed.
    #[error(
        "worker {worker}: output to {topic} of record {record} could not be written: {error}; \
         its offset is not committed"
    )]
    Delivery {
        /// Worker name.
        worker: String,
        /// Destination topic.
        topic: String,
        /// The input record, `topic-partition@offset`.
        record: String,
        /// The producer's error.
        error: Box<KafkaError>,
    },
    /// A client hit a fatal error (e.g. the idempotent producer lost its sequence).
    #[error("worker {worker}: fatal {client} error {code:?}: {reason}")]
    Fatal {
        /// Worker name.
        worker: String,
        /// `consumer` or `producer`.
        client: &'static str,
        /// librdkafka's error code.
        code: RDKafkaErrorCode,
        /// librdkafka's explanation.
        reason: String,
    },
    /// A task's stores could not be restored from their changelogs.
    #[error("worker {worker}: {source}")]
    Restore {
        /// Worker name.
        worker: String,
        /// What failed.
        source: Box<crate::runtime::RestoreError>,
    },
    /// A task's stores could not be checkpointed after a commit.
    #[error("worker {worker}: task {partition}: {source}")]
    Store {
        /// Worker name.
        worker: String,
        /// The task's partition.
        partition: i32,
        /// What failed.
        source: Box<crate::state::StoreError>,
    },
    /// A record came for a task whose stores were not restored (a broken invariant: a task
    /// is restored when its partition is assigned, and a failed restore stops the worker).
    #[error("worker {worker}: a record of partition {partition} came before its task was restored")]
    NotRestored {
        /// Worker name.
        worker: String,
        /// The task's partition.
        partition: i32,
    },
    /// The worker thread panicked.
    #[error("worker {worker} panicked: {message}")]
    Panicked {
        /// Worker name.
        worker: String,
        /// The panic message.
        message: String,
    },
}
