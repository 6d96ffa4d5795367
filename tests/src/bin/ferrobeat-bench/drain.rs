//! Watching a child drain a preloaded topic: an independent, group-less consumer counts the
//! records arriving on the child's output topics and notes when the first and the last arrived.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrobeat_tests::TestKafka;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// When the outputs arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrivals {
    /// Arrival of the first output.
    pub(crate) first: Instant,
    /// Arrival of the last output.
    pub(crate) last: Instant,
}

impl Arrivals {
    /// `input_records` over the time from the first output to the last, in records/s.
    pub(crate) fn rate(&self, input_records: usize) -> f64 {
        input_records as f64 / self.last.duration_since(self.first).as_secs_f64().max(1e-3)
    }
}

/// A consumer assigned to every partition of some topics.
pub(crate) struct OutputWatch {
    consumer: BaseConsumer,
}

impl std::fmt::Debug for OutputWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputWatch").finish_non_exhaustive()
    }
}

impl OutputWatch {
    /// Assigns to `topics` (each with `partitions` partitions) from `start` (the beginning, or
    /// the end to see only new records).
    pub(crate) fn new(
        kafka: &TestKafka,
        topics: &[&str],
        partitions: i32,
        start: Offset,
    ) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = kafka
            .client_config()
            .set("group.id", kafka.unique_topic("bench-watch"))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()
            .context("creating the output watch consumer")?;
        let mut assignment = TopicPartitionList::new();
        for topic in topics {
            for partition in 0..partitions {
                assignment.add_partition_offset(topic, partition, start)?;
            }
        }
        consumer.assign(&assignment)?;
        Ok(OutputWatch { consumer })
    }

    /// Waits until `expected` records arrived, at most `timeout`.
    pub(crate) fn wait_for(&self, expected: usize, timeout: Duration) -> anyhow::Result<Arrivals> {
        let deadline = Instant::now() + timeout;
        let mut first = None;
        let mut last = Instant::now();
        let mut records = 0;
        while records < expected {
            if Instant::now() > deadline {
                bail!("{records} of {expected} output records arrived within {timeout:?}");
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(_)) => {
                    last = Instant::now();
                    first.get_or_insert(last);
                    records += 1;
                }
                Some(Err(e)) => bail!("watching the outputs: {e}"),
                None => {}
            }
        }
        Ok(Arrivals {
            first: first.unwrap_or(last),
            last,
        })
    }

    /// The value of the next record arriving within `timeout`, if one does.
    pub(crate) fn next_value(&self, timeout: Duration) -> anyhow::Result<Option<Vec<u8>>> {
        match self.consumer.poll(timeout) {
            Some(Ok(message)) => Ok(Some(message.payload().unwrap_or_default().to_vec())),
            Some(Err(e)) => bail!("watching the outputs: {e}"),
            None => Ok(None),
        }
    }
}
