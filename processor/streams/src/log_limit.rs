//! Rate-limited logging: at most one line per interval for a flood of similar events (bad
//! records, late records), with the count of those held back.

use std::time::{Duration, Instant};

/// Lets one log line through per interval and counts the ones it held back, so a flood of
/// bad records cannot flood the log.
#[derive(Debug, Clone)]
pub struct LogRateLimiter {
    interval: Duration,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl LogRateLimiter {
    /// A limiter letting at most one line through per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_logged: None,
            suppressed: 0,
        }
    }

    /// Whether to log now: `Some(n)` with the number of lines held back since the last one,
    /// or `None` to stay quiet.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last_logged
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            self.last_logged = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_counts_what_it_holds_back() {
        let start = Instant::now();
        let mut limiter = LogRateLimiter::new(Duration::from_secs(10));
        assert_eq!(limiter.admit(start), Some(0));
        assert_eq!(limiter.admit(start + Duration::from_secs(1)), None);
        assert_eq!(limiter.admit(start + Duration::from_secs(9)), None);
        assert_eq!(limiter.admit(start + Duration::from_secs(10)), Some(2));
        assert_eq!(limiter.admit(start + Duration::from_secs(11)), None);
    }
}
