//! Collection: Metricbeat's `system` metricsets as [`ferrobeat_schema::Event`]s.
//!
//! * The pure core turns plain readings ([`crate::snapshot::Snapshot`]) into events: per-metricset
//!   arithmetic in [`cpu`], [`memory`], [`network`], [`diskio`], [`load`], [`filesystem`],
//!   the envelope in [`Identity::event`], the previous-reading bookkeeping in [`EventMaker`].
//!   It does no I/O; the tests feed it recorded `/proc` files.
//! * It reads nothing itself: [`crate::sample`] joins it to the OS adapter ([`crate::source`])
//!   and the clock. Both sides meet on the plain readings of [`crate::snapshot`].
//!
//! First samples, as Metricbeat: cpu reports the averages since boot (the previous reading
//! is taken as all zeros); network and diskio report their per-item counters but no
//! host-level summary (`host.network`, `host.disk`), which starts with the second round.

mod config;
pub mod counter;
pub mod cpu;
pub mod diskio;
mod envelope;
pub mod filesystem;
pub mod load;
mod maker;
pub mod memory;
pub mod network;

pub use config::{CollectConfig, ConfigError, CpuMetric, MIN_PERIOD, parse_duration};
pub use envelope::{AGENT_TYPE, AGENT_VERSION, EventConfig, Identity, Payload, Round};
pub use maker::EventMaker;
