//! When to replace a failed worker, pure (the `replace-worker` uncaught-error policy): after an
//! exponentially growing, jittered pause, and not at all once too many replacements happened
//! within a window, so that a record that fails every worker cannot spin the client in a loop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The first pause before a replacement; it doubles with each replacement in the window.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause before a replacement.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What to do about a failed worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Start a replacement once this pause has passed.
    After(Duration),
    /// Too many replacements in the window: shut the client down.
    GiveUp {
        /// Replacements made within the window.
        replacements: usize,
    },
}

/// The replacements made recently, and the limit on them.
#[derive(Debug, Clone)]
pub struct RestartBudget {
    limit: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// At most `limit` replacements within any `window`.
    pub fn new(limit: usize, window: Duration) -> Self {
        RestartBudget {
            limit,
            window,
            recent: VecDeque::new(),
        }
    }

    /// Decides for a worker that failed at `now`; `jitter` in `[0, 1)` spreads the pause over
    /// its upper half so that replacements of many clients do not move in lockstep. A
    /// replacement decided here counts against the budget.
    pub fn on_failure(&mut self, now: Instant, jitter: f64) -> Restart {
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= self.limit {
            return Restart::GiveUp {
                replacements: self.recent.len(),
            };
        }
        let doublings = u32::try_from(self.recent.len()).unwrap_or(u32::MAX).min(16);
        let ceiling = FIRST_BACKOFF
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF);
        self.recent.push_back(now);
        Restart::After(ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_exponentially_with_jitter_then_the_budget_gives_up() {
        let start = Instant::now();
        let mut budget = RestartBudget::new(4, Duration::from_secs(60));
        let pauses: Vec<Restart> = (0..4)
            .map(|i| budget.on_failure(start + Duration::from_secs(i), 0.0))
            .collect();
        assert_eq!(
            pauses,
            [100, 200, 400, 800].map(|ms| Restart::After(Duration::from_millis(ms)))
        );
        assert_eq!(
            budget.on_failure(start + Duration::from_secs(5), 0.0),
            Restart::GiveUp { replacements: 4 }
        );
        let mut jittered = RestartBudget::new(4, Duration::from_secs(60));
        assert_eq!(
            jittered.on_failure(start, 0.999_999),
            Restart::After(FIRST_BACKOFF.mul_f64(0.5 + 0.5 * 0.999_999))
        );
    }

    #[test]
    fn failures_older_than_the_window_are_forgiven_and_the_pause_is_capped() {
        let start = Instant::now();
        let mut budget = RestartBudget::new(2, Duration::from_secs(10));
        assert!(matches!(budget.on_failure(start, 0.5), Restart::After(_)));
        assert!(matches!(budget.on_failure(start, 0.5), Restart::After(_)));
        assert!(matches!(
            budget.on_failure(start + Duration::from_secs(9), 0.5),
            Restart::GiveUp { .. }
        ));
        assert_eq!(
            budget.on_failure(start + Duration::from_secs(10), 0.0),
            Restart::After(FIRST_BACKOFF / 2),
            "both earlier replacements left the window"
        );
        let mut many = RestartBudget::new(100, Duration::from_secs(3600));
        let last = (0..40)
            .map(|_| many.on_failure(start, 0.999))
            .last()
            .expect("40 decisions");
        assert_eq!(last, Restart::After(MAX_BACKOFF.mul_f64(0.5 + 0.5 * 0.999)));
    }
}
