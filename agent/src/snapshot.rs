//! The readings the OS adapter ([`crate::source`]) produces and the pure core
//! ([`crate::collect`]) turns into events: plain data, no behaviour beyond a sum, so both
//! sides depend on this module and not on each other.

use ferrobeat_schema::Metricset;
use ferrobeat_schema::metricsets::Network;

/// One reading of one metricset, as the OS adapter ([`crate::source`]) produces it.
#[derive(Debug, Clone, PartialEq)]
pub enum Snapshot {
    /// CPU time counters.
    Cpu(CpuSnapshot),
    /// CPU busy fraction, where there are no counters.
    CpuBusy(CpuBusy),
    /// Memory counters.
    Memory(MemInfo),
    /// Every interface's counters.
    Network(Vec<Network>),
    /// Every block device's counters.
    Diskio(Vec<DiskStats>),
    /// Load averages.
    Load(LoadSnapshot),
    /// Usage of every reported mount.
    Filesystem(Vec<MountUsage>),
}

impl Snapshot {
    /// The metricset this reading belongs to.
    pub fn metricset(&self) -> Metricset {
        match self {
            Snapshot::Cpu(_) | Snapshot::CpuBusy(_) => Metricset::Cpu,
            Snapshot::Memory(_) => Metricset::Memory,
            Snapshot::Network(_) => Metricset::Network,
            Snapshot::Diskio(_) => Metricset::Diskio,
            Snapshot::Load(_) => Metricset::Load,
            Snapshot::Filesystem(_) => Metricset::Filesystem,
        }
    }
}

/// Cumulative CPU time since boot by state, summed over all CPUs, in ticks (`USER_HZ`), as
/// the aggregate `cpu` line of `/proc/stat` gives it. States a kernel does not report are
/// `None` (the first four are always there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Time in user mode (includes guest time).
    pub user: u64,
    /// Time in user mode at low priority.
    pub nice: u64,
    /// Time in kernel mode.
    pub system: u64,
    /// Idle time.
    pub idle: u64,
    /// Time waiting for I/O.
    pub iowait: Option<u64>,
    /// Time servicing interrupts.
    pub irq: Option<u64>,
    /// Time servicing soft interrupts.
    pub softirq: Option<u64>,
    /// Time stolen by the hypervisor.
    pub steal: Option<u64>,
}

impl CpuTimes {
    /// All ticks, every state included: the denominator of every fraction.
    pub fn total(&self) -> u64 {
        [self.iowait, self.irq, self.softirq, self.steal]
            .into_iter()
            .flatten()
            .fold(
                self.user + self.nice + self.system + self.idle,
                u64::saturating_add,
            )
    }
}

/// One reading of the CPU counters and how many logical CPUs there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSnapshot {
    /// The counters.
    pub times: CpuTimes,
    /// Logical CPUs (`cores`).
    pub cores: u32,
}

/// Busy fraction of the whole machine since the previous reading, where the OS gives no
/// per-state counters (macOS through `sysinfo`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuBusy {
    /// Busy fraction, 0..1.
    pub busy: f64,
    /// Logical CPUs.
    pub cores: u32,
}

// Plain data struct: alike in shape only.
/// The memory counters, in bytes (huge pages in pages), as `/proc/meminfo` gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemFree`.
    pub free: u64,
    /// `MemAvailable`, absent before Linux 3.14 and on systems that do not estimate it.
    pub available: Option<u64>,
    /// `Buffers`.
    pub buffers: u64,
    /// `Cached` (page cache); `None` where the system does not report it.
    pub cached: Option<u64>,
    /// `SwapTotal`.
    pub swap_total: u64,
    /// `SwapFree`.
    pub swap_free: u64,
}

/// One device's line of `/proc/diskstats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Device name (`sda`).
    pub name: String,
    /// Reads completed.
    pub reads: u64,
    /// Adjacent reads merged into one request.
    pub reads_merged: u64,
    /// Sectors read.
    pub read_sectors: u64,
    /// Milliseconds spent reading.
    pub read_time_ms: u64,
    /// Writes completed.
    pub writes: u64,
    /// Adjacent writes merged into one request.
    pub writes_merged: u64,
    /// Sectors written.
    pub write_sectors: u64,
    /// Milliseconds spent writing.
    pub write_time_ms: u64,
    /// I/Os currently in progress.
    pub in_progress: u64,
    /// Milliseconds spent doing I/O.
    pub io_time_ms: u64,
    /// Milliseconds spent doing I/O, weighted by the number of I/Os in flight.
    pub weighted_io_time_ms: u64,
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`) and the logical CPU count.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadSnapshot {
    /// 1-minute average.
    pub one: f64,
    /// 5-minute average.
    pub five: f64,
    /// 15-minute average.
    pub fifteen: f64,
    /// Logical CPUs, the divisor of `norm`.
    pub cores: u32,
}

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
