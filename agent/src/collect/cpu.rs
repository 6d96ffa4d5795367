//! `system.cpu` from two readings of the CPU time counters.
//!
//! Metricbeat's arithmetic (elastic-agent-system-metrics, `metric/cpu`), reproduced exactly:
//! with `Δtotal` the sum of all state deltas,
//! * a state's `pct = round4(Δstate / Δtotal × cores)` and `norm.pct = round4(Δstate / Δtotal)`;
//! * `total.pct = round4(cores − (idle.pct + iowait.pct))` with the two rounded state values,
//!   `total.norm.pct` likewise with `cores = 1`; `host.cpu.usage = total.norm.pct`;
//! * a state appears only where the operating system reports it;
//! * **the first sample** has no previous reading: Metricbeat compares against zero, so the
//!   first event reports the averages since boot. We do the same.
//!
//! Differences, deliberate: a single state counter that goes backwards (Linux's iowait can)
//! counts as zero growth instead of a negative fraction, and `Δtotal` is the sum of the
//! states' growths, so fractions stay within `0..cores` (identical to Metricbeat whenever
//! no counter goes backwards); a reading whose total is unchanged or smaller is refused with
//! a [`CpuDeltaError`] instead of Metricbeat's generic error.

use ferrobeat_schema::HostCpu;
use ferrobeat_schema::metricsets::{Cpu, CpuState, CpuTotal, Norm};
use ferrobeat_schema::numeric::round4;

use super::CpuMetric;
use crate::snapshot::{CpuBusy, CpuSnapshot, CpuTimes};

/// Why two readings give no cpu event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CpuDeltaError {
    /// No tick elapsed between the readings.
    #[error("no CPU time elapsed since the previous sample ({ticks} ticks both times)")]
    NoTimeElapsed {
        /// The unchanged total.
        ticks: u64,
    },
    /// The counters went backwards: the system was restarted or the readings swapped.
    #[error("CPU time counters went backwards from {previous} to {current} ticks")]
    CountersWentBackwards {
        /// The previous total.
        previous: u64,
        /// The current, smaller total.
        current: u64,
    },
}

/// Which cpu figures to report: Metricbeat's `cpu.metrics` as flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuFigures {
    /// `pct` (0..cores).
    pub percentages: bool,
    /// `norm.pct` (0..1).
    pub normalized: bool,
    /// `ticks`.
    pub ticks: bool,
}

impl CpuFigures {
    /// The flags of a `cpu_metrics` list.
    pub fn from_metrics(metrics: &[CpuMetric]) -> Self {
        CpuFigures {
            percentages: metrics.contains(&CpuMetric::Percentages),
            normalized: metrics.contains(&CpuMetric::NormalizedPercentages),
            ticks: metrics.contains(&CpuMetric::Ticks),
        }
    }
}

/// The cpu document for the interval from `previous` to `current`, and `host.cpu`.
///
/// # Errors
/// [`CpuDeltaError`] when no time elapsed or the counters went backwards.
pub fn cpu_usage(
    previous: &CpuTimes,
    current: &CpuSnapshot,
    figures: CpuFigures,
) -> Result<(Cpu, HostCpu), CpuDeltaError> {
    let (before, now) = (previous.total(), current.times.total());
    if now < before {
        return Err(CpuDeltaError::CountersWentBackwards {
            previous: before,
            current: now,
        });
    }
    let (p, c) = (previous, &current.times);
    let [user, system, idle, iowait, irq, softirq, steal, nice] = [
        (Some(p.user), Some(c.user)),
        (Some(p.system), Some(c.system)),
        (Some(p.idle), Some(c.idle)),
        (p.iowait, c.iowait),
        (p.irq, c.irq),
        (p.softirq, c.softirq),
        (p.steal, c.steal),
        (Some(p.nice), Some(c.nice)),
    ]
    .map(|(prev, cur)| StateDelta {
        ticks: cur,
        delta: cur.unwrap_or(0).saturating_sub(prev.unwrap_or(0)),
    });
    let elapsed = [user, system, idle, iowait, irq, softirq, steal, nice]
        .iter()
        .map(|s| s.delta)
        .sum::<u64>();
    if elapsed == 0 {
        return Err(CpuDeltaError::NoTimeElapsed { ticks: now });
    }
    let cores = f64::from(current.cores);
    let share = |s: StateDelta, scale: f64| round4(s.delta as f64 / elapsed as f64 * scale);
    // Metricbeat subtracts the rounded idle and iowait fractions from `scale`.
    let busy = |scale: f64| round4(scale - (share(idle, scale) + share(iowait, scale)));
    let state = |s: StateDelta| {
        s.ticks.map(|ticks| CpuState {
            pct: figures.percentages.then(|| share(s, cores)),
            norm: figures.normalized.then(|| Norm { pct: share(s, 1.0) }),
            ticks: figures.ticks.then_some(ticks),
        })
    };
    let usage = busy(1.0);
    let cpu = Cpu {
        cores: current.cores,
        total: CpuTotal {
            pct: figures.percentages.then(|| busy(cores)),
            norm: figures.normalized.then_some(Norm { pct: usage }),
        },
        user: state(user),
        system: state(system),
        idle: state(idle),
        iowait: state(iowait),
        irq: state(irq),
        softirq: state(softirq),
        steal: state(steal),
        nice: state(nice),
    };
    Ok((cpu, HostCpu { usage }))
}

