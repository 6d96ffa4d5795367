//! `system.filesystem`: one document per mounted file system, `df`-style.

use ferrobeat_schema::metricsets::{Filesystem, Used};
use ferrobeat_schema::numeric::fraction;

use crate::snapshot::MountUsage;

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
