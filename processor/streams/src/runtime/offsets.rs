//! At-least-once offset bookkeeping, pure: which input offsets may be committed.
//!
//! Every consumed record with outputs is kept, in offset order, with the number of outputs still
//! unacknowledged; each acknowledgement decrements it. Records arrive in offset order per
//! partition, so they queue at the back (`in_flight.rs`); a record whose outputs are all
//! acknowledged leaves the front, or waits there for the records before it. The committable
//! offset of a partition is the lowest record that still has unacknowledged outputs, or the
//! consumer's position (one past the last record consumed) if that is lower, so a commit never
//! covers a record whose outputs could still be lost — also when the position moves backwards
//! (an offset reset re-delivers).
//!
//! Outputs made without a record (a wall-clock punctuation's) hold their task's partitions
//! back instead: until they are acknowledged, none commits past the last record it consumed
//! before them ([`OffsetTracker::record_punctuated`]).

use std::collections::{BTreeMap, HashMap};

use self::in_flight::{Acknowledged, InFlight};

mod in_flight;

/// A source partition, with its topic as an index into the runtime's source-topic list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourcePartition {
    /// Index of the topic in the runtime's source topics.
    pub topic: usize,
    /// Partition number.
    pub partition: i32,
}

#[derive(Debug, Default)]
struct PartitionProgress {
    /// Records with unacknowledged outputs, in offset order.
    in_flight: InFlight,
    /// One past the last record consumed, once one was.
    consumed_up_to: Option<i64>,
    /// The offset last handed out for commit.
    committed: Option<i64>,
    /// Offsets it may not commit past while punctuations' outputs are unacknowledged, with
    /// how many punctuations hold each; [`NOTHING`] holds every commit.
    holds: BTreeMap<i64, usize>,
}

/// A hold on a partition that consumed and committed nothing: it commits nothing until released.
const NOTHING: i64 = i64::MIN;

impl PartitionProgress {
    fn committable(&self) -> Option<i64> {
        let first_unacknowledged = self.in_flight.first();
        let committable = match (first_unacknowledged, self.consumed_up_to) {
            (Some(first), Some(position)) => Some(first.min(position)),
            (first, position) => first.or(position),
        };
        match self.holds.keys().next() {
            Some(&NOTHING) => None,
            Some(&held) => committable.map(|offset| offset.min(held)),
            None => committable,
        }
    }

    /// Where a punctuation made now holds it: the last record consumed (processed again after
    /// a crash), or what was already taken for commit if further, or [`NOTHING`].
    fn hold_point(&self) -> i64 {
        let last = self.consumed_up_to.map_or(NOTHING, |position| position - 1);
        last.max(self.committed.unwrap_or(NOTHING))
    }
}

/// The outputs of one punctuation not yet acknowledged, and where they hold which partitions.
#[derive(Debug)]
struct Hold {
    outstanding: usize,
    points: Vec<(SourcePartition, i64)>,
}

/// Which offsets [`OffsetTracker::take_commits`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitScope {
    /// Only partitions whose committable offset moved since it was last taken (periodic commits).
    Changed,
    /// Every partition that consumed anything (a final commit on revocation or shutdown, which
    /// must not rely on an earlier asynchronous commit having succeeded).
    All,
}

/// Every partition's progress, sorted by partition: found by binary search (a worker owns a
/// few partitions; no hashing per record and acknowledgement) and taken for commit in order.
#[derive(Debug, Default)]
struct Partitions {
    sorted: Vec<(SourcePartition, PartitionProgress)>,
}

impl Partitions {
    fn get(&self, partition: SourcePartition) -> Option<&PartitionProgress> {
        let index = self.index(partition).ok()?;
        Some(&self.sorted[index].1)
    }

    fn get_mut(&mut self, partition: SourcePartition) -> Option<&mut PartitionProgress> {
        let index = self.index(partition).ok()?;
        Some(&mut self.sorted[index].1)
    }

    /// The progress of `partition`, new if it had none.
    fn entry(&mut self, partition: SourcePartition) -> &mut PartitionProgress {
        let index = self.index(partition).unwrap_or_else(|index| {
            let progress = (partition, PartitionProgress::default());
            self.sorted.insert(index, progress);
            index
        });
        &mut self.sorted[index].1
    }

    fn remove(&mut self, partition: SourcePartition) -> Option<PartitionProgress> {
        let index = self.index(partition).ok()?;
        Some(self.sorted.remove(index).1)
    }

    fn index(&self, partition: SourcePartition) -> Result<usize, usize> {
        self.sorted
            .binary_search_by_key(&partition, |(key, _)| *key)
    }
}

