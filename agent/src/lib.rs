//! ferrobeat-agent: samples the host's CPU, memory, network, disk I/O, load and file systems
//! into Metricbeat 8.x `system` events and ships them to Kafka at least once, through a
//! crash-safe disk spool, so that sampling never waits for Kafka.
//!
//! A guided tour, in the order an event travels:
//!
//! * [`source`] reads the operating system (`/proc` and `statvfs` on Linux, `sysinfo` on
//!   macOS) into the plain readings of [`snapshot`];
//! * [`collect`] is the pure core: readings in, events out (Metricbeat's arithmetic, the
//!   envelope, the previous readings deltas need), plus the `[collect]` configuration. It
//!   does no I/O and reads no clock;
//! * [`sample`] joins the two on the clock: a [`sample::Collector`] per process, and the
//!   sampler that runs each metricset on its own fixed cadence and reports every round to
//!   [`monitor`];
//! * [`spool`] keeps every event on disk (CRC-framed segments, an acknowledgement cursor)
//!   until Kafka acknowledged it;
//! * [`ship`] streams the spool to Kafka with a bounded in-flight window and retries from the
//!   spool after a failed delivery; it also holds the stdout output and `test output`'s
//!   checks;
//! * [`monitor`] holds the agent's counters and gauges, logs their changes, and answers the
//!   optional `/metrics`, `/health` and `/ready` endpoint;
//! * [`run`] wires the commands (`run`, `once`, `test output`); [`config`] loads and checks
//!   the TOML file and the flags; [`identity`] keeps `agent.id` across restarts.
//!
//! Dependencies between the modules go one way: `source` and `collect` both depend on
//! `snapshot` and not on each other; `sample` joins them; `run` joins everything.
#![warn(missing_docs)]
pub mod collect;
pub mod config;
pub mod identity;
pub mod monitor;
pub mod run;
pub mod sample;
pub mod ship;
pub mod snapshot;
pub mod source;
pub mod spool;
