//! `system.memory`: memory and swap usage.

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
    /// Huge pages (Linux), when the kernel reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hugepages: Option<Hugepages>,
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

/// `system.memory.hugepages`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hugepages {
    /// Number of huge pages in the pool.
    pub total: u64,
    /// Pages in use (`pct` of the pool).
    pub used: Used,
    /// Free pages.
    pub free: u64,
    /// Pages reserved but not yet allocated.
    pub reserved: u64,
    /// Pages above the configured pool size.
    pub surplus: u64,
    /// Size of one default huge page in bytes.
    pub default_size: u64,
}