/// In-flight records and committable offsets of every partition a worker owns.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: Partitions,
    in_flight_records: usize,
    in_flight_bytes: usize,
    /// The punctuations with unacknowledged outputs, by id.
    holds: HashMap<u64, Hold>,
    next_hold: u64,
}

/// An acknowledgement of a punctuation's output that matched no punctuation in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("acknowledgement for punctuation {0} matches no punctuation in flight")]
pub struct UnknownHold(pub u64);

/// An acknowledgement that matched no in-flight output (e.g. after its partition was revoked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("acknowledgement for partition {partition:?} offset {offset} matches no in-flight record")]
pub struct UnknownAcknowledgement {
    /// Partition named by the acknowledgement.
    pub partition: SourcePartition,
    /// Offset named by the acknowledgement.
    pub offset: i64,
}

impl OffsetTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `offset` of `partition` was consumed and produced `outputs` records. The same
    /// offset consumed again while still in flight adds its outputs to the ones outstanding.
    pub fn record_consumed(
        &mut self,
        partition: SourcePartition,
        offset: i64,
        outputs: usize,
        bytes: usize,
    ) {
        let progress = self.partitions.entry(partition);
        progress.consumed_up_to = Some(offset + 1);
        if outputs == 0 {
            return;
        }
        if progress.in_flight.add(offset, outputs, bytes) {
            self.in_flight_records += 1;
        }
        self.in_flight_bytes += bytes;
    }

    /// Records that one output of the record at `offset` of `partition` was acknowledged.
    pub fn output_acknowledged(
        &mut self,
        partition: SourcePartition,
        offset: i64,
    ) -> Result<(), UnknownAcknowledgement> {
        let unknown = UnknownAcknowledgement { partition, offset };
        let progress = self.partitions.get_mut(partition).ok_or(unknown)?;
        if let Acknowledged::Done { bytes } =
            progress.in_flight.acknowledge(offset).ok_or(unknown)?
        {
            self.in_flight_records -= 1;
            self.in_flight_bytes -= bytes;
        }
        Ok(())
    }

    /// Records that a punctuation of the task reading `partitions` (its partition of each
    /// source topic) made `outputs` outputs: until they are all acknowledged
    /// ([`OffsetTracker::punctuation_acknowledged`] with the returned id), none of those
    /// partitions commits past the last record it consumed before (that record is processed
    /// again after a crash), nor anything if it consumed and committed nothing yet. They count
    /// as one record in flight. `None` when there are no outputs.
    pub fn record_punctuated(
        &mut self,
        partitions: &[SourcePartition],
        outputs: usize,
    ) -> Option<u64> {
        if outputs == 0 {
            return None;
        }
        let points = partitions
            .iter()
            .map(|partition| {
                let progress = self.partitions.entry(*partition);
                let point = progress.hold_point();
                *progress.holds.entry(point).or_insert(0) += 1;
                (*partition, point)
            })
            .collect();
        let id = self.next_hold;
        self.next_hold += 1;
        self.holds.insert(
            id,
            Hold {
                outstanding: outputs,
                points,
            },
        );
        self.in_flight_records += 1;
        Some(id)
    }

    /// Records that one output of punctuation `hold` was acknowledged; the last one releases
    /// its partitions.
    ///
    /// # Errors
    /// [`UnknownHold`] when no punctuation `hold` awaits an acknowledgement.
    pub fn punctuation_acknowledged(&mut self, hold: u64) -> Result<(), UnknownHold> {
        let pending = self.holds.get_mut(&hold).ok_or(UnknownHold(hold))?;
        pending.outstanding -= 1;
        if pending.outstanding > 0 {
            return Ok(());
        }
        let released = self.holds.remove(&hold).ok_or(UnknownHold(hold))?;
        self.in_flight_records -= 1;
        for (partition, point) in released.points {
            // A partition revoked (forgotten) since holds nothing any more.
            if let Some(progress) = self.partitions.get_mut(partition)
                && let Some(count) = progress.holds.get_mut(&point)
            {
                *count -= 1;
                if *count == 0 {
                    progress.holds.remove(&point);
                }
            }
        }
        Ok(())
    }

    /// Offsets to commit now, marked as taken: those that moved since last taken, or all of them.
    pub fn take_commits(&mut self, scope: CommitScope) -> Vec<(SourcePartition, i64)> {
        self.partitions
            .sorted
            .iter_mut()
            .filter_map(|(partition, progress)| {
                let committable = progress.committable()?;
                let wanted = scope == CommitScope::All || progress.committed != Some(committable);
                wanted.then(|| {
                    progress.committed = Some(committable);
                    (*partition, committable)
                })
            })
            .collect()
    }

    /// Records that committing `offset` of `partition` failed: unless a later commit was taken
    /// since, the next [`CommitScope::Changed`] commit offers it again.
    pub fn commit_failed(&mut self, partition: SourcePartition, offset: i64) {
        if let Some(progress) = self.partitions.get_mut(partition)
            && progress.committed == Some(offset)
        {
            progress.committed = None;
        }
    }

    /// The committable offset of `partition`, if it consumed anything.
    pub fn committable(&self, partition: SourcePartition) -> Option<i64> {
        self.partitions.get(partition)?.committable()
    }

    /// Forgets `partition` (after it was revoked and its offsets committed).
    pub fn forget(&mut self, partition: SourcePartition) {
        if let Some(progress) = self.partitions.remove(partition) {
            let (records, bytes) = progress.in_flight.outstanding();
            self.in_flight_records -= records;
            self.in_flight_bytes -= bytes;
        }
    }

    /// Records with at least one unacknowledged output.
    pub fn in_flight_records(&self) -> usize {
        self.in_flight_records
    }

    /// Input bytes of the records with at least one unacknowledged output.
    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P0: SourcePartition = SourcePartition {
        topic: 0,
        partition: 0,
    };
    const P1: SourcePartition = SourcePartition {
        topic: 0,
        partition: 1,
    };
    /// Partition 0 of a second source topic.
    const OTHER_TOPIC: SourcePartition = SourcePartition {
        topic: 1,
        partition: 0,
    };

    #[test]
    fn a_failed_commit_is_offered_again_unless_a_later_one_was_taken() {
        let mut tracker = OffsetTracker::new();
        tracker.record_consumed(P0, 4, 0, 10);
        tracker.record_consumed(P1, 7, 0, 10);
        assert_eq!(
            tracker.take_commits(CommitScope::Changed),
            vec![(P0, 5), (P1, 8)]
        );
        assert!(tracker.take_commits(CommitScope::Changed).is_empty());

        tracker.commit_failed(P0, 5);
        assert_eq!(tracker.take_commits(CommitScope::Changed), vec![(P0, 5)]);

        // P1 moved on and its later commit was taken: the earlier failure changes nothing.
        tracker.record_consumed(P1, 8, 0, 10);
        assert_eq!(tracker.take_commits(CommitScope::Changed), vec![(P1, 9)]);
        tracker.commit_failed(P1, 8);
        assert!(tracker.take_commits(CommitScope::Changed).is_empty());
        // A partition forgotten (revoked) in the meantime is ignored.
        tracker.forget(P0);
        tracker.commit_failed(P0, 5);
        assert!(tracker.take_commits(CommitScope::Changed).is_empty());
    }

    #[test]
    fn commit_waits_for_the_first_unacknowledged_record() {
        let mut tracker = OffsetTracker::new();
        tracker.record_consumed(P0, 10, 2, 100);
        tracker.record_consumed(P0, 11, 1, 50);
        tracker.record_consumed(P0, 12, 0, 10);
        assert_eq!(tracker.committable(P0), Some(10));
        assert_eq!(
            (tracker.in_flight_records(), tracker.in_flight_bytes()),
            (2, 150)
        );

        // Acks out of order: the later record is done, the first is not.
        tracker.output_acknowledged(P0, 11).expect("known");
        tracker.output_acknowledged(P0, 10).expect("known");
        assert_eq!(tracker.committable(P0), Some(10));
        tracker.output_acknowledged(P0, 10).expect("known");
        assert_eq!(tracker.committable(P0), Some(13));
        assert_eq!(
            (tracker.in_flight_records(), tracker.in_flight_bytes()),
            (0, 0)
        );
    }

    // Test cases alike in shape: each drives the tracker through another sequence.
    #[test]
    fn a_position_moving_backwards_keeps_the_commit_behind_every_unacknowledged_record() {
        let mut tracker = OffsetTracker::new();
        tracker.record_consumed(P0, 100, 1, 1);
        tracker.record_consumed(P0, 101, 0, 1);
        // An offset reset re-delivers from 40 while 100 still awaits its acknowledgement.
        tracker.record_consumed(P0, 40, 0, 1);
        assert_eq!(tracker.committable(P0), Some(41));
        tracker.record_consumed(P0, 41, 1, 1);
        assert_eq!(tracker.committable(P0), Some(41));
        tracker.output_acknowledged(P0, 41).expect("known");
        assert_eq!(tracker.committable(P0), Some(42));
        // Consumed again while in flight: both deliveries' outputs are awaited.
        tracker.record_consumed(P0, 100, 1, 1);
        tracker.output_acknowledged(P0, 100).expect("known");
        assert_eq!(tracker.committable(P0), Some(100));
        tracker.output_acknowledged(P0, 100).expect("known");
        assert_eq!(tracker.committable(P0), Some(101));
        assert_eq!(
            (tracker.in_flight_records(), tracker.in_flight_bytes()),
            (0, 0)
        );
    }

    #[test]
    fn take_commits_reports_each_move_once_per_partition() {
        let mut tracker = OffsetTracker::new();
        tracker.record_consumed(P0, 0, 1, 1);
        tracker.record_consumed(P1, 5, 0, 1);
        assert_eq!(
            tracker.take_commits(CommitScope::Changed),
            vec![(P0, 0), (P1, 6)]
        );
        assert_eq!(tracker.take_commits(CommitScope::Changed), vec![]);
        tracker.output_acknowledged(P0, 0).expect("known");
        assert_eq!(tracker.take_commits(CommitScope::Changed), vec![(P0, 1)]);
        assert_eq!(
            tracker.take_commits(CommitScope::All),
            vec![(P0, 1), (P1, 6)]
        );
    }

    #[test]
    fn unknown_and_surplus_acknowledgements_are_refused() {
        let mut tracker = OffsetTracker::new();
        assert!(tracker.output_acknowledged(P0, 3).is_err());
        tracker.record_consumed(P0, 3, 1, 1);
        assert!(tracker.output_acknowledged(P0, 4).is_err());
        tracker.output_acknowledged(P0, 3).expect("known");
        assert!(tracker.output_acknowledged(P0, 3).is_err());
    }

    #[test]
    fn a_punctuation_holds_its_tasks_partitions_at_their_last_record_until_acknowledged() {
        let mut tracker = OffsetTracker::new();
        assert_eq!(tracker.record_punctuated(&[P0, OTHER_TOPIC], 0), None);
        tracker.record_consumed(P0, 9, 0, 1);
        let hold = tracker
            .record_punctuated(&[P0, OTHER_TOPIC], 2)
            .expect("outputs");
        assert_eq!(tracker.in_flight_records(), 1);
        // Records after the punctuation do not move the commit past the last one before it.
        tracker.record_consumed(P0, 10, 0, 1);
        tracker.record_consumed(OTHER_TOPIC, 0, 0, 1);
        assert_eq!(tracker.committable(P0), Some(9));
        assert_eq!(tracker.committable(OTHER_TOPIC), None, "nothing before");
        // Another partition of the worker (another task) is not held.
        tracker.record_consumed(P1, 3, 0, 1);
        assert_eq!(tracker.committable(P1), Some(4));
        tracker.punctuation_acknowledged(hold).expect("known");
        assert_eq!(tracker.committable(P0), Some(9));
        tracker.punctuation_acknowledged(hold).expect("known");
        assert_eq!(tracker.committable(P0), Some(11));
        assert_eq!(tracker.committable(OTHER_TOPIC), Some(1));
        assert_eq!(tracker.in_flight_records(), 0);
        assert_eq!(
            tracker.punctuation_acknowledged(hold),
            Err(UnknownHold(hold))
        );
        // Already committed further than the last record: the hold never commits backwards.
        assert_eq!(tracker.take_commits(CommitScope::All)[0], (P0, 11));
        let hold = tracker.record_punctuated(&[P0], 1).expect("outputs");
        tracker.record_consumed(P0, 11, 0, 1);
        assert_eq!(tracker.committable(P0), Some(11));
        tracker.forget(P0);
        tracker
            .punctuation_acknowledged(hold)
            .expect("known after a revocation too");
        assert_eq!(tracker.in_flight_records(), 0);
    }

    #[test]
    fn forgetting_a_partition_releases_its_in_flight_budget() {
        let mut tracker = OffsetTracker::new();
        tracker.record_consumed(P0, 0, 3, 40);
        tracker.record_consumed(P1, 0, 1, 2);
        tracker.forget(P0);
        assert_eq!(
            (tracker.in_flight_records(), tracker.in_flight_bytes()),
            (1, 2)
        );
        assert_eq!(tracker.committable(P0), None);
    }

    #[test]
    fn commits_come_in_partition_order_whatever_order_partitions_were_first_seen_in() {
        let mut tracker = OffsetTracker::new();
        tracker.record_consumed(OTHER_TOPIC, 3, 0, 1);
        tracker.record_consumed(P1, 2, 0, 1);
        tracker.record_consumed(P0, 1, 0, 1);
        assert_eq!(
            tracker.take_commits(CommitScope::All),
            vec![(P0, 2), (P1, 3), (OTHER_TOPIC, 4)]
        );
        tracker.forget(P1);
        assert_eq!(
            tracker.take_commits(CommitScope::All),
            vec![(P0, 2), (OTHER_TOPIC, 4)]
        );
    }
}
