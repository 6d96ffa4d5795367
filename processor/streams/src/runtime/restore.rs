//! Restoring a task's stores from their changelogs before the task processes a record, and
//! reporting it (Kafka Streams' `StateRestoreListener`).
//!
//! "The end" of a changelog partition is the high watermark the broker sends in its Fetch
//! responses, which librdkafka caches per partition; ListOffsets(LATEST) is not used, since some
//! brokers (Tansu 0.6.0) answer it with the base offset of the last batch.

use std::ffi::CString;
use std::fmt;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::config::StreamsConfig;
use crate::state::{TaskState, changelog_topic};

/// How many records a restore applies between two `on_batch_restored` calls.
const BATCH: u64 = 1_000;

/// Told about each store restored from its changelog (Kafka Streams' `StateRestoreListener`).
pub trait StateRestoreListener: Send + Sync + fmt::Debug {
    /// Restoring `store` from `topic`-`partition` starts at offset `start`; `end` is the
    /// changelog's high watermark.
    fn on_restore_start(&self, topic: &str, partition: i32, store: &str, start: i64, end: i64);
    /// A batch ending at offset `batch_end` (exclusive) was applied: `restored` records.
    fn on_batch_restored(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        batch_end: i64,
        restored: u64,
    );
    /// The store is at the changelog's end: `total` records applied.
    fn on_restore_end(&self, topic: &str, partition: i32, store: &str, total: u64);
}

/// Logs every restore with its progress in percent, as the reference design's
/// `LoggingStateRestoreListener` prints it.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoggingStateRestoreListener;

impl StateRestoreListener for LoggingStateRestoreListener {
    fn on_restore_start(&self, topic: &str, partition: i32, store: &str, start: i64, end: i64) {
        tracing::info!(
            store,
            changelog = %format!("{topic}-{partition}"),
            start,
            end,
            "restore started: {} records to restore",
            (end - start).max(0)
        );
    }

    fn on_batch_restored(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        batch_end: i64,
        restored: u64,
    ) {
        tracing::info!(
            store,
            changelog = %format!("{topic}-{partition}"),
            batch_end,
            restored,
            "restored a batch"
        );
    }

    fn on_restore_end(&self, topic: &str, partition: i32, store: &str, total: u64) {
        tracing::info!(
            store,
            changelog = %format!("{topic}-{partition}"),
            total,
            "restore finished: 100% ({total} records)"
        );
    }
}

/// Why a store could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The restore consumer failed.
    #[error("restoring {store} from {topic}-{partition}: {source}")]
    Kafka {
        /// The store.
        store: String,
        /// The changelog topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The client's error.
        source: Box<KafkaError>,
    },
    /// The changelog's end was not reached in time.
    #[error(
        "restoring {store} from {topic}-{partition}: not at the end (offset {position} of \
         {end}) after {waited:?}"
    )]
    Timeout {
        /// The store.
        store: String,
        /// The changelog topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The next offset to apply.
        position: i64,
        /// The high watermark last seen (-1 if none).
        end: i64,
        /// How long it tried.
        waited: Duration,
    },
}

/// The low and high watermarks librdkafka last received in a Fetch response for
/// `topic`-`partition`.
pub(super) fn cached_watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1_i64, -1_i64);
    // SAFETY: the client pointer is valid for the consumer's lifetime, `topic` is a
    // NUL-terminated string that outlives the call, and `low`/`high` are valid out-pointers;
    // rd_kafka_get_watermark_offsets only reads librdkafka's cached partition state. rust-rdkafka
    // wraps only the ListOffsets query (`fetch_watermarks`), which some brokers answer wrongly.
    #[allow(unsafe_code)]
    let error = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low.max(0), high))
}

/// Brings every local store of `state` (task `partition`) to the end of its changelog.
///
/// # Errors
/// [`RestoreError`] when a changelog cannot be read to its end within `timeout`.
pub(crate) fn restore_task(
    config: &StreamsConfig,
    state: &mut TaskState,
    partition: i32,
    listener: &dyn StateRestoreListener,
    timeout: Duration,
) -> Result<u64, RestoreError> {
    let mut total = 0;
    for (index, store) in state.store_names().to_vec().into_iter().enumerate() {
        let topic = changelog_topic(&config.kafka.application_id, &store);
        let Some(target) = state.store_mut(index) else {
            continue;
        };
        total += restore_store(
            config,
            &Changelog {
                topic: &topic,
                partition,
                store: &store,
            },
            target,
            listener,
            timeout,
        )?;
    }
    Ok(total)
}

/// One changelog partition and the store it restores.
struct Changelog<'a> {
    topic: &'a str,
    partition: i32,
    store: &'a str,
}

impl Changelog<'_> {
    fn kafka_error(&self, source: KafkaError) -> RestoreError {
        RestoreError::Kafka {
            store: self.store.to_owned(),
            topic: self.topic.to_owned(),
            partition: self.partition,
            source: Box::new(source),
        }
    }
}

impl Changelog<'_> {
    /// A consumer reading this changelog partition from its beginning.
    fn reader(&self, config: &StreamsConfig) -> Result<BaseConsumer, RestoreError> {
        let consumer: BaseConsumer = super::clients::restore_consumer_config(
            config,
            &format!("{}-restore-consumer", config.kafka.application_id),
        )
        .create()
        .map_err(|error| self.kafka_error(error))?;
        let mut partitions = TopicPartitionList::new();
        partitions
            .add_partition_offset(self.topic, self.partition, Offset::Beginning)
            .map_err(|error| self.kafka_error(error))?;
        consumer
            .assign(&partitions)
            .map_err(|error| self.kafka_error(error))?;
        Ok(consumer)
    }
}

fn restore_store(
    config: &StreamsConfig,
    changelog: &Changelog<'_>,
    store: &mut dyn crate::state::KeyValueStore,
    listener: &dyn StateRestoreListener,
    timeout: Duration,
) -> Result<u64, RestoreError> {
    let consumer = changelog.reader(config)?;
    let started = Instant::now();
    let (mut position, mut restored, mut announced) = (0_i64, 0_u64, None);
    loop {
        let watermarks = cached_watermarks(&consumer, changelog.topic, changelog.partition);
        let end = watermarks.map(|(_, high)| high);
        if let Some((low, end)) = watermarks {
            // Records below the low watermark were deleted: there is nothing to wait for there.
            position = position.max(low);
            if announced.is_none() {
                listener.on_restore_start(
                    changelog.topic,
                    changelog.partition,
                    changelog.store,
                    position,
                    end,
                );
                announced = Some(end);
            }
            if position >= end {
                break;
            }
        }
        if started.elapsed() >= timeout {
            return Err(RestoreError::Timeout {
                store: changelog.store.to_owned(),
                topic: changelog.topic.to_owned(),
                partition: changelog.partition,
                position,
                end: end.unwrap_or(-1),
                waited: timeout,
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let Some(key) = message.key() else { continue };
                store.apply(key, message.payload());
                position = message.offset() + 1;
                restored += 1;
                if restored % BATCH == 0 {
                    listener.on_batch_restored(
                        changelog.topic,
                        changelog.partition,
                        changelog.store,
                        position,
                        BATCH,
                    );
                }
            }
            Some(Err(error)) => return Err(changelog.kafka_error(error)),
            None => {}
        }
    }
    if restored % BATCH != 0 {
        listener.on_batch_restored(
            changelog.topic,
            changelog.partition,
            changelog.store,
            position,
            restored % BATCH,
        );
    }
    listener.on_restore_end(
        changelog.topic,
        changelog.partition,
        changelog.store,
        restored,
    );
    Ok(restored)
}
