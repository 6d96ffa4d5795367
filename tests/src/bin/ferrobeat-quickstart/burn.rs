//! The explicit CPU burn that makes the quickstart raise an alert on an idle machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Keeps every core busy for `length` (one spinning thread per core), or until `stop` is set.
pub(crate) fn burn_all_cores(length: Duration, stop: Arc<AtomicBool>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for _ in 0..cores {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let until = Instant::now() + length;
            let mut x: u64 = 1;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                for _ in 0..100_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        });
    }
    cores
}
