// over 500 lines: more than half of it is the unit tests of the decision, kept beside it.
//! Which record a stateful task processes next, pure (Kafka Streams' `PartitionGroup`, KIP-695).
//!
//! A task of a stateful topology reads partition `p` of each of its source topics (the stream
//! and the table it joins). Consumed records wait here, one FIFO per source partition, and the
//! task takes them in timestamp order across its partitions: the head with the smallest
//! timestamp first; on a tie the higher priority (tables before streams), then the lower topic
//! index. So a table update older than a stream record is applied before the stream record is
//! joined, whichever the consumer fetched first.
//!
//! A task with an empty partition is not ready while that partition is *behind* (the broker
//! holds records past the consumer's position, or the position is not known yet): its records
//! are being fetched. An empty partition that is *caught up* does not hold its task back, unless
//! `max_task_idle` is above zero: then the task waits that long for it, from the moment it was
//! first seen empty, before it processes without it (Kafka Streams' `max.task.idle.ms`). A
//! record whose timestamp is negative (unknown) is not ordered: it is taken as soon as it heads
//! its partition, before any timestamped record, in arrival order.
//!
//! Within a partition the order is always the offset order, so offsets stay committable in
//! order. Ordering holds inside a task, never across tasks.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::time::{Duration, Instant};

use super::backpressure::FlowAction;
use super::offsets::SourcePartition;

/// What the consumer knows of a source partition that has nothing buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Its position is at the high watermark: the broker has nothing more for it now.
    CaughtUp,
    /// The broker holds records past its position, or the position or high watermark is not
    /// known yet: records are on their way.
    Behind,
}

/// The bound on what one source partition may buffer before it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Records buffered.
    pub records: usize,
    /// Bytes (key and value) buffered.
    pub bytes: usize,
}

/// One buffered record.
#[derive(Debug)]
struct Buffered<R> {
    timestamp: i64,
    arrival: u64,
    bytes: usize,
    record: R,
}

/// The buffer of one source partition.
#[derive(Debug)]
struct PartitionBuffer<R> {
    queue: VecDeque<Buffered<R>>,
    bytes: usize,
    /// Since when it has been seen empty and caught up (reset by a new record).
    idle_since: Option<Instant>,
    /// Whether [`TaskOrder::flow`] paused it.
    paused: bool,
}

impl<R> Default for PartitionBuffer<R> {
    fn default() -> Self {
        PartitionBuffer {
            queue: VecDeque::new(),
            bytes: 0,
            idle_since: None,
            paused: false,
        }
    }
}

/// The buffered records of a worker's stateful tasks, by task (partition number) and source
/// topic, and the decision which one is processed next.
#[derive(Debug)]
pub struct TaskOrder<R> {
    /// The tie-break priority of each source topic, by topic index (lower first).
    priorities: Vec<usize>,
    tasks: BTreeMap<i32, BTreeMap<usize, PartitionBuffer<R>>>,
    arrivals: u64,
    records: usize,
    bytes: usize,
    /// The task to look at first next time, so no task is always served first.
    cursor: i32,
}

impl<R> TaskOrder<R> {
    /// An empty buffer for source topics whose tie-break priorities, by topic index, are
    /// `priorities` (lower first: tables before streams).
    pub fn new(priorities: Vec<usize>) -> Self {
        TaskOrder {
            priorities,
            tasks: BTreeMap::new(),
            arrivals: 0,
            records: 0,
            bytes: 0,
            cursor: 0,
        }
    }

    /// Adds `partition` (assigned) to its task, with nothing buffered: the task waits for it
    /// as the rules say.
    pub fn assign(&mut self, partition: SourcePartition) {
        self.tasks
            .entry(partition.partition)
            .or_default()
            .entry(partition.topic)
            .or_default();
    }

