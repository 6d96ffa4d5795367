//! Watching a child drain a preloaded topic: an independent, group-less consumer counts the
//! records arriving on the child's output topics and notes when the first and the last arrived.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrobeat_tests::TestKafka;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// The value of the record [`OutputWatch`] primes itself with.
const MARKER: &[u8] = b"ferrobeat-bench watch marker";

/// When the outputs arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrivals {
    /// Output records that arrived.
    pub(crate) records: usize,
    /// Arrival of the output that completed the first tenth of those expected.
    pub(crate) tenth: Instant,
    /// Arrival of the last output.
    pub(crate) last: Instant,
}

impl Arrivals {
    /// The last nine tenths of `input_records` over the time from the first tenth of the outputs
    /// to the last, in records/s. Leaving out the first tenth leaves out the start: a child
    /// consumes before its producer has its id, then sends what it queued in a burst.
    pub(crate) fn rate(&self, input_records: usize) -> f64 {
        input_records as f64 * 0.9 / self.last.duration_since(self.tenth).as_secs_f64().max(1e-3)
    }
}

/// A consumer assigned to every partition of some topics.
pub(crate) struct OutputWatch {
    consumer: BaseConsumer,
    /// Topic index, partition and offset of every record read, to tell a record the broker
    /// returned again from a new one.
    seen: HashSet<(usize, i32, i64)>,
    topics: Vec<String>,
    read_again: usize,
}

impl std::fmt::Debug for OutputWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputWatch")
            .field("topics", &self.topics)
            .field("records", &self.seen.len())
            .field("read_again", &self.read_again)
            .finish_non_exhaustive()
    }
}

impl OutputWatch {
    // Assigns a watching consumer like the quickstart view does: separate binaries.
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
        let mut watch = OutputWatch {
            consumer,
            seen: HashSet::new(),
            topics: topics.iter().map(|&topic| topic.to_owned()).collect(),
            read_again: 0,
        };
        watch.prime(kafka)?;
        Ok(watch)
    }

    /// Writes a marker record to each topic (again every second until read) and waits until the
    /// watch has read one from each, so the watch is fetching steadily before a measurement
    /// starts (a watch that starts fetching late would see a whole drain arrive at once).
    fn prime(&mut self, kafka: &TestKafka) -> anyhow::Result<()> {
        const PRIME_TIMEOUT: Duration = Duration::from_secs(30);
        let deadline = Instant::now() + PRIME_TIMEOUT;
        let mut marked = vec![false; self.topics.len()];
        while marked.contains(&false) {
            if Instant::now() > deadline {
                bail!(
                    "the watch read no marker from some of {:?} within {PRIME_TIMEOUT:?}",
                    self.topics
                );
            }
            for (topic, _) in self
                .topics
                .iter()
                .zip(&marked)
                .filter(|(_, marked)| !**marked)
            {
                kafka.produce(topic, &[MARKER.to_vec()])?;
            }
            let round = Instant::now() + Duration::from_secs(1);
            while Instant::now() < round && marked.contains(&false) {
                if let Some((topic, value)) = self.next_record(Duration::from_millis(50))?
                    && value == MARKER
                {
                    marked[topic] = true;
                }
            }
        }
        Ok(())
    }

    /// Waits until `expected` records arrived, or none for `quiet` after some did. An error when
    /// none arrived within `timeout`.
    pub(crate) fn wait_for(
        &mut self,
        expected: usize,
        quiet: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Arrivals> {
        let deadline = Instant::now() + timeout;
        let mut tenth = None;
        let mut last = Instant::now();
        let mut records = 0;
        while records < expected {
            if records > 0 && last.elapsed() > quiet {
                break;
            }
            if Instant::now() > deadline {
                bail!("{records} of {expected} output records arrived within {timeout:?}");
            }
            if self.next_value(Duration::from_millis(100))?.is_some() {
                last = Instant::now();
                records += 1;
                if records >= expected / 10 {
                    tenth.get_or_insert(last);
                }
            }
        }
        Ok(Arrivals {
            records,
            tenth: tenth.unwrap_or(last),
            last,
        })
    }

    /// The value of the next new record arriving within `timeout`, if one does. A record the
    /// broker returns again (same partition and offset) is counted in
    /// [`OutputWatch::read_again`], not returned.
    pub(crate) fn next_value(&mut self, timeout: Duration) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.next_record(timeout)?.map(|(_, value)| value))
    }

    /// As [`OutputWatch::next_value`], with the index of the record's topic.
    fn next_record(&mut self, timeout: Duration) -> anyhow::Result<Option<(usize, Vec<u8>)>> {
        let message = match self.consumer.poll(timeout) {
            Some(Ok(message)) => message,
            Some(Err(e)) => bail!("watching the outputs: {e}"),
            None => return Ok(None),
        };
        let topic = self
            .topics
            .iter()
            .position(|topic| topic == message.topic())
            .unwrap_or(usize::MAX);
        if self
            .seen
            .insert((topic, message.partition(), message.offset()))
        {
            Ok(Some((
                topic,
                message.payload().unwrap_or_default().to_vec(),
            )))
        } else {
            self.read_again += 1;
            Ok(None)
        }
    }

    /// Records the broker returned more than once (same partition and offset).
    pub(crate) fn read_again(&self) -> usize {
        self.read_again
    }
}
