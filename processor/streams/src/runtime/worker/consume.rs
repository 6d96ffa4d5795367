//! The consuming half of a worker: the consumer's context, whose rebalance callbacks commit what
//! is acknowledged before partitions go and track what the worker holds, eagerly or
//! incrementally (`cooperative-sticky`); and the conversion of a consumed message into the
//! topology's input record.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use ferrobeat_toolbox::kafka::librdkafka;
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers;
use rdkafka::statistics::Statistics;
use rdkafka::{Message, TopicPartitionList};

use super::Pipeline;
use crate::record::{Header, InputRecord, SourcePosition};
use crate::runtime::Shared;
use crate::runtime::backpressure::Backpressure;
use crate::runtime::offsets::CommitScope;
use crate::runtime::restore::{RestoreError, restore_tasks};

/// The consumer's context: rebalance callbacks commit what is acknowledged and track membership.
pub(super) struct WorkerContext {
    pub(super) shared: Arc<Shared>,
    pub(super) id: usize,
    pub(super) worker: String,
    pub(super) pipeline: Mutex<Pipeline>,
}

// The ClientContext hooks, as for the producer (produce.rs): each names its own client.
impl ClientContext for WorkerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        librdkafka(
            &format!("{}-consumer", self.worker),
            level,
            fac,
            log_message,
        );
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(worker = %self.worker, "consumer error: {error}: {reason}");
    }

    fn stats(&self, statistics: Statistics) {
        self.pipeline.lock().observer.statistics(&statistics);
    }
}

/// `topic-partition` names of every partition in `list`.
fn partition_names(list: &TopicPartitionList) -> Vec<String> {
    list.elements()
        .iter()
        .map(|element| format!("{}-{}", element.topic(), element.partition()))
        .collect()
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        tracing::info!(worker = %self.worker, partitions = revoked.count(), "partitions revoked");
        let mut pipeline = self.pipeline.lock();
        let deadline = Instant::now() + self.shared.config.runtime.shutdown_timeout;
        if let Err(error) = pipeline.finish_in_flight(deadline) {
            pipeline.failure.get_or_insert(error);
        }
        pipeline.commit(consumer, CommitScope::All);
        for element in revoked.elements() {
            let partition = self
                .shared
                .source_partition(element.topic(), element.partition());
            pipeline.tracker.forget(partition);
            pipeline.drop_buffered(partition);
            // The task goes with its partition, its stores checkpointed and closed; its next
            // owner restores it from the changelog (only the tail, on this machine).
            if let Some(task) = pipeline.tasks.remove(&element.partition()) {
                pipeline.close_task(element.partition(), task);
            }
        }
        // Revoked partitions take their pause with them; the next assignment starts flowing.
        pipeline.backpressure = Backpressure::Flowing;
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(assigned) => {
                tracing::info!(
                    worker = %self.worker,
                    partitions = ?partition_names(assigned),
                    "partitions assigned"
                );
                self.pipeline.lock().buffer_assigned(assigned);
                self.restore(assigned);
                self.holds(consumer, true);
            }
            Rebalance::Revoke(_) => self.holds(consumer, false),
            Rebalance::Error(error) => {
                tracing::warn!(worker = %self.worker, "rebalance failed: {error}");
            }
        }
    }
}

impl WorkerContext {
    /// Brings the stores of every newly assigned task to the end of their changelogs, before
    /// the task's first record is processed (Kafka Streams restores in the same place: a task
    /// is not running until restored), with one restore consumer for all their changelog
    /// partitions, as a Kafka Streams thread has.
    fn restore(&self, assigned: &TopicPartitionList) {
        if !self.shared.has_tasks() {
            return;
        }
        let mut pipeline = self.pipeline.lock();
        let mut partitions: Vec<i32> = assigned
            .elements()
            .iter()
            .map(|element| element.partition())
            .collect();
        partitions.sort_unstable();
        partitions.dedup();
        if self.shared.changelogs.is_empty() {
            // Tasks with time but no store: nothing to restore.
            for partition in partitions {
                let shared = &self.shared;
                pipeline
                    .tasks
                    .entry(partition)
                    .or_insert_with(|| shared.topology.new_task_state(&shared.globals));
            }
            return;
        }
        let listener = Arc::clone(&self.shared.restore_listener.lock());
        let mut tasks = Vec::new();
        for partition in partitions {
            if pipeline.tasks.contains_key(&partition) {
                continue;
            }
            match self.shared.open_task_state(partition) {
                Ok(state) => tasks.push((partition, state)),
                Err(source) => {
                    self.restore_failed(&mut pipeline, RestoreError::Store { partition, source })
                }
            }
        }
        let config = &self.shared.config;
        let timeout = config.runtime.restore_timeout;
        match restore_tasks(config, &mut tasks, listener.as_ref(), timeout) {
            Ok(records) => {
                for ((partition, state), records) in tasks.into_iter().zip(records) {
                    tracing::info!(worker = %self.worker, partition, records, "task restored");
                    pipeline.tasks.insert(partition, state);
                }
            }
            Err(error) => self.restore_failed(&mut pipeline, error),
        }
    }

    /// Keeps the first failure: the worker stops with it.
    fn restore_failed(&self, pipeline: &mut Pipeline, error: RestoreError) {
        pipeline.failure.get_or_insert(super::WorkerError::Restore {
            worker: self.worker.clone(),
            source: Box::new(error),
        });
    }

    /// Reports what the worker holds after a rebalance callback. An eager revoke takes every
    /// partition and a new assignment follows; an incremental one (`cooperative-sticky`) takes
    /// some and the worker keeps serving the rest, so it stays assigned unless nothing is left.
    /// An assignment counts even when empty: a group can have more members than partitions.
    fn holds(&self, consumer: &BaseConsumer<Self>, assignment_received: bool) {
        let current = consumer
            .assignment()
            .map(|list| partition_names(&list))
            .unwrap_or_default();
        let assigned = assignment_received || !current.is_empty();
        self.pipeline
            .lock()
            .observer
            .assigned(current, assignment_received);
        self.shared.set_assigned(self.id, assigned);
    }
}

/// The topology's view of `message`, consumed (borrowed) or buffered (owned).
pub(crate) fn input_record<M: Message>(message: &M) -> InputRecord<'_> {
    let headers = message.headers().map_or_else(Vec::new, |headers| {
        headers
            .iter()
            .map(|header| Header {
                key: Cow::Borrowed(header.key),
                value: header.value.map(Cow::Borrowed),
            })
            .collect()
    });
    InputRecord {
        source: SourcePosition {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
        },
        timestamp: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key(),
        value: message.payload(),
        headers,
    }
}
