//! At-least-once offset bookkeeping, pure: which input offsets may be committed.
//!
//! Every consumed record enters its partition's queue with the number of outputs it produced; each
//! acknowledged output decrements that count. The committable offset of a partition is the first
//! record that still has unacknowledged outputs (or one past the last consumed record when none
//! has), so a commit never covers a record whose outputs could still be lost.

use std::collections::{HashMap, VecDeque};

/// A source partition, with its topic as an index into the runtime's source-topic list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourcePartition {
    /// Index of the topic in the runtime's source topics.
    pub topic: usize,
    /// Partition number.
    pub partition: i32,
}

#[derive(Debug)]
struct InFlightRecord {
    offset: i64,
    outstanding_outputs: usize,
    bytes: usize,
}

#[derive(Debug, Default)]
struct PartitionProgress {
    in_flight: VecDeque<InFlightRecord>,
    /// One past the last record consumed, once one was.
    consumed_up_to: Option<i64>,
    /// The offset last handed out for commit.
    committed: Option<i64>,
}

impl PartitionProgress {
    fn committable(&self) -> Option<i64> {
        match self.in_flight.front() {
            Some(first) => Some(first.offset),
            None => self.consumed_up_to,
        }
    }
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

/// In-flight records and committable offsets of every partition a worker owns.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<SourcePartition, PartitionProgress>,
    in_flight_records: usize,
    in_flight_bytes: usize,
}

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

    /// Records that `offset` of `partition` was consumed and produced `outputs` records.
    /// Offsets of a partition must arrive in increasing order (as a consumer delivers them).
    pub fn record_consumed(
        &mut self,
        partition: SourcePartition,
        offset: i64,
        outputs: usize,
        bytes: usize,
    ) {
        let progress = self.partitions.entry(partition).or_default();
        progress.consumed_up_to = Some(offset + 1);
        if outputs > 0 {
            progress.in_flight.push_back(InFlightRecord {
                offset,
                outstanding_outputs: outputs,
                bytes,
            });
            self.in_flight_records += 1;
            self.in_flight_bytes += bytes;
        }
    }

    /// Records that one output of the record at `offset` of `partition` was acknowledged.
    pub fn output_acknowledged(
        &mut self,
        partition: SourcePartition,
        offset: i64,
    ) -> Result<(), UnknownAcknowledgement> {
        let unknown = UnknownAcknowledgement { partition, offset };
        let progress = self.partitions.get_mut(&partition).ok_or(unknown)?;
        let index = progress
            .in_flight
            .binary_search_by_key(&offset, |record| record.offset)
            .map_err(|_| unknown)?;
        let record = &mut progress.in_flight[index];
        record.outstanding_outputs = record.outstanding_outputs.checked_sub(1).ok_or(unknown)?;
        while progress
            .in_flight
            .front()
            .is_some_and(|first| first.outstanding_outputs == 0)
        {
            if let Some(done) = progress.in_flight.pop_front() {
                self.in_flight_records -= 1;
                self.in_flight_bytes -= done.bytes;
            }
        }
        Ok(())
    }

    /// Offsets to commit now, marked as taken: those that moved since last taken, or all of them.
    pub fn take_commits(&mut self, scope: CommitScope) -> Vec<(SourcePartition, i64)> {
        let mut commits: Vec<_> = self
            .partitions
            .iter_mut()
            .filter_map(|(partition, progress)| {
                let committable = progress.committable()?;
                let wanted = scope == CommitScope::All || progress.committed != Some(committable);
                wanted.then(|| {
                    progress.committed = Some(committable);
                    (*partition, committable)
                })
            })
            .collect();
        commits.sort_unstable();
        commits
    }

    /// The committable offset of `partition`, if it consumed anything.
    pub fn committable(&self, partition: SourcePartition) -> Option<i64> {
        self.partitions.get(&partition)?.committable()
    }

    /// Forgets `partition` (after it was revoked and its offsets committed).
    pub fn forget(&mut self, partition: SourcePartition) {
        if let Some(progress) = self.partitions.remove(&partition) {
            self.in_flight_records -= progress.in_flight.len();
            self.in_flight_bytes -= progress
                .in_flight
                .iter()
                .map(|record| record.bytes)
                .sum::<usize>();
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
}
