//! Restoring the stores of the tasks a worker is assigned from their changelogs before a task
//! processes a record, and reporting it (Kafka Streams' `StateRestoreListener`). One restore
//! consumer is assigned all the changelog partitions of the tasks of one rebalance, as a Kafka
//! Streams thread's restore consumer is: the cost of a consumer (connect, metadata, first fetch)
//! is paid once per rebalance, not once per changelog partition.
//!
//! "The end" of a changelog partition is the high watermark the broker sends in its Fetch
//! responses, which librdkafka caches per partition; ListOffsets(LATEST) is not used, since some
//! brokers (Tansu 0.6.0) answer it with the base offset of the last batch.

mod changelog;
mod listener;
mod progress;
mod reader;

use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::types::RDKafkaErrorCode;

use self::changelog::{Changelog, describe};
pub use self::listener::{LoggingStateRestoreListener, StateRestoreListener};
use self::progress::{Observed, Progress};
pub(crate) use self::reader::cached_watermarks;
use self::reader::{Reader, Start};
use crate::config::StreamsConfig;
use crate::state::{KeyValueStore, StoreError, TaskState, changelog_topic};

/// How many records a restore applies between two `on_batch_restored` calls.
const BATCH: u64 = 1_000;
/// How long a restore waits for records when none is there (a record wakes it at once).
const RECORDS_WAIT: Duration = Duration::from_millis(100);
/// How long a restore waits when none is there and the end of a changelog it reads is not
/// known yet: learning an end wakes nothing, and it should not add 100 ms to every restore.
const END_WAIT: Duration = Duration::from_millis(5);

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
    /// The restore consumer failed, not for one partition: `changelogs` are those it read.
    #[error("restoring {changelogs}: {source}")]
    Consumer {
        /// `store from topic-partition` of every changelog the consumer read.
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

/// One restore consumer's pass over changelogs: queue `i` of its reader reads changelog
/// `reading[i]`; those found outside their changelog (`again`) are read by the next pass.
struct Pass<'p> {
    reader: Reader,
    reading: &'p [usize],
    again: Vec<usize>,
}

impl<'p> Pass<'p> {
    /// A consumer assigned the changelogs `reading`, each where its restore is to go on.
    fn start(
        config: &StreamsConfig,
        changelogs: &[Changelog],
        progress: &[Progress],
        reading: &'p [usize],
    ) -> Result<Self, RestoreError> {
        let from_checkpoints = (reading.iter()).any(|index| progress[*index].checkpoint.is_some());
        let failed = |source| RestoreError::Consumer {
            changelogs: describe(changelogs, reading),
            source: Box::new(source),
        };
        let mut reader = Reader::new(config, from_checkpoints).map_err(failed)?;
        let starts: Vec<Start<'_>> = (reading.iter())
            .map(|index| {
                let changelog = &changelogs[*index];
                (
                    changelog.topic.as_str(),
                    changelog.partition,
                    progress[*index].next,
                )
            })
            .collect();
        reader.assign(&starts).map_err(failed)?;
        Ok(Pass {
            reader,
            reading,
            again: Vec::new(),
        })
    }

    /// Whether this pass still reads changelog `index`.
    fn reads(&self, index: usize, progress: &[Progress]) -> bool {
        !progress[index].done && !self.again.contains(&index)
    }
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
    /// store's content cannot be trusted: it is emptied, and read again from the beginning by
    /// another pass with a consumer of its own (assigning the first consumer again while its
    /// fetchers stop can trip an assertion of librdkafka 2.12: confluentinc/librdkafka#5573).
    fn restore(
        &self,
        changelogs: &[Changelog],
        tasks: &mut [(i32, TaskState)],
    ) -> Result<Vec<Progress>, RestoreError> {
        let mut progress: Vec<Progress> = changelogs
            .iter()
            .map(|changelog| Progress::new(changelog.store(tasks).and_then(|s| s.checkpoint())))
            .collect();
        let started = Instant::now();
        let mut pending: Vec<usize> = (0..changelogs.len()).collect();
        // A pass from the beginning has no checkpoint to find outside: two passes at most.
        while !pending.is_empty() {
            let pass = Pass::start(self.config, changelogs, &progress, &pending)?;
            pending = self.read_pass(pass, changelogs, tasks, &mut progress, started)?;
        }
        Ok(progress)
    }

