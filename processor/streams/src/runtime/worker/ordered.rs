//! Timestamp order inside a stateful task (Kafka Streams' `PartitionGroup`): when the tasks of
//! a stateful topology read two source partitions or more (a stream and the table it joins),
//! the worker buffers what it consumes, detached, and processes what a ready task may take, as
//! [`crate::runtime::task_order`] decides. A stateless topology never comes here: its records
//! are processed as they are consumed, borrowed.
//!
//! A buffered record is not processed, so the offset tracker has not seen it and its offset is
//! not committed: on a revocation its buffer is dropped and its next owner fetches it again
//! from the committed offset; on shutdown it is left unprocessed. A partition whose buffer
//! holds [`BUFFER_LIMITS`] is paused (its task's other partitions keep being fetched) and
//! resumed once half of it drained, so the buffer stays bounded.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, OwnedMessage};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::consume::WorkerContext;
use super::{Pipeline, WorkerError};
use crate::runtime::Shared;
use crate::runtime::backpressure::{Backpressure, FlowAction};
use crate::runtime::observer::RecordClock;
use crate::runtime::offsets::SourcePartition;
use crate::runtime::restore::cached_watermarks;
use crate::runtime::task_order::{BufferLimits, Fetched, TaskOrder};

/// What one source partition may buffer before it is paused: Kafka Streams'
/// `buffered.records.per.partition` default, and a bound on its memory.
const BUFFER_LIMITS: BufferLimits = BufferLimits {
    records: 1_000,
    bytes: 4 * 1024 * 1024,
};
/// How long the lookup of a partition's committed offset may take.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait before looking a committed offset up again after a failed lookup.
const COMMITTED_RETRY: Duration = Duration::from_secs(1);

/// A worker's buffered records and what it knows of where its partitions started.
pub(super) struct Ordered {
    order: TaskOrder<OwnedMessage>,
    /// Per source topic, whether its records are ordered (its sub-topology reads two topics
    /// or more); the others are processed as consumed.
    ordered_topics: Vec<bool>,
    /// Where the consumer started the partitions nothing was consumed from since they were
    /// assigned (librdkafka reports no position for those).
    starts: HashMap<SourcePartition, Start>,
    /// The next offset of each partition after the records this worker consumed since it was
    /// assigned: its position, known without asking librdkafka, whose `position()` is a request
    /// to its main thread (tens of microseconds, too slow to make per record).
    consumed: HashMap<SourcePartition, i64>,
}

/// Where the consumer started a partition.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// At the group's committed offset.
    Committed(i64),
    /// Where `auto.offset.reset` says: the group has no committed offset.
    Reset,
    /// Not known: the lookup failed; try again then.
    RetryAfter(Instant),
}

impl Ordered {
    /// The buffer for `shared`'s topology when it is stateful and one of its sub-topologies
    /// reads two source topics or more (each of its tasks then reads two partitions or more);
    /// `None` otherwise.
    pub(super) fn for_topology(shared: &Shared) -> Option<Ordered> {
        let co_read = shared.topology.co_read_source_topics();
        if shared.changelogs.is_empty() || co_read.is_empty() {
            return None;
        }
        let ordered_topics = shared
            .source_topics
            .iter()
            .map(|topic| co_read.contains(&topic.as_str()))
            .collect();
        let tables: Vec<&str> = shared
            .topology
            .stores()
            .iter()
            .filter(|store| !store.global)
            .filter_map(|store| store.source_topic.as_deref())
            .collect();
        // Tables first on a timestamp tie: an update is applied before a record it ties with.
        let priorities = shared
            .source_topics
            .iter()
            .map(|topic| usize::from(!tables.contains(&topic.as_str())))
            .collect();
        Some(Ordered {
            order: TaskOrder::new(priorities),
            ordered_topics,
            starts: HashMap::new(),
            consumed: HashMap::new(),
        })
    }

    /// Whether `partition`'s records wait for their task's timestamp order.
    fn is_ordered(&self, partition: SourcePartition) -> bool {
        self.ordered_topics
            .get(partition.topic)
            .copied()
            .unwrap_or(false)
    }

