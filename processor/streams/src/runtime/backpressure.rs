//! Flow control, pure: when a worker holds back from its consumer, pauses its partitions and
//! resumes, given how much is in flight.
//!
//! While too much is in flight (records or input bytes whose outputs are not acknowledged) the
//! worker first *holds*: it stops polling its consumer and waits for acknowledgements, leaving
//! what librdkafka prefetched in its queue (bounded by `queued.max.messages.kbytes`). After
//! [`HOLD_LIMIT`] it *pauses* the partitions and polls again, so rebalances and
//! `max.poll.interval.ms` are served; `pause()` discards the prefetched records (they are fetched
//! again on `resume()`), so it is kept for long stalls such as an unreachable output broker.
//! Either ends once half of the limits drained.

use std::time::{Duration, Instant};

/// How long a worker may hold back from polling before it pauses its partitions instead.
pub const HOLD_LIMIT: Duration = Duration::from_secs(10);

/// The limits of what may be in flight per worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightLimits {
    /// Records with unacknowledged outputs.
    pub records: usize,
    /// Input bytes of those records.
    pub bytes: usize,
}

/// A worker's flow-control state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// Consuming normally.
    Flowing,
    /// Not polling the consumer since then, waiting for acknowledgements.
    Holding(Instant),
    /// The assignment is paused; the consumer is polled for rebalances only.
    Paused,
}

/// What the worker must do to its consumer after [`Backpressure::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAction {
    /// Nothing to change.
    None,
    /// Pause the assigned partitions.
    Pause,
    /// Resume the assigned partitions.
    Resume,
}

impl Backpressure {
    /// The state after observing `records` and `bytes` in flight at `now`, and what to do to the
    /// consumer to get there. [`Backpressure::holds`] on the result says whether to skip the
    /// next poll.
    pub fn next(
        self,
        records: usize,
        bytes: usize,
        limits: InFlightLimits,
        now: Instant,
    ) -> (Backpressure, FlowAction) {
        let over = records >= limits.records || bytes >= limits.bytes;
        let drained = records <= limits.records / 2 && bytes <= limits.bytes / 2;
        match self {
            Backpressure::Flowing if over => (Backpressure::Holding(now), FlowAction::None),
            Backpressure::Holding(_) if drained => (Backpressure::Flowing, FlowAction::None),
            Backpressure::Paused if drained => (Backpressure::Flowing, FlowAction::Resume),
            Backpressure::Holding(since) if now.saturating_duration_since(since) >= HOLD_LIMIT => {
                (Backpressure::Paused, FlowAction::Pause)
            }
            state => (state, FlowAction::None),
        }
    }

    /// Whether the worker skips polling its consumer in this state.
    pub fn holds(self) -> bool {
        matches!(self, Backpressure::Holding(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: InFlightLimits = InFlightLimits {
        records: 100,
        bytes: 1_000,
    };

    #[test]
    fn holds_when_over_either_limit_and_flows_again_below_half() {
        let start = Instant::now();
        let (state, action) = Backpressure::Flowing.next(99, 999, LIMITS, start);
        assert_eq!((state, action), (Backpressure::Flowing, FlowAction::None));
        for (records, bytes) in [(100, 0), (0, 1_000)] {
            let (state, action) = Backpressure::Flowing.next(records, bytes, LIMITS, start);
            assert_eq!(state, Backpressure::Holding(start));
            assert_eq!(action, FlowAction::None);
            assert!(state.holds());
        }
        let holding = Backpressure::Holding(start);
        assert_eq!(holding.next(51, 0, LIMITS, start).0, holding, "above half");
        assert_eq!(holding.next(0, 501, LIMITS, start).0, holding, "above half");
        let (state, action) = holding.next(50, 500, LIMITS, start);
        assert_eq!((state, action), (Backpressure::Flowing, FlowAction::None));
        assert!(!state.holds());
    }

    #[test]
    fn a_long_hold_pauses_and_a_drain_resumes() {
        let start = Instant::now();
        let holding = Backpressure::Holding(start);
        let almost = start + HOLD_LIMIT - Duration::from_millis(1);
        assert_eq!(holding.next(100, 0, LIMITS, almost).0, holding);
        let (paused, action) = holding.next(100, 0, LIMITS, start + HOLD_LIMIT);
        assert_eq!((paused, action), (Backpressure::Paused, FlowAction::Pause));
        assert!(!paused.holds(), "a paused worker polls for rebalances");
        let later = start + HOLD_LIMIT * 3;
        assert_eq!(
            paused.next(80, 0, LIMITS, later),
            (Backpressure::Paused, FlowAction::None)
        );
        assert_eq!(
            paused.next(10, 10, LIMITS, later),
            (Backpressure::Flowing, FlowAction::Resume)
        );
    }
}
