//! Timing a store's restore with a `StateRestoreListener`: from the first partition's
//! `on_restore_start` to the last one's `on_restore_end`, with the records applied.

use std::collections::HashMap;
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
    /// Seconds spent inside partitions' restores (from each one's `on_restore_start` to its
    /// `on_restore_end`, summed): the span without what lies between two partitions' restores
    /// (the next restore consumer's start and first fetch).
    pub(crate) applying_seconds: f64,
}

impl Restore {
    /// Records applied per second.
    pub(crate) fn records_per_second(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-3)
    }

    /// Records applied per second inside the partitions' restores.
    pub(crate) fn applying_records_per_second(&self) -> f64 {
        self.records as f64 / self.applying_seconds.max(1e-3)
    }
}

/// When restores started and ended, and how many records they applied.
#[derive(Debug, Default)]
struct Restores {
    first_start: Option<Instant>,
    last_end: Option<Instant>,
    /// When each changelog partition's restore started, until it ends.
    started: HashMap<(String, i32), Instant>,
    applying: Duration,
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
                        applying_seconds: restores.applying.as_secs_f64(),
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
    fn on_restore_start(&self, topic: &str, partition: i32, _: &str, _: i64, _: i64) {
        let now = Instant::now();
        self.update(|restores| {
            restores.first_start.get_or_insert(now);
            restores.started.insert((topic.to_owned(), partition), now);
        });
    }

    fn on_batch_restored(&self, _: &str, _: i32, _: &str, _: i64, _: u64) {}

    fn on_restore_end(&self, topic: &str, partition: i32, _: &str, total: u64) {
        let now = Instant::now();
        self.update(|restores| {
            if let Some(start) = restores.started.remove(&(topic.to_owned(), partition)) {
                restores.applying += now.duration_since(start);
            }
            restores.last_end = Some(now);
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
        // What lies between two partitions' restores counts in the span only.
        let gap = Instant::now();
        while gap.elapsed() < Duration::from_millis(5) {
            std::hint::spin_loop();
        }
        timer.on_restore_start("c", 1, "s", 0, 7);
        timer.on_restore_end("c", 1, "s", 7);
        let restore = timer.finished(2, Duration::ZERO).expect("both ended");
        assert_eq!(restore.records, 12);
        assert!(
            restore.seconds - restore.applying_seconds >= 0.005,
            "{restore:?}"
        );
    }
}
