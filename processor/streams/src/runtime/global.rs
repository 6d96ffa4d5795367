//! The global tables' reader (Kafka Streams' `GlobalStreamThread`): before any worker starts it
//! reads every partition of every global topic to its end into the global stores, then keeps
//! applying new records until the client shuts down. It reports its position and the high
//! watermark of each partition to the observer ([`RuntimeObserver::global_table_position`]) once
//! loaded, then every `statistics_interval`.
//!
//! [`RuntimeObserver::global_table_position`]: super::RuntimeObserver::global_table_position

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::Shared;
use super::restore::cached_watermarks;
use super::worker::consume::input_record;

/// How long one poll of the reader may block: bounds how fast it notices a shutdown.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The next offset the reader reads, per partition (`topic`, `partition`) of the global topics.
type Positions = HashMap<(String, i32), i64>;

/// Why the global tables could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(super) enum GlobalError {
    /// The reader's consumer failed.
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    /// A global topic does not exist.
    #[error("global table topic {0:?} does not exist")]
    MissingTopic(String),
    /// The topics were not read to their end in time.
    #[error("not loaded after {0:?} (runtime.restore_timeout)")]
    Timeout(Duration),
    /// The reader thread could not be started.
    #[error("cannot start the reader thread: {0}")]
    Spawn(std::io::Error),
}

/// Loads the global stores to the end of their topics, then follows them on a thread of its own.
pub(super) fn load_then_follow(shared: Arc<Shared>) -> Result<JoinHandle<()>, GlobalError> {
    let config = &shared.config;
    let consumer: BaseConsumer = super::clients::restore_consumer_config(
        config,
        &format!("{}-global-consumer", shared.client_id),
    )
    .create()?;
    let mut assignment = TopicPartitionList::new();
    let mut positions = Positions::new();
    for topic in shared.topology.global_topics() {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|known| known.name() == topic && known.error().is_none())
            .map(|known| known.partitions().len())
            .filter(|&count| count > 0)
            .ok_or_else(|| GlobalError::MissingTopic(topic.to_owned()))?;
        for partition in 0..i32::try_from(partitions).unwrap_or(i32::MAX) {
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
            positions.insert((topic.to_owned(), partition), 0);
        }
    }
    consumer.assign(&assignment)?;
    let started = Instant::now();
    let mut loaded = 0_u64;
    while !at_end(&consumer, &mut positions) {
        if started.elapsed() >= config.runtime.restore_timeout {
            return Err(GlobalError::Timeout(config.runtime.restore_timeout));
        }
        if shared.shutdown.load(Ordering::Acquire) {
            break;
        }
        if let Some(message) = consumer.poll(POLL_INTERVAL) {
            let message = message?;
            positions.insert(
                (message.topic().to_owned(), message.partition()),
                message.offset() + 1,
            );
            apply(&shared, &message);
            loaded += 1;
        }
    }
    tracing::info!(
        topics = ?shared.topology.global_topics(),
        records = loaded,
        "global tables loaded"
    );
    report(&shared, &consumer, &positions);
    let name = format!("{}-GlobalStreamThread", shared.client_id);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || follow(&shared, &consumer, positions))
        .map_err(GlobalError::Spawn)
}

/// Whether every assigned partition is read up to its high watermark (from Fetch responses).
fn at_end(consumer: &BaseConsumer, positions: &mut Positions) -> bool {
    positions.iter_mut().all(|((topic, partition), position)| {
        match cached_watermarks(consumer, topic, *partition) {
            Some((low, high)) => {
                *position = (*position).max(low);
                *position >= high
            }
            None => false,
        }
    })
}

fn follow(shared: &Shared, consumer: &BaseConsumer, mut positions: Positions) {
    let mut reported = Instant::now();
    while !shared.shutdown.load(Ordering::Acquire) {
        match consumer.poll(POLL_INTERVAL) {
            Some(Ok(message)) => {
                positions.insert(
                    (message.topic().to_owned(), message.partition()),
                    message.offset() + 1,
                );
                apply(shared, &message);
            }
            Some(Err(error)) => tracing::warn!("global tables' reader: {error}"),
            None => {}
        }
        if reported.elapsed() >= shared.config.statistics_interval {
            report(shared, consumer, &positions);
            reported = Instant::now();
        }
    }
}

/// Tells the observer where the reader is in every partition whose high watermark a fetch has
/// brought (a position below the log start, after retention, counts from the log start).
fn report(shared: &Shared, consumer: &BaseConsumer, positions: &Positions) {
    for ((topic, partition), position) in positions {
        if let Some((low, high)) = cached_watermarks(consumer, topic, *partition) {
            shared
                .observer
                .global_table_position(topic, *partition, (*position).max(low), high);
        }
    }
}

/// Applies one record of a global topic; a record the table cannot read is logged and skipped
/// (a global topic has no dead-letter topic of its own).
fn apply(shared: &Shared, message: &BorrowedMessage<'_>) {
    let input = input_record(message);
    if let Err(error) = shared.topology.update_global(&shared.globals, &input) {
        tracing::warn!(
            "global table record {}-{}@{} skipped: {error}",
            message.topic(),
            message.partition(),
            message.offset()
        );
    }
}
