//! A partition's records with unacknowledged outputs, in offset order.

use std::cmp::Ordering;
use std::collections::VecDeque;

/// How many records [`InFlight::position`] walks from its interpolated guess.
const NEAR: usize = 8;

/// How many more done records than records in flight the queue keeps before it drops them.
const DONE_SLACK: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlightRecord {
    offset: i64,
    /// Outputs not yet acknowledged; 0 for a record done while one before it is not.
    outstanding_outputs: usize,
    bytes: usize,
}

/// A partition's records with outputs, in offset order: a record consumed after the last one
/// (every record but those an offset reset re-delivers) is pushed at the back, and
/// acknowledgements find theirs by [`InFlight::position`]. A record whose outputs are all
/// acknowledged stays in place, done, until every record before it is done too (so the front is
/// always the first record with unacknowledged outputs), or until done records outnumber those
/// in flight by [`DONE_SLACK`]: then they are all dropped at once, so a record that stays
/// unacknowledged long (an output retried) does not keep every later one in memory.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    records: VecDeque<InFlightRecord>,
    /// How many of `records` are done.
    done: usize,
}

/// What an acknowledgement did to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Acknowledged {
    /// The record has other outputs outstanding.
    Partly,
    /// It was the record's last output: the record and its bytes are no longer in flight.
    Done {
        /// The record's input bytes.
        bytes: usize,
    },
}

impl InFlight {
    /// The first record with unacknowledged outputs.
    pub(super) fn first(&self) -> Option<i64> {
        self.records.front().map(|record| record.offset)
    }

    /// Where the record at `offset` is, or would be inserted. A new record goes at the back;
    /// an acknowledged one can be anywhere, but offsets spread about evenly over the queue, so
    /// its place interpolated between the first and the last offset is right or a few records
    /// off: a short walk from there finds it, a binary search if not.
    fn position(&self, offset: i64) -> Result<usize, usize> {
        let records = &self.records;
        let (Some(first), Some(last)) = (records.front(), records.back()) else {
            return Err(0);
        };
        if offset > last.offset {
            return Err(records.len());
        }
        if offset <= first.offset {
            return if offset == first.offset {
                Ok(0)
            } else {
                Err(0)
            };
        }
        // first.offset < offset <= last.offset, so the span is positive and the guess in range.
        let span = u128::try_from(last.offset - first.offset).unwrap_or(1);
        let from_first = u128::try_from(offset - first.offset).unwrap_or(0);
        let places = u128::try_from(records.len() - 1).unwrap_or(0);
        let mut index = usize::try_from(from_first * places / span).unwrap_or(0);
        for _ in 0..NEAR {
            match records[index].offset.cmp(&offset) {
                Ordering::Equal => return Ok(index),
                Ordering::Less if records[index + 1].offset > offset => return Err(index + 1),
                Ordering::Less => index += 1,
                Ordering::Greater if records[index - 1].offset < offset => return Err(index),
                Ordering::Greater => index -= 1,
            }
        }
        records.binary_search_by_key(&offset, |record| record.offset)
    }

    /// Adds `outputs` (at least one) and `bytes` to the record at `offset`; returns whether
    /// it was not in flight before.
    pub(super) fn add(&mut self, offset: i64, outputs: usize, bytes: usize) -> bool {
        match self.position(offset) {
            Ok(index) => {
                let record = &mut self.records[index];
                let started = record.outstanding_outputs == 0;
                record.outstanding_outputs += outputs;
                record.bytes += bytes;
                if started {
                    self.done -= 1;
                }
                started
            }
            Err(index) => {
                let record = InFlightRecord {
                    offset,
                    outstanding_outputs: outputs,
                    bytes,
                };
                self.records.insert(index, record);
                true
            }
        }
    }

    /// Acknowledges one output of the record at `offset`; `None` if it has none outstanding.
    pub(super) fn acknowledge(&mut self, offset: i64) -> Option<Acknowledged> {
        let index = self.position(offset).ok()?;
        let record = &mut self.records[index];
        record.outstanding_outputs = record.outstanding_outputs.checked_sub(1)?;
        if record.outstanding_outputs > 0 {
            return Some(Acknowledged::Partly);
        }
        let bytes = std::mem::take(&mut record.bytes);
        self.done += 1;
        while self
            .records
            .front()
            .is_some_and(|record| record.outstanding_outputs == 0)
        {
            self.records.pop_front();
            self.done -= 1;
        }
        if self.done > self.records.len() - self.done + DONE_SLACK {
            self.records.retain(|record| record.outstanding_outputs > 0);
            self.done = 0;
        }
        Some(Acknowledged::Done { bytes })
    }

