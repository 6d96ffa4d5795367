//! Time-driven work of a topology: punctuations (Kafka Streams' `ProcessorContext.schedule`)
//! and time-driven nodes, run for one task at a time with what the caller tells of the clock.
//!
//! The schedules are declared when the topology is built (nodes are shared by all tasks); when
//! each is next due lives in the task ([`TaskTime`](crate::state::TaskTime)).
//!
//! * After each record, the caller runs [`Topology::punctuate_stream_time`]: the stream-time
//!   schedules due at the task's stream time fire, once per advance.
//! * From its loop, the caller runs [`Topology::punctuate_wall_clock`] with the wall clock:
//!   the wall-clock schedules due fire and, if the topology advances quiet tasks (below), a
//!   quiet task's stream time follows the clock. [`Topology::next_wall_clock_due`] says when
//!   to call it next, so the loop can sleep until then.
//!
//! **The hook for time-driven DSL nodes** (crate-internal): a node that must act when stream
//! time moves without a record reaching it (a suppression closing its windows on a quiet
//! task) implements [`TimeDriven`] and registers itself, from its factory, with
//! [`Assembler::advance_quiet_tasks`](super::builder::Assembler::advance_quiet_tasks) and the
//! idle time after which a task counts as quiet. That registration is the topology's opt-in
//! (off by default): [`Topology::punctuate_wall_clock`] then advances the stream time of a task
//! that took no record for `idle` of wall-clock time, and calls every registered node's
//! [`TimeDriven::on_time`] with the new stream time, before the stream-time punctuations due
//! at it. Records advance stream time without calling them: a node sees its own records.

use std::sync::Arc;
use std::time::Duration;

use super::node::RecordContext;
use super::{ProcessingError, Topology};
use crate::record::{InputRecord, OutputRecord, SourcePosition};
use crate::state::TaskState;

/// What notion of time a punctuation follows, as Kafka Streams' `PunctuationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// The task's stream time: fires when a record moves it to or past the due time, once per
    /// advance however many intervals it skipped; never while no record comes.
    StreamTime,
    /// The wall clock: fires every interval from the task's start, records or not.
    WallClock,
}

/// A node acting on time rather than on a record: a punctuator, or a time-driven DSL node.
pub(crate) trait TimeDriven: Send + Sync {
    /// Acts at `time` (the punctuation time, or the task's new stream time), forwarding
    /// through `ctx` (whose timestamp is `time`, whose input is no record).
    fn on_time<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        time: i64,
    ) -> Result<(), ProcessingError>;

    /// The stream time this node kept in the task's stores, if it keeps one: a task restored
    /// from its changelogs resumes from it until its first record.
    fn kept_stream_time(&self, _state: &TaskState) -> Option<i64> {
        None
    }
}

/// One schedule declared by a processor.
pub(crate) struct Schedule {
    /// Every this many milliseconds (at least 1).
    pub(crate) interval: i64,
    pub(crate) kind: PunctuationType,
    pub(crate) punctuator: Arc<dyn TimeDriven>,
}

/// The time-driven parts of a topology, gathered while it is built.
#[derive(Default)]
pub(crate) struct TopologyTime {
    pub(crate) schedules: Vec<Schedule>,
    /// The time-driven nodes, told when a quiet task's stream time follows the clock.
    pub(crate) time_driven: Vec<Arc<dyn TimeDriven>>,
    /// After how long without a record a task's stream time follows the wall clock (ms), the
    /// smallest any time-driven node asked for; `None`: never (the default).
    pub(crate) quiet_idle: Option<i64>,
}

