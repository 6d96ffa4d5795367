//! The Kafka runtime: consumer-group workers running a [`crate::topology::Topology`] at least once.

pub mod offsets;
pub mod state;
