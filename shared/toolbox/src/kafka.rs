//! What both programs' Kafka adapters share: the base settings of every client, the
//! `[kafka.properties]` applied on top, and librdkafka's log lines routed into `tracing`.

use rdkafka::ClientConfig;

use crate::properties::KafkaProperties;

/// A client of `bootstrap_servers` named `client_id`, before its role's settings.
pub fn base_client_config(bootstrap_servers: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("client.id", client_id);
    config
}

/// `config` with the user's `[kafka.properties]` set over it (TLS, SASL, timeouts...).
pub fn with_properties(mut config: ClientConfig, properties: &KafkaProperties) -> ClientConfig {
    for (name, value) in properties {
        config.set(name, value);
    }
    config
}

/// Logs one message of librdkafka (a client context's `log`) as a tracing event with target
/// `librdkafka`, the client's id as `client` and librdkafka's facility as `fac`. `CONFWARN`
/// warnings go to debug: both programs give their `[kafka.properties]` to every client, so
/// producers warn about consumer properties and the other way round.
pub fn librdkafka(client: &str, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
    use rdkafka::config::RDKafkaLogLevel as Level;
    match level {
        Level::Emerg | Level::Alert | Level::Critical | Level::Error => {
            tracing::error!(target: "librdkafka", client, fac, "{message}")
        }
        Level::Warning if fac == "CONFWARN" => {
            tracing::debug!(target: "librdkafka", client, fac, "{message}")
        }
        Level::Warning => tracing::warn!(target: "librdkafka", client, fac, "{message}"),
        Level::Notice | Level::Info => {
            tracing::info!(target: "librdkafka", client, fac, "{message}")
        }
        Level::Debug => tracing::debug!(target: "librdkafka", client, fac, "{message}"),
    }
}
