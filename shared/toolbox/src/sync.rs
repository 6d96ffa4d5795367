//! Locking that outlives a panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the data even if a thread panicked while holding it: every value
/// guarded in ferrobeat stays consistent between statements (counters, queues, handles), so a
/// panic elsewhere must not take the process's monitoring or shutdown down with it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
