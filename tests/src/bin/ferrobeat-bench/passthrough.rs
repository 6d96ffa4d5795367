//! The reference: a raw consume → produce byte copy with librdkafka's defaults (a consumer group
//! reading from the earliest offset, a producer as librdkafka configures one), as a user's own
//! byte copy would run, not with the processor's settings (a reference that shared the
//! processor's limits would hide them). It runs as a child process of the bench so it is
//! measured exactly as the processor is.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// Where the passthrough reads and writes.
#[derive(Debug, clap::Args)]
pub(crate) struct PassthroughArgs {
    /// Bootstrap servers.
    #[arg(long)]
    pub(crate) bootstrap_servers: String,
    /// Topic to copy from.
    #[arg(long)]
    pub(crate) input: String,
    /// Topic to copy to.
    #[arg(long)]
    pub(crate) output: String,
    /// Consumer group.
    #[arg(long)]
    pub(crate) group: String,
    /// Stop after copying this many records.
    #[arg(long)]
    pub(crate) records: usize,
    /// A librdkafka property for the consumer and the producer, `KEY=VALUE`; repeatable (the
    /// bench's own settings for the test broker: session timeout, fetch wait).
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::parse_property)]
    pub(crate) property: Vec<(String, String)>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout_secs: u64,
}

/// Copies `args.records` records (then stops) from the input topic to the output topic, keyless, keeping
/// their timestamps, waits until every copy is acknowledged, then until its standard input closes:
/// the bench reads its CPU time and peak RSS from `/proc` after the last copy arrives, which a
/// process that had already exited would no longer show.
pub(crate) fn run(args: &PassthroughArgs) -> anyhow::Result<()> {
    // Only what a byte copy of a backlog must say: its group, and to start at the beginning.
    let mut consumer_config = ClientConfig::new();
    consumer_config
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("group.id", &args.group)
        .set("auto.offset.reset", "earliest");
    let mut producer_config = ClientConfig::new();
    producer_config.set("bootstrap.servers", &args.bootstrap_servers);
    for (key, value) in &args.property {
        consumer_config.set(key, value);
        producer_config.set(key, value);
    }
    let consumer: BaseConsumer = consumer_config.create().context("creating the consumer")?;
    let producer: BaseProducer = producer_config.create().context("creating the producer")?;
    consumer
        .subscribe(&[&args.input])
        .with_context(|| format!("subscribing to {}", args.input))?;

    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut copied = 0;
    while copied < args.records {
        if Instant::now() > deadline {
            bail!(
                "copied {copied} of {} records within {} s",
                args.records,
                args.timeout_secs
            );
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => bail!("consuming {}: {e}", args.input),
            Some(Ok(message)) => message,
        };
        let mut record =
            BaseRecord::<(), [u8]>::to(&args.output).payload(message.payload().unwrap_or_default());
        if let Some(timestamp) = message.timestamp().to_millis() {
            record = record.timestamp(timestamp);
        }
        crate::send::send(&producer, record)
            .with_context(|| format!("producing to {}", args.output))?;
        copied += 1;
    }
    producer
        .flush(Duration::from_secs(30))
        .with_context(|| format!("flushing the copies to {}", args.output))?;
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())
        .context("waiting for standard input to close")?;
    Ok(())
}