    /// Drops `partition` (revoked) and what it buffered; returns how many records that was.
    /// Those records were never processed, so their offsets were never committed: the next
    /// owner fetches them again.
    pub fn revoke(&mut self, partition: SourcePartition) -> usize {
        let Some(task) = self.tasks.get_mut(&partition.partition) else {
            return 0;
        };
        let dropped = task.remove(&partition.topic).unwrap_or_default();
        if task.is_empty() {
            self.tasks.remove(&partition.partition);
        }
        self.records -= dropped.queue.len();
        self.bytes -= dropped.bytes;
        dropped.queue.len()
    }

    /// Buffers `record` of `partition`, consumed after every record buffered before it.
    /// `bytes` is what it holds in memory; a `timestamp` below zero is not ordered.
    pub fn push(&mut self, partition: SourcePartition, timestamp: i64, bytes: usize, record: R) {
        let buffer = self
            .tasks
            .entry(partition.partition)
            .or_default()
            .entry(partition.topic)
            .or_default();
        buffer.queue.push_back(Buffered {
            timestamp,
            arrival: self.arrivals,
            bytes,
            record,
        });
        buffer.bytes += bytes;
        buffer.idle_since = None;
        self.arrivals += 1;
        self.records += 1;
        self.bytes += bytes;
    }

    /// Records buffered.
    pub fn buffered_records(&self) -> usize {
        self.records
    }

    /// Bytes buffered.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// The next record a ready task may process, with its partition, taken out of the buffer;
    /// `None` when no task with buffered records is ready. `fetched` tells about a partition
    /// with nothing buffered (asked only for such partitions of tasks that have records).
    pub fn next(
        &mut self,
        now: Instant,
        max_task_idle: Duration,
        fetched: &mut dyn FnMut(SourcePartition) -> Fetched,
    ) -> Option<(SourcePartition, R)> {
        let mut task = self.task_from(Bound::Included(self.cursor))?;
        for _ in 0..self.tasks.len() {
            let Some(topic) = self.pick(task, now, max_task_idle, fetched) else {
                task = self.task_from(Bound::Excluded(task))?;
                continue;
            };
            let buffer = self.tasks.get_mut(&task)?.get_mut(&topic)?;
            let head = buffer.queue.pop_front()?;
            buffer.bytes -= head.bytes;
            self.records -= 1;
            self.bytes -= head.bytes;
            self.cursor = task.saturating_add(1);
            let partition = SourcePartition {
                topic,
                partition: task,
            };
            return Some((partition, head.record));
        }
        None
    }

    /// The first task from `start` on, wrapping around to the first of all.
    fn task_from(&self, start: Bound<i32>) -> Option<i32> {
        let mut after = self.tasks.range((start, Bound::Unbounded));
        after
            .next()
            .or_else(|| self.tasks.iter().next())
            .map(|(&task, _)| task)
    }

    /// The topic whose head task `task` processes next, if the task is ready.
    fn pick(
        &mut self,
        task: i32,
        now: Instant,
        max_task_idle: Duration,
        fetched: &mut dyn FnMut(SourcePartition) -> Fetched,
    ) -> Option<usize> {
        let buffers = self.tasks.get_mut(&task)?;
        let heads = buffers
            .iter()
            .filter_map(|(&topic, buffer)| buffer.queue.front().map(|head| (topic, head)));
        // Unknown timestamps are not ordered: the earliest arrival goes at once.
        let untimed = heads
            .clone()
            .filter(|(_, head)| head.timestamp < 0)
            .min_by_key(|(_, head)| head.arrival);
        if let Some((topic, _)) = untimed {
            return Some(topic);
        }
        let priorities = &self.priorities;
        let priority = |topic: usize| priorities.get(topic).copied().unwrap_or(usize::MAX);
        let (earliest, _) =
            heads.min_by_key(|&(topic, head)| (head.timestamp, priority(topic), topic))?;
        let mut ready = true;
        for (&topic, buffer) in buffers.iter_mut() {
            if !buffer.queue.is_empty() {
                continue;
            }
            let partition = SourcePartition {
                topic,
                partition: task,
            };
            ready &= match fetched(partition) {
                Fetched::Behind => false,
                Fetched::CaughtUp => {
                    let since = *buffer.idle_since.get_or_insert(now);
                    now.saturating_duration_since(since) >= max_task_idle
                }
            };
        }
        ready.then_some(earliest)
    }

