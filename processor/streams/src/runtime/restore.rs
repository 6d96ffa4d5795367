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
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::config::StreamsConfig;
use crate::state::{KeyValueStore, StoreError, TaskState, changelog_topic};

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
    /// A store's checkpoint is past its changelog's end (the topic was recreated): the store
    /// is emptied and restored from the beginning, so this error does not leave the restore.
    #[error(
        "restoring {store} from {topic}-{partition}: its checkpoint {checkpoint} is past the \
         changelog's end {end}"
    )]
    CheckpointPastEnd {
        /// The store.
        store: String,
        /// The changelog topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The store's checkpoint.
        checkpoint: i64,
        /// The changelog's high watermark.
        end: i64,
    },
    /// A store's file could not be opened, emptied or written.
    #[error("restoring task {partition}: {source}")]
    Store {
        /// The task's partition.
        partition: i32,
        /// What failed.
        source: StoreError,
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
        let changelog = Changelog {
            topic: &topic,
            partition,
            store: &store,
        };
        let restored = Restorer {
            config,
            listener,
            timeout,
        }
        .restore(&changelog, target)?;
        total += restored.records;
        state.changelog_position_reached(index, restored.position);
    }
    // Checkpoint what was restored, so that a crash before the first commit does not restore
    // it again.
    state
        .flush()
        .map_err(|source| RestoreError::Store { partition, source })?;
    Ok(total)
}

/// One changelog partition and the store it restores.
struct Changelog<'a> {
    topic: &'a str,
    partition: i32,
    store: &'a str,
}

impl Changelog<'_> {
    fn past_end(&self, checkpoint: i64, end: i64) -> RestoreError {
        RestoreError::CheckpointPastEnd {
            store: self.store.to_owned(),
            topic: self.topic.to_owned(),
            partition: self.partition,
            checkpoint,
            end,
        }
    }

    fn timeout(&self, position: i64, end: i64, waited: Duration) -> RestoreError {
        RestoreError::Timeout {
            store: self.store.to_owned(),
            topic: self.topic.to_owned(),
            partition: self.partition,
            position,
            end,
            waited,
        }
    }

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
    /// A consumer reading this changelog partition from `checkpoint`, or its beginning. From a
    /// checkpoint, an offset outside the partition is an error, not a silent reset.
    fn reader(
        &self,
        config: &StreamsConfig,
        checkpoint: Option<i64>,
    ) -> Result<BaseConsumer, RestoreError> {
        let mut client = super::clients::restore_consumer_config(
            config,
            &format!("{}-restore-consumer", config.kafka.application_id),
        );
        if checkpoint.is_some() {
            client.set("auto.offset.reset", "error");
        }
        let consumer: BaseConsumer = client.create().map_err(|error| self.kafka_error(error))?;
        let start = checkpoint.map_or(Offset::Beginning, Offset::Offset);
        let mut partitions = TopicPartitionList::new();
        partitions
            .add_partition_offset(self.topic, self.partition, start)
            .map_err(|error| self.kafka_error(error))?;
        consumer
            .assign(&partitions)
            .map_err(|error| self.kafka_error(error))?;
        Ok(consumer)
    }
}

/// What a store's restore did: records applied, and the changelog offset the store now reflects.
struct Restored {
    records: u64,
    position: i64,
}

/// How stores are restored: with which settings, told to whom, for how long at most.
struct Restorer<'a> {
    config: &'a StreamsConfig,
    listener: &'a dyn StateRestoreListener,
    timeout: Duration,
}

impl Restorer<'_> {
    /// Restores `store` from its checkpoint, if it has one, or from the changelog's beginning. A
    /// checkpoint outside the changelog (the topic was deleted and recreated, or truncated) means the
    /// store's content cannot be trusted: it is emptied and restored from the beginning.
    fn restore(
        &self,
        changelog: &Changelog<'_>,
        store: &mut dyn KeyValueStore,
    ) -> Result<Restored, RestoreError> {
        let checkpoint = store.checkpoint();
        match self.read(changelog, store, checkpoint) {
            Err(error) if checkpoint.is_some() && error.is_checkpoint_outside_changelog() => {
                self.start_over(changelog, store, checkpoint)
            }
            other => other,
        }
    }

    /// Empties `store`, whose `checkpoint` its changelog does not contain, and restores it from the
    /// changelog's beginning.
    fn start_over(
        &self,
        changelog: &Changelog<'_>,
        store: &mut dyn KeyValueStore,
        checkpoint: Option<i64>,
    ) -> Result<Restored, RestoreError> {
        tracing::warn!(
            store = changelog.store,
            changelog = %format!("{}-{}", changelog.topic, changelog.partition),
            checkpoint,
            "the store's checkpoint is outside its changelog: emptying the store and \
             restoring it from the beginning"
        );
        store.wipe().map_err(|source| RestoreError::Store {
            partition: changelog.partition,
            source,
        })?;
        self.read(changelog, store, None)
    }

    /// Applies the changelog to `store` from `checkpoint` (or the beginning) to its end.
    fn read(
        &self,
        changelog: &Changelog<'_>,
        store: &mut dyn KeyValueStore,
        checkpoint: Option<i64>,
    ) -> Result<Restored, RestoreError> {
        let (listener, timeout) = (self.listener, self.timeout);
        let consumer = changelog.reader(self.config, checkpoint)?;
        let started = Instant::now();
        let (mut position, mut restored, mut announced) = (checkpoint.unwrap_or(0), 0_u64, false);
        loop {
            let watermarks = cached_watermarks(&consumer, changelog.topic, changelog.partition);
            if let Some((low, end)) = watermarks {
                // Records below the low watermark were deleted: there is nothing to wait for there.
                position = position.max(low);
                // Brokers answer an offset past the end with an error or with nothing: either way
                // the store holds what the changelog does not.
                if let Some(checkpoint) = checkpoint.filter(|checkpoint| *checkpoint > end) {
                    return Err(changelog.past_end(checkpoint, end));
                }
                if !announced {
                    listener.on_restore_start(
                        changelog.topic,
                        changelog.partition,
                        changelog.store,
                        position,
                        end,
                    );
                    announced = true;
                }
                if position >= end {
                    break;
                }
            }
            if started.elapsed() >= timeout {
                let end = watermarks.map_or(-1, |(_, high)| high);
                return Err(changelog.timeout(position, end, timeout));
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
        Ok(Restored {
            records: restored,
            position,
        })
    }
}

impl RestoreError {
    /// Whether the changelog does not contain the store's checkpoint: past its end, or an
    /// offset the broker calls out of range.
    fn is_checkpoint_outside_changelog(&self) -> bool {
        match self {
            RestoreError::CheckpointPastEnd { .. } => true,
            RestoreError::Kafka { source, .. } => matches!(
                source.rdkafka_error_code(),
                Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset)
            ),
            _ => false,
        }
    }
}
