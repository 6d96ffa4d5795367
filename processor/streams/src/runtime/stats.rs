//! Counters of the runtime, shared by its workers and read by anyone.

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals since the client started; every field is a monotonic counter.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    records_processed: AtomicU64,
    outputs_sent: AtomicU64,
    outputs_acknowledged: AtomicU64,
    production_retries: AtomicU64,
    outputs_dropped: AtomicU64,
    outputs_dead_lettered: AtomicU64,
    records_dead_lettered: AtomicU64,
    records_skipped: AtomicU64,
    commits: AtomicU64,
    fetch_pauses: AtomicU64,
    workers_replaced: AtomicU64,
}

/// A copy of [`RuntimeStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Input records the topology was run on.
    pub records_processed: u64,
    /// Output records handed to the producer (re-sends included).
    pub outputs_sent: u64,
    /// Output records the brokers acknowledged.
    pub outputs_acknowledged: u64,
    /// Re-sends after a retriable delivery error.
    pub production_retries: u64,
    /// Outputs given up on after a non-retriable error or the last retry (and, under the
    /// dead-letter policy, after the dead-letter topic failed too).
    pub outputs_dropped: u64,
    /// Outputs sent to the dead-letter topic instead after their delivery failed.
    pub outputs_dead_lettered: u64,
    /// Input records the topology failed on that went to the dead-letter topic.
    pub records_dead_lettered: u64,
    /// Input records the topology failed on that were logged and skipped.
    pub records_skipped: u64,
    /// Offset commits requested.
    pub commits: u64,
    /// Times the worker stopped consuming because too much was in flight (it holds back, then
    /// pauses its partitions if that lasts).
    pub fetch_pauses: u64,
    /// Failed workers replaced by new ones.
    pub workers_replaced: u64,
}

/// Names a counter of [`RuntimeStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// See [`StatsSnapshot::records_processed`].
    RecordsProcessed,
    /// See [`StatsSnapshot::outputs_sent`].
    OutputsSent,
    /// See [`StatsSnapshot::outputs_acknowledged`].
    OutputsAcknowledged,
    /// See [`StatsSnapshot::production_retries`].
    ProductionRetries,
    /// See [`StatsSnapshot::outputs_dropped`].
    OutputsDropped,
    /// See [`StatsSnapshot::outputs_dead_lettered`].
    OutputsDeadLettered,
    /// See [`StatsSnapshot::records_dead_lettered`].
    RecordsDeadLettered,
    /// See [`StatsSnapshot::records_skipped`].
    RecordsSkipped,
    /// See [`StatsSnapshot::commits`].
    Commits,
    /// See [`StatsSnapshot::fetch_pauses`].
    FetchPauses,
    /// See [`StatsSnapshot::workers_replaced`].
    WorkersReplaced,
}

impl Counter {
    /// Every counter, in the order of [`StatsSnapshot`]'s fields.
    pub const ALL: [Counter; 11] = [
        Counter::RecordsProcessed,
        Counter::OutputsSent,
        Counter::OutputsAcknowledged,
        Counter::ProductionRetries,
        Counter::OutputsDropped,
        Counter::OutputsDeadLettered,
        Counter::RecordsDeadLettered,
        Counter::RecordsSkipped,
        Counter::Commits,
        Counter::FetchPauses,
        Counter::WorkersReplaced,
    ];

    /// The name of the counter in logs: its [`StatsSnapshot`] field.
    pub fn name(self) -> &'static str {
        match self {
            Counter::RecordsProcessed => "records_processed",
            Counter::OutputsSent => "outputs_sent",
            Counter::OutputsAcknowledged => "outputs_acknowledged",
            Counter::ProductionRetries => "production_retries",
            Counter::OutputsDropped => "outputs_dropped",
            Counter::OutputsDeadLettered => "outputs_dead_lettered",
            Counter::RecordsDeadLettered => "records_dead_lettered",
            Counter::RecordsSkipped => "records_skipped",
            Counter::Commits => "commits",
            Counter::FetchPauses => "fetch_pauses",
            Counter::WorkersReplaced => "workers_replaced",
        }
    }
}