    /// Pauses the partitions whose buffer is full and resumes those that drained.
    fn flow(&mut self, shared: &Shared, consumer: &BaseConsumer<WorkerContext>, worker: &str) {
        for (partition, action) in self.order.flow(BUFFER_LIMITS) {
            let topic = shared.source_topic(partition.topic);
            let mut list = TopicPartitionList::new();
            list.add_partition(topic, partition.partition);
            let result = match action {
                FlowAction::Pause => consumer.pause(&list),
                FlowAction::Resume => consumer.resume(&list),
                FlowAction::None => continue,
            };
            match result {
                Ok(()) => tracing::debug!(
                    worker,
                    ?action,
                    "{topic}-{}: buffer full or drained",
                    partition.partition
                ),
                Err(error) => tracing::warn!(
                    worker,
                    "cannot pause/resume {topic}-{}: {error}",
                    partition.partition
                ),
            }
        }
    }
}

impl Pipeline {
    /// Processes `message` at once (at `clock`, its batch's wall clock), or buffers it for its
    /// task's timestamp order.
    pub(super) fn consume(
        &mut self,
        message: &BorrowedMessage<'_>,
        clock: RecordClock,
    ) -> Result<(), WorkerError> {
        let Some(ordered) = self.ordered.as_mut() else {
            return self.process(message, clock);
        };
        let partition = self
            .shared
            .source_partition(message.topic(), message.partition());
        if !ordered.is_ordered(partition) {
            return self.process(message, clock);
        }
        let timestamp = message.timestamp().to_millis().unwrap_or(-1);
        let bytes = message.payload_len() + message.key_len();
        ordered.consumed.insert(partition, message.offset() + 1);
        ordered
            .order
            .push(partition, timestamp, bytes, message.detach());
        Ok(())
    }

    /// Processes the buffered records ready tasks may take, as long as the worker flows and
    /// stays within its in-flight bounds; then pauses full buffers and resumes drained ones.
    pub(super) fn process_ready(
        &mut self,
        consumer: &BaseConsumer<WorkerContext>,
    ) -> Result<(), WorkerError> {
        let Some(mut ordered) = self.ordered.take() else {
            return Ok(());
        };
        let started = Instant::now();
        let processed = self.process_buffered(&mut ordered, consumer);
        self.report_processed(started);
        // While the whole assignment is paused, leave it so: resuming a partition would undo it.
        if self.backpressure != Backpressure::Paused {
            ordered.flow(&self.shared, consumer, &self.worker);
        }
        self.ordered = Some(ordered);
        processed
    }

    fn process_buffered(
        &mut self,
        ordered: &mut Ordered,
        consumer: &BaseConsumer<WorkerContext>,
    ) -> Result<(), WorkerError> {
        let shared = std::sync::Arc::clone(&self.shared);
        let runtime = &shared.config.runtime;
        // Positions move only when the consumer is polled: one look per call is enough.
        let mut positions = None;
        // The wall clock of the records processed in this call.
        let clock = RecordClock::now();
        let Ordered {
            order,
            starts,
            consumed,
            ..
        } = ordered;
        while order.buffered_records() > 0
            && self.backpressure == Backpressure::Flowing
            && self.tracker.in_flight_records() < runtime.max_in_flight_records
            && self.tracker.in_flight_bytes() < runtime.max_in_flight_bytes
        {
            let now = Instant::now();
            let mut fetched = |partition| {
                let probe = Probe {
                    shared: &shared,
                    consumer,
                    now,
                };
                probe.fetched(partition, starts, consumed, &mut positions)
            };
            let Some((_, message)) = order.next(now, runtime.max_task_idle, &mut fetched) else {
                break;
            };
            self.process(&message, clock)?;
        }
        Ok(())
    }

    /// Buffers the newly `assigned` partitions' records from now on: their tasks wait for them.
    pub(super) fn buffer_assigned(&mut self, assigned: &TopicPartitionList) {
        let Some(ordered) = self.ordered.as_mut() else {
            return;
        };
        for element in assigned.elements() {
            let partition = self
                .shared
                .source_partition(element.topic(), element.partition());
            if ordered.is_ordered(partition) {
                ordered.starts.remove(&partition);
                ordered.consumed.remove(&partition);
                ordered.order.assign(partition);
            }
        }
    }

