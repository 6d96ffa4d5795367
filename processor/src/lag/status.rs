//! Burrow's consumer lag evaluation, pure: a window of observations of one partition in, a
//! status out; partition statuses in, the group's status out.
//!
//! The rules follow Burrow's "Consumer Lag Evaluation Rules", checked in this order over the
//! window (oldest observation first):
//!
//! 1. the committed offset moved backwards between two observations → [`PartitionStatus::Rewind`];
//! 2. the lag was zero in any observation → [`PartitionStatus::Ok`];
//! 3. no consumer owns the partition now and the committed offset did not change over the
//!    window → [`PartitionStatus::Stop`];
//! 4. with fewer than two observations nothing more can be told → [`PartitionStatus::Ok`];
//! 5. the committed offset did not change and the lag never decreased → [`PartitionStatus::Stall`];
//! 6. the committed offset moved but the lag never decreased → [`PartitionStatus::Warn`];
//! 7. otherwise (the lag went down at least once) → [`PartitionStatus::Ok`].
//!
//! Burrow tells a stopped consumer (no commits) from a stalled one (commits of the same offset)
//! by the commit timestamps it reads from `__consumer_offsets`. The standard OffsetFetch API
//! gives no timestamps, so here a partition is stopped when the group has no member consuming
//! it, and stalled when a member owns it but its committed offset stands still.

use serde::Serialize;

/// One observation of a partition: where the group is, where the log is, whether a member
/// of the group consumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The group's committed offset, `None` when it never committed on this partition.
    pub committed: Option<i64>,
    /// The partition's first offset (low watermark).
    pub log_start: i64,
    /// The partition's end offset (high watermark).
    pub log_end: i64,
    /// Whether a member of the group is assigned this partition.
    pub has_consumer: bool,
}

impl Observation {
    /// The lag as `kafka-consumer-groups` shows it: end offset minus committed offset, `None`
    /// without a committed offset. A committed offset ahead of the end offset (a broker
    /// answering with a stale end offset) counts as lag 0, as Burrow does.
    pub fn lag(&self) -> Option<i64> {
        self.committed
            .map(|committed| (self.log_end - committed).max(0))
    }

    /// Records the group still has to consume: the lag, or without a committed offset every
    /// record of the partition (a new group starts from the earliest offset).
    pub fn backlog(&self) -> i64 {
        (self.log_end - self.committed.unwrap_or(self.log_start)).max(0)
    }
}

/// A partition's status, Burrow's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PartitionStatus {
    /// Caught up at some point of the window, or catching up.
    Ok,
    /// Consuming, but the lag never decreased over the window.
    Warn,
    /// A member owns the partition but its committed offset stood still while lag remained.
    Stall,
    /// No member consumes the partition, its committed offset stood still, and lag remains.
    Stop,
    /// The committed offset went backwards.
    Rewind,
}

impl PartitionStatus {
    /// The name shown in tables and JSON (`OK`, `WARN`, `STALL`, `STOP`, `REWIND`).
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionStatus::Ok => "OK",
            PartitionStatus::Warn => "WARN",
            PartitionStatus::Stall => "STALL",
            PartitionStatus::Stop => "STOP",
            PartitionStatus::Rewind => "REWIND",
        }
    }

    /// What this partition status makes of its group.
    pub fn group_status(self) -> GroupStatus {
        match self {
            PartitionStatus::Ok => GroupStatus::Ok,
            PartitionStatus::Warn => GroupStatus::Warn,
            PartitionStatus::Stall | PartitionStatus::Stop | PartitionStatus::Rewind => {
                GroupStatus::Err
            }
        }
    }
}

/// A group's status: the worst of its partitions'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupStatus {
    /// Every partition is OK.
    Ok,
    /// Some partition is WARN, none worse.
    Warn,
    /// Some partition is STALL, STOP or REWIND.
    Err,
}

