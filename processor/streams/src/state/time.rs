//! A task's time, pure: its stream time (Kafka Streams' task stream time: the largest
//! timestamp of the records it processed), the next due time of each punctuation schedule of
//! its topology, and how long it has been quiet (for the wall-clock advance of a quiet task's
//! stream time). Every clock reading is passed in.

/// The time of one task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskTime {
    /// The largest timestamp of the records processed, or advanced by the wall clock while the
    /// task was quiet; `None` before the first record.
    stream_time: Option<i64>,
    /// Per punctuation schedule of the topology (by index), when it is next due: stream time
    /// for a stream-time schedule, wall-clock milliseconds for a wall-clock one. `None`: not
    /// started (a stream-time schedule is then due at 0, a wall-clock one starts at the first
    /// wall-clock reading).
    due: Vec<Option<i64>>,
    /// Since when (wall clock) the task has taken no record, and its stream time then.
    quiet_since: Option<(i64, i64)>,
    /// Whether a record was processed since the last wall-clock reading.
    record_seen: bool,
}

impl TaskTime {
    /// The task's stream time, `None` before its first record.
    pub fn stream_time(&self) -> Option<i64> {
        self.stream_time
    }

    /// A record stamped `timestamp` is being processed: stream time moves to it if later.
    pub(crate) fn observe_record(&mut self, timestamp: i64) {
        self.advance_to(timestamp);
        self.record_seen = true;
    }

    /// A task restored from its changelogs, which has taken no record yet, resumes from the
    /// stream time its stores kept (the quiet period starts at the next wall-clock reading).
    pub(crate) fn resume_at(&mut self, time: i64) {
        self.advance_to(time);
    }

    /// Moves stream time to `time` if later; returns whether it moved.
    fn advance_to(&mut self, time: i64) -> bool {
        let moved = self.stream_time.is_none_or(|known| time > known);
        if moved {
            self.stream_time = Some(time);
        }
        moved
    }

    /// Whether schedule `index`, every `interval` ms, is due at `now` (stream time or wall
    /// clock, as the schedule counts): returns the punctuation time (`now`) and moves the
    /// schedule to its next due time, the first one after `now` on its grid, so that a gap
    /// of several intervals fires once, as Kafka Streams' `PunctuationSchedule.next`.
    ///
    /// A stream-time schedule (`wall_clock` false) is first due at 0; a wall-clock one is
    /// started by its first reading, due one interval later.
    pub(crate) fn take_due(
        &mut self,
        index: usize,
        interval: i64,
        wall_clock: bool,
        now: i64,
    ) -> Option<i64> {
        if self.due.len() <= index {
            self.due.resize(index + 1, None);
        }
        let due = match self.due[index] {
            Some(due) => due,
            None if wall_clock => {
                self.due[index] = Some(now.saturating_add(interval));
                return None;
            }
            None => 0,
        };
        if now < due {
            self.due[index] = Some(due);
            return None;
        }
        let missed = (now - due) / interval;
        self.due[index] = Some(due.saturating_add((missed + 1).saturating_mul(interval)));
        Some(now)
    }

    /// When schedule `index` is next due, if started.
    pub(crate) fn due(&self, index: usize) -> Option<i64> {
        self.due.get(index).copied().flatten()
    }

    /// At wall clock `now`, advances the stream time of a task quiet for `idle` ms or more
    /// with the clock: to its stream time when it went quiet plus the wall-clock time since
    /// (as if records kept coming stamped with the clock). Returns the new stream time if it
    /// moved. A task that took a record since the last reading starts a quiet period at
    /// `now`; a task that never took a record has no stream time to advance.
    pub(crate) fn advance_if_quiet(&mut self, now: i64, idle: i64) -> Option<i64> {
        let stream_time = self.stream_time?;
        let (since, base) = match self.quiet_since {
            Some(quiet) if !self.record_seen => quiet,
            _ => {
                self.record_seen = false;
                self.quiet_since = Some((now, stream_time));
                return None;
            }
        };
        let quiet_for = now.saturating_sub(since);
        if quiet_for < idle {
            return None;
        }
        let advanced = base.saturating_add(quiet_for);
        self.advance_to(advanced).then_some(advanced)
    }

    /// When the quiet period started at the last reading reaches `idle`, if it has not yet.
    pub(crate) fn quiet_due(&self, idle: i64) -> Option<i64> {
        let (since, _) = self.quiet_since?;
        (!self.record_seen).then(|| since.saturating_add(idle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_time_is_the_largest_timestamp_seen() {
        let mut time = TaskTime::default();
        assert_eq!(time.stream_time(), None);
        time.observe_record(50);
        time.observe_record(20);
        assert_eq!(time.stream_time(), Some(50));
        time.observe_record(70);
        assert_eq!(time.stream_time(), Some(70));
    }

    #[test]
    fn a_stream_time_schedule_fires_once_per_advance_on_its_grid() {
        let mut time = TaskTime::default();
        // First due at 0: the first record fires it.
        assert_eq!(time.take_due(0, 10, false, 3), Some(3));
        assert_eq!(time.due(0), Some(10));
        assert_eq!(time.take_due(0, 10, false, 9), None);
        // A jump over several intervals fires once, and the next is the grid's next point.
        assert_eq!(time.take_due(0, 10, false, 47), Some(47));
        assert_eq!(time.take_due(0, 10, false, 47), None);
        assert_eq!(time.due(0), Some(50));
        assert_eq!(time.take_due(0, 10, false, 50), Some(50));
        assert_eq!(time.due(0), Some(60));
    }

    #[test]
    fn a_wall_clock_schedule_starts_at_its_first_reading() {
        let mut time = TaskTime::default();
        assert_eq!(time.take_due(1, 1_000, true, 5_000), None);
        assert_eq!(time.due(1), Some(6_000));
        assert_eq!(time.due(0), None);
        assert_eq!(time.take_due(1, 1_000, true, 5_999), None);
        assert_eq!(time.take_due(1, 1_000, true, 6_000), Some(6_000));
        assert_eq!(time.take_due(1, 1_000, true, 9_500), Some(9_500));
        assert_eq!(time.due(1), Some(10_000));
    }

    #[test]
    fn a_quiet_task_follows_the_clock_after_idle() {
        let mut time = TaskTime::default();
        assert_eq!(
            time.advance_if_quiet(1_000, 500),
            None,
            "no stream time yet"
        );
        time.observe_record(60_000);
        // The reading after the record starts the quiet period.
        assert_eq!(time.advance_if_quiet(2_000, 500), None);
        assert_eq!(time.quiet_due(500), Some(2_500));
        assert_eq!(time.advance_if_quiet(2_400, 500), None);
        assert_eq!(time.advance_if_quiet(2_500, 500), Some(60_500));
        assert_eq!(time.advance_if_quiet(3_000, 500), Some(61_000));
        assert_eq!(time.advance_if_quiet(3_000, 500), None);
        // A record ends the quiet period; an older one does not move stream time back.
        time.observe_record(60_100);
        assert_eq!(time.stream_time(), Some(61_000));
        assert_eq!(time.quiet_due(500), None);
        assert_eq!(time.advance_if_quiet(4_000, 500), None);
        assert_eq!(time.advance_if_quiet(4_600, 500), Some(61_600));
    }
}
