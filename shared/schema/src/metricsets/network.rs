//! `system.network`: cumulative counters of one network interface.

use serde::{Deserialize, Serialize};

/// `system.network`: one event per interface, counters cumulative since boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Interface name (`eth0`).
    pub name: String,
    /// Received.
    #[serde(rename = "in")]
    pub received: NetworkCounters,
    /// Sent.
    #[serde(rename = "out")]
    pub sent: NetworkCounters,
}

/// One direction of an interface's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkCounters {
    /// Bytes.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Errors.
    pub errors: u64,
    /// Dropped packets.
    pub dropped: u64,
}
