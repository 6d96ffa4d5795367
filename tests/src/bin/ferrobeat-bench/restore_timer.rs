//! Timing a store's restore with a `StateRestoreListener`: from the first partition's
//! `on_restore_start` to the last one's `on_restore_end`, with the records applied.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::bail;
use ferrobeat_streams::runtime::StateRestoreListener;

/// A store restored from its changelog, as its restore listener saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Restore {
    /// Records applied, summed over the changelog's partitions.
    pub(crate) records: u64,
    /// Seconds from the first partition's `on_restore_start` to the last one's
    /// `on_restore_end`.
    pub(crate) seconds: f64,
}

impl Restore {
    /// Records applied per second.
    pub(crate) fn records_per_second(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-3)
    }
}

/// When restores started and ended, and how many records they applied.
#[derive(Debug, Default)]
struct Restores {
    first_start: Option<Instant>,
    last_end: Option<Instant>,
    ended: usize,
    records: u64,
}

/// A `StateRestoreListener` timing a store's restore over all its partitions.
#[derive(Debug, Default)]
pub(crate) struct RestoreTimer {
    restores: Mutex<Restores>,
}

impl RestoreTimer {
    /// The restore, once `partitions` partitions have ended theirs; an error if that takes
    /// longer than `timeout` (a zero `timeout`: they must have ended already).
    pub(crate) fn finished(&self, partitions: usize, timeout: Duration) -> anyhow::Result<Restore> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let restores = self.restores.lock().unwrap_or_else(PoisonError::into_inner);
                if restores.ended >= partitions
                    && let (Some(start), Some(end)) = (restores.first_start, restores.last_end)
                {
                    return Ok(Restore {
                        records: restores.records,
                        seconds: end.duration_since(start).as_secs_f64(),
                    });
                }
                if Instant::now() >= deadline {
                    bail!(
                        "{} of {partitions} partitions restored ({} records) within {timeout:?}",
                        restores.ended,
                        restores.records
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn update(&self, change: impl FnOnce(&mut Restores)) {
        change(&mut self.restores.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl StateRestoreListener for RestoreTimer {
    fn on_restore_start(&self, _: &str, _: i32, _: &str, _: i64, _: i64) {
        self.update(|restores| {
            restores.first_start.get_or_insert_with(Instant::now);
        });
    }

    fn on_batch_restored(&self, _: &str, _: i32, _: &str, _: i64, _: u64) {}

    fn on_restore_end(&self, _: &str, _: i32, _: &str, total: u64) {
        self.update(|restores| {
            restores.last_end = Some(Instant::now());
            restores.ended += 1;
            restores.records += total;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_timer_spans_the_first_start_to_the_last_end() {
        let timer = RestoreTimer::default();
        assert!(timer.finished(2, Duration::ZERO).is_err());
        timer.on_restore_start("c", 0, "s", 0, 5);
        timer.on_restore_end("c", 0, "s", 5);
        assert!(
            timer.finished(2, Duration::ZERO).is_err(),
            "one of two ended"
        );
        timer.on_restore_start("c", 1, "s", 0, 7);
        timer.on_restore_end("c", 1, "s", 7);
        let restore = timer.finished(2, Duration::ZERO).expect("both ended");
        assert_eq!(restore.records, 12);
        assert!(restore.seconds >= 0.0);
    }
}
