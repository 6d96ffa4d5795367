//! The entries of a store ordered by a time read from each entry (a window's start, a
//! suppressed record's window end), so that expiring or emitting what a new stream time
//! passed visits only those entries, not the whole store.
//!
//! The index is kept in memory beside the store, built from the store on first use (once per
//! task, after its restore), and not logged: the store and its changelog stay the truth.

use std::collections::BTreeSet;

/// Reads the time an entry is indexed by from its key and value; `None` leaves the entry out
/// of the index (a store's reserved entries).
pub(crate) type TimeOf = fn(key: &[u8], value: &[u8]) -> Option<i64>;

/// The keys of one store by time.
#[derive(Debug, Default)]
pub(crate) struct TimeIndex {
    entries: BTreeSet<(i64, Vec<u8>)>,
}

impl TimeIndex {
    /// The index of `entries` (a store's content).
    pub(crate) fn build<'s>(
        entries: impl Iterator<Item = (&'s [u8], &'s [u8])>,
        time_of: TimeOf,
    ) -> Self {
        let entries = entries
            .filter_map(|(key, value)| Some((time_of(key, value)?, key.to_vec())))
            .collect();
        TimeIndex { entries }
    }

    /// Indexes `key` at `time` (a key keeps one time: its window's).
    pub(crate) fn insert(&mut self, time: i64, key: &[u8]) {
        if !self.entries.contains(&(time, key.to_vec())) {
            self.entries.insert((time, key.to_vec()));
        }
    }

    /// Takes the keys indexed at a time before `bound`, oldest first.
    pub(crate) fn take_before(&mut self, bound: i64) -> Vec<Vec<u8>> {
        let later = self.entries.split_off(&(bound, Vec::new()));
        std::mem::replace(&mut self.entries, later)
            .into_iter()
            .map(|(_, key)| key)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(key: &[u8], _: &[u8]) -> Option<i64> {
        let start: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
        Some(i64::from_be_bytes(start))
    }

    fn key(name: &str, time: i64) -> Vec<u8> {
        let mut key = name.as_bytes().to_vec();
        key.extend(time.to_be_bytes());
        key
    }

    #[test]
    fn takes_only_the_keys_before_the_bound_in_time_order() {
        let stored = [(key("b", 20), b"".to_vec()), (b"st".to_vec(), b"".to_vec())];
        let mut index = TimeIndex::build(
            stored
                .iter()
                .map(|(key, value)| (key.as_slice(), value.as_slice())),
            tail,
        );
        index.insert(10, &key("a", 10));
        index.insert(30, &key("a", 30));
        index.insert(10, &key("a", 10));
        assert_eq!(index.take_before(20), [key("a", 10)]);
        assert_eq!(
            index.take_before(i64::MAX),
            [key("b", 20), key("a", 30)],
            "the reserved short key is not indexed"
        );
    }

    #[test]
    fn a_task_rebuilds_its_index_after_a_restore_writes_the_store() {
        use crate::state::{GlobalStores, TaskState};
        let names: std::sync::Arc<[String]> = ["w".to_owned()].into();
        let mut state = TaskState::in_memory(names.clone(), GlobalStores::new(names));
        state.put_timed(0, &key("a", 10), b"1", tail);
        state
            .store_mut(0)
            .expect("store")
            .apply(&key("b", 5), Some(b"2"));
        let removed = state.remove_before(0, 20, tail);
        assert_eq!(
            removed,
            [(key("b", 5), b"2".to_vec()), (key("a", 10), b"1".to_vec())],
            "the restored entry is indexed too"
        );
        assert!(state.store("w").expect("store").is_empty());
    }
}