    /// The partitions to pause because their buffer reached `limits`, and to resume because
    /// it drained to half of them (the other partitions of their task keep being fetched, so a
    /// task waiting for one partition never waits for a paused one).
    pub fn flow(&mut self, limits: BufferLimits) -> Vec<(SourcePartition, FlowAction)> {
        let mut changes = Vec::new();
        for (&task, buffers) in &mut self.tasks {
            for (&topic, buffer) in buffers.iter_mut() {
                let records = buffer.queue.len();
                let over = records >= limits.records || buffer.bytes >= limits.bytes;
                let drained = records <= limits.records / 2 && buffer.bytes <= limits.bytes / 2;
                let action = match buffer.paused {
                    false if over => FlowAction::Pause,
                    true if drained => FlowAction::Resume,
                    _ => continue,
                };
                buffer.paused = action == FlowAction::Pause;
                let partition = SourcePartition {
                    topic,
                    partition: task,
                };
                changes.push((partition, action));
            }
        }
        changes
    }

    /// Forgets which partitions [`TaskOrder::flow`] paused, after every partition was resumed
    /// (the worker's own backpressure resumed its whole assignment): [`TaskOrder::flow`]
    /// pauses those still over their bound again.
    pub fn all_resumed(&mut self) {
        for buffer in self.tasks.values_mut().flat_map(BTreeMap::values_mut) {
            buffer.paused = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: usize = 0;
    const STREAM: usize = 1;

    fn partition(topic: usize, partition: i32) -> SourcePartition {
        SourcePartition { topic, partition }
    }

    /// A task 0 of a table (topic 0) and a stream (topic 1), tables first on ties.
    fn table_and_stream() -> TaskOrder<&'static str> {
        let mut order = TaskOrder::new(vec![0, 1]);
        order.assign(partition(TABLE, 0));
        order.assign(partition(STREAM, 0));
        order
    }

    /// Every record `order` gives, as long as one is ready, with partitions reported `fetched`.
    fn drain(
        order: &mut TaskOrder<&'static str>,
        now: Instant,
        idle: Duration,
        fetched: Fetched,
    ) -> Vec<&'static str> {
        std::iter::from_fn(|| order.next(now, idle, &mut |_| fetched))
            .map(|(_, record)| record)
            .collect()
    }

    #[test]
    fn takes_the_smallest_timestamp_across_the_tasks_partitions() {
        let mut order = table_and_stream();
        let now = Instant::now();
        order.push(partition(STREAM, 0), 10, 1, "order@10");
        order.push(partition(TABLE, 0), 0, 1, "address@0");
        order.push(partition(TABLE, 0), 20, 1, "address@20");
        order.push(partition(STREAM, 0), 30, 1, "order@30");
        assert_eq!(
            drain(&mut order, now, Duration::ZERO, Fetched::CaughtUp),
            ["address@0", "order@10", "address@20", "order@30"]
        );
        assert_eq!((order.buffered_records(), order.buffered_bytes()), (0, 0));
    }

    #[test]
    fn a_partition_keeps_its_offset_order_whatever_its_timestamps() {
        let mut order = table_and_stream();
        order.push(partition(TABLE, 0), 50, 1, "address@50");
        order.push(partition(TABLE, 0), 5, 1, "address@5");
        order.push(partition(STREAM, 0), 10, 1, "order@10");
        assert_eq!(
            drain(
                &mut order,
                Instant::now(),
                Duration::ZERO,
                Fetched::CaughtUp
            ),
            ["order@10", "address@50", "address@5"]
        );
    }

    #[test]
    fn ties_go_to_the_higher_priority_then_the_lower_topic() {
        // Topic 0 is a stream, topics 1 and 2 are tables: tables first, then by topic index.
        let mut order = TaskOrder::new(vec![1, 0, 0]);
        for topic in [2, 0, 1] {
            order.push(
                partition(topic, 0),
                7,
                1,
                ["stream", "table-1", "table-2"][topic],
            );
        }
        assert_eq!(
            drain(
                &mut order,
                Instant::now(),
                Duration::ZERO,
                Fetched::CaughtUp
            ),
            ["table-1", "table-2", "stream"]
        );
    }

