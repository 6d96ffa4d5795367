//! Where the restore of one changelog partition stands, and what its watermarks say about it
//! (pure: the consumer is in `reader.rs`, the loop in `restore.rs`).

use rdkafka::Offset;

/// The restore of one changelog partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Progress {
    /// The store's checkpoint this restore started from; `None`: the changelog's beginning.
    pub(super) checkpoint: Option<i64>,
    /// Where the consumer is to read from, if it is assigned again.
    pub(super) next: Offset,
    /// The next offset to apply: the store reflects the changelog up to it (excluding).
    pub(super) position: i64,
    /// Records applied since the restore started.
    pub(super) restored: u64,
    /// Whether `on_restore_start` was called.
    pub(super) announced: bool,
    /// Whether the partition is at its end (`on_restore_end` was called).
    pub(super) done: bool,
}

/// What a partition's watermarks say about its restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Observed {
    /// No Fetch response yet: its end is not known.
    Unknown,
    /// The checkpoint is past the changelog's end `end`: the store holds what the changelog does
    /// not (the topic was deleted and created again).
    PastEnd {
        /// The store's checkpoint.
        checkpoint: i64,
        /// The changelog's high watermark.
        end: i64,
    },
    /// The end is known.
    Known {
        /// The changelog's high watermark.
        end: i64,
        /// The end was not known before: the restore starts (at `position`).
        starts: bool,
        /// The store is at the end.
        reached: bool,
    },
}

impl Progress {
    /// A restore from the store's `checkpoint`, or from the changelog's beginning.
    pub(super) fn new(checkpoint: Option<i64>) -> Self {
        Progress {
            checkpoint,
            next: checkpoint.map_or(Offset::Beginning, Offset::Offset),
            position: checkpoint.unwrap_or(0),
            restored: 0,
            announced: false,
            done: false,
        }
    }

    /// The record at `offset` was read (applied if `applied`). Returns whether a batch of
    /// `batch` applied records is complete.
    pub(super) fn read(&mut self, offset: i64, applied: bool, batch: u64) -> bool {
        self.position = offset + 1;
        self.next = Offset::Offset(self.position);
        if applied {
            self.restored += 1;
        }
        applied && self.restored.is_multiple_of(batch)
    }

    /// Takes in the `(low, high)` watermarks last fetched. Records below the low watermark were
    /// deleted: there is nothing to wait for there.
    pub(super) fn observe(&mut self, watermarks: Option<(i64, i64)>) -> Observed {
        let Some((low, end)) = watermarks else {
            return Observed::Unknown;
        };
        self.position = self.position.max(low);
        // Brokers answer an offset past the end with an error or with nothing: either way the
        // store holds what the changelog does not.
        if let Some(checkpoint) = self.checkpoint.filter(|checkpoint| *checkpoint > end) {
            return Observed::PastEnd { checkpoint, end };
        }
        let starts = !self.announced;
        self.announced = true;
        Observed::Known {
            end,
            starts,
            reached: self.position >= end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_from_the_beginning_starts_once_and_ends_at_the_high_watermark() {
        let mut progress = Progress::new(None);
        assert_eq!(progress.next, Offset::Beginning);
        assert_eq!(progress.observe(None), Observed::Unknown);
        let first = progress.observe(Some((0, 2)));
        assert_eq!(
            first,
            Observed::Known {
                end: 2,
                starts: true,
                reached: false
            }
        );
        assert!(!progress.read(0, true, 2));
        assert!(
            progress.read(1, true, 2),
            "two applied records make a batch of two"
        );
        assert_eq!(progress.next, Offset::Offset(2));
        let last = progress.observe(Some((0, 2)));
        assert_eq!(
            last,
            Observed::Known {
                end: 2,
                starts: false,
                reached: true
            }
        );
        assert_eq!(progress.restored, 2);
    }

    #[test]
    fn a_keyless_record_moves_the_position_without_counting() {
        let mut progress = Progress::new(Some(5));
        assert!(!progress.read(5, false, 1));
        assert_eq!((progress.position, progress.restored), (6, 0));
    }

    #[test]
    fn deleted_records_below_the_low_watermark_are_not_waited_for() {
        let mut progress = Progress::new(None);
        let observed = progress.observe(Some((7, 7)));
        assert_eq!(
            observed,
            Observed::Known {
                end: 7,
                starts: true,
                reached: true
            }
        );
        assert_eq!(progress.position, 7);
    }

    #[test]
    fn a_checkpoint_past_the_end_is_reported_and_one_at_the_end_is_reached() {
        let mut past = Progress::new(Some(10));
        assert_eq!(past.next, Offset::Offset(10));
        assert_eq!(
            past.observe(Some((0, 4))),
            Observed::PastEnd {
                checkpoint: 10,
                end: 4
            }
        );
        assert!(!past.announced);
        let mut at_end = Progress::new(Some(4));
        let observed = at_end.observe(Some((0, 4)));
        assert_eq!(
            observed,
            Observed::Known {
                end: 4,
                starts: true,
                reached: true
            }
        );
    }
}