    /// Drops what revoked `partition` buffered (never processed, so never committed).
    pub(super) fn drop_buffered(&mut self, partition: SourcePartition) {
        if let Some(ordered) = self.ordered.as_mut() {
            ordered.starts.remove(&partition);
            ordered.consumed.remove(&partition);
            let dropped = ordered.order.revoke(partition);
            if dropped > 0 {
                tracing::debug!(worker = %self.worker, ?partition, dropped, "dropped buffered records");
            }
        }
    }

    /// Resumes the whole assignment (the worker's backpressure ends a pause); partitions
    /// paused for a full buffer are paused again by [`Pipeline::process_ready`] if still full.
    pub(super) fn resume_all(&mut self, consumer: &BaseConsumer<WorkerContext>) -> KafkaResult<()> {
        if let Some(ordered) = self.ordered.as_mut() {
            ordered.order.all_resumed();
        }
        consumer
            .assignment()
            .and_then(|list| consumer.resume(&list))
    }
}

/// Tells whether an empty source partition is caught up, from what the consumer knows.
struct Probe<'a> {
    shared: &'a Shared,
    consumer: &'a BaseConsumer<WorkerContext>,
    now: Instant,
}

impl Probe<'_> {
    /// Caught up when the consumer's position is at the high watermark librdkafka last
    /// received in a Fetch response; behind when below it or when either is unknown. The
    /// position is first taken from what the worker consumed (or, before that, where the
    /// consumer started); only when that says behind is the consumer asked, since its position
    /// also moves past transaction markers the worker never sees.
    fn fetched(
        &self,
        partition: SourcePartition,
        starts: &mut HashMap<SourcePartition, Start>,
        consumed: &HashMap<SourcePartition, i64>,
        positions: &mut Option<TopicPartitionList>,
    ) -> Fetched {
        let topic = self.shared.source_topic(partition.topic);
        let Some((low, high)) = cached_watermarks(self.consumer, topic, partition.partition) else {
            return Fetched::Behind;
        };
        let known =
            consumed
                .get(&partition)
                .copied()
                .or_else(|| match self.start(partition, starts) {
                    Start::Committed(offset) => Some(offset),
                    Start::Reset if self.resets_to_end() => Some(high),
                    Start::Reset => Some(low),
                    Start::RetryAfter(_) => None,
                });
        if known.is_some_and(|position| position >= high) {
            return Fetched::CaughtUp;
        }
        let asked = positions
            .get_or_insert_with(|| self.consumer.position().unwrap_or_default())
            .find_partition(topic, partition.partition)
            .and_then(|element| match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            });
        match asked.or(known) {
            Some(position) if position >= high => Fetched::CaughtUp,
            _ => Fetched::Behind,
        }
    }

    /// Where the consumer started `partition`: its committed offset, looked up once.
    fn start(
        &self,
        partition: SourcePartition,
        starts: &mut HashMap<SourcePartition, Start>,
    ) -> Start {
        match starts.get(&partition) {
            Some(Start::RetryAfter(at)) if self.now < *at => return Start::RetryAfter(*at),
            Some(Start::RetryAfter(_)) | None => {}
            Some(known) => return *known,
        }
        let topic = self.shared.source_topic(partition.topic);
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, partition.partition);
        let start = match self.consumer.committed_offsets(list, COMMITTED_TIMEOUT) {
            Ok(list) => match list
                .find_partition(topic, partition.partition)
                .map(|element| element.offset())
            {
                Some(Offset::Offset(offset)) => Start::Committed(offset),
                _ => Start::Reset,
            },
            Err(error) => {
                tracing::debug!(
                    "committed offset of {topic}-{} not known yet: {error}",
                    partition.partition
                );
                Start::RetryAfter(self.now + COMMITTED_RETRY)
            }
        };
        starts.insert(partition, start);
        start
    }

    /// Whether a partition without a committed offset starts at its end (`auto.offset.reset`
    /// set to `latest`; the runtime's default is `earliest`).
    fn resets_to_end(&self) -> bool {
        let properties = &self.shared.config.kafka.properties;
        matches!(
            properties.get("auto.offset.reset").map(String::as_str),
            Some("latest" | "largest" | "end")
        )
    }
}
