//! `system.cpu`: CPU time by state since the previous sample.

use serde::{Deserialize, Serialize};

// One field per Metricbeat field: the serde attributes repeat by design.
/// `system.cpu`. States appear only where the operating system reports them (Linux
/// reports all eight; macOS only user, system, idle and nice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    /// Number of logical CPUs; `pct` ranges over `0..cores`.
    pub cores: u32,
    /// Busy time: everything but idle and iowait.
    pub total: CpuTotal,
    /// Time in user mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<CpuState>,
    /// Time in kernel mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<CpuState>,
    /// Idle time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<CpuState>,
    /// Time waiting for I/O.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iowait: Option<CpuState>,
    /// Time servicing interrupts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irq: Option<CpuState>,
    /// Time servicing soft interrupts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softirq: Option<CpuState>,
    /// Time stolen by the hypervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal: Option<CpuState>,
    /// Time in user mode at low priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nice: Option<CpuState>,
}

/// `system.cpu.total`: `pct` (0..cores) and `norm.pct` (0..1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuTotal {
    /// Busy fraction summed over all cores (0..cores), present with the `percentages` metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pct: Option<f64>,
    /// Busy fraction of the whole machine (0..1), present with `normalized_percentages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<Norm>,
}

/// One CPU state: fractions and optionally the raw tick counter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuState {
    /// Fraction summed over all cores (0..cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pct: Option<f64>,
    /// Fraction of the whole machine (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<Norm>,
    /// Cumulative ticks (USER_HZ) since boot, with the `ticks` metric only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticks: Option<u64>,
}

/// A `norm` object: `{"pct": fraction}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Norm {
    /// Fraction in 0..1.
    pub pct: f64,
}

impl Cpu {
    /// `system.cpu.total.norm.pct`, the figure the processor's alert compares.
    pub fn total_norm_pct(&self) -> Option<f64> {
        self.total.norm.map(|n| n.pct)
    }

    /// The states present, by their Metricbeat names.
    pub fn states(&self) -> impl Iterator<Item = (&'static str, &CpuState)> {
        [
            ("user", &self.user),
            ("system", &self.system),
            ("idle", &self.idle),
            ("iowait", &self.iowait),
            ("irq", &self.irq),
            ("softirq", &self.softirq),
            ("steal", &self.steal),
            ("nice", &self.nice),
        ]
        .into_iter()
        .filter_map(|(name, state)| state.as_ref().map(|s| (name, s)))
    }
}
