//! Restoration of state stores as Prometheus series and in `/health`: the records each store
//! partition (its changelog partition) still has to restore (`restore_remaining_records`) and
//! those restored (`restored_records_total`), beside the log lines of the streams library's
//! `LoggingStateRestoreListener`.

use std::collections::BTreeMap;

use ferrobeat_streams::runtime::{LoggingStateRestoreListener, StateRestoreListener};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type StoreLabels = [(&'static str, String); 2];

/// A restore listener that logs and records: register it with the runtime
/// (`set_restore_listener`) and in the registry ([`RestoreMetrics::register`]).
#[derive(Debug, Default)]
pub struct RestoreMetrics {
    remaining: Family<StoreLabels, Gauge>,
    restored: Family<StoreLabels, Counter>,
    /// Where each store partition's restore is: its end and position, while it runs.
    in_progress: Mutex<BTreeMap<(String, i32), (i64, i64)>>,
}

fn labels(store: &str, partition: i32) -> StoreLabels {
    [
        ("store", store.to_owned()),
        ("partition", partition.to_string()),
    ]
}

impl RestoreMetrics {
    /// Registers the two families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "restore_remaining_records",
            "Changelog records a store partition still has to restore (0 once restored)",
            self.remaining.clone(),
        );
        registry.register(
            "restored_records",
            "Changelog records restored into each store partition",
            self.restored.clone(),
        );
    }

    /// The store partitions being restored now, as `store-partition`.
    pub fn restoring(&self) -> Vec<String> {
        self.in_progress
            .lock()
            .keys()
            .map(|(store, partition)| format!("{store}-{partition}"))
            .collect()
    }
}

impl StateRestoreListener for RestoreMetrics {
    fn on_restore_start(&self, topic: &str, partition: i32, store: &str, start: i64, end: i64) {
        LoggingStateRestoreListener.on_restore_start(topic, partition, store, start, end);
        self.remaining
            .get_or_create(&labels(store, partition))
            .set((end - start).max(0));
        self.in_progress
            .lock()
            .insert((store.to_owned(), partition), (end, start));
    }

    fn on_batch_restored(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        batch_end: i64,
        restored: u64,
    ) {
        LoggingStateRestoreListener.on_batch_restored(topic, partition, store, batch_end, restored);
        self.restored
            .get_or_create(&labels(store, partition))
            .inc_by(restored);
        if let Some((end, position)) = self
            .in_progress
            .lock()
            .get_mut(&(store.to_owned(), partition))
        {
            *position = batch_end;
            self.remaining
                .get_or_create(&labels(store, partition))
                .set((*end - batch_end).max(0));
        }
    }

    fn on_restore_end(&self, topic: &str, partition: i32, store: &str, total: u64) {
        LoggingStateRestoreListener.on_restore_end(topic, partition, store, total);
        self.remaining
            .get_or_create(&labels(store, partition))
            .set(0);
        self.in_progress
            .lock()
            .remove(&(store.to_owned(), partition));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_shows_its_progress_then_zero_remaining() {
        let metrics = RestoreMetrics::default();
        let mut registry = Registry::with_prefix("ferrobeat_processor");
        metrics.register(&mut registry);
        let text = |registry: &Registry| {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
            text
        };
        metrics.on_restore_start("app-s-changelog", 2, "s", 0, 2_500);
        metrics.on_batch_restored("app-s-changelog", 2, "s", 1_000, 1_000);
        assert_eq!(metrics.restoring(), ["s-2"]);
        let during = text(&registry);
        assert!(
            during.contains(
                "ferrobeat_processor_restore_remaining_records{store=\"s\",partition=\"2\"} 1500"
            ),
            "{during}"
        );
        metrics.on_batch_restored("app-s-changelog", 2, "s", 2_500, 1_500);
        metrics.on_restore_end("app-s-changelog", 2, "s", 2_500);
        let after = text(&registry);
        assert!(
            after.contains(
                "ferrobeat_processor_restore_remaining_records{store=\"s\",partition=\"2\"} 0"
            ),
            "{after}"
        );
        assert!(
            after.contains(
                "ferrobeat_processor_restored_records_total{store=\"s\",partition=\"2\"} 2500"
            ),
            "{after}"
        );
        assert!(metrics.restoring().is_empty());
    }
}