    /// Reads the changelogs of `pass` to their ends, within `timeout` of `started`. Returns
    /// those to read again from the beginning.
    fn read_pass(
        &self,
        mut pass: Pass<'_>,
        changelogs: &[Changelog],
        tasks: &mut [(i32, TaskState)],
        progress: &mut [Progress],
        started: Instant,
    ) -> Result<Vec<usize>, RestoreError> {
        loop {
            let polled = self.read(&mut pass, changelogs, tasks, progress)?;
            let unfinished = (pass.reading.iter()).find(|index| pass.reads(**index, progress));
            let Some(&index) = unfinished else {
                return Ok(pass.again);
            };
            if started.elapsed() >= self.timeout {
                let changelog = &changelogs[index];
                let watermarks = (pass.reader).watermarks(&changelog.topic, changelog.partition);
                let end = watermarks.map_or(-1, |(_, high)| high);
                return Err(changelog.timeout(progress[index].position, end, self.timeout));
            }
            if polled == 0 {
                // A Fetch response that tells a partition's end without records (an empty
                // changelog) wakes nobody: look again soon while an end is not known.
                let end_unknown = (pass.reading.iter())
                    .any(|index| pass.reads(*index, progress) && !progress[*index].announced);
                pass.reader
                    .wait(if end_unknown { END_WAIT } else { RECORDS_WAIT });
            }
        }
    }

    /// Marks `changelog` (number `index`) to be read again from its beginning by the next pass,
    /// for `reason`: its store's checkpoint is outside the changelog, so the store is emptied
    /// first (a restore from the beginning whose beginning moved keeps what it applied, as
    /// `auto.offset.reset=earliest` would).
    fn start_over(
        &self,
        pass: &mut Pass<'_>,
        (index, changelog): (usize, &Changelog),
        progress: &mut Progress,
        store: &mut dyn KeyValueStore,
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
            store.wipe().map_err(|source| RestoreError::Store {
                partition: changelog.partition,
                source,
            })?;
        }
        *progress = Progress::new(None);
        pass.again.push(index);
        Ok(())
    }

    /// One round over the changelogs `pass` still reads: each one's watermarks (its start, its
    /// end), then the records its queue holds, applied to its store; then what reached the
    /// consumer's own queue. Returns how many records it polled.
    fn read(
        &self,
        pass: &mut Pass<'_>,
        changelogs: &[Changelog],
        tasks: &mut [(i32, TaskState)],
        progress: &mut [Progress],
    ) -> Result<u64, RestoreError> {
        let mut polled = 0;
        let reading = pass.reading;
        for (queue, &index) in reading.iter().enumerate() {
            let changelog = &changelogs[index];
            let Some(store) = changelog
                .store(tasks)
                .filter(|_| pass.reads(index, progress))
            else {
                continue;
            };
            let progress = &mut progress[index];
            let mut outside = self.observe(&pass.reader, changelog, progress);
            // A batch at most, so that every partition and the timeout get their turn.
            let mut budget = BATCH;
            while outside.is_none()
                && budget > 0
                && let Some(result) = pass.reader.poll(queue)
            {
                budget -= 1;
                match result {
                    Ok(message) => self.apply(changelog, progress, store, &message),
                    Err(error) if is_out_of_range(&error) => {
                        outside = Some(changelog.kafka_error(error));
                    }
                    Err(error) => return Err(changelog.kafka_error(error)),
                }
                polled += 1;
            }
            if let Some(reason) = outside {
                self.start_over(pass, (index, changelog), progress, store, &reason)?;
            }
        }
        Ok(polled + self.read_strays(pass, changelogs, tasks, progress)?)
    }

    /// Applies what reached the consumer's own queue: a record fetched before its partition's
    /// queue was split off goes to its store by topic and partition; an offset out of range of
    /// no known partition starts every changelog the pass still reads over.
    fn read_strays(
        &self,
        pass: &mut Pass<'_>,
        changelogs: &[Changelog],
        tasks: &mut [(i32, TaskState)],
        progress: &mut [Progress],
    ) -> Result<u64, RestoreError> {
        let mut polled = 0;
        let reading = pass.reading;
        while let Some(result) = pass.reader.poll_consumer() {
            let message = match result {
                Ok(message) => message,
                Err(error) if is_out_of_range(&error) => {
                    let unfinished: Vec<usize> = (reading.iter().copied())
                        .filter(|index| pass.reads(*index, progress))
                        .collect();
                    for index in unfinished {
                        let (changelog, reason) = (&changelogs[index], error.clone());
                        let reason = changelog.kafka_error(reason);
                        if let Some(store) = changelog.store(tasks) {
                            let at = (index, changelog);
                            self.start_over(pass, at, &mut progress[index], store, &reason)?;
                        }
                    }
                    continue;
                }
                Err(error) => {
                    let changelogs = describe(changelogs, reading);
                    let source = Box::new(error);
                    return Err(RestoreError::Consumer { changelogs, source });
                }
            };
            let index = reading.iter().copied().find(|index| {
                let changelog = &changelogs[*index];
                changelog.topic == message.topic() && changelog.partition == message.partition()
            });
            let Some(index) = index.filter(|index| pass.reads(*index, progress)) else {
                continue;
            };
            if let Some(store) = changelogs[index].store(tasks) {
                self.apply(&changelogs[index], &mut progress[index], store, &message);
                polled += 1;
            }
        }
        Ok(polled)
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
