//! `system.filesystem`: one document per mounted file system, `df`-style.

use ferrobeat_schema::metricsets::{Filesystem, Used};
use ferrobeat_schema::numeric::fraction;

/// One line of the mount table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// The mounted device (`/dev/sda1`).
    pub device: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// File system type (`ext4`).
    pub fs_type: String,
    /// Mount options (`rw,relatime`).
    pub options: String,
}

/// A mount and its `statvfs` figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountUsage {
    /// The mount.
    pub mount: Mount,
    /// Fragment size: the unit of the block counts.
    pub block_size: u64,
    /// Blocks in the file system.
    pub blocks: u64,
    /// Free blocks, including those reserved for root.
    pub blocks_free: u64,
    /// Blocks available to unprivileged users.
    pub blocks_available: u64,
    /// Inodes.
    pub files: u64,
    /// Free inodes.
    pub files_free: u64,
}

/// Whether a mount is reported: Metricbeat skips file systems of the ignored types (by
/// default the kernel's `nodev` types: proc, sysfs, tmpfs, cgroup, …).
pub fn is_reported(mount: &Mount, ignored_types: &[String]) -> bool {
    !ignored_types.contains(&mount.fs_type)
}

/// The filesystem document: `used.bytes = total − free`,
/// `used.pct = used / (used + available)` as `df` computes it.
pub fn filesystem(usage: &MountUsage) -> Filesystem {
    let bytes = |blocks: u64| blocks.saturating_mul(usage.block_size);
    let (total, free, available) = (
        bytes(usage.blocks),
        bytes(usage.blocks_free),
        bytes(usage.blocks_available),
    );
    let used = total.saturating_sub(free);
    Filesystem {
        device_name: usage.mount.device.clone(),
        mount_point: usage.mount.mount_point.clone(),
        fs_type: usage.mount.fs_type.clone(),
        options: Some(usage.mount.options.clone()),
        total,
        free,
        available,
        files: usage.files,
        free_files: usage.files_free,
        used: Used {
            bytes: used,
            pct: fraction(used as f64, used.saturating_add(available) as f64),
        },
    }
}
