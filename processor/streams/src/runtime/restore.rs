//! Restoring the stores of the tasks a worker is assigned from their changelogs before a task
//! processes a record, and reporting it (Kafka Streams' `StateRestoreListener`). One restore
//! consumer is assigned all the changelog partitions of the tasks of one rebalance, as a Kafka
//! Streams thread's restore consumer is: the cost of a consumer (connect, metadata, first fetch)
//! is paid once per rebalance, not once per changelog partition.
//!
//! "The end" of a changelog partition is the high watermark the broker sends in its Fetch
//! responses, which librdkafka caches per partition; ListOffsets(LATEST) is not used, since some
//! brokers (Tansu 0.6.0) answer it with the base offset of the last batch.

mod listener;
mod progress;
mod reader;

use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::types::RDKafkaErrorCode;

pub use self::listener::{LoggingStateRestoreListener, StateRestoreListener};
use self::progress::{Observed, Progress};
pub(crate) use self::reader::cached_watermarks;
use self::reader::{Reader, Start};
use crate::config::StreamsConfig;
use crate::state::{KeyValueStore, StoreError, TaskState, changelog_topic};

/// How many records a restore applies between two `on_batch_restored` calls.
const BATCH: u64 = 1_000;

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
    /// The restore consumer failed for no one partition (or all of them).
    #[error("restoring {changelogs}: {source}")]
    Consumer {
        /// `store from topic-partition` of every changelog not restored yet.
        changelogs: String,
        /// The client's error.
        source: Box<KafkaError>,
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

/// Brings every local store of `tasks` (each task with its partition) to the end of its
/// changelog, all their changelog partitions read by one consumer, then checkpoints each task,
/// so that a crash before the first commit does not restore it again. Returns the records
/// applied per task.
///
/// # Errors
/// [`RestoreError`] when the changelogs cannot be read to their ends within `timeout` (all of
/// them together), or a store cannot be emptied or written.
pub(crate) fn restore_tasks(
    config: &StreamsConfig,
    tasks: &mut [(i32, TaskState)],
    listener: &dyn StateRestoreListener,
    timeout: Duration,
) -> Result<Vec<u64>, RestoreError> {
    let application_id = &config.kafka.application_id;
    let changelogs: Vec<Changelog> = tasks
        .iter()
        .enumerate()
        .flat_map(|(task, (partition, state))| {
            let partition = *partition;
            (state.store_names().iter().enumerate()).map(move |(index, store)| Changelog {
                topic: changelog_topic(application_id, store),
                partition,
                store: store.clone(),
                task,
                index,
            })
        })
        .collect();
    let restorer = Restorer {
        config,
        listener,
        timeout,
    };
    let progress = restorer.restore(&changelogs, tasks)?;
    let mut records = vec![0; tasks.len()];
    for (changelog, progress) in changelogs.iter().zip(&progress) {
        records[changelog.task] += progress.restored;
        let state = &mut tasks[changelog.task].1;
        state.changelog_position_reached(changelog.index, progress.position);
    }
    for (partition, state) in tasks.iter_mut() {
        let partition = *partition;
        state
            .flush()
            .map_err(|source| RestoreError::Store { partition, source })?;
    }
    Ok(records)
}

/// One changelog partition and the store it restores: store `index` of task `task`.
struct Changelog {
    topic: String,
    partition: i32,
    store: String,
    task: usize,
    index: usize,
}

impl Changelog {
    /// The store this changelog restores.
    fn store<'t>(&self, tasks: &'t mut [(i32, TaskState)]) -> Option<&'t mut dyn KeyValueStore> {
        let store = tasks.get_mut(self.task)?.1.store_mut(self.index)?;
        Some(store)
    }

    fn past_end(&self, checkpoint: i64, end: i64) -> RestoreError {
        RestoreError::CheckpointPastEnd {
            store: self.store.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            checkpoint,
            end,
        }
    }

    fn timeout(&self, position: i64, end: i64, waited: Duration) -> RestoreError {
        RestoreError::Timeout {
            store: self.store.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            position,
            end,
            waited,
        }
    }

    fn kafka_error(&self, source: KafkaError) -> RestoreError {
        RestoreError::Kafka {
            store: self.store.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            source: Box::new(source),
        }
    }
}

/// Assigns every partition of `changelogs` to `reader`, each where its restore is to go on.
fn assign(
    reader: &mut Reader,
    changelogs: &[Changelog],
    progress: &[Progress],
) -> Result<(), RestoreError> {
    let starts: Vec<Start<'_>> = changelogs
        .iter()
        .zip(progress)
        .map(|(changelog, progress)| (changelog.topic.as_str(), changelog.partition, progress.next))
        .collect();
    reader
        .assign(&starts)
        .map_err(|error| RestoreError::Consumer {
            changelogs: describe(changelogs, progress),
            source: Box::new(error),
        })
}