    #[test]
    fn waits_while_an_empty_partition_is_behind_whatever_the_idle_time() {
        let mut order = table_and_stream();
        let now = Instant::now();
        order.push(partition(STREAM, 0), 10, 1, "order@10");
        let mut asked = Vec::new();
        let next = order.next(now, Duration::ZERO, &mut |partition| {
            asked.push(partition);
            Fetched::Behind
        });
        assert!(
            next.is_none(),
            "the table's records are still being fetched"
        );
        assert_eq!(
            asked,
            [partition(TABLE, 0)],
            "only the empty partition is asked"
        );
        let later = now + Duration::from_secs(3600);
        assert!(
            order
                .next(later, Duration::ZERO, &mut |_| Fetched::Behind)
                .is_none()
        );
        // The table's record arrives: it is older, so it goes first.
        order.push(partition(TABLE, 0), 5, 1, "address@5");
        assert_eq!(
            drain(&mut order, later, Duration::ZERO, Fetched::Behind),
            ["address@5"],
            "then the table is empty again, and behind"
        );
        assert_eq!(
            drain(&mut order, later, Duration::ZERO, Fetched::CaughtUp),
            ["order@10"]
        );
    }

    #[test]
    fn a_caught_up_partition_does_not_hold_its_task_by_default() {
        let mut order = table_and_stream();
        order.push(partition(STREAM, 0), 10, 1, "order@10");
        assert_eq!(
            drain(
                &mut order,
                Instant::now(),
                Duration::ZERO,
                Fetched::CaughtUp
            ),
            ["order@10"]
        );
    }

    #[test]
    fn a_caught_up_partition_holds_its_task_for_max_task_idle() {
        let mut order = table_and_stream();
        let idle = Duration::from_millis(500);
        let start = Instant::now();
        order.push(partition(STREAM, 0), 10, 1, "order@10");
        assert!(drain(&mut order, start, idle, Fetched::CaughtUp).is_empty());
        let almost = start + idle - Duration::from_millis(1);
        assert!(drain(&mut order, almost, idle, Fetched::CaughtUp).is_empty());
        assert_eq!(
            drain(&mut order, start + idle, idle, Fetched::CaughtUp),
            ["order@10"]
        );
        // Still idle since then: the next record does not wait again.
        order.push(partition(STREAM, 0), 11, 1, "order@11");
        assert_eq!(
            drain(&mut order, start + idle, idle, Fetched::CaughtUp),
            ["order@11"]
        );
        // A record of the idle partition resets its clock; now the stream is the idle one.
        order.push(partition(TABLE, 0), 12, 1, "address@12");
        assert!(drain(&mut order, start + idle, idle, Fetched::CaughtUp).is_empty());
        let later = start + idle * 2;
        assert_eq!(
            drain(&mut order, later, idle, Fetched::CaughtUp),
            ["address@12"]
        );
        order.push(partition(STREAM, 0), 13, 1, "order@13");
        assert!(drain(&mut order, later, idle, Fetched::CaughtUp).is_empty());
        assert_eq!(
            drain(&mut order, later + idle, idle, Fetched::CaughtUp),
            ["order@13"]
        );
    }

    #[test]
    fn negative_timestamps_go_in_arrival_order_without_waiting() {
        let mut order = table_and_stream();
        let now = Instant::now();
        order.push(partition(STREAM, 0), -1, 1, "order@none");
        order.push(partition(TABLE, 0), -1, 1, "address@none");
        order.push(partition(TABLE, 0), 5, 1, "address@5");
        order.push(partition(STREAM, 0), 1, 1, "order@1");
        assert_eq!(
            drain(&mut order, now, Duration::ZERO, Fetched::Behind),
            ["order@none", "address@none", "order@1"],
            "address@5 waits for the stream partition, which is behind"
        );
        assert_eq!(
            drain(&mut order, now, Duration::ZERO, Fetched::CaughtUp),
            ["address@5"]
        );
        order.push(partition(STREAM, 0), -1, 1, "order@none-2");
        assert_eq!(
            drain(&mut order, now, Duration::ZERO, Fetched::Behind),
            ["order@none-2"],
            "not held back by the table partition being behind"
        );
    }

