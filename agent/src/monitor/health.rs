//! The `/health` decision, pure: whether the agent is shipping, given when deliveries last
//! succeeded and since when events have been waiting in the spool.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How long events may wait in the spool without any delivery succeeding before `/health`
/// reports the agent unhealthy (`[monitoring] unhealthy_after`).
pub const DEFAULT_UNHEALTHY_AFTER: Duration = Duration::from_secs(60);

/// What `/health` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Sampling and shipping (or nothing waits to be shipped).
    Running,
    /// A stop was requested.
    Stopping,
    /// Events wait in the spool and no delivery succeeded for `for_at_least`, longer than
    /// the configured bound.
    Stalled {
        /// How long nothing was delivered while events waited.
        for_at_least: Duration,
    },
}

impl Health {
    /// The HTTP status: 200 when running, 503 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Health::Running => 200,
            Health::Stopping | Health::Stalled { .. } => 503,
        }
    }

    /// The `status` word of the JSON body.
    pub fn word(&self) -> &'static str {
        match self {
            Health::Running => "running",
            Health::Stopping => "stopping",
            Health::Stalled { .. } => "stalled",
        }
    }

    /// Why the agent is not healthy, for the body; `None` when it is.
    pub fn reason(&self, spool_depth: i64) -> Option<String> {
        match self {
            Health::Running => None,
            Health::Stopping => Some("the agent is stopping".to_owned()),
            Health::Stalled { for_at_least } => Some(format!(
                "no delivery to Kafka succeeded for {}s while {spool_depth} events wait in the spool",
                for_at_least.as_secs()
            )),
        }
    }
}

/// The agent's health at `now`: stopping once a stop was requested; else stalled when events
/// have been waiting in the spool since `waiting_since` and no delivery succeeded (the last
/// at `last_acknowledged`) for longer than `unhealthy_after`, counted from the later of the
/// two; else running. An empty spool (`waiting_since` is `None`) is healthy whatever Kafka's
/// state: nothing waits for it.
pub fn health(
    now: DateTime<Utc>,
    stopping: bool,
    waiting_since: Option<DateTime<Utc>>,
    last_acknowledged: Option<DateTime<Utc>>,
    unhealthy_after: Duration,
) -> Health {
    if stopping {
        return Health::Stopping;
    }
    let Some(waiting_since) = waiting_since else {
        return Health::Running;
    };
    let since = last_acknowledged.map_or(waiting_since, |at| at.max(waiting_since));
    match (now - since).to_std() {
        Ok(stalled) if stalled > unhealthy_after => Health::Stalled {
            for_at_least: stalled,
        },
        _ => Health::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(60);

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).expect("valid time")
    }

    #[test]
    fn stalled_only_when_events_wait_longer_than_the_bound_without_a_delivery() {
        // Nothing waits: healthy even if nothing was ever delivered.
        assert_eq!(health(at(3600), false, None, None, BOUND), Health::Running);
        // Waiting since the start, never delivered: stalled after the bound, not before.
        assert_eq!(
            health(at(60), false, Some(at(0)), None, BOUND),
            Health::Running
        );
        assert_eq!(
            health(at(61), false, Some(at(0)), None, BOUND),
            Health::Stalled {
                for_at_least: Duration::from_secs(61)
            }
        );
        // Kafka unreachable for hours after a last delivery.
        let hours = health(at(3 * 3600), false, Some(at(10)), Some(at(5)), BOUND);
        assert_eq!(hours.status(), 503);
        assert_eq!(
            hours.reason(42).as_deref(),
            Some("no delivery to Kafka succeeded for 10790s while 42 events wait in the spool")
        );
        // A recent delivery makes it healthy again although events still wait.
        assert_eq!(
            health(
                at(3 * 3600),
                false,
                Some(at(10)),
                Some(at(3 * 3600 - 1)),
                BOUND
            ),
            Health::Running
        );
        // Events that just started waiting after a long quiet spell are not a stall.
        assert_eq!(
            health(at(1000), false, Some(at(990)), Some(at(0)), BOUND),
            Health::Running
        );
    }

    #[test]
    fn stopping_wins() {
        let stopping = health(at(0), true, None, None, BOUND);
        assert_eq!((stopping.status(), stopping.word()), (503, "stopping"));
        assert_eq!(
            health(at(500), true, Some(at(0)), None, BOUND),
            Health::Stopping
        );
    }
}