impl GroupStatus {
    /// The name shown in tables and JSON (`OK`, `WARN`, `ERR`).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Ok => "OK",
            GroupStatus::Warn => "WARN",
            GroupStatus::Err => "ERR",
        }
    }

    /// The worst group status of `partitions`; `OK` for none.
    pub fn of(partitions: impl IntoIterator<Item = PartitionStatus>) -> GroupStatus {
        partitions
            .into_iter()
            .map(PartitionStatus::group_status)
            .max()
            .unwrap_or(GroupStatus::Ok)
    }
}

/// The status of a partition from its `window` of observations, oldest first; `None` for an
/// empty window.
pub fn evaluate(window: &[Observation]) -> Option<PartitionStatus> {
    let (first, last) = (window.first()?, window.last()?);
    let pairs = || window.iter().zip(window.iter().skip(1));
    let rewound = pairs().any(
        |(before, after)| match (before.committed, after.committed) {
            (Some(before), Some(after)) => after < before,
            (Some(_), None) => true,
            _ => false,
        },
    );
    if rewound {
        return Some(PartitionStatus::Rewind);
    }
    if window.iter().any(|observation| observation.backlog() == 0) {
        return Some(PartitionStatus::Ok);
    }
    let committed_moved = first.committed != last.committed;
    if !last.has_consumer && !committed_moved {
        return Some(PartitionStatus::Stop);
    }
    if window.len() < 2 {
        return Some(PartitionStatus::Ok);
    }
    let lag_never_decreased = pairs().all(|(before, after)| after.backlog() >= before.backlog());
    Some(match (committed_moved, lag_never_decreased) {
        (_, false) => PartitionStatus::Ok,
        (false, true) => PartitionStatus::Stall,
        (true, true) => PartitionStatus::Warn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An observation of a partition starting at 0 with a consumer.
    fn seen(committed: i64, log_end: i64) -> Observation {
        Observation {
            committed: Some(committed),
            log_start: 0,
            log_end,
            has_consumer: true,
        }
    }

    fn orphan(observation: Observation) -> Observation {
        Observation {
            has_consumer: false,
            ..observation
        }
    }

    #[test]
    fn an_empty_window_has_no_status() {
        assert_eq!(evaluate(&[]), None);
    }

    #[test]
    fn lag_is_end_minus_committed_and_never_negative() {
        assert_eq!(seen(40, 100).lag(), Some(60));
        assert_eq!(seen(100, 100).lag(), Some(0));
        assert_eq!(seen(120, 100).lag(), Some(0), "a stale end offset");
        let fresh = Observation {
            committed: None,
            log_start: 30,
            log_end: 100,
            has_consumer: true,
        };
        assert_eq!(fresh.lag(), None);
        assert_eq!(
            fresh.backlog(),
            70,
            "a new group starts from the earliest offset"
        );
    }

    #[test]
    fn zero_lag_anywhere_in_the_window_is_ok() {
        let window = [seen(10, 10), seen(10, 50), seen(10, 90)];
        assert_eq!(evaluate(&window), Some(PartitionStatus::Ok));
        let last_only = [orphan(seen(0, 90)), orphan(seen(90, 90))];
        assert_eq!(evaluate(&last_only), Some(PartitionStatus::Ok));
    }

    #[test]
    fn an_empty_partition_never_committed_is_ok() {
        let window = [Observation {
            committed: None,
            log_start: 0,
            log_end: 0,
            has_consumer: false,
        }];
        assert_eq!(evaluate(&window), Some(PartitionStatus::Ok));
    }

    #[test]
    fn a_committed_offset_going_back_is_rewind_even_at_zero_lag() {
        let window = [seen(50, 60), seen(20, 60), seen(60, 60)];
        assert_eq!(evaluate(&window), Some(PartitionStatus::Rewind));
        let forgotten = [
            seen(50, 60),
            Observation {
                committed: None,
                ..seen(0, 60)
            },
        ];
        assert_eq!(evaluate(&forgotten), Some(PartitionStatus::Rewind));
    }

    #[test]
    fn equal_committed_offsets_are_no_rewind() {
        let window = [seen(50, 60), seen(50, 60)];
        assert_ne!(evaluate(&window), Some(PartitionStatus::Rewind));
    }

    #[test]
    fn no_consumer_and_no_progress_with_lag_is_stop() {
        let window = [
            orphan(seen(40, 100)),
            orphan(seen(40, 120)),
            orphan(seen(40, 120)),
        ];
        assert_eq!(evaluate(&window), Some(PartitionStatus::Stop));
        assert_eq!(
            evaluate(&[orphan(seen(40, 100))]),
            Some(PartitionStatus::Stop),
            "one observation is enough to see nobody consumes"
        );
        let never_committed = Observation {
            committed: None,
            log_start: 0,
            log_end: 5,
            has_consumer: false,
        };
        assert_eq!(evaluate(&[never_committed]), Some(PartitionStatus::Stop));
    }

    #[test]
    fn a_consumer_that_just_left_after_committing_is_judged_by_its_trend() {
        let catching_up = [seen(40, 100), orphan(seen(80, 100))];
        assert_eq!(evaluate(&catching_up), Some(PartitionStatus::Ok));
        let falling_behind = [seen(40, 100), orphan(seen(50, 120))];
        assert_eq!(evaluate(&falling_behind), Some(PartitionStatus::Warn));
    }

    #[test]
    fn one_observation_with_a_consumer_and_lag_is_ok_until_a_trend_shows() {
        assert_eq!(evaluate(&[seen(40, 100)]), Some(PartitionStatus::Ok));
    }

    #[test]
    fn an_owned_partition_whose_offset_stands_still_is_stall() {
        let fixed_lag = [seen(40, 100), seen(40, 100), seen(40, 100)];
        assert_eq!(evaluate(&fixed_lag), Some(PartitionStatus::Stall));
        let growing_lag = [seen(40, 100), seen(40, 130)];
        assert_eq!(evaluate(&growing_lag), Some(PartitionStatus::Stall));
    }

    #[test]
    fn progress_with_a_lag_that_never_decreases_is_warn() {
        let growing = [seen(10, 100), seen(20, 120), seen(30, 140)];
        assert_eq!(evaluate(&growing), Some(PartitionStatus::Warn));
        let steady = [seen(10, 100), seen(20, 110), seen(30, 120)];
        assert_eq!(
            evaluate(&steady),
            Some(PartitionStatus::Warn),
            "a lag that stays the same in every interval is WARN, as in Burrow"
        );
    }

    #[test]
    fn a_lag_that_decreases_once_is_ok() {
        let window = [seen(10, 100), seen(20, 120), seen(45, 125), seen(50, 140)];
        assert_eq!(evaluate(&window), Some(PartitionStatus::Ok));
        let shrinking = [seen(10, 100), seen(60, 100)];
        assert_eq!(evaluate(&shrinking), Some(PartitionStatus::Ok));
    }

    #[test]
    fn group_status_is_the_worst_partition_status() {
        use PartitionStatus::*;
        assert_eq!(GroupStatus::of([]), GroupStatus::Ok);
        assert_eq!(GroupStatus::of([Ok, Ok]), GroupStatus::Ok);
        assert_eq!(GroupStatus::of([Ok, Warn, Ok]), GroupStatus::Warn);
        for bad in [Stall, Stop, Rewind] {
            assert_eq!(
                GroupStatus::of([Warn, bad, Ok]),
                GroupStatus::Err,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_are_burrows() {
        let names: Vec<_> = [
            PartitionStatus::Ok,
            PartitionStatus::Warn,
            PartitionStatus::Stall,
            PartitionStatus::Stop,
            PartitionStatus::Rewind,
        ]
        .map(PartitionStatus::as_str)
        .into();
        assert_eq!(names, ["OK", "WARN", "STALL", "STOP", "REWIND"]);
        assert_eq!(
            serde_json::to_string(&PartitionStatus::Rewind).expect("json"),
            "\"REWIND\""
        );
        assert_eq!(GroupStatus::Err.as_str(), "ERR");
    }
}