    #[test]
    fn tasks_are_independent() {
        let mut order = TaskOrder::new(vec![0, 1]);
        for task in [0, 1] {
            order.assign(partition(TABLE, task));
            order.assign(partition(STREAM, task));
        }
        order.push(partition(STREAM, 0), 10, 1, "order-0@10");
        order.push(partition(STREAM, 1), 20, 1, "order-1@20");
        let next = order.next(Instant::now(), Duration::ZERO, &mut |partition| {
            if partition.partition == 0 {
                Fetched::Behind
            } else {
                Fetched::CaughtUp
            }
        });
        assert_eq!(next, Some((partition(STREAM, 1), "order-1@20")));
    }

    #[test]
    fn ready_tasks_take_turns() {
        let mut order = TaskOrder::new(vec![0, 1]);
        for task in [0, 1, 2] {
            for timestamp in [1, 2] {
                order.push(
                    partition(STREAM, task),
                    timestamp,
                    1,
                    ["task-0", "task-1", "task-2"][task as usize],
                );
            }
        }
        assert_eq!(
            drain(
                &mut order,
                Instant::now(),
                Duration::ZERO,
                Fetched::CaughtUp
            ),
            ["task-0", "task-1", "task-2", "task-0", "task-1", "task-2"]
        );
    }

    #[test]
    fn a_revoked_partition_drops_its_records_and_no_longer_holds_its_task() {
        let mut order = table_and_stream();
        order.push(partition(STREAM, 0), 10, 4, "order@10");
        order.push(partition(TABLE, 0), 20, 3, "address@20");
        order.push(partition(TABLE, 0), 30, 3, "address@30");
        assert_eq!(order.revoke(partition(TABLE, 0)), 2);
        assert_eq!((order.buffered_records(), order.buffered_bytes()), (1, 4));
        assert_eq!(
            drain(&mut order, Instant::now(), Duration::ZERO, Fetched::Behind),
            ["order@10"],
            "the task has no table partition left to wait for"
        );
        assert_eq!(order.revoke(partition(STREAM, 0)), 0);
        assert_eq!(order.revoke(partition(STREAM, 7)), 0);
    }

    #[test]
    fn a_full_partition_is_paused_and_resumed_once_half_drained() {
        let mut order = table_and_stream();
        let limits = BufferLimits {
            records: 4,
            bytes: 100,
        };
        for timestamp in 0..3 {
            order.push(partition(STREAM, 0), timestamp, 10, "order");
        }
        assert!(order.flow(limits).is_empty());
        order.push(partition(STREAM, 0), 3, 10, "order");
        assert_eq!(
            order.flow(limits),
            [(partition(STREAM, 0), FlowAction::Pause)]
        );
        assert!(order.flow(limits).is_empty(), "paused once");
        order.push(partition(TABLE, 0), 0, 100, "big address");
        assert_eq!(
            order.flow(limits),
            [(partition(TABLE, 0), FlowAction::Pause)]
        );
        let now = Instant::now();
        for _ in 0..3 {
            order.next(now, Duration::ZERO, &mut |_| Fetched::CaughtUp);
        }
        // The table drained; the stream holds 2 of 4: both resume.
        assert_eq!(
            order.flow(limits),
            [
                (partition(TABLE, 0), FlowAction::Resume),
                (partition(STREAM, 0), FlowAction::Resume)
            ]
        );
        for timestamp in 4..6 {
            order.push(partition(STREAM, 0), timestamp, 10, "order");
        }
        assert_eq!(
            order.flow(limits),
            [(partition(STREAM, 0), FlowAction::Pause)]
        );
        order.all_resumed();
        assert_eq!(
            order.flow(limits),
            [(partition(STREAM, 0), FlowAction::Pause)],
            "paused again after a resume of everything"
        );
    }
}
