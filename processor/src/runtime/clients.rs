//! librdkafka settings of the runtime's consumers and producers.

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// Settings every client gets, then the user's `[kafka.properties]` on top.
fn base_config(kafka: &KafkaConfig, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", client_id);
    config
}

fn with_user_properties(mut config: ClientConfig, kafka: &KafkaConfig) -> ClientConfig {
    for (name, value) in &kafka.properties {
        config.set(name, value);
    }
    config
}

/// A group member of `kafka.application-id` that never commits on its own: offsets are stored and
/// committed only by the runtime, once every output of a record is acknowledged. It reports its
/// statistics (consumer lag) every `statistics_interval_ms`.
pub(super) fn consumer_config(
    kafka: &KafkaConfig,
    client_id: &str,
    statistics_interval_ms: u64,
) -> ClientConfig {
    let mut config = base_config(kafka, client_id);
    config
        .set("group.id", &kafka.application_id)
        .set("statistics.interval.ms", statistics_interval_ms.to_string())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Kafka Streams' default: a new group starts from the beginning of its input.
        .set("auto.offset.reset", "earliest")
        // Prefetch at most 16 MiB per partition (librdkafka's default is 64 MiB).
        .set("queued.max.messages.kbytes", "16384");
    with_user_properties(config, kafka)
}

/// An idempotent producer waiting for all in-sync replicas.
pub(super) fn producer_config(kafka: &KafkaConfig, client_id: &str) -> ClientConfig {
    let mut config = base_config(kafka, client_id);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5");
    with_user_properties(config, kafka)
}
