//! `system.filesystem`: usage of one mounted file system.

use serde::{Deserialize, Serialize};

use super::Used;

/// `system.filesystem`: one event per mounted file system, as `df` reports it.
/// `used.pct = used / (used + available)`, like `df`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filesystem {
    /// The device (`/dev/sda1`).
    pub device_name: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// File system type (`ext4`).
    #[serde(rename = "type")]
    pub fs_type: String,
    /// Mount options, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// Size in bytes.
    pub total: u64,
    /// Free bytes, including those reserved for root.
    pub free: u64,
    /// Bytes available to unprivileged users.
    pub available: u64,
    /// Number of inodes.
    pub files: u64,
    /// Free inodes.
    pub free_files: u64,
    /// Used bytes (`total − free`) and the df-style fraction.
    pub used: Used,
}
