//! State stores, pure: what tables and joins keep between records (Kafka Streams' state stores).
//!
//! * [`KeyValueStore`]: the store interface, over serialised keys and values (what serdes write),
//!   so one store type serves every table; [`InMemoryKeyValueStore`] implements it, and
//!   [`PersistentKeyValueStore`] keeps it in a file under the state directory with the changelog
//!   offset it reflects (its checkpoint), so a restart restores only the changelog's tail.
//! * [`TaskState`]: the stores of one task (one input partition, or the one partition of a test
//!   driver), and the changes made to them since the runtime last took them, which it writes to
//!   the stores' changelog topics; and its [`TaskTime`]: stream time and punctuation schedules.
//! * [`GlobalStores`]: the stores of global tables, shared by every task of a process and
//!   written only by whoever reads the global topics.
//!
//! The changelog is the source of truth; a store is a cache that can be rebuilt from it.
//! Restoring applies changelog records with [`KeyValueStore::apply`], which is idempotent: every
//! version of a key and repeated records (a compacted topic may hand out both) end in the
//! latest value.

mod persistent;
mod time;
mod time_index;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

pub use persistent::PersistentKeyValueStore;
pub use time::TaskTime;
use time_index::TimeIndex;
pub(crate) use time_index::TimeOf;

/// Why a store could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store's file cannot be created, read or written.
    #[error("state store file {}: {reason}", path.display())]
    Io {
        /// The store's file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Another process has the store's file open (two instances share a state directory).
    #[error(
        "state store file {} is open in another process: give each instance its own state \
         directory",
        .0.display()
    )]
    Locked(PathBuf),
}

/// A key-value store over serialised keys and values.
pub trait KeyValueStore: Send + Sync + fmt::Debug {
    /// The value of `key`, if present.
    fn get(&self, key: &[u8]) -> Option<&[u8]>;
    /// Sets `key` to `value`.
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// Removes `key`.
    fn delete(&mut self, key: &[u8]);
    /// Entries, in key order.
    fn entries(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_>;
    /// Number of entries.
    fn len(&self) -> usize;
    /// Whether the store is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Applies one changelog record: a value sets the key, `None` (a tombstone) removes it.
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        match value {
            Some(value) => self.put(key, value),
            None => self.delete(key),
        }
    }
    /// The changelog offset a restore continues from, if the store kept one (a persistent
    /// store); `None`: from the changelog's beginning.
    fn checkpoint(&self) -> Option<i64> {
        None
    }
    /// Makes the content durable, recording that it reflects the changelog up to (excluding)
    /// `changelog_position`. A no-op for a store that keeps nothing.
    ///
    /// # Errors
    /// [`StoreError`] when the store's file cannot be written.
    fn flush(&mut self, changelog_position: i64) -> Result<(), StoreError> {
        let _ = changelog_position;
        Ok(())
    }
    /// Removes every entry and the checkpoint (before a restore from the changelog's beginning).
    ///
    /// # Errors
    /// [`StoreError`] when the store's file cannot be written.
    fn wipe(&mut self) -> Result<(), StoreError>;
}

/// A store in memory, ordered by key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InMemoryKeyValueStore {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl KeyValueStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries.get(key).map(Vec::as_slice)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) {
        match self.entries.get_mut(key) {
            Some(existing) => {
                existing.clear();
                existing.extend_from_slice(value);
            }
            None => {
                self.entries.insert(key.to_vec(), value.to_vec());
            }
        }
    }

    fn delete(&mut self, key: &[u8]) {
        self.entries.remove(key);
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        Box::new(
            self.entries
                .iter()
                .map(|(key, value)| (key.as_slice(), value.as_slice())),
        )
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn wipe(&mut self) -> Result<(), StoreError> {
        self.entries.clear();
        Ok(())
    }
}

/// The changelog topic of store `store` of application `application_id`, as Kafka Streams
/// names it: `<application id>-<store>-changelog`.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// The directory of task `partition`'s stores under `state_dir`, as Kafka Streams lays it out:
/// `<state dir>/<application id>/0_<partition>` (sub-topology 0: one task per partition).
pub fn task_directory(state_dir: &Path, application_id: &str, partition: i32) -> PathBuf {
    state_dir
        .join(application_id)
        .join(format!("0_{partition}"))
}

