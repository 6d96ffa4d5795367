//! The `StateRestoreListener`: told about each changelog partition's restore (its start, its
//! batches, its end), and the one that logs them.

use std::fmt;

/// Told about each store restored from its changelog (Kafka Streams' `StateRestoreListener`).
pub trait StateRestoreListener: Send + Sync + fmt::Debug {
    /// Restoring `store` from `topic`-`partition` starts at offset `start`; `end` is the
    /// changelog's high watermark.
    fn on_restore_start(&self, topic: &str, partition: i32, store: &str, start: i64, end: i64);
    /// A batch ending at offset `batch_end` (exclusive) was applied: `restored` records.
    fn on_batch_restored(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        batch_end: i64,
        restored: u64,
    );
    /// The store is at the changelog's end: `total` records applied.
    fn on_restore_end(&self, topic: &str, partition: i32, store: &str, total: u64);
}

/// Logs every restore with its progress in percent, as the reference design's
/// `LoggingStateRestoreListener` prints it.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoggingStateRestoreListener;

impl StateRestoreListener for LoggingStateRestoreListener {
    fn on_restore_start(&self, topic: &str, partition: i32, store: &str, start: i64, end: i64) {
        tracing::info!(
            store,
            changelog = %format!("{topic}-{partition}"),
            start,
            end,
            "restore started: {} records to restore",
            (end - start).max(0)
        );
    }

    fn on_batch_restored(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        batch_end: i64,
        restored: u64,
    ) {
        tracing::info!(
            store,
            changelog = %format!("{topic}-{partition}"),
            batch_end,
            restored,
            "restored a batch"
        );
    }

    fn on_restore_end(&self, topic: &str, partition: i32, store: &str, total: u64) {
        tracing::info!(
            store,
            changelog = %format!("{topic}-{partition}"),
            total,
            "restore finished: 100% ({total} records)"
        );
    }
}
