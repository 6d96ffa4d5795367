//! Counters of the runtime, shared by its workers and read by anyone.
//!
//! Each counter is declared once, in the `counters!` call below: its [`StatsSnapshot`] field
//! (which is also its name in logs and metrics), its [`Counter`] variant, its documentation and
//! its metric help. [`RuntimeStats`] keeps one atomic per counter, indexed by the variant.

use std::sync::atomic::{AtomicU64, Ordering};

/// Declares the counters: `field => Variant, "metric help"`, each after its documentation.
macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $field:ident => $variant:ident, $help:literal;)+) => {
        /// A copy of [`RuntimeStats`] at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $($(#[doc = $doc])+ pub $field: u64,)+
        }

        /// Names a counter of [`RuntimeStats`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Counter {
            $(#[doc = concat!("See [`StatsSnapshot::", stringify!($field), "`].")] $variant,)+
        }

        impl Counter {
            /// Every counter, in the order of [`StatsSnapshot`]'s fields.
            pub const ALL: [Counter; [$(stringify!($field)),+].len()] = [$(Counter::$variant),+];

            /// The name of the counter in logs and metrics: its [`StatsSnapshot`] field.
            pub fn name(self) -> &'static str {
                match self {
                    $(Counter::$variant => stringify!($field),)+
                }
            }

            /// One line saying what the counter counts (a metric's help text).
            pub fn help(self) -> &'static str {
                match self {
                    $(Counter::$variant => $help,)+
                }
            }
        }

        impl StatsSnapshot {
            /// The value of `counter`.
            pub fn get(&self, counter: Counter) -> u64 {
                match counter {
                    $(Counter::$variant => self.$field,)+
                }
            }

            /// A snapshot whose every counter is `read(counter)`.
            fn from_fn(read: impl Fn(Counter) -> u64) -> Self {
                Self {
                    $($field: read(Counter::$variant),)+
                }
            }
        }
    };
}

counters! {
    /// Input records the topology was run on.
    records_processed => RecordsProcessed, "Input records the topology was run on";
    /// Output records handed to the producer (re-sends included).
    outputs_sent => OutputsSent, "Output records handed to the producer (re-sends included)";
    /// Output records the brokers acknowledged.
    outputs_acknowledged => OutputsAcknowledged, "Output records the brokers acknowledged";
    /// Re-sends after a retriable delivery error.
    production_retries => ProductionRetries, "Re-sends after a retriable delivery error";
    /// Outputs given up on after a non-retriable error or the last retry (and, under the
    /// dead-letter policy, after the dead-letter topic failed too).
    outputs_dropped => OutputsDropped, "Outputs given up on after their delivery failed";
    /// Outputs sent to the dead-letter topic instead after their delivery failed.
    outputs_dead_lettered => OutputsDeadLettered,
        "Outputs sent to the dead-letter topic after their delivery failed";
    /// Input records the topology failed on that went to the dead-letter topic.
    records_dead_lettered => RecordsDeadLettered,
        "Input records the topology failed on, sent to the dead-letter topic";
    /// Input records the topology failed on that were logged and skipped.
    records_skipped => RecordsSkipped, "Input records the topology failed on, skipped";
    /// Offset commits requested.
    commits => Commits, "Offset commits requested";
    /// Times the worker stopped consuming because too much was in flight (it holds back, then
    /// pauses its partitions if that lasts).
    fetch_pauses => FetchPauses, "Times fetching paused because too much was in flight";
    /// Failed workers replaced by new ones.
    workers_replaced => WorkersReplaced, "Failed worker threads replaced";
    /// Input records a windowed aggregation dropped because all their windows had closed.
    records_dropped_late => RecordsDroppedLate,
        "Input records dropped by a windowed aggregation because their windows had closed";
}

/// Running totals since the client started; every counter is monotonic.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    /// One per [`Counter`], at the variant's index.
    counters: [AtomicU64; Counter::ALL.len()],
}

impl StatsSnapshot {
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
        &self.counters[counter as usize]
    }

    /// Adds `amount` to `counter`.
    pub fn add(&self, counter: Counter, amount: u64) {
        self.counter(counter).fetch_add(amount, Ordering::Relaxed);
    }

    /// The current totals.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot::from_fn(|counter| self.counter(counter).load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_reads_back_as_its_own_field() {
        let stats = RuntimeStats::default();
        for (index, counter) in Counter::ALL.into_iter().enumerate() {
            assert_eq!(counter as usize, index, "{counter:?} out of order");
            stats.add(counter, index as u64 + 1);
        }
        let snapshot = stats.snapshot();
        for (index, counter) in Counter::ALL.into_iter().enumerate() {
            assert_eq!(
                snapshot.get(counter),
                index as u64 + 1,
                "{}",
                counter.name()
            );
        }
        assert_eq!(snapshot.records_processed, 1);
        assert_eq!(snapshot.workers_replaced, 11);
    }

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
