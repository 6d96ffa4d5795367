//! `system.diskio`: cumulative counters of one block device, as Metricbeat 8.x's `system`
//! module reports them. The 7.x `iostat` rates are not part of it: 8.x moved them to the
//! `linux` module's `iostat` metricset.

use serde::{Deserialize, Serialize};

/// `system.diskio`: one event per device, counters cumulative since boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diskio {
    /// Device name (`sda`).
    pub name: String,
    /// Device serial number, when known (`serial_number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Reads.
    pub read: DiskioCounters,
    /// Writes.
    pub write: DiskioCounters,
    /// Time and operations in progress.
    pub io: DiskioIo,
}

/// Reads or writes of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskioCounters {
    /// Completed operations.
    pub count: u64,
    /// Milliseconds spent.
    pub time: u64,
    /// Bytes transferred.
    pub bytes: u64,
}

/// `system.diskio.io`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskioIo {
    /// Milliseconds spent doing I/O.
    pub time: u64,
    /// I/O operations currently in progress.
    pub ops: u64,
}
