//! librdkafka settings of the runtime's consumers and producers.

use ferrobeat_toolbox::kafka::{base_client_config, with_properties};
use rdkafka::ClientConfig;

use crate::config::StreamsConfig;

/// The librdkafka property that picks the group's partition assignor.
pub(super) const ASSIGNMENT_STRATEGY: &str = "partition.assignment.strategy";

/// A group member of the application id that never commits on its own: offsets are stored and
/// committed only by the runtime, once every output of a record is acknowledged. It reports its
/// statistics (consumer lag) every `statistics_interval`. A `stateful` topology's member uses
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
        // Prefetch at most 16 MiB per partition (librdkafka's default is 64 MiB).
        .set("queued.max.messages.kbytes", "16384");
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
