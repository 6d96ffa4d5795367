//! A worker's tasks in time: the stream-time punctuations after each record, the wall-clock
//! punctuations (and a quiet task's stream time following the clock) from the poll loop, and
//! how long the loop may wait for the next of them.
//!
//! A stream-time punctuation's outputs and store changes count as outputs of the record that
//! moved stream time. A wall-clock punctuation has no record: its outputs hold its task's
//! partitions in the offset tracker ([`crate::runtime::offsets::OffsetTracker::record_punctuated`])
//! until acknowledged, so no commit passes them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::produce::OutputTag;
use super::{POLL_INTERVAL, Pipeline, WorkerError};
use crate::record::OutputRecord;
use crate::runtime::Shared;
use crate::runtime::observer::RecordClock;
use crate::runtime::offsets::SourcePartition;
use crate::state::{StoreChange, TaskState};
use crate::topology::{ProcessingError, no_record};

/// The store changes of the punctuations run after a record, and their time.
pub(super) struct Punctuated {
    pub(super) changes: Vec<StoreChange>,
    pub(super) time: i64,
}

/// The wall clock in milliseconds since the epoch.
fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

impl Pipeline {
    /// The state of task `partition`, or the one stateless state when tasks have none.
    pub(super) fn task_state(&mut self, partition: i32) -> Result<&mut TaskState, WorkerError> {
        task_of(
            &self.shared,
            &self.worker,
            &mut self.tasks,
            &mut self.stateless,
            partition,
        )
    }

    /// Fires task `partition`'s stream-time punctuations due after a record, adding their
    /// outputs (and the dead letters of those that failed) to `outputs`.
    pub(super) fn punctuate_stream_time<'a>(
        &mut self,
        shared: &'a Shared,
        partition: i32,
        outputs: &mut Vec<OutputRecord<'a>>,
    ) -> Result<Punctuated, WorkerError> {
        if !shared.topology.is_time_driven() {
            return Ok(Punctuated {
                changes: Vec::new(),
                time: -1,
            });
        }
        let state = self.task_state(partition)?;
        let errors = shared
            .topology
            .punctuate_stream_time(state, &mut |output| outputs.push(output));
        let time = state.stream_time().unwrap_or(-1);
        let changes = state.take_changes();
        self.punctuations_failed(shared, partition, errors, time, outputs)?;
        Ok(Punctuated { changes, time })
    }

    /// Applies the error policy to each failed punctuation of task `partition` at `time`.
    fn punctuations_failed<'a>(
        &mut self,
        shared: &'a Shared,
        partition: i32,
        errors: Vec<ProcessingError>,
        time: i64,
        outputs: &mut Vec<OutputRecord<'a>>,
    ) -> Result<(), WorkerError> {
        let input = no_record(time);
        for error in errors {
            outputs.extend(self.processing_failed(shared, &input, error, Some(partition))?);
        }
        Ok(())
    }

    /// Fires what is due at the wall clock in every task, and sends it.
    pub(super) fn punctuate_wall_clock(&mut self) -> Result<(), WorkerError> {
        if self.tasks.is_empty() || !self.shared.topology.is_time_driven() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let now = wall_clock();
        let mut partitions: Vec<i32> = self.tasks.keys().copied().collect();
        partitions.sort_unstable();
        for partition in partitions {
            let mut outputs = Vec::new();
            let Some(state) = self.tasks.get_mut(&partition) else {
                continue;
            };
            let errors = shared
                .topology
                .punctuate_wall_clock(state, now, &mut |output| outputs.push(output));
            let changes = state.take_changes();
            self.punctuations_failed(&shared, partition, errors, now, &mut outputs)?;
            if outputs.is_empty() && changes.is_empty() {
                continue;
            }
            let held: Vec<SourcePartition> = (0..shared.source_topics.len())
                .map(|topic| SourcePartition { topic, partition })
                .collect();
            let hold = self
                .tracker
                .record_punctuated(&held, outputs.len() + changes.len());
            let tag = OutputTag {
                source: SourcePartition {
                    topic: 0,
                    partition,
                },
                offset: -1,
                attempt: 0,
                store: None,
                punctuation: hold,
            };
            self.send_outputs(&mut outputs, tag, RecordClock::now())?;
            self.send_changes(&changes, partition, now, tag)?;
        }
        Ok(())
    }

    /// How long the poll loop may wait for records before a task has time-driven work due:
    /// at most [`POLL_INTERVAL`], less when a wall-clock punctuation or the end of a quiet
    /// period comes sooner.
    pub(super) fn poll_timeout(&self) -> Duration {
        if self.tasks.is_empty() || !self.shared.topology.is_time_driven() {
            return POLL_INTERVAL;
        }
        let now = wall_clock();
        let due = self
            .tasks
            .values()
            .filter_map(|state| self.shared.topology.next_wall_clock_due(state, now))
            .min();
        match due {
            Some(due) => {
                let wait = u64::try_from(due.saturating_sub(now)).unwrap_or(0);
                POLL_INTERVAL.min(Duration::from_millis(wait))
            }
            None => POLL_INTERVAL,
        }
    }
}

/// [`Pipeline::task_state`] over the pipeline's fields, so the rest stays borrowable.
pub(super) fn task_of<'p>(
    shared: &Shared,
    worker: &str,
    tasks: &'p mut HashMap<i32, TaskState>,
    stateless: &'p mut TaskState,
    partition: i32,
) -> Result<&'p mut TaskState, WorkerError> {
    if !shared.has_tasks() {
        return Ok(stateless);
    }
    // Every assigned task was created (and restored) in the rebalance callback; a record of a
    // partition without a task means its restore failed, and the worker stops.
    tasks
        .get_mut(&partition)
        .ok_or_else(|| WorkerError::NotRestored {
            worker: worker.to_owned(),
            partition,
        })
}