impl StatsSnapshot {
    /// The value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        match counter {
            Counter::RecordsProcessed => self.records_processed,
            Counter::OutputsSent => self.outputs_sent,
            Counter::OutputsAcknowledged => self.outputs_acknowledged,
            Counter::ProductionRetries => self.production_retries,
            Counter::OutputsDropped => self.outputs_dropped,
            Counter::OutputsDeadLettered => self.outputs_dead_lettered,
            Counter::RecordsDeadLettered => self.records_dead_lettered,
            Counter::RecordsSkipped => self.records_skipped,
            Counter::Commits => self.commits,
            Counter::FetchPauses => self.fetch_pauses,
            Counter::WorkersReplaced => self.workers_replaced,
        }
    }

    /// `name=+delta` for each counter that moved since `before`; `None` when none did.
    pub fn changes_since(&self, before: &StatsSnapshot) -> Option<String> {
        let moved: Vec<String> = Counter::ALL
            .iter()
            .filter_map(|&counter| {
                let delta = self.get(counter).saturating_sub(before.get(counter));
                (delta > 0).then(|| format!("{}=+{delta}", counter.name()))
            })
            .collect();
        (!moved.is_empty()).then(|| moved.join(" "))
    }
}

impl RuntimeStats {
    fn counter(&self, counter: Counter) -> &AtomicU64 {
        match counter {
            Counter::RecordsProcessed => &self.records_processed,
            Counter::OutputsSent => &self.outputs_sent,
            Counter::OutputsAcknowledged => &self.outputs_acknowledged,
            Counter::ProductionRetries => &self.production_retries,
            Counter::OutputsDropped => &self.outputs_dropped,
            Counter::OutputsDeadLettered => &self.outputs_dead_lettered,
            Counter::RecordsDeadLettered => &self.records_dead_lettered,
            Counter::RecordsSkipped => &self.records_skipped,
            Counter::Commits => &self.commits,
            Counter::FetchPauses => &self.fetch_pauses,
            Counter::WorkersReplaced => &self.workers_replaced,
        }
    }

    /// Adds `amount` to `counter`.
    pub fn add(&self, counter: Counter, amount: u64) {
        self.counter(counter).fetch_add(amount, Ordering::Relaxed);
    }

    /// The current totals.
    pub fn snapshot(&self) -> StatsSnapshot {
        let read = |counter| self.counter(counter).load(Ordering::Relaxed);
        StatsSnapshot {
            records_processed: read(Counter::RecordsProcessed),
            outputs_sent: read(Counter::OutputsSent),
            outputs_acknowledged: read(Counter::OutputsAcknowledged),
            production_retries: read(Counter::ProductionRetries),
            outputs_dropped: read(Counter::OutputsDropped),
            outputs_dead_lettered: read(Counter::OutputsDeadLettered),
            records_dead_lettered: read(Counter::RecordsDeadLettered),
            records_skipped: read(Counter::RecordsSkipped),
            commits: read(Counter::Commits),
            fetch_pauses: read(Counter::FetchPauses),
            workers_replaced: read(Counter::WorkersReplaced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_list_only_the_counters_that_moved() {
        let stats = RuntimeStats::default();
        let before = stats.snapshot();
        assert_eq!(stats.snapshot().changes_since(&before), None);
        stats.add(Counter::RecordsProcessed, 5);
        stats.add(Counter::Commits, 2);
        let after = stats.snapshot();
        assert_eq!(
            after.changes_since(&before).as_deref(),
            Some("records_processed=+5 commits=+2")
        );
        assert_eq!(after.changes_since(&after), None);
        for counter in Counter::ALL {
            assert_eq!(after.get(counter), stats.snapshot().get(counter));
        }
    }
}