/// The cpu document of a [`CpuBusy`] reading: `total` only, no states.
pub fn cpu_from_busy(reading: &CpuBusy, figures: CpuFigures) -> (Cpu, HostCpu) {
    let usage = round4(reading.busy.clamp(0.0, 1.0));
    let cpu = Cpu {
        cores: reading.cores,
        total: CpuTotal {
            pct: figures
                .percentages
                .then(|| round4(reading.busy.clamp(0.0, 1.0) * f64::from(reading.cores))),
            norm: figures.normalized.then_some(Norm { pct: usage }),
        },
        user: None,
        system: None,
        idle: None,
        iowait: None,
        irq: None,
        softirq: None,
        steal: None,
        nice: None,
    };
    (cpu, HostCpu { usage })
}

/// One state between two readings: its current counter (if reported) and its growth.
#[derive(Clone, Copy)]
struct StateDelta {
    ticks: Option<u64>,
    delta: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: CpuFigures = CpuFigures {
        percentages: true,
        normalized: true,
        ticks: true,
    };

    fn times(user: u64, system: u64, idle: u64, iowait: u64) -> CpuTimes {
        CpuTimes {
            user,
            system,
            idle,
            iowait: Some(iowait),
            irq: Some(0),
            softirq: Some(0),
            steal: Some(0),
            ..CpuTimes::default()
        }
    }

    // Test cases alike in shape: each sets other counters and checks other results.
    #[test]
    fn busy_is_cores_minus_idle_and_iowait() {
        let previous = times(100, 100, 100, 100);
        let current = CpuSnapshot {
            times: times(150, 110, 130, 110),
            cores: 2,
        };
        let (cpu, host) = cpu_usage(&previous, &current, ALL).expect("time elapsed");
        // Δ: user 50, system 10, idle 30, iowait 10; Δtotal 100.
        assert_eq!(cpu.total.pct, Some(1.2));
        assert_eq!(cpu.total.norm, Some(Norm { pct: 0.6 }));
        assert_eq!(host.usage, 0.6);
        let user = cpu.user.expect("user is always there");
        assert_eq!(
            (user.pct, user.norm, user.ticks),
            (Some(1.0), Some(Norm { pct: 0.5 }), Some(150))
        );
    }

    #[test]
    fn backwards_state_counter_counts_as_zero() {
        let previous = times(100, 100, 100, 100);
        let current = CpuSnapshot {
            times: times(200, 100, 100, 90),
            cores: 1,
        };
        let (cpu, _) = cpu_usage(&previous, &current, ALL).expect("total grew");
        assert_eq!(cpu.iowait.and_then(|s| s.pct), Some(0.0));
        assert_eq!(cpu.user.and_then(|s| s.pct), Some(1.0));
        assert_eq!(cpu.total.pct, Some(1.0));
    }
}