    /// The records still in flight and their bytes.
    pub(super) fn outstanding(&self) -> (usize, usize) {
        self.records
            .iter()
            .filter(|record| record.outstanding_outputs > 0)
            .fold((0, 0), |(records, bytes), record| {
                (records + 1, bytes + record.bytes)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_flight_queue_keeps_done_records_until_those_before_them_are_done() {
        let mut queue = InFlight::default();
        for offset in 10..15 {
            assert!(queue.add(offset, 1, 10), "new record {offset}");
        }
        // Out of order: 12 and 14 done first stay in place, behind 10.
        assert_eq!(
            queue.acknowledge(12),
            Some(Acknowledged::Done { bytes: 10 })
        );
        assert_eq!(
            queue.acknowledge(14),
            Some(Acknowledged::Done { bytes: 10 })
        );
        assert_eq!(queue.acknowledge(12), None, "surplus acknowledgement");
        assert_eq!((queue.first(), queue.outstanding()), (Some(10), (3, 30)));
        // 10 done: the front moves to 11, the first record still in flight.
        assert_eq!(
            queue.acknowledge(10),
            Some(Acknowledged::Done { bytes: 10 })
        );
        assert_eq!((queue.first(), queue.records.len()), (Some(11), 4));
        // 11 done: the done 12 behind it leaves too, 13 is the front.
        assert_eq!(
            queue.acknowledge(11),
            Some(Acknowledged::Done { bytes: 10 })
        );
        assert_eq!((queue.first(), queue.records.len()), (Some(13), 2));
        // A done record consumed again is in flight again, with its new bytes only.
        assert!(queue.add(14, 2, 7));
        assert!(!queue.add(14, 1, 3), "already in flight");
        assert_eq!(queue.outstanding(), (2, 20));
        assert_eq!(queue.acknowledge(14), Some(Acknowledged::Partly));
        assert_eq!(
            queue.acknowledge(13),
            Some(Acknowledged::Done { bytes: 10 })
        );
        assert_eq!(queue.first(), Some(14));
        assert_eq!(queue.acknowledge(14), Some(Acknowledged::Partly));
        assert_eq!(
            queue.acknowledge(14),
            Some(Acknowledged::Done { bytes: 10 })
        );
        assert_eq!((queue.first(), queue.records.len()), (None, 0));
        assert_eq!(queue.acknowledge(14), None, "nothing in flight");
    }

    #[test]
    fn the_in_flight_queue_takes_an_earlier_offset_in_its_place() {
        let mut queue = InFlight::default();
        queue.add(100, 1, 1);
        queue.add(102, 1, 1);
        // Re-delivered after an offset reset: before the others, in offset order.
        queue.add(40, 1, 1);
        queue.add(101, 1, 1);
        let offsets: Vec<i64> = queue.records.iter().map(|record| record.offset).collect();
        assert_eq!(offsets, vec![40, 100, 101, 102]);
        assert_eq!(
            queue.acknowledge(101),
            Some(Acknowledged::Done { bytes: 1 })
        );
        assert_eq!(queue.acknowledge(40), Some(Acknowledged::Done { bytes: 1 }));
        assert_eq!(queue.first(), Some(100));
        assert_eq!(queue.acknowledge(99), None);
    }

    #[test]
    fn a_record_is_found_wherever_its_offset_lies_however_the_offsets_are_spread() {
        // Evenly spread, in runs with gaps, and skewed (an early offset re-delivered before a
        // dense run, where interpolation guesses far off): every offset from before the first
        // to after the last is found, or placed, as a binary search would.
        let layouts: [Vec<i64>; 4] = [
            (0..50).collect(),
            (0..200)
                .filter(|offset| offset % 5 != 3 && offset % 7 != 0)
                .collect(),
            std::iter::once(3).chain(1000..1100).collect(),
            (0..40).map(|index| index * index).collect(),
        ];
        for offsets in layouts {
            let mut queue = InFlight::default();
            for offset in &offsets {
                queue.add(*offset, 1, 1);
            }
            let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
            for offset in first - 2..=last + 2 {
                let expected = offsets.binary_search(&offset);
                assert_eq!(queue.position(offset), expected, "offset {offset}");
            }
        }
        assert_eq!(InFlight::default().position(5), Err(0));
    }

    #[test]
    fn done_records_behind_a_stuck_one_are_dropped_once_they_outnumber_those_in_flight() {
        let mut queue = InFlight::default();
        queue.add(0, 1, 1);
        // Record 0 stays unacknowledged while many after it are done.
        for offset in 1..=10 * DONE_SLACK as i64 {
            queue.add(offset, 1, 1);
            assert_eq!(
                queue.acknowledge(offset),
                Some(Acknowledged::Done { bytes: 1 })
            );
            assert!(
                queue.records.len() <= DONE_SLACK + 2,
                "{}",
                queue.records.len()
            );
        }
        assert_eq!((queue.first(), queue.outstanding()), (Some(0), (1, 1)));
        // Records in flight behind it are kept, and found, whatever was dropped around them.
        let last = 10 * DONE_SLACK as i64;
        queue.add(last + 1, 2, 1);
        for offset in last + 2..=last + 3 * DONE_SLACK as i64 {
            queue.add(offset, 1, 1);
            queue.acknowledge(offset);
        }
        assert_eq!(queue.outstanding(), (2, 2));
        assert_eq!(queue.acknowledge(last + 1), Some(Acknowledged::Partly));
        assert_eq!(queue.acknowledge(0), Some(Acknowledged::Done { bytes: 1 }));
        assert_eq!(queue.first(), Some(last + 1));
        assert_eq!(
            queue.acknowledge(last + 1),
            Some(Acknowledged::Done { bytes: 1 })
        );
        assert_eq!(
            (queue.first(), queue.records.len(), queue.done),
            (None, 0, 0)
        );
    }
}
