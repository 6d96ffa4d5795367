//! The pause before the shipper retries after a failed delivery: it doubles from
//! [`FIRST_RETRY_PAUSE`] up to [`MAX_RETRY_PAUSE`], and each pause is drawn between half its
//! ceiling and the ceiling ("equal jitter"), so a fleet of agents that lost the same broker at the
//! same moment does not reconnect in lockstep. Pure: the caller passes the random draw.

use std::time::Duration;

/// The ceiling of the first pause after a failed delivery.
pub(super) const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// The largest ceiling.
pub(super) const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// The growing, jittered retry pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RetryPause {
    ceiling: Duration,
}

impl RetryPause {
    /// Starts at [`FIRST_RETRY_PAUSE`].
    pub(super) fn new() -> Self {
        RetryPause {
            ceiling: FIRST_RETRY_PAUSE,
        }
    }

    /// The pause to take now, `jitter` in `[0, 1)` placing it between half the current ceiling
    /// and the ceiling; the next ceiling doubles, up to [`MAX_RETRY_PAUSE`].
    pub(super) fn next(&mut self, jitter: f64) -> Duration {
        let pause = self.ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        self.ceiling = (self.ceiling * 2).min(MAX_RETRY_PAUSE);
        pause
    }

    /// Back to [`FIRST_RETRY_PAUSE`] after a successful delivery.
    pub(super) fn reset(&mut self) {
        self.ceiling = FIRST_RETRY_PAUSE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_spread_over_the_upper_half_of_a_doubling_ceiling() {
        let mut low = RetryPause::new();
        let mut high = RetryPause::new();
        let mut ceiling = FIRST_RETRY_PAUSE;
        for _ in 0..10 {
            let (shortest, longest) = (low.next(0.0), high.next(0.999_999));
            assert_eq!(
                shortest,
                ceiling / 2,
                "the shortest pause is half the ceiling"
            );
            assert!(
                longest > shortest * 19 / 10 && longest <= ceiling,
                "{longest:?}"
            );
            ceiling = (ceiling * 2).min(MAX_RETRY_PAUSE);
        }
        assert_eq!(ceiling, MAX_RETRY_PAUSE, "the ceiling stops growing");
        assert_eq!(low.next(0.5), MAX_RETRY_PAUSE * 3 / 4);
        low.reset();
        assert_eq!(low, RetryPause::new());
    }

    #[test]
    fn agents_failing_together_retry_at_different_moments() {
        let pauses: Vec<Duration> = [0.1, 0.4, 0.7, 0.9]
            .into_iter()
            .map(|jitter| RetryPause::new().next(jitter))
            .collect();
        assert!(
            pauses.windows(2).all(|pair| pair[0] < pair[1]),
            "{pauses:?}"
        );
    }
}
