//! Committing a worker's offsets: what the [`OffsetTracker`](crate::runtime::offsets) says is
//! safe, synchronously, offered again when a commit fails.

use std::time::Instant;

use ferrobeat_toolbox::intercept::{Commit, CommittedOffset};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::consume::WorkerContext;
use super::{Pipeline, WorkerError};
use crate::runtime::offsets::CommitScope;
use crate::runtime::stats::Counter;
use crate::state::TaskState;

impl Pipeline {
    /// Commits the committable offsets of `scope`, synchronously as Kafka Streams does: librdkafka
    /// reports the outcome of an asynchronous manual commit to nobody (rust-rdkafka sets no
    /// commit callback), and a failure must be known so the offsets are committed again.
    /// Returns whether everything committable is committed (also when there was nothing).
    pub(super) fn commit(
        &mut self,
        consumer: &BaseConsumer<WorkerContext>,
        scope: CommitScope,
    ) -> bool {
        let commits = self.tracker.take_commits(scope);
        if commits.is_empty() {
            return true;
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in &commits {
            let topic = self.shared.source_topic(partition.topic);
            if let Err(error) =
                offsets.add_partition_offset(topic, partition.partition, Offset::Offset(*offset))
            {
                tracing::warn!(worker = %self.worker, "cannot commit {topic}-{}: {error}", partition.partition);
            }
        }
        let commit_started = Instant::now();
        let result = consumer.commit(&offsets, CommitMode::Sync);
        self.observer.committed(commit_started.elapsed());
        self.shared.interceptors().on_commit(|| Commit {
            offsets: commits
                .iter()
                .map(|(partition, offset)| CommittedOffset {
                    topic: self.shared.source_topic(partition.topic),
                    partition: partition.partition,
                    offset: *offset,
                })
                .collect(),
            error: result.as_ref().err().map(ToString::to_string),
        });
        match result {
            Ok(()) => {
                self.shared.stats.add(Counter::Commits, 1);
                self.flush_tasks();
                true
            }
            Err(error) => {
                tracing::warn!(worker = %self.worker, "commit failed: {error}");
                self.commit_failed(&offsets);
                false
            }
        }
    }

    /// Checkpoints every task's stores after a commit, as Kafka Streams flushes its stores and
    /// writes their checkpoint on commit; a store that cannot be written fails the worker.
    fn flush_tasks(&mut self) {
        let failed = self
            .tasks
            .iter_mut()
            .find_map(|(partition, task)| task.flush().err().map(|error| (*partition, error)));
        if let Some((partition, error)) = failed {
            self.failure.get_or_insert(WorkerError::Store {
                worker: self.worker.clone(),
                partition,
                source: Box::new(error),
            });
        }
    }

    /// Checkpoints and closes the stores of `task` (partition `partition`), whose partition
    /// was revoked.
    pub(super) fn close_task(&mut self, partition: i32, mut task: TaskState) {
        if let Err(error) = task.flush() {
            // The next owner restores more of the changelog; nothing is lost.
            tracing::warn!(worker = %self.worker, partition, "cannot checkpoint a revoked task: {error}");
        }
    }

    /// Offers the offsets of a failed commit again at the next periodic commit.
    fn commit_failed(&mut self, offsets: &TopicPartitionList) {
        for element in offsets.elements() {
            if let Offset::Offset(offset) = element.offset() {
                let partition = self
                    .shared
                    .source_partition(element.topic(), element.partition());
                self.tracker.commit_failed(partition, offset);
            }
        }
    }
}
