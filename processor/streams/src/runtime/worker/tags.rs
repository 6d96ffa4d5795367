//! The tags of the outputs handed to the producer and not yet reported on, in a slab: each
//! output carries its slot's index as librdkafka's delivery opaque (a plain `usize`), not a
//! `Box` of its own, and a slot freed by a delivery report is the next output's. The slab grows
//! to the most outputs in flight at once and keeps that size.

use super::produce::OutputTag;

/// Output tags by the index their delivery reports carry.
#[derive(Debug, Default)]
pub(super) struct OutputTags {
    slots: Vec<Option<OutputTag>>,
    /// Indices of the empty slots, the last freed on top.
    free: Vec<usize>,
}

impl OutputTags {
    /// Stores `tag`; returns the index its delivery report names.
    pub(super) fn insert(&mut self, tag: OutputTag) -> usize {
        match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(tag);
                index
            }
            None => {
                self.slots.push(Some(tag));
                self.slots.len() - 1
            }
        }
    }

    /// Takes the tag stored at `index`, freeing its slot; `None` if no tag is stored there.
    pub(super) fn take(&mut self, index: usize) -> Option<OutputTag> {
        let tag = self.slots.get_mut(index)?.take()?;
        self.free.push(index);
        Some(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::offsets::SourcePartition;

    fn tag(offset: i64) -> OutputTag {
        OutputTag {
            source: SourcePartition {
                topic: 0,
                partition: 0,
            },
            offset,
            attempt: 0,
            store: None,
            punctuation: None,
        }
    }

    #[test]
    fn freed_slots_are_reused_so_the_slab_stays_at_the_most_in_flight() {
        let mut tags = OutputTags::default();
        let first: Vec<usize> = (0..3).map(|offset| tags.insert(tag(offset))).collect();
        assert_eq!(first, vec![0, 1, 2]);
        assert_eq!(tags.take(1).map(|tag| tag.offset), Some(1));
        assert_eq!(tags.take(0).map(|tag| tag.offset), Some(0));
        // The slots freed are taken again, the last freed first; no new slot.
        assert_eq!(tags.insert(tag(3)), 0);
        assert_eq!(tags.insert(tag(4)), 1);
        assert_eq!(tags.insert(tag(5)), 3);
        assert_eq!(tags.slots.len(), 4);
        for (index, offset) in [(0, 3), (1, 4), (2, 2), (3, 5)] {
            assert_eq!(tags.take(index).map(|tag| tag.offset), Some(offset));
        }
        // Many rounds of one output in flight at a time use one slot.
        for offset in 0..1000 {
            let index = tags.insert(tag(offset));
            assert_eq!(tags.take(index).map(|tag| tag.offset), Some(offset));
        }
        assert_eq!(tags.slots.len(), 4);
    }

    #[test]
    fn a_report_for_an_empty_or_unknown_slot_takes_nothing() {
        let mut tags = OutputTags::default();
        assert!(tags.take(0).is_none());
        let index = tags.insert(tag(7));
        assert_eq!(tags.take(index).map(|tag| tag.offset), Some(7));
        assert!(tags.take(index).is_none(), "taken twice");
        assert!(tags.take(index + 1).is_none());
        // The slot taken twice was freed once: it is handed out once.
        assert_eq!(tags.insert(tag(8)), index);
        assert_eq!(tags.insert(tag(9)), index + 1);
    }
}
