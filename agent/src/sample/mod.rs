//! Sampling: the pure core ([`crate::collect`]) joined to the OS adapter ([`crate::source`])
//! and the clock.
//!
//! * [`Collector`] reads one metricset from the OS and turns the reading into events;
//! * [`run_sampler`] runs every enabled metricset on its own fixed cadence (filesystem on a
//!   thread of its own, so a hung mount cannot stop the others);
//!   [`collect_once`] does one round of each.

mod collector;
mod offload;
mod sampler;

pub use collector::{CollectError, Collector, Sampled};
pub use sampler::{collect_once, next_due, run_sampler};
