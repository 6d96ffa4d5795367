//! Payloads of the `system` module's metricsets, one module each.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod cpu;
mod diskio;
mod filesystem;
mod load;
mod memory;
mod network;

pub use cpu::{Cpu, CpuState, CpuTotal, Norm};
pub use diskio::{Diskio, DiskioCounters, DiskioIo};
pub use filesystem::Filesystem;
pub use load::{Load, LoadAverages};
pub use memory::{ActualMemory, Memory, Swap, Used};
pub use network::{Network, NetworkCounters};

/// The `system` object: exactly one metricset's payload, keyed by the metricset's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[expect(
    clippy::large_enum_variant,
    reason = "one payload per event, built and consumed once; boxing cpu would only add an \
              allocation per cpu event"
)]
pub enum System {
    /// `system.cpu`.
    Cpu(Cpu),
    /// `system.memory`.
    Memory(Memory),
    /// `system.network`: one interface.
    Network(Network),
    /// `system.diskio`: one block device.
    Diskio(Diskio),
    /// `system.load`.
    Load(Load),
    /// `system.filesystem`: one mounted file system.
    Filesystem(Filesystem),
}

impl System {
    /// Which metricset this payload belongs to.
    pub fn metricset(&self) -> Metricset {
        match self {
            System::Cpu(_) => Metricset::Cpu,
            System::Memory(_) => Metricset::Memory,
            System::Network(_) => Metricset::Network,
            System::Diskio(_) => Metricset::Diskio,
            System::Load(_) => Metricset::Load,
            System::Filesystem(_) => Metricset::Filesystem,
        }
    }
}

/// The metricsets of the `system` module that ferrobeat models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metricset {
    /// CPU time by state.
    Cpu,
    /// Memory and swap.
    Memory,
    /// Per-interface network counters.
    Network,
    /// Per-device disk counters.
    Diskio,
    /// Load averages.
    Load,
    /// Per-mount file system usage.
    Filesystem,
}

impl Metricset {
    /// Every metricset, in a stable order.
    pub const ALL: [Metricset; 6] = [
        Metricset::Cpu,
        Metricset::Memory,
        Metricset::Network,
        Metricset::Diskio,
        Metricset::Load,
        Metricset::Filesystem,
    ];

    /// The name in `metricset.name` (`cpu`).
    pub fn name(self) -> &'static str {
        match self {
            Metricset::Cpu => "cpu",
            Metricset::Memory => "memory",
            Metricset::Network => "network",
            Metricset::Diskio => "diskio",
            Metricset::Load => "load",
            Metricset::Filesystem => "filesystem",
        }
    }

    // An enum-to-text match, as elsewhere: one arm per variant.
    /// The dataset in `event.dataset` (`system.cpu`).
    pub fn dataset(self) -> &'static str {
        match self {
            Metricset::Cpu => "system.cpu",
            Metricset::Memory => "system.memory",
            Metricset::Network => "system.network",
            Metricset::Diskio => "system.diskio",
            Metricset::Load => "system.load",
            Metricset::Filesystem => "system.filesystem",
        }
    }
}

impl fmt::Display for Metricset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metricset name this schema does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metricset {0:?} (expected one of cpu, memory, network, diskio, load, filesystem)")]
pub struct UnknownMetricset(pub String);

impl FromStr for Metricset {
    type Err = UnknownMetricset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metricset::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownMetricset(s.to_owned()))
    }
}
