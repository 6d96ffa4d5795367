//! `system.diskio`: cumulative counters of one block device.

use serde::{Deserialize, Serialize};

/// `system.diskio`: one event per device, counters cumulative since boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diskio {
    /// Device name (`sda`).
    pub name: String,
    /// Device serial number, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Reads.
    pub read: DiskioCounters,
    /// Writes.
    pub write: DiskioCounters,
    /// Time and operations in progress.
    pub io: DiskioIo,
    /// Rates over the period (Linux), from the second sample on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iostat: Option<Iostat>,
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

/// `system.diskio.iostat`: rates over the period, like `iostat -x`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Iostat {
    /// Reads.
    pub read: IostatDirection,
    /// Writes.
    pub write: IostatDirection,
    /// Average request size and wait.
    pub request: IostatRequest,
    /// Average queue length.
    pub queue: IostatQueue,
    /// Average time per request, in ms.
    pub service_time: f64,
    /// Fraction of the period the device was busy (0..100, as iostat's %util).
    pub busy: f64,
    /// Average wait per request, in ms.
    #[serde(rename = "await")]
    pub await_ms: f64,
}

/// One direction of `iostat`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IostatDirection {
    /// Merged requests per second and requests per second.
    pub request: IostatRate,
    /// Bytes per second.
    pub per_sec: IostatBytes,
    /// Average wait per request, in ms.
    #[serde(rename = "await")]
    pub await_ms: f64,
}

/// Request rates of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IostatRate {
    /// Merged requests per second.
    pub merges_per_sec: f64,
    /// Requests per second.
    pub per_sec: f64,
}

/// Byte rate of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IostatBytes {
    /// Bytes per second.
    pub bytes: f64,
}

/// `iostat.request`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IostatRequest {
    /// Average request size in sectors.
    pub avg_size: f64,
}

/// `iostat.queue`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IostatQueue {
    /// Average queue length.
    pub avg_size: f64,
}
