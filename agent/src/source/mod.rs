//! The operating-system adapter: reads the raw counters of each metricset into the plain
//! [`Snapshot`](crate::snapshot::Snapshot)s that the pure core ([`crate::collect`]) turns into
//! events. It knows nothing of events.
//!
//! * **Linux** ([`ProcSource`]): `/proc/stat`, `/proc/meminfo`, `/proc/net/dev`,
//!   `/proc/diskstats`, `/proc/loadavg`, `/proc/self/mounts` and `/proc/filesystems`, parsed
//!   by the [`parse`] functions into one reused buffer, and `statvfs(2)` per mount, each
//!   call with a time limit so a hung mount is skipped ([`mount_stat`]). Every metricset
//!   field of Metricbeat's Linux output that the schema models is produced.
//! * **macOS** (`SysinfoSource`, built on the `sysinfo` crate, compiled only there):
//!   cpu reports `total` and `host.cpu.usage` only (sysinfo gives usage, not per-state ticks;
//!   Metricbeat's macOS cpu has user, system, idle and nice); memory has no `cached` and
//!   `actual.free` is sysinfo's available memory; network has no `dropped` counts (0);
//!   load is the same; filesystem reports `free = available` and no inode counts (0), and
//!   has no per-mount time limit (sysinfo reads every disk at once: a hung mount stalls the
//!   filesystem rounds, which run on their own thread, and nothing else);
//!   diskio is not available and its rounds fail with [`SourceError::Unsupported`].
//!   This adapter is compiled only on macOS, so the Linux CI does not build it; during
//!   development it was type-checked and run against `sysinfo`'s Linux backend, which has
//!   the same API. Its first cpu reading is the usage since the adapter was created.

use std::io;
use std::path::PathBuf;

use ferrobeat_schema::Metricset;

use crate::snapshot::Mount;

pub mod parse;

#[cfg(target_os = "linux")]
pub mod mount_stat;
#[cfg(target_os = "linux")]
mod procfs;
#[cfg(target_os = "linux")]
pub use procfs::ProcSource;
/// The adapter of the platform being built for.
#[cfg(target_os = "linux")]
pub type HostSource = ProcSource;

#[cfg(target_os = "macos")]
mod sysinfo_source;
#[cfg(target_os = "macos")]
pub use sysinfo_source::SysinfoSource;
/// The adapter of the platform being built for.
#[cfg(target_os = "macos")]
pub type HostSource = SysinfoSource;

/// Why the OS could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file's content is not what the kernel writes.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, and on which line.
        source: parse::ParseError,
    },
    /// The metricset is not available on this platform.
    #[error("the {metricset} metricset is not available on this platform")]
    Unsupported {
        /// The metricset asked for.
        metricset: Metricset,
    },
}

/// Whether a mount is reported: Metricbeat skips file systems of the ignored types (by
/// default the kernel's `nodev` types: proc, sysfs, tmpfs, cgroup, …).
pub fn is_reported(mount: &Mount, ignored_types: &[String]) -> bool {
    !ignored_types.contains(&mount.fs_type)
}
