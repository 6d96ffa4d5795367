//! Producing one record, waiting while the producer's queue is full.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

/// Queues `record`, serving delivery reports while the queue is full; then serves the ones due.
pub(crate) fn send(
    producer: &BaseProducer,
    mut record: BaseRecord<'_, (), [u8]>,
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

/// Produces `values` to `topic` in batches of one record each and waits for every
/// acknowledgement.
///
/// Tansu 0.6.0 answers a fetch from an offset inside a stored batch with the next batch only (see
/// `tests/tests/processor_broker.rs`), so a consumer that pauses and resumes mid-batch — as the
/// processor does under backpressure — would skip records. One record per batch keeps every
/// offset a batch boundary; it is also what a fleet of agents produces (each sends a round of a
/// few records every period, spread over the partitions).
pub(crate) fn preload(
    config: &rdkafka::ClientConfig,
    topic: &str,
    values: &[Vec<u8>],
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let producer: BaseProducer = config
        .clone()
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .create()
        .context("creating the preload producer")?;
    for value in values {
        send(&producer, BaseRecord::to(topic).payload(value.as_slice()))
            .with_context(|| format!("preloading {topic}"))?;
    }
    producer
        .flush(Duration::from_secs(60))
        .with_context(|| format!("flushing the preload of {topic}"))?;
    Ok(())
}
