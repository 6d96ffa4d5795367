//! The persistent key-value store: a store's content in a redb file under the state directory,
//! with the changelog offset it reflects (its checkpoint) in the same file.
//!
//! The file is a cache of the changelog, never the source of truth: what it lacks is restored
//! from the changelog, starting at the checkpoint, and a file that cannot be trusted (its
//! checkpoint beyond the changelog's end) is emptied and restored from the beginning. Entries and
//! checkpoint are written in one redb transaction, so a crash leaves either the previous flush or
//! the new one, never a checkpoint that claims entries the file does not hold.
//!
//! Reads are served from memory: the store keeps every entry in an [`InMemoryKeyValueStore`] and
//! writes the keys changed since the last flush when the runtime flushes it (at each commit). It
//! saves a restart the changelog's replay, not memory.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{InMemoryKeyValueStore, KeyValueStore, StoreError};

/// Serialised key → serialised value.
const ENTRIES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("entries");
/// `"changelog_position"` → the next changelog offset to restore from.
const CHECKPOINT: TableDefinition<'_, &str, i64> = TableDefinition::new("checkpoint");
const CHANGELOG_POSITION: &str = "changelog_position";

/// A store whose content and checkpoint survive the process, in one redb file.
pub struct PersistentKeyValueStore {
    path: PathBuf,
    database: Database,
    memory: InMemoryKeyValueStore,
    /// Keys changed since the last flush.
    dirty: BTreeSet<Vec<u8>>,
    checkpoint: Option<i64>,
}

impl fmt::Debug for PersistentKeyValueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentKeyValueStore")
            .field("path", &self.path)
            .field("entries", &self.memory.len())
            .field("dirty", &self.dirty.len())
            .field("checkpoint", &self.checkpoint)
            .finish()
    }
}

impl PersistentKeyValueStore {
    /// Opens (or creates) the store file `path` and reads its entries and checkpoint.
    ///
    /// # Errors
    /// [`StoreError`] naming the file when it cannot be created, opened (another process holds
    /// it: [`StoreError::Locked`]) or read.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let failed = |reason: String| StoreError::Io {
            path: path.to_owned(),
            reason,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| failed(error.to_string()))?;
        }
        let database = Database::create(path).map_err(|error| match error {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked(path.to_owned()),
            other => failed(other.to_string()),
        })?;
        let mut store = PersistentKeyValueStore {
            path: path.to_owned(),
            database,
            memory: InMemoryKeyValueStore::default(),
            dirty: BTreeSet::new(),
            checkpoint: None,
        };
        store.load().map_err(|error| failed(error.to_string()))?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&mut self) -> Result<(), redb::Error> {
        let read = self.database.begin_read()?;
        match read.open_table(ENTRIES) {
            Ok(entries) => {
                for entry in entries.iter()? {
                    let (key, value) = entry?;
                    self.memory.put(key.value(), value.value());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(error) => return Err(error.into()),
        }
        self.checkpoint = match read.open_table(CHECKPOINT) {
            Ok(checkpoint) => checkpoint
                .get(CHANGELOG_POSITION)?
                .map(|position| position.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(error) => return Err(error.into()),
        };
        Ok(())
    }

    fn write(&mut self, changelog_position: Option<i64>, wipe: bool) -> Result<(), redb::Error> {
        let write = self.database.begin_write()?;
        {
            let mut entries = write.open_table(ENTRIES)?;
            if wipe {
                entries.retain(|_, _| false)?;
            }
            for key in &self.dirty {
                match self.memory.get(key) {
                    Some(value) => {
                        entries.insert(key.as_slice(), value)?;
                    }
                    None => {
                        entries.remove(key.as_slice())?;
                    }
                }
            }
            let mut checkpoint = write.open_table(CHECKPOINT)?;
            match changelog_position {
                Some(position) => {
                    checkpoint.insert(CHANGELOG_POSITION, position)?;
                }
                None => {
                    checkpoint.remove(CHANGELOG_POSITION)?;
                }
            }
        }
        write.commit()?;
        self.dirty.clear();
        self.checkpoint = changelog_position;
        Ok(())
    }

    fn io_error(&self, error: &redb::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            reason: error.to_string(),
        }
    }
}

impl KeyValueStore for PersistentKeyValueStore {
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.memory.get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.memory.put(key, value);
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_vec());
        }
    }

    fn delete(&mut self, key: &[u8]) {
        self.memory.delete(key);
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_vec());
        }
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        self.memory.entries()
    }

    fn len(&self) -> usize {
        self.memory.len()
    }

    fn checkpoint(&self) -> Option<i64> {
        self.checkpoint
    }

    fn flush(&mut self, changelog_position: i64) -> Result<(), StoreError> {
        if self.dirty.is_empty() && self.checkpoint == Some(changelog_position) {
            return Ok(());
        }
        self.write(Some(changelog_position), false)
            .map_err(|error| self.io_error(&error))
    }

    fn wipe(&mut self) -> Result<(), StoreError> {
        self.memory = InMemoryKeyValueStore::default();
        self.dirty.clear();
        self.write(None, true)
            .map_err(|error| self.io_error(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_checkpoint_survive_a_reopen_and_only_flushed_changes_do() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("0_1").join("store.redb");
        let mut store = PersistentKeyValueStore::open(&path).expect("open");
        assert_eq!(store.checkpoint(), None);
        store.put(b"jihun", b"Seoul");
        store.put(b"gildong", b"Newyork");
        store.apply(b"jihun", Some(b"LA"));
        store.flush(3).expect("flush");
        store.delete(b"gildong");
        store.put(b"unflushed", b"lost");
        drop(store);

        let mut reopened = PersistentKeyValueStore::open(&path).expect("reopen");
        assert_eq!(reopened.checkpoint(), Some(3));
        let entries: Vec<_> = reopened.entries().collect();
        assert_eq!(
            entries,
            [
                (b"gildong".as_slice(), b"Newyork".as_slice()),
                (b"jihun".as_slice(), b"LA".as_slice())
            ]
        );
        reopened.delete(b"gildong");
        reopened.flush(4).expect("flush");
        drop(reopened);
        let again = PersistentKeyValueStore::open(&path).expect("reopen");
        assert_eq!(again.len(), 1);
        assert_eq!(again.get(b"gildong"), None);
        assert_eq!(again.checkpoint(), Some(4));
    }

    #[test]
    fn a_wiped_store_is_empty_without_checkpoint_after_a_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.redb");
        let mut store = PersistentKeyValueStore::open(&path).expect("open");
        store.put(b"k", b"v");
        store.flush(10).expect("flush");
        store.wipe().expect("wipe");
        assert!(store.is_empty());
        drop(store);
        let reopened = PersistentKeyValueStore::open(&path).expect("reopen");
        assert!(reopened.is_empty());
        assert_eq!(reopened.checkpoint(), None);
    }

    #[test]
    fn a_store_open_elsewhere_is_refused_naming_its_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.redb");
        let _held = PersistentKeyValueStore::open(&path).expect("open");
        match PersistentKeyValueStore::open(&path) {
            Err(StoreError::Locked(locked)) => assert_eq!(locked, path),
            other => panic!("expected Locked, got {other:?}"),
        }
    }
}
