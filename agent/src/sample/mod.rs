//! Sampling: the pure core ([`crate::collect`]) joined to the OS adapter ([`crate::source`])
//! and the clock.
//!
//! * [`Collector`] reads one metricset from the OS and turns the reading into events;
//! * [`Sampler`] runs every enabled metricset on its own fixed cadence on the agent's tick
//!   thread, handing rounds to a [`RoundSink`] (filesystem on a thread of its own, so a hung
//!   mount cannot stop the others); [`collect_once`] does one round of each.

mod collector;
mod inbox;
mod offload;
mod sampler;

pub use collector::{CollectError, Collector, Sampled};
pub use sampler::{RoundSink, Sampler, Stopper, collect_once, next_due};
