//! Where a driver's outputs go: store changes to their changelog topics, failed records
//! through the error policy, outputs to their topics and repartition topics back in.

use super::{TestRecord, TopologyTestDriver};
use crate::errors::ErrorAction;
use crate::record::{InputRecord, OutputRecord};
use crate::state::{TaskState, changelog_topic};
use crate::topology::ProcessingError;

impl TopologyTestDriver {
    /// Writes the task's store changes to their changelog topics, stamped `timestamp`.
    pub(super) fn write_changes(&self, task: &mut TaskState, timestamp: i64) {
        let mut state = self.state.borrow_mut();
        for change in task.take_changes() {
            let topic = changelog_topic(&self.application_id, &task.store_names()[change.store]);
            state
                .outputs
                .entry(topic)
                .or_default()
                .push_back(TestRecord {
                    key: Some(change.key),
                    value: change.value,
                    timestamp: Some(timestamp),
                    headers: Vec::new(),
                });
        }
    }

    /// Applies the error policy to `input`, which failed with `error`: its dead letter joins
    /// `produced`, or under `fail` the error is returned.
    pub(super) fn handle_error<'a>(
        &'a self,
        input: &InputRecord<'a>,
        error: ProcessingError,
        produced: &mut Vec<OutputRecord<'a>>,
    ) -> Result<(), ProcessingError> {
        match self.error_handling.action(input, &error) {
            ErrorAction::DeadLetter(letter) => produced.push(letter),
            ErrorAction::Skip => {}
            ErrorAction::Fail => return Err(error),
        }
        self.state.borrow_mut().errors.push(error);
        Ok(())
    }

    /// Writes `produced` to their topics; what goes to a repartition topic is piped back in.
    pub(super) fn write_outputs(
        &self,
        produced: Vec<OutputRecord<'_>>,
        timestamp: i64,
    ) -> Result<(), ProcessingError> {
        let mut repartitioned = Vec::new();
        let mut state = self.state.borrow_mut();
        for output in produced {
            let topic = output.topic.to_string();
            let record = TestRecord::from_output(output);
            if self.topology.repartition_topics().contains(&topic.as_str()) {
                repartitioned.push((topic.clone(), record.clone()));
            }
            state.outputs.entry(topic).or_default().push_back(record);
        }
        drop(state);
        for (topic, record) in repartitioned {
            let timestamp = record.timestamp.unwrap_or(timestamp);
            self.pipe(&topic, record, timestamp)?;
        }
        Ok(())
    }
}
