//! The Elastic Metricbeat 8.x `system` module, as ferrobeat writes and reads it on Kafka.
//!
//! One [`Event`] is one Kafka record value (Metricbeat's `json` codec): an envelope
//! (`@timestamp`, `@metadata`, `agent`, `ecs`, `host`, `event`, `metricset`, `service`) and
//! the payload of one metricset under `system` ([`System`]).
//!
//! * Serialising yields Metricbeat's field names exactly; optional fields are omitted when
//!   absent, as Metricbeat omits them.
//! * Deserialising accepts real Metricbeat documents in any key order and ignores fields this
//!   model does not know; errors name the JSON path of the offending field ([`SchemaError`]).
//! * The numeric conventions shared by the agent and the tests live in [`numeric`]; the
//!   default Kafka topic names in [`topics`].
//!
//! This crate knows nothing of Kafka clients, the operating system, files or HTTP: what the two
//! programs' edges share lives in `ferrobeat-toolbox`.
#![warn(missing_docs)]

mod envelope;
mod error;
pub mod metricsets;
pub mod numeric;
pub mod topics;

pub use envelope::{
    Agent, Ecs, Event, EventInfo, Host, HostCpu, HostDisk, HostDiskBytes, HostNetwork,
    HostNetworkCounters, Metadata, MetricsetInfo, Service,
};
pub use error::SchemaError;
pub use metricsets::{Metricset, System};

/// The Elastic Common Schema version Metricbeat 8.x stamps on its events.
pub const ECS_VERSION: &str = "8.0.0";

/// The Metricbeat module every event of this schema belongs to.
pub const MODULE: &str = "system";

/// Parses one Kafka record value into an [`Event`].
///
/// # Errors
/// [`SchemaError::Json`] with the JSON path of the offending field when the bytes are not a
/// Metricbeat `system` event.
pub fn from_slice(bytes: &[u8]) -> Result<Event, SchemaError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let event = serde_path_to_error::deserialize(&mut de).map_err(SchemaError::from_path)?;
    de.end().map_err(SchemaError::trailing)?;
    Ok(event)
}

/// Serialises an [`Event`] into compact JSON, the record value ferrobeat produces.
pub fn to_vec(event: &Event) -> Vec<u8> {
    // Serialising these plain structs into memory cannot fail: every key is a string and
    // every number is finite by construction (see `numeric::round4`).
    serde_json::to_vec(event).unwrap_or_else(|e| unreachable!("event serialisation failed: {e}"))
}