/// A store a topology declares: its name and whether it is global.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    /// The store's name (`address-STATE-STORE-0000000000`), unique in the topology; its
    /// changelog topic is `<application id>-<name>-changelog`.
    pub name: String,
    /// Global stores hold every partition of their topic in every instance, and have no
    /// changelog: their source topic is their log.
    pub global: bool,
    /// The topic the store materialises, for a table read straight from a topic.
    pub source_topic: Option<String>,
    /// For a window store, how long (in milliseconds of stream time) a window is kept after
    /// its start: its changelog is then compacted and deleted (`compact,delete`) with a
    /// retention above it. `None` for a key-value store.
    pub window_retention_ms: Option<i64>,
}

/// One change to a task's store, for its changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreChange {
    /// The store's index among the topology's local stores ([`TaskState::store_names`]).
    pub store: usize,
    /// The serialised key.
    pub key: Vec<u8>,
    /// The serialised value, or `None` for a deletion (a tombstone in the changelog).
    pub value: Option<Vec<u8>>,
}

/// The local stores of one task and the changes not yet taken for their changelogs.
#[derive(Debug)]
pub struct TaskState {
    names: Arc<[String]>,
    stores: Vec<Box<dyn KeyValueStore>>,
    /// Per store, the changelog offset its content reflects (the next one to read), once known:
    /// from a restore, then from each acknowledged changelog write.
    positions: Vec<Option<i64>>,
    changes: Vec<StoreChange>,
    globals: GlobalStores,
    /// Per store, its entries by time, for the stores read by time (window stores, suppression
    /// buffers): built on first use.
    time_indexes: Vec<Option<TimeIndex>>,
    dropped_without_key: u64,
    time: TaskTime,
    dropped_late: u64,
}

impl TaskState {
    /// In-memory stores named `names`, reading the global stores `globals`.
    pub fn in_memory(names: Arc<[String]>, globals: GlobalStores) -> Self {
        let stores = names
            .iter()
            .map(|_| Box::new(InMemoryKeyValueStore::default()) as Box<dyn KeyValueStore>)
            .collect();
        Self::with_stores(names, stores, globals)
    }

