//! The driver's wall clock, simulated: it moves only when told
//! ([`TopologyTestDriver::advance_wall_clock`]), firing the wall-clock punctuations due and,
//! for a topology that advances quiet tasks' stream time, that advance; and the task's time,
//! for time-driven assertions.

use std::time::Duration;

use super::TopologyTestDriver;
use crate::record::OutputRecord;
use crate::topology::ProcessingError;
use crate::topology::no_record;

impl TopologyTestDriver {
    /// The same driver, its simulated wall clock at `start` (ms since the epoch; 0 unless
    /// set), as Kafka Streams' driver takes an initial wall-clock time.
    pub fn with_wall_clock(self, start: i64) -> Self {
        self.wall_clock.set(start);
        self
    }

    /// The simulated wall clock (ms since the epoch).
    pub fn wall_clock(&self) -> i64 {
        self.wall_clock.get()
    }

    /// The task's stream time: the largest timestamp piped so far (or moved with the wall
    /// clock while the task was quiet, when the topology asks for it); `None` before a record.
    pub fn stream_time(&self) -> Option<i64> {
        self.task.borrow().stream_time()
    }

    /// Moves the simulated wall clock on by `duration` (whole milliseconds) and fires what is
    /// due then, once (as Kafka Streams' `advanceWallClockTime`): wall-clock punctuations
    /// stamped with the new wall clock, and, when the topology advances quiet tasks, the task's
    /// stream time with what it makes due. Read the outputs as those of piped records.
    ///
    /// # Panics
    /// Under the `fail` policy, when a punctuation fails.
    pub fn advance_wall_clock(&self, duration: Duration) {
        if let Err(error) = self.try_advance_wall_clock(duration) {
            panic!("a punctuation failed when the wall clock advanced: {error}");
        }
    }

    /// As [`TopologyTestDriver::advance_wall_clock`], returning the error of a failed
    /// punctuation under the `fail` policy (other policies handle it).
    ///
    /// # Errors
    /// The first failed punctuation's [`ProcessingError`], under the `fail` policy.
    pub fn try_advance_wall_clock(&self, duration: Duration) -> Result<(), ProcessingError> {
        // The schedules not started yet start at the time before the move.
        self.tick()?;
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        self.wall_clock
            .set(self.wall_clock.get().saturating_add(millis));
        self.tick()
    }

    /// Does what the runtime's loop does at each turn: what is due at the wall clock.
    pub(super) fn tick(&self) -> Result<(), ProcessingError> {
        let now = self.wall_clock.get();
        let mut produced = Vec::new();
        let mut task = self.task.borrow_mut();
        let errors = self
            .topology
            .punctuate_wall_clock(&mut task, now, &mut |output| produced.push(output));
        self.write_changes(&mut task, now);
        drop(task);
        self.handle_errors(errors, now, &mut produced)?;
        self.write_outputs(produced, now)
    }

    /// Applies the error policy to each punctuation error, as to a record's: a dead letter
    /// (of no record, its headers naming the error) or, under `fail`, the first error.
    pub(super) fn handle_errors<'a>(
        &'a self,
        errors: Vec<ProcessingError>,
        time: i64,
        produced: &mut Vec<OutputRecord<'a>>,
    ) -> Result<(), ProcessingError> {
        let input = no_record(time);
        errors
            .into_iter()
            .try_for_each(|error| self.handle_error(&input, error, produced))
    }
}
