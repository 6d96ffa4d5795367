//! librdkafka settings of the runtime's consumers and producers.

use ferrobeat_toolbox::kafka::{base_client_config, with_properties};
use rdkafka::ClientConfig;

use crate::config::StreamsConfig;

/// The librdkafka property that picks the group's partition assignor.
pub(super) const ASSIGNMENT_STRATEGY: &str = "partition.assignment.strategy";

/// The consumer's prefetch bound (`queued.max.messages.kbytes`, for all its partitions
/// together): 8 MiB, where librdkafka's default is 64 MiB. With [`PREFETCH_BACKOFF_MS`] a
/// backlog of ~1 KB records drains as fast with 8 MiB as with 64 MiB (BENCHMARKS.md, Analysis),
/// and the process stays far below the RSS that 64 MiB costs.
const PREFETCH_KBYTES: &str = "8192";

/// How long a partition waits to fetch again once the prefetch is full
/// (`fetch.queue.backoff.ms`): 10 ms, where librdkafka's default is 1 s. Whenever the worker
/// holds back (too much in flight) its prefetch fills; with the default every partition then
/// stops fetching for a whole second although the prefetch drains in a few milliseconds, which
/// starved the drain of a batched backlog to a third of a plain byte copy's rate. A full
/// prefetch costs only a fetch decision every 10 ms, not a request.
const PREFETCH_BACKOFF_MS: &str = "10";

/// A group member of the application id that never commits on its own: offsets are stored and
/// committed only by the runtime, once every output of a record is acknowledged. It reports its
/// statistics (consumer lag) every `statistics_interval`. What it prefetches is bounded by
/// [`PREFETCH_KBYTES`] and refilled within [`PREFETCH_BACKOFF_MS`] of room being made; the
/// worker bounds what it has consumed and not yet seen acknowledged
/// (`runtime.max_in_flight_bytes`). A `stateful` topology's member uses
/// the `range` assignor, which gives partition N of every co-partitioned topic to the same
/// member: a task (a table partition and its stream partition) is never split.
pub(super) fn consumer_config(
    config: &StreamsConfig,
    client_id: &str,
    stateful: bool,
) -> ClientConfig {
    let kafka = &config.kafka;
    let mut client = base_client_config(&kafka.bootstrap_servers, client_id);
    client
        .set("group.id", &kafka.application_id)
        .set(
            "statistics.interval.ms",
            config.statistics_interval.as_millis().to_string(),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Kafka Streams' default: a new group starts from the beginning of its input.
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", PREFETCH_KBYTES)
        .set("fetch.queue.backoff.ms", PREFETCH_BACKOFF_MS);
    if stateful {
        client.set(ASSIGNMENT_STRATEGY, "range");
    }
    with_properties(client, &kafka.properties)
}

/// An idempotent producer waiting for all in-sync replicas.
pub(super) fn producer_config(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    let kafka = &config.kafka;
    let mut client = base_client_config(&kafka.bootstrap_servers, client_id);
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        // Keyed outputs land where a Java client would put them, so they co-partition with
        // topics Java clients write (keyless ones are spread, as before).
        .set("partitioner", "murmur2_random");
    with_properties(client, &kafka.properties)
}

/// A consumer outside the group that reads changelog and global-table partitions it is assigned
/// from their beginning; it never subscribes nor commits (librdkafka wants a group id to
/// `assign()` at all: `<application id>-restore`, which never joins).
pub(super) fn restore_consumer_config(config: &StreamsConfig, client_id: &str) -> ClientConfig {
    let kafka = &config.kafka;
    let mut client = base_client_config(&kafka.bootstrap_servers, client_id);
    client
        .set("group.id", format!("{}-restore", kafka.application_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    with_properties(client, &kafka.properties)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrobeat_toolbox::properties::KafkaProperties;

    fn config(properties: &[(&str, &str)]) -> StreamsConfig {
        let mut config = StreamsConfig::new("localhost:9092", "app");
        config.kafka.properties = properties
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect::<KafkaProperties>();
        config
    }

    #[test]
    fn the_prefetch_is_bounded_and_refilled_without_librdkafkas_one_second_backoff() {
        let consumer = consumer_config(&config(&[]), "c", false);
        let kbytes: u64 = consumer
            .get("queued.max.messages.kbytes")
            .and_then(|value| value.parse().ok())
            .expect("the prefetch bound is set");
        let backoff_ms: u64 = consumer
            .get("fetch.queue.backoff.ms")
            .and_then(|value| value.parse().ok())
            .expect("the prefetch backoff is set");
        // A full prefetch must be refilled long before it drains: at 200 000 records of 1 KB
        // per second it drains in kbytes / 200 ms.
        assert!(kbytes <= 16 * 1024, "{kbytes} kB");
        assert!(
            backoff_ms * 4 <= kbytes / 200,
            "{backoff_ms} ms for {kbytes} kB"
        );
    }

    #[test]
    fn kafka_properties_override_the_prefetch_settings() {
        let consumer = consumer_config(
            &config(&[
                ("queued.max.messages.kbytes", "65536"),
                ("fetch.queue.backoff.ms", "1000"),
            ]),
            "c",
            false,
        );
        assert_eq!(consumer.get("queued.max.messages.kbytes"), Some("65536"));
        assert_eq!(consumer.get("fetch.queue.backoff.ms"), Some("1000"));
    }
}