/// A duration in whole milliseconds, at least 1 (a schedule's interval, an idle time).
pub(crate) fn millis_at_least_one(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

impl Topology {
    /// Whether the topology has work of its own in time (punctuations or time-driven nodes):
    /// its tasks then need their own time even without a store.
    pub fn is_time_driven(&self) -> bool {
        !self.time.schedules.is_empty() || !self.time.time_driven.is_empty()
    }

    /// Fires the stream-time punctuations of the task of `state` due at its stream time, each
    /// at most once (call it after each record of the task). Each punctuation's outputs go to
    /// `emit` once it completed, stamped with the stream time and without headers; its store
    /// changes wait in `state`, as a record's.
    ///
    /// Returns the errors of the punctuations that failed (their outputs discarded), for the
    /// caller's error policy; the others ran.
    pub fn punctuate_stream_time<'a>(
        &'a self,
        state: &mut TaskState,
        emit: &mut dyn FnMut(OutputRecord<'a>),
    ) -> Vec<ProcessingError> {
        let mut errors = Vec::new();
        self.fire_due(state, PunctuationType::StreamTime, None, emit, &mut errors);
        errors
    }

    /// At wall clock `now` (ms since the epoch): fires the task's wall-clock punctuations due
    /// (stamped `now`); then, when the topology advances quiet tasks and this one took no
    /// record for that long, moves its stream time with the clock, tells the time-driven nodes
    /// and fires the stream-time punctuations due at the new stream time. Outputs, store
    /// changes and errors as [`Topology::punctuate_stream_time`].
    pub fn punctuate_wall_clock<'a>(
        &'a self,
        state: &mut TaskState,
        now: i64,
        emit: &mut dyn FnMut(OutputRecord<'a>),
    ) -> Vec<ProcessingError> {
        let mut errors = Vec::new();
        self.fire_due(
            state,
            PunctuationType::WallClock,
            Some(now),
            emit,
            &mut errors,
        );
        let Some(idle) = self.time.quiet_idle else {
            return errors;
        };
        if state.stream_time().is_none() {
            // Restored from its changelogs, no record yet: without a stream time the windows
            // its nodes buffered would never close while no record comes.
            let kept = self.time.time_driven.iter();
            if let Some(kept) = kept.filter_map(|node| node.kept_stream_time(state)).max() {
                state.time_mut().resume_at(kept);
            }
        }
        if let Some(stream_time) = state.time_mut().advance_if_quiet(now, idle) {
            for node in &self.time.time_driven {
                self.run_on_time(state, node.as_ref(), stream_time, emit, &mut errors);
            }
            self.fire_due(state, PunctuationType::StreamTime, None, emit, &mut errors);
        }
        errors
    }

    /// When, after wall clock `now`, [`Topology::punctuate_wall_clock`] next has work for the
    /// task of `state` (ms), if it knows: the earliest wall-clock schedule due, or the end of
    /// the current quiet period (a task already quiet follows the clock at every call). A
    /// schedule not started yet starts at the next call (`i64::MIN`: call now).
    pub fn next_wall_clock_due(&self, state: &TaskState, now: i64) -> Option<i64> {
        let schedules = self
            .time
            .schedules
            .iter()
            .enumerate()
            .filter(|(_, schedule)| schedule.kind == PunctuationType::WallClock)
            .map(|(index, _)| state.time().due(index).unwrap_or(i64::MIN));
        let quiet = self
            .time
            .quiet_idle
            .and_then(|idle| state.time().quiet_due(idle))
            .filter(|due| *due > now);
        schedules.chain(quiet).min()
    }

    /// Fires the schedules of `kind` due at `now` (wall clock), or at the task's stream time.
    fn fire_due<'a>(
        &'a self,
        state: &mut TaskState,
        kind: PunctuationType,
        now: Option<i64>,
        emit: &mut dyn FnMut(OutputRecord<'a>),
        errors: &mut Vec<ProcessingError>,
    ) {
        let Some(now) = now.or_else(|| state.stream_time()) else {
            return;
        };
        let wall_clock = kind == PunctuationType::WallClock;
        for (index, schedule) in self.time.schedules.iter().enumerate() {
            if schedule.kind != kind {
                continue;
            }
            let due = state
                .time_mut()
                .take_due(index, schedule.interval, wall_clock, now);
            if let Some(time) = due {
                self.run_on_time(state, schedule.punctuator.as_ref(), time, emit, errors);
            }
        }
    }

    /// Runs one time-driven node at `time`; its outputs reach `emit` only if it completed.
    fn run_on_time<'a>(
        &'a self,
        state: &mut TaskState,
        node: &dyn TimeDriven,
        time: i64,
        emit: &mut dyn FnMut(OutputRecord<'a>),
        errors: &mut Vec<ProcessingError>,
    ) {
        let input = no_record(time);
        let mut outputs = Vec::new();
        let result = node.on_time(
            &mut RecordContext {
                input: &input,
                timestamp: time,
                sink_names: &self.sink_names,
                emit: &mut |output| outputs.push(output),
                on_node: None,
                state,
            },
            time,
        );
        match result {
            Ok(()) => outputs.into_iter().for_each(emit),
            Err(error) => errors.push(error),
        }
    }
}

/// What stands for the input of work done at `time` without a record (a punctuation): no
/// topic, partition or offset (-1), no key, value or headers (outputs inherit none). Its dead
/// letter, under the `dead-letter` policy, is an empty record whose headers name the error.
pub(crate) fn no_record(time: i64) -> InputRecord<'static> {
    InputRecord {
        source: SourcePosition {
            topic: "",
            partition: -1,
            offset: -1,
        },
        timestamp: time,
        key: None,
        value: None,
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::state::TaskState;
    use crate::topology::builder::{Built, Factory};
    use crate::topology::describe::{NodeDescription, NodeRole};
    use crate::topology::node::{NodeRef, Processor, operator};
    use crate::topology::serdes::{Long, Utf8};
    use crate::topology::{KStream, StreamsBuilder, Topology};

    /// A time-driven node writing each stream time it is told to topic `closed`.
    struct Closer;

    impl TimeDriven for Closer {
        fn on_time<'a>(
            &self,
            ctx: &mut RecordContext<'a, '_>,
            time: i64,
        ) -> Result<(), ProcessingError> {
            (ctx.emit)(OutputRecord {
                topic: Cow::Borrowed("closed"),
                key: None,
                value: Some(Cow::Owned(time.to_string().into_bytes())),
                timestamp: ctx.timestamp,
                headers: Vec::new(),
            });
            Ok(())
        }
    }

    /// A processor of `input` whose stream-time punctuation, every minute, writes the stream
    /// time to `ticks`.
    fn ticks(input: &KStream<Utf8, Utf8>) {
        input
            .processor::<Utf8, Long>()
            .schedule(
                Duration::from_secs(60),
                PunctuationType::StreamTime,
                |ctx, time| ctx.forward("tick".into(), time),
            )
            .process(|_, _, _| Ok(()))
            .to("ticks");
    }

    /// `in` feeds a node registered through the hook (idle 10 s) and [`ticks`].
    fn quiet_closing() -> Topology {
        let builder = StreamsBuilder::new();
        let input = builder.stream::<Utf8, Utf8>("in");
        let factory: Factory = Box::new(|name, _children, assembler| {
            assembler.advance_quiet_tasks(Duration::from_secs(10), Arc::new(Closer));
            let node: NodeRef<Utf8, Utf8> = Arc::new(Processor::<Utf8, Utf8> {
                name,
                operator: operator::<Utf8, Utf8, _>(|_, _, _| Ok(())),
            });
            Ok(Built::Node(Box::new(node)))
        });
        let description = NodeDescription::new("closer", NodeRole::Processor);
        builder
            .graph
            .borrow_mut()
            .add(description, &[input.id], factory);
        ticks(&input);
        builder.build().expect("valid topology")
    }

    /// Runs what is due at wall clock `now`; returns (topic, timestamp) of each output.
    fn at_wall_clock(topology: &Topology, state: &mut TaskState, now: i64) -> Vec<(String, i64)> {
        let mut outputs = Vec::new();
        let errors = topology.punctuate_wall_clock(state, now, &mut |output| {
            outputs.push((output.topic.to_string(), output.timestamp));
        });
        assert!(errors.is_empty(), "{errors:?}");
        outputs
    }

    /// Processes a record stamped `timestamp`, and the stream-time punctuations it makes due.
    fn record_at(topology: &Topology, state: &mut TaskState, timestamp: i64) -> Vec<(String, i64)> {
        let mut input = no_record(timestamp);
        input.source.topic = "in";
        (input.key, input.value) = (Some(b"h".as_slice()), Some(b"x".as_slice()));
        let mut outputs = Vec::new();
        let mut push = |output: OutputRecord<'_>| {
            outputs.push((output.topic.to_string(), output.timestamp));
        };
        topology
            .process_in(state, &input, &mut push)
            .expect("processed");
        assert!(topology.punctuate_stream_time(state, &mut push).is_empty());
        outputs
    }

    fn closed_at(time: i64) -> (String, i64) {
        ("closed".to_owned(), time)
    }

    fn tick_at(time: i64) -> (String, i64) {
        ("ticks".to_owned(), time)
    }

    #[test]
    fn a_quiet_task_follows_the_wall_clock_and_tells_the_time_driven_nodes() {
        let topology = quiet_closing();
        assert!(topology.is_time_driven());
        let mut state = topology.new_task_state(&topology.new_global_stores());
        let state = &mut state;
        assert_eq!(record_at(&topology, state, 1_000), [tick_at(1_000)]);
        // The wall-clock reading after the record starts the quiet period.
        assert!(at_wall_clock(&topology, state, 0).is_empty());
        assert_eq!(topology.next_wall_clock_due(state, 0), Some(10_000));
        assert!(at_wall_clock(&topology, state, 5_000).is_empty());
        assert_eq!(state.stream_time(), Some(1_000), "not quiet for 10 s yet");
        assert_eq!(at_wall_clock(&topology, state, 10_000), [closed_at(11_000)]);
        assert_eq!(state.stream_time(), Some(11_000));
        assert_eq!(
            topology.next_wall_clock_due(state, 10_000),
            None,
            "follows every call"
        );
        // Stream time keeps following the clock; the punctuation due at 60 000 fires after.
        assert_eq!(
            at_wall_clock(&topology, state, 60_000),
            [closed_at(61_000), tick_at(61_000)]
        );
        // A record ends the quiet period (an older one leaves stream time where it is).
        assert!(record_at(&topology, state, 2_000).is_empty());
        assert!(at_wall_clock(&topology, state, 60_000).is_empty());
        assert!(at_wall_clock(&topology, state, 69_999).is_empty());
        assert_eq!(state.stream_time(), Some(61_000));
        assert_eq!(at_wall_clock(&topology, state, 70_000), [closed_at(71_000)]);
    }

    #[test]
    fn without_a_time_driven_node_stream_time_follows_records_only() {
        let builder = StreamsBuilder::new();
        ticks(&builder.stream::<Utf8, Utf8>("in"));
        let topology = builder.build().expect("valid topology");
        let mut state = topology.new_task_state(&topology.new_global_stores());
        assert_eq!(record_at(&topology, &mut state, 1_000), [tick_at(1_000)]);
        assert!(at_wall_clock(&topology, &mut state, 0).is_empty());
        assert!(at_wall_clock(&topology, &mut state, 3_600_000).is_empty());
        assert_eq!(state.stream_time(), Some(1_000));
        assert_eq!(topology.next_wall_clock_due(&state, 0), None);
    }
}
