//! A changelog partition being restored: which store of which task it fills, and the errors
//! that name it.

use std::time::Duration;

use rdkafka::error::KafkaError;

use super::RestoreError;
use crate::state::{KeyValueStore, TaskState};

/// One changelog partition and the store it restores: store `index` of task `task`.
pub(super) struct Changelog {
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) store: String,
    pub(super) task: usize,
    pub(super) index: usize,
}

impl Changelog {
    /// The store this changelog restores.
    pub(super) fn store<'t>(
        &self,
        tasks: &'t mut [(i32, TaskState)],
    ) -> Option<&'t mut dyn KeyValueStore> {
        let store = tasks.get_mut(self.task)?.1.store_mut(self.index)?;
        Some(store)
    }

    pub(super) fn past_end(&self, checkpoint: i64, end: i64) -> RestoreError {
        RestoreError::CheckpointPastEnd {
            store: self.store.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            checkpoint,
            end,
        }
    }

    pub(super) fn timeout(&self, position: i64, end: i64, waited: Duration) -> RestoreError {
        RestoreError::Timeout {
            store: self.store.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            position,
            end,
            waited,
        }
    }

    pub(super) fn kafka_error(&self, source: KafkaError) -> RestoreError {
        RestoreError::Kafka {
            store: self.store.clone(),
            topic: self.topic.clone(),
            partition: self.partition,
            source: Box::new(source),
        }
    }
}

/// `store from topic-partition` of the changelogs `indices`.
pub(super) fn describe(changelogs: &[Changelog], indices: &[usize]) -> String {
    let names: Vec<String> = (indices.iter())
        .filter_map(|index| changelogs.get(*index))
        .map(|changelog| {
            format!(
                "{} from {}-{}",
                changelog.store, changelog.topic, changelog.partition
            )
        })
        .collect();
    names.join(", ")
}
