//! `system.diskio`: one document per block device with its cumulative counters, and
//! Metricbeat's host-level summary (`host.disk`) of the bytes read and written since the
//! previous sample.
//!
//! As Metricbeat on Linux, every line of `/proc/diskstats` is a device (partitions
//! included, so the summary counts a partition's traffic with its disk's), bytes are sectors
//! × 512. The summary is absent on the first sample; devices are matched by name, so one that
//! appears or disappears does not distort it. The device `serial_number` (from udev) is not
//! produced.
//!
//! The 7.x `system.diskio.iostat` rates are not produced: Metricbeat 8.x's `system` module
//! does not carry them (they moved to the `linux` module's `iostat` metricset).

use ferrobeat_schema::metricsets::{Diskio, DiskioCounters, DiskioIo};
use ferrobeat_schema::{HostDisk, HostDiskBytes};

use super::counter::growth;
use crate::snapshot::DiskStats;

/// The kernel's unit of `/proc/diskstats` sector counts, whatever the device's sector size.
pub const SECTOR_SIZE: u64 = 512;

/// The diskio document of one device.
pub fn diskio(stats: &DiskStats) -> Diskio {
    Diskio {
        name: stats.name.clone(),
        serial_number: None,
        read: DiskioCounters {
            count: stats.reads,
            time: stats.read_time_ms,
            bytes: stats.read_sectors.saturating_mul(SECTOR_SIZE),
        },
        write: DiskioCounters {
            count: stats.writes,
            time: stats.write_time_ms,
            bytes: stats.write_sectors.saturating_mul(SECTOR_SIZE),
        },
        io: DiskioIo {
            time: stats.io_time_ms,
            ops: stats.in_progress,
        },
    }
}

/// Whether device `name` passes the `diskio_devices` filter (empty: all).
pub fn is_selected(name: &str, devices: &[String]) -> bool {
    devices.is_empty() || devices.iter().any(|d| d == name)
}

/// Bytes read and written from `previous` to `current`; `None` without a previous reading.
pub fn host_disk(previous: Option<&[DiskStats]>, current: &[DiskStats]) -> Option<HostDisk> {
    let previous = previous?;
    let (mut read, mut written) = (0u64, 0u64);
    for now in current {
        if let Some(before) = previous.iter().find(|p| p.name == now.name) {
            read = read.saturating_add(
                growth(before.read_sectors, now.read_sectors).saturating_mul(SECTOR_SIZE),
            );
            written = written.saturating_add(
                growth(before.write_sectors, now.write_sectors).saturating_mul(SECTOR_SIZE),
            );
        }
    }
    Some(HostDisk {
        read: HostDiskBytes { bytes: read },
        write: HostDiskBytes { bytes: written },
    })
}