/// `store from topic-partition` of every changelog not restored yet.
fn describe(changelogs: &[Changelog], progress: &[Progress]) -> String {
    let unfinished = changelogs
        .iter()
        .zip(progress)
        .filter(|(_, progress)| !progress.done);
    let names: Vec<String> = unfinished
        .map(|(changelog, _)| {
            format!(
                "{} from {}-{}",
                changelog.store, changelog.topic, changelog.partition
            )
        })
        .collect();
    names.join(", ")
}

/// What one round over the changelogs polled: records and ends of partitions (a reason to look
/// again at once), and the partitions whose restore starts again from the beginning, each with
/// the reason.
#[derive(Default)]
struct Round {
    polled: u64,
    outside: Vec<(usize, RestoreError)>,
}

/// How stores are restored: with which settings, told to whom, for how long at most.
struct Restorer<'a> {
    config: &'a StreamsConfig,
    listener: &'a dyn StateRestoreListener,
    timeout: Duration,
}

impl Restorer<'_> {
    /// Restores the store of every changelog from its checkpoint, if it has one, or from the
    /// changelog's beginning, with one consumer assigned all the partitions. A checkpoint
    /// outside its changelog (the topic was deleted and recreated, or truncated) means the
    /// store's content cannot be trusted: it is emptied and restored from the beginning.
    fn restore(
        &self,
        changelogs: &[Changelog],
        tasks: &mut [(i32, TaskState)],
    ) -> Result<Vec<Progress>, RestoreError> {
        let mut progress: Vec<Progress> = changelogs
            .iter()
            .map(|changelog| Progress::new(changelog.store(tasks).and_then(|s| s.checkpoint())))
            .collect();
        if changelogs.is_empty() {
            return Ok(progress);
        }
        let from_checkpoints = progress
            .iter()
            .any(|progress| progress.checkpoint.is_some());
        let mut reader = Reader::new(self.config, from_checkpoints).map_err(|source| {
            RestoreError::Consumer {
                changelogs: describe(changelogs, &progress),
                source: Box::new(source),
            }
        })?;
        assign(&mut reader, changelogs, &progress)?;
        let started = Instant::now();
        loop {
            let round = self.read(&reader, changelogs, tasks, &mut progress)?;
            if !round.outside.is_empty() {
                for (index, reason) in round.outside {
                    self.start_over(&changelogs[index], &mut progress[index], tasks, &reason)?;
                }
                assign(&mut reader, changelogs, &progress)?;
                continue;
            }
            let Some(index) = progress.iter().position(|progress| !progress.done) else {
                return Ok(progress);
            };
            if started.elapsed() >= self.timeout {
                let (changelog, progress) = (&changelogs[index], &progress[index]);
                let watermarks = reader.watermarks(&changelog.topic, changelog.partition);
                let end = watermarks.map_or(-1, |(_, high)| high);
                return Err(changelog.timeout(progress.position, end, self.timeout));
            }
            if round.polled == 0 {
                reader.wait(Duration::from_millis(100));
            }
        }
    }

    /// Restarts `changelog`'s restore from its beginning, for `reason`: its store's checkpoint
    /// is outside the changelog, so the store is emptied first (a restore from the beginning
    /// whose beginning moved keeps what it applied, as `auto.offset.reset=earliest` would).
    fn start_over(
        &self,
        changelog: &Changelog,
        progress: &mut Progress,
        tasks: &mut [(i32, TaskState)],
        reason: &RestoreError,
    ) -> Result<(), RestoreError> {
        if let Some(checkpoint) = progress.checkpoint {
            tracing::warn!(
                store = changelog.store,
                changelog = %format!("{}-{}", changelog.topic, changelog.partition),
                checkpoint,
                %reason,
                "the store's checkpoint is outside its changelog: emptying the store and \
                 restoring it from the beginning"
            );
            if let Some(store) = changelog.store(tasks) {
                store.wipe().map_err(|source| RestoreError::Store {
                    partition: changelog.partition,
                    source,
                })?;
            }
        }
        *progress = Progress::new(None);
        Ok(())
    }

    /// One round over the unfinished changelogs: each one's watermarks (its start, its end),
    /// then the records its queue holds, applied to its store; then what reached the
    /// consumer's own queue.
    fn read(
        &self,
        reader: &Reader,
        changelogs: &[Changelog],
        tasks: &mut [(i32, TaskState)],
        progress: &mut [Progress],
    ) -> Result<Round, RestoreError> {
        let mut round = Round::default();
        for (index, (changelog, progress)) in changelogs.iter().zip(progress.iter_mut()).enumerate()
        {
            let Some(store) = changelog.store(tasks).filter(|_| !progress.done) else {
                continue;
            };
            if let Some(past_end) = self.observe(reader, changelog, progress) {
                round.outside.push((index, past_end));
                continue;
            }
            while let Some(polled) = reader.poll(index) {
                match polled {
                    Ok(message) => self.apply(changelog, progress, store, &message),
                    // The end's watermark came: the next round finishes the partition.
                    Err(KafkaError::PartitionEOF(_)) => {}
                    Err(error) if is_out_of_range(&error) => {
                        round.outside.push((index, changelog.kafka_error(error)));
                        break;
                    }
                    Err(error) => return Err(changelog.kafka_error(error)),
                }
                round.polled += 1;
            }
        }
        self.read_strays(reader, changelogs, tasks, progress, &mut round)?;
        Ok(round)
    }

    /// Applies what reached the consumer's own queue: a record fetched before its partition's
    /// queue was split off goes to its store by topic and partition; an offset out of range of
    /// no known partition restarts every unfinished changelog from its beginning.
    fn read_strays(
        &self,
        reader: &Reader,
        changelogs: &[Changelog],
        tasks: &mut [(i32, TaskState)],
        progress: &mut [Progress],
        round: &mut Round,
    ) -> Result<(), RestoreError> {
        while let Some(polled) = reader.poll_consumer() {
            let message = match polled {
                Ok(message) => message,
                Err(KafkaError::PartitionEOF(_)) => continue,
                Err(error) if is_out_of_range(&error) => {
                    let unfinished = (changelogs.iter().enumerate())
                        .filter(|(index, _)| !progress[*index].done)
                        .filter(|(index, _)| round.outside.iter().all(|(known, _)| known != index));
                    let restarts: Vec<_> = unfinished
                        .map(|(index, changelog)| (index, changelog.kafka_error(error.clone())))
                        .collect();
                    round.outside.extend(restarts);
                    continue;
                }
                Err(error) => {
                    let changelogs = describe(changelogs, progress);
                    let source = Box::new(error);
                    return Err(RestoreError::Consumer { changelogs, source });
                }
            };
            let index = changelogs.iter().position(|changelog| {
                changelog.topic == message.topic() && changelog.partition == message.partition()
            });
            let Some(index) = index.filter(|index| !progress[*index].done) else {
                continue;
            };
            if let Some(store) = changelogs[index].store(tasks) {
                self.apply(&changelogs[index], &mut progress[index], store, &message);
                round.polled += 1;
            }
        }
        Ok(())
    }

    /// Takes in `changelog`'s watermarks: announces its start once its end is known, and
    /// finishes it at its end. Returns the error of a checkpoint past the end.
    fn observe(
        &self,
        reader: &Reader,
        changelog: &Changelog,
        progress: &mut Progress,
    ) -> Option<RestoreError> {
        let (topic, partition, store) = (&changelog.topic, changelog.partition, &changelog.store);
        match progress.observe(reader.watermarks(topic, partition)) {
            Observed::Unknown => {}
            Observed::PastEnd { checkpoint, end } => {
                return Some(changelog.past_end(checkpoint, end));
            }
            Observed::Known {
                end,
                starts,
                reached,
            } => {
                if starts {
                    let start = progress.position;
                    self.listener
                        .on_restore_start(topic, partition, store, start, end);
                }
                if reached {
                    let batch = progress.restored % BATCH;
                    if batch != 0 {
                        let position = progress.position;
                        (self.listener).on_batch_restored(topic, partition, store, position, batch);
                    }
                    (self.listener).on_restore_end(topic, partition, store, progress.restored);
                    progress.done = true;
                }
            }
        }
        None
    }

    /// Applies `message` of `changelog` to `store` (a record without a key only moves the
    /// position), telling the listener about each full batch.
    fn apply(
        &self,
        changelog: &Changelog,
        progress: &mut Progress,
        store: &mut dyn KeyValueStore,
        message: &BorrowedMessage<'_>,
    ) {
        if let Some(key) = message.key() {
            store.apply(key, message.payload());
        }
        if progress.read(message.offset(), message.key().is_some(), BATCH) {
            self.listener.on_batch_restored(
                &changelog.topic,
                changelog.partition,
                &changelog.store,
                progress.position,
                BATCH,
            );
        }
    }
}

/// Whether `error` says a fetch offset is outside its partition (reported because
/// `auto.offset.reset` is `error`, or by the broker).
fn is_out_of_range(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset)
    )
}