    /// Persistent stores named `names`, each in `<directory>/<name>.redb` (see
    /// [`task_directory`]), reading the global stores `globals`.
    ///
    /// # Errors
    /// [`StoreError`] naming the file that cannot be opened.
    pub fn persistent(
        names: Arc<[String]>,
        globals: GlobalStores,
        directory: &Path,
    ) -> Result<Self, StoreError> {
        let stores = names
            .iter()
            .map(|name| {
                PersistentKeyValueStore::open(&directory.join(format!("{name}.redb")))
                    .map(|store| Box::new(store) as Box<dyn KeyValueStore>)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::with_stores(names, stores, globals))
    }

    fn with_stores(
        names: Arc<[String]>,
        stores: Vec<Box<dyn KeyValueStore>>,
        globals: GlobalStores,
    ) -> Self {
        TaskState {
            positions: vec![None; stores.len()],
            time_indexes: stores.iter().map(|_| None).collect(),
            names,
            stores,
            changes: Vec::new(),
            globals,
            dropped_without_key: 0,
            time: TaskTime::default(),
            dropped_late: 0,
        }
    }

    /// The names of the local stores, by index.
    pub fn store_names(&self) -> &[String] {
        &self.names
    }

    /// The local store called `name`.
    pub fn store(&self, name: &str) -> Option<&dyn KeyValueStore> {
        let index = self.names.iter().position(|known| known == name)?;
        Some(self.stores[index].as_ref())
    }

    /// The local store at `index`, to restore it from its changelog without recording changes
    /// (its time index, if any, is rebuilt on next use).
    pub fn store_mut(&mut self, index: usize) -> Option<&mut (dyn KeyValueStore + 'static)> {
        if let Some(time_index) = self.time_indexes.get_mut(index) {
            *time_index = None;
        }
        self.stores.get_mut(index).map(Box::as_mut)
    }

    /// Records that local store `store` reflects its changelog up to (excluding) `position`:
    /// after a restore, or when a changelog write at `position - 1` was acknowledged.
    pub fn changelog_position_reached(&mut self, store: usize, position: i64) {
        if let Some(known) = self.positions.get_mut(store) {
            *known = Some(known.map_or(position, |known| known.max(position)));
        }
    }

    /// Makes every local store durable with the changelog position it reflects (a checkpoint),
    /// as Kafka Streams flushes its stores and writes its checkpoint file on commit. A store
    /// whose position is not known yet is left as it is.
    ///
    /// # Errors
    /// The first store that cannot be written.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        for (store, position) in self.stores.iter_mut().zip(&self.positions) {
            if let Some(position) = position {
                store.flush(*position)?;
            }
        }
        Ok(())
    }

    /// The global stores this task reads.
    pub fn globals(&self) -> &GlobalStores {
        &self.globals
    }

    /// The changes made since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<StoreChange> {
        std::mem::take(&mut self.changes)
    }

    /// Records dropped because a join or an aggregation needs a key and they had none.
    pub fn dropped_without_key(&self) -> u64 {
        self.dropped_without_key
    }

    /// The task's stream time: the largest timestamp of the records it processed (or, for a
    /// topology that advances quiet tasks by the wall clock, that time since); `None` before
    /// its first record.
    pub fn stream_time(&self) -> Option<i64> {
        self.time.stream_time()
    }

    /// The task's time: stream time and punctuation schedules.
    pub fn time(&self) -> &TaskTime {
        &self.time
    }

    pub(crate) fn time_mut(&mut self) -> &mut TaskTime {
        &mut self.time
    }

    /// Records a windowed aggregation dropped because every window they belong to had closed
    /// (Kafka Streams' dropped-records sensor for late records).
    pub fn dropped_late(&self) -> u64 {
        self.dropped_late
    }

    pub(crate) fn get(&self, store: usize, key: &[u8]) -> Option<&[u8]> {
        self.stores.get(store)?.get(key)
    }

    /// Applies a change to local store `store` and records it for the changelog.
    pub(crate) fn apply(&mut self, store: usize, key: &[u8], value: Option<&[u8]>) {
        if let Some(target) = self.stores.get_mut(store) {
            target.apply(key, value);
            self.changes.push(StoreChange {
                store,
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
            });
        }
    }

    pub(crate) fn count_dropped_without_key(&mut self) {
        self.dropped_without_key += 1;
    }

    pub(crate) fn count_dropped_late(&mut self) {
        self.dropped_late += 1;
    }

    /// Sets `key` to `value` in store `store` (recorded for the changelog) and indexes it by
    /// `time_of`, which must be the same function for every call on one store.
    pub(crate) fn put_timed(&mut self, store: usize, key: &[u8], value: &[u8], time_of: TimeOf) {
        self.apply(store, key, Some(value));
        if let (Some(time), Some(index)) = (time_of(key, value), self.time_index(store, time_of)) {
            index.insert(time, key);
        }
    }

    /// Removes from store `store` (tombstones for the changelog) the entries whose time by
    /// `time_of` is before `bound`, and returns them, oldest first: the work is the entries
    /// removed, not the store's size.
    pub(crate) fn remove_before(
        &mut self,
        store: usize,
        bound: i64,
        time_of: TimeOf,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let keys = self
            .time_index(store, time_of)
            .map(|index| index.take_before(bound))
            .unwrap_or_default();
        let mut removed = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(value) = self.get(store, &key).map(<[u8]>::to_vec) {
                self.apply(store, &key, None);
                removed.push((key, value));
            }
        }
        removed
    }

    /// The time index of store `store`, built from its content on first use.
    fn time_index(&mut self, store: usize, time_of: TimeOf) -> Option<&mut TimeIndex> {
        let entries = self.stores.get(store)?;
        let index = self.time_indexes.get_mut(store)?;
        Some(index.get_or_insert_with(|| TimeIndex::build(entries.entries(), time_of)))
    }
}

/// The stores of the global tables, shared by every task of a process.
#[derive(Debug, Clone)]
pub struct GlobalStores {
    names: Arc<[String]>,
    stores: Arc<[RwLock<InMemoryKeyValueStore>]>,
}

impl GlobalStores {
    /// Empty stores named `names`.
    pub fn new(names: Arc<[String]>) -> Self {
        let stores = names.iter().map(|_| RwLock::default()).collect();
        GlobalStores { names, stores }
    }

    /// The names of the global stores, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Applies one record of a global topic to global store `store`.
    pub fn apply(&self, store: usize, key: &[u8], value: Option<&[u8]>) {
        if let Some(target) = self.stores.get(store) {
            target.write().apply(key, value);
        }
    }

    /// A copy of the value of `key` in global store `store`.
    pub fn get(&self, store: usize, key: &[u8]) -> Option<Vec<u8>> {
        self.stores.get(store)?.read().get(key).map(<[u8]>::to_vec)
    }

    /// A copy of global store `name`'s entries, in key order.
    pub fn snapshot(&self, name: &str) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let index = self.names.iter().position(|known| known == name)?;
        Some(
            self.stores[index]
                .read()
                .entries()
                .map(|(key, value)| (key.to_vec(), value.to_vec()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests;
