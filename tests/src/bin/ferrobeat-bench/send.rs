//! Producing one record, waiting while the producer's queue is full; preloading a backlog, in
//! full batches or one record per batch.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

/// Queues `record`, serving delivery reports while the queue is full; then serves the ones due.
pub(crate) fn send<K: ToBytes + ?Sized>(
    producer: &BaseProducer,
    mut record: BaseRecord<'_, K, [u8]>,
) -> Result<(), KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(5));
                record = back;
            }
            Err((error, _)) => return Err(error),
        }
    }
    producer.poll(Duration::ZERO);
    Ok(())
}

/// `config` for a preload of one record per batch (`linger.ms=0`, `batch.num.messages=1`): the
/// input of the drain's second row. A consumer fetching it gets one record per stored batch, which
/// holds Tansu 0.6.0 to about 13 000 records/s for every client alike.
pub(crate) fn one_record_per_batch(config: &rdkafka::ClientConfig) -> rdkafka::ClientConfig {
    let mut config = config.clone();
    config.set("linger.ms", "0").set("batch.num.messages", "1");
    config
}

/// Produces `records` (an optional key, a value and an optional timestamp in ms each; the
/// producer's clock when none) to `topic` and waits for every acknowledgement.
///
/// A backlog arrives in full batches: the producer keeps librdkafka's batching defaults
/// (`linger.ms`, `batch.size`, `batch.num.messages`), as an application's producer does, unless
/// `config` says otherwise ([`one_record_per_batch`]). Keyed
/// records go where a Java client (and the streams runtime) puts them: `murmur2_random`, so a
/// table, a stream and a changelog preloaded here are co-partitioned by key.
pub(crate) fn preload<'a>(
    config: &rdkafka::ClientConfig,
    topic: &str,
    records: impl IntoIterator<Item = (Option<&'a [u8]>, &'a [u8], Option<i64>)>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let producer: BaseProducer = config
        .clone()
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .create()
        .context("creating the preload producer")?;
    for (key, value, timestamp) in records {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(timestamp) = timestamp {
            record = record.timestamp(timestamp);
        }
        send(&producer, record).with_context(|| format!("preloading {topic}"))?;
    }
    producer
        .flush(Duration::from_secs(60))
        .with_context(|| format!("flushing the preload of {topic}"))?;
    Ok(())
}
