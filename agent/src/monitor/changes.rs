//! The periodic log line of what the agent's counters did.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{AgentMetrics, Count, Snapshot};

/// A log line for what changed between two snapshots: each counter that moved, as
/// `name=+delta`, then the spool gauges; `None` when no counter moved.
pub fn describe_changes(before: &Snapshot, after: &Snapshot) -> Option<String> {
    let mut line = String::new();
    for count in Count::ALL {
        let delta = after.counts[count.index()].saturating_sub(before.counts[count.index()]);
        if delta > 0 {
            let _ = write!(line, "{}=+{delta} ", count.name());
        }
    }
    if line.is_empty() {
        return None;
    }
    let _ = write!(
        line,
        "spool_depth={} spool_bytes={}",
        after.spool_depth, after.spool_bytes
    );
    Some(line)
}

/// Logs the changes of `metrics` every `interval` until `shutdown` turns true, then once more.
pub async fn log_changes(
    metrics: Arc<AgentMetrics>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut before = Snapshot::default();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
        };
        let now = metrics.snapshot();
        if let Some(line) = describe_changes(&before, &now) {
            tracing::info!(target: "ferrobeat_agent::monitor", "{line}");
        }
        before = now;
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::SpoolStats;

    #[test]
    fn changes_list_only_moved_counters() {
        let metrics = AgentMetrics::new();
        let before = metrics.snapshot();
        assert_eq!(describe_changes(&before, &metrics.snapshot()), None);
        metrics.add(Count::Sampled, 4);
        metrics.add(Count::Acknowledged, 3);
        metrics.set_spool(&SpoolStats {
            depth: 1,
            bytes: 120,
            dropped: 0,
            corrupt: 0,
        });
        let line = describe_changes(&before, &metrics.snapshot()).expect("changes");
        assert_eq!(
            line,
            "events_sampled=+4 events_acknowledged=+3 spool_depth=1 spool_bytes=120"
        );
    }
}
