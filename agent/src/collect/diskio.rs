//! `system.diskio`: one document per block device with its cumulative counters, and
//! Metricbeat's host-level summary (`host.disk`) of the bytes read and written since the
//! previous sample.
//!
//! As Metricbeat on Linux, every line of `/proc/diskstats` is a device (partitions
//! included, so the summary counts a partition's traffic with its disk's), bytes are sectors
//! × 512. The summary is absent on the first sample; devices are matched by name, so one that
//! appears or disappears does not distort it. The device `serial` (from udev) is not
//! produced.
//!
//! `iostat` follows Metricbeat's Linux arithmetic (`iostat -x`): rates per second over the
//! interval, average request size (bytes), queue length, await and service times (ms) and
//! busy percentage (0..100), rounded to 4 decimals; all zeros for a device's first reading,
//! as in Metricbeat. One difference: the interval is the wall-clock time between the two
//! samples, where Metricbeat derives it from the CPU tick counters divided by the CPU count.

use std::time::Duration;

use ferrobeat_schema::metricsets::{
    Diskio, DiskioCounters, DiskioIo, Iostat, IostatBytes, IostatDirection, IostatQueue,
    IostatRate, IostatRequest,
};
use ferrobeat_schema::numeric::round4;
use ferrobeat_schema::{HostDisk, HostDiskBytes};

use super::counter::growth;
use crate::snapshot::DiskStats;

/// The kernel's unit of `/proc/diskstats` sector counts, whatever the device's sector size.
pub const SECTOR_SIZE: u64 = 512;

/// The diskio document of one device; `iostat` comes from [`iostat`].
pub fn diskio(stats: &DiskStats, iostat: Option<Iostat>) -> Diskio {
    Diskio {
        name: stats.name.clone(),
        serial: None,
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
        iostat,
    }
}

/// `iostat` of a device from its `previous` reading, `elapsed` earlier; zeros without a
/// previous reading, `None` when no time elapsed.
pub fn iostat(
    previous: Option<&DiskStats>,
    current: &DiskStats,
    elapsed: Duration,
) -> Option<Iostat> {
    let Some(previous) = previous else {
        return Some(ZERO_IOSTAT);
    };
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    if elapsed_ms <= 0.0 {
        return None;
    }
    let grew = |field: fn(&DiskStats) -> u64| growth(field(previous), field(current));
    let (reads, writes) = (grew(|d| d.reads), grew(|d| d.writes));
    let (read_ms, write_ms) = (grew(|d| d.read_time_ms), grew(|d| d.write_time_ms));
    let (io_ms, weighted_ms) = (grew(|d| d.io_time_ms), grew(|d| d.weighted_io_time_ms));
    let read_bytes = grew(|d| d.read_sectors).saturating_mul(SECTOR_SIZE);
    let write_bytes = grew(|d| d.write_sectors).saturating_mul(SECTOR_SIZE);
    let requests = reads.saturating_add(writes);
    let per_request = |total: u64, count: u64| {
        if count == 0 {
            0.0
        } else {
            round4(total as f64 / count as f64)
        }
    };
    let per_sec = |count: u64| round4(1000.0 * count as f64 / elapsed_ms);
    Some(Iostat {
        read: IostatDirection {
            request: IostatRate {
                merges_per_sec: per_sec(grew(|d| d.reads_merged)),
                per_sec: per_sec(reads),
            },
            per_sec: IostatBytes {
                bytes: per_sec(read_bytes),
            },
            await_ms: per_request(read_ms, reads),
        },
        write: IostatDirection {
            request: IostatRate {
                merges_per_sec: per_sec(grew(|d| d.writes_merged)),
                per_sec: per_sec(writes),
            },
            per_sec: IostatBytes {
                bytes: per_sec(write_bytes),
            },
            await_ms: per_request(write_ms, writes),
        },
        request: IostatRequest {
            avg_size: per_request(read_bytes.saturating_add(write_bytes), requests),
        },
        queue: IostatQueue {
            avg_size: round4(weighted_ms as f64 / elapsed_ms),
        },
        service_time: per_request(io_ms, requests),
        busy: round4(100.0 * io_ms as f64 / elapsed_ms).min(100.0),
        await_ms: per_request(read_ms.saturating_add(write_ms), requests),
    })
}

const ZERO_DIRECTION: IostatDirection = IostatDirection {
    request: IostatRate {
        merges_per_sec: 0.0,
        per_sec: 0.0,
    },
    per_sec: IostatBytes { bytes: 0.0 },
    await_ms: 0.0,
};

/// Metricbeat's `iostat` of a device's first reading.
const ZERO_IOSTAT: Iostat = Iostat {
    read: ZERO_DIRECTION,
    write: ZERO_DIRECTION,
    request: IostatRequest { avg_size: 0.0 },
    queue: IostatQueue { avg_size: 0.0 },
    service_time: 0.0,
    busy: 0.0,
    await_ms: 0.0,
};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn device(reads: u64, read_sectors: u64, read_time_ms: u64, io_time_ms: u64) -> DiskStats {
        DiskStats {
            name: "sda".into(),
            reads,
            read_sectors,
            read_time_ms,
            io_time_ms,
            weighted_io_time_ms: read_time_ms,
            ..DiskStats::default()
        }
    }

    #[test]
    fn iostat_over_a_second() {
        let before = device(100, 1_000, 50, 400);
        let after = device(150, 1_800, 150, 900);
        let stats = iostat(Some(&before), &after, Duration::from_secs(2)).expect("time elapsed");
        assert_eq!(stats.read.request.per_sec, 25.0);
        assert_eq!(stats.read.per_sec.bytes, 204_800.0);
        assert_eq!(stats.read.await_ms, 2.0);
        assert_eq!(stats.request.avg_size, 8_192.0);
        assert_eq!(stats.queue.avg_size, 0.05);
        assert_eq!(stats.service_time, 10.0);
        assert_eq!(stats.busy, 25.0);
        assert_eq!(stats.write.await_ms, 0.0, "no writes: no division by zero");
    }

    #[test]
    fn iostat_first_reading_is_zero_and_no_interval_is_none() {
        let now = device(1, 2, 3, 4);
        assert_eq!(iostat(None, &now, Duration::ZERO), Some(ZERO_IOSTAT));
        assert_eq!(iostat(Some(&now), &now, Duration::ZERO), None);
        let busy = iostat(Some(&device(0, 0, 0, 0)), &now, Duration::from_millis(2));
        assert_eq!(busy.map(|s| s.busy), Some(100.0), "capped like Metricbeat");
    }
}
