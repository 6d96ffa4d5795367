//! The macOS adapter, on the `sysinfo` crate. See the differences from Metricbeat's macOS
//! output in [`crate::source`].

use ferrobeat_schema::Metricset;
use ferrobeat_schema::metricsets::{Network, NetworkCounters};
use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System};

use super::{SourceError, is_reported};
use crate::snapshot::{CpuBusy, LoadSnapshot, MemInfo, Mount, MountUsage, Snapshot};

/// Reads the metricsets' figures through `sysinfo`.
#[derive(Debug)]
pub struct SysinfoSource {
    system: System,
    networks: Networks,
    disks: Disks,
    ignored_types: Vec<String>,
}

impl SysinfoSource {
    /// An adapter not reporting file systems of `ignored_fs_types` (the `[collect]` filter).
    pub fn for_host(ignored_fs_types: Vec<String>) -> Self {
        let refresh = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
            .with_memory(MemoryRefreshKind::everything());
        SysinfoSource {
            system: System::new_with_specifics(refresh),
            networks: Networks::new_with_refreshed_list(),
            disks: Disks::new_with_refreshed_list(),
            ignored_types: ignored_fs_types,
        }
    }

    /// A new adapter with the same filter, for another thread.
    pub fn sibling(&self) -> Self {
        Self::for_host(self.ignored_types.clone())
    }

    /// Reads the figures of `metricset`.
    ///
    /// # Errors
    /// [`SourceError::Unsupported`] for diskio.
    pub fn read(&mut self, metricset: Metricset) -> Result<Snapshot, SourceError> {
        let cores = u32::try_from(self.system.cpus().len()).unwrap_or(u32::MAX);
        match metricset {
            Metricset::Cpu => {
                self.system.refresh_cpu_usage();
                Ok(Snapshot::CpuBusy(CpuBusy {
                    busy: f64::from(self.system.global_cpu_usage()) / 100.0,
                    cores,
                }))
            }
            Metricset::Memory => {
                self.system.refresh_memory();
                Ok(Snapshot::Memory(MemInfo {
                    total: self.system.total_memory(),
                    free: self.system.free_memory(),
                    available: Some(self.system.available_memory()),
                    buffers: 0,
                    cached: None,
                    swap_total: self.system.total_swap(),
                    swap_free: self.system.free_swap(),
                }))
            }
            Metricset::Network => {
                self.networks.refresh(true);
                let interfaces = self
                    .networks
                    .iter()
                    .map(|(name, data)| Network {
                        name: name.clone(),
                        received: NetworkCounters {
                            bytes: data.total_received(),
                            packets: data.total_packets_received(),
                            errors: data.total_errors_on_received(),
                            dropped: 0,
                        },
                        sent: NetworkCounters {
                            bytes: data.total_transmitted(),
                            packets: data.total_packets_transmitted(),
                            errors: data.total_errors_on_transmitted(),
                            dropped: 0,
                        },
                    })
                    .collect();
                Ok(Snapshot::Network(interfaces))
            }
            Metricset::Load => {
                let load = System::load_average();
                Ok(Snapshot::Load(LoadSnapshot {
                    one: load.one,
                    five: load.five,
                    fifteen: load.fifteen,
                    cores,
                }))
            }
            Metricset::Filesystem => Ok(Snapshot::Filesystem(self.filesystems())),
            Metricset::Diskio => Err(SourceError::Unsupported { metricset }),
        }
    }

    /// The usage of every reported disk.
    fn filesystems(&mut self) -> Vec<MountUsage> {
        self.disks.refresh(true);
        self.disks
            .iter()
            .map(|disk| {
                let mount = Mount {
                    device: disk.name().to_string_lossy().into_owned(),
                    mount_point: disk.mount_point().to_string_lossy().into_owned(),
                    fs_type: disk.file_system().to_string_lossy().into_owned(),
                    options: String::new(),
                };
                MountUsage {
                    mount,
                    block_size: 1,
                    blocks: disk.total_space(),
                    blocks_free: disk.available_space(),
                    blocks_available: disk.available_space(),
                    files: 0,
                    files_free: 0,
                }
            })
            .filter(|usage| is_reported(&usage.mount, &self.ignored_types))
            .collect()
    }
}
