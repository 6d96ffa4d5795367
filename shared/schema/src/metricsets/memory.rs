//! `system.memory`: memory and swap usage, as Metricbeat 8.x's `system` module reports them.
//! The 7.x `hugepages` group is not part of it: 8.x moved it to the `linux` module's `memory`
//! metricset.

use serde::{Deserialize, Serialize};

/// `system.memory`. On Linux: `used.bytes = total − free`; `actual.free = MemAvailable`;
/// `actual.used = total − actual.free`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Total memory in bytes.
    pub total: u64,
    /// Used memory: `total − free`.
    pub used: Used,
    /// Free memory in bytes.
    pub free: u64,
    /// Page cache in bytes (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<u64>,
    /// Memory available to applications without swapping.
    pub actual: ActualMemory,
    /// Swap usage.
    pub swap: Swap,
}

/// A `used` object: bytes and the fraction of the total they are.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Used {
    /// Bytes used.
    pub bytes: u64,
    /// Fraction of the total (0..1).
    pub pct: f64,
}

/// `system.memory.actual`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActualMemory {
    /// Available memory (`MemAvailable` on Linux).
    pub free: u64,
    /// `total − actual.free`.
    pub used: Used,
}

/// `system.memory.swap`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Swap {
    /// Total swap in bytes.
    pub total: u64,
    /// Used swap: `total − free`.
    pub used: Used,
    /// Free swap in bytes.
    pub free: u64,
}
