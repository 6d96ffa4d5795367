//! `system.memory` from one reading of the kernel's memory counters.
//!
//! Metricbeat's Linux arithmetic: `used.bytes = total − free`; `actual.free = MemAvailable`
//! (on kernels before 3.14, which lack it, `free + buffers + cached`);
//! `actual.used.bytes = total − actual.free`; `swap.used.bytes = swap.total − swap.free`;
//! every `pct` is `used / total` rounded to 4 decimals (0 when the total is 0).
//!
//! Huge pages are not reported: Metricbeat 8.x reports them in the `linux` module
//! (`linux.memory.hugepages`), not in `system.memory`.

use ferrobeat_schema::metricsets::{ActualMemory, Memory, Swap, Used};
use ferrobeat_schema::numeric::fraction;

use crate::snapshot::MemInfo;

/// The memory document of one reading.
pub fn memory(info: &MemInfo) -> Memory {
    let actual_free = info
        .available
        .unwrap_or_else(|| info.free + info.buffers + info.cached.unwrap_or(0));
    Memory {
        total: info.total,
        used: used_of(info.total, info.free),
        free: info.free,
        cached: info.cached,
        actual: ActualMemory {
            free: actual_free,
            used: used_of(info.total, actual_free),
        },
        swap: Swap {
            total: info.swap_total,
            used: used_of(info.swap_total, info.swap_free),
            free: info.swap_free,
        },
    }
}

/// `{bytes: total − free, pct}`; a `free` above `total` (a racy reading) counts as all free.
fn used_of(total: u64, free: u64) -> Used {
    let bytes = total.saturating_sub(free);
    Used {
        bytes,
        pct: fraction(bytes as f64, total as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_mem_available_actual_free_counts_buffers_and_cache() {
        let info = MemInfo {
            total: 1000,
            free: 100,
            available: None,
            buffers: 50,
            cached: Some(250),
            ..MemInfo::default()
        };
        let memory = memory(&info);
        assert_eq!(memory.actual.free, 400);
        assert_eq!(
            memory.actual.used,
            Used {
                bytes: 600,
                pct: 0.6
            }
        );
        assert_eq!(
            memory.used,
            Used {
                bytes: 900,
                pct: 0.9
            }
        );
        assert_eq!(memory.swap.used, Used { bytes: 0, pct: 0.0 });
    }
}
