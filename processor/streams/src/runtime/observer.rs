//! What the runtime reports while it runs, for an application to export (Prometheus, logs,
//! anything): Kafka Streams' thread-, topic-, task- and node-level measurements as two traits.
//!
//! The runtime holds one [`RuntimeObserver`] per client and asks it for one [`WorkerObserver`]
//! per worker thread; a worker calls its observer on its hot path, so an implementation resolves
//! what it needs (labelled handles) in [`RuntimeObserver::worker`] and only adds to atomics per
//! record. Every method has an empty default: an application reports what it wants.
//! [`NoObserver`] reports nothing.

use std::fmt::Debug;
use std::time::Duration;

use rdkafka::statistics::Statistics;

use super::ClientState;

/// The wall clock of processed records (milliseconds since the Unix epoch), read once per
/// poll's batch: its records' sources and sinks are timed against the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordClock(pub i64);

impl RecordClock {
    /// Now.
    pub fn now() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            });
        RecordClock(millis)
    }
}

/// Reports of one client: its state, and an observer for each of its worker threads.
pub trait RuntimeObserver: Send + Sync + Debug {
    /// The observer of worker thread `thread`, reading `sources` (indexed as the runtime's
    /// source topics) and writing `sinks`.
    fn worker(&self, thread: &str, sources: &[String], sinks: &[&str]) -> Box<dyn WorkerObserver>;

    /// The client moved to state `new`.
    fn state_changed(&self, _new: ClientState) {}

    /// The global tables' reader will next read offset `position` of `topic`-`partition`,
    /// whose high watermark (from Fetch responses) is `high_watermark`: its lag is
    /// [`global_lag`]`(position, high_watermark)`. Reported for every partition of every global
    /// topic once the tables are loaded, then every `statistics_interval`, from the reader's
    /// thread.
    fn global_table_position(
        &self,
        _topic: &str,
        _partition: i32,
        _position: i64,
        _high_watermark: i64,
    ) {
    }
}

/// The records a reader at `position` has still to read up to `high_watermark` (0 when it is
/// at or past it, as a high watermark cached before the last fetch can be).
pub fn global_lag(position: i64, high_watermark: i64) -> i64 {
    high_watermark.saturating_sub(position).max(0)
}

/// Reports of one worker thread, called on its hot path.
pub trait WorkerObserver: Send {
    /// One consumer poll (waiting for a batch's first record) took `elapsed`.
    fn polled(&mut self, _elapsed: Duration) {}

    /// One commit request took `elapsed`.
    fn committed(&mut self, _elapsed: Duration) {}

    /// A record of source topic number `topic` (among the runtime's sources) and `partition`,
    /// stamped `timestamp_ms`, was consumed at `clock`.
    fn consumed(
        &mut self,
        _topic: usize,
        _partition: i32,
        _timestamp_ms: i64,
        _clock: RecordClock,
    ) {
    }

    /// Whether to report the nodes each record enters ([`WorkerObserver::node_entered`]); that
    /// costs the topology a call per node and record.
    fn observes_nodes(&self) -> bool {
        false
    }

    /// A record entered the topology node `name`.
    fn node_entered(&mut self, _name: &str) {}

    /// Processing `records` records (one poll's batch, taken together) took `elapsed`.
    fn processed(&mut self, _records: usize, _elapsed: Duration) {}

    /// An output stamped `timestamp_ms` was handed to the producer for `topic`, for the record
    /// consumed at `clock`.
    fn produced(&mut self, _topic: &str, _timestamp_ms: i64, _clock: RecordClock) {}

    /// The worker now holds `partitions` (`topic-partition`); `rebalance` counts an assignment.
    fn assigned(&mut self, _partitions: Vec<String>, _rebalance: bool) {}

    /// The consumer's periodic statistics (consumer lag per partition...).
    fn statistics(&mut self, _statistics: &Statistics) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl RuntimeObserver for NoObserver {
    fn worker(&self, _: &str, _: &[String], _: &[&str]) -> Box<dyn WorkerObserver> {
        Box::new(NoObserver)
    }
}

impl WorkerObserver for NoObserver {}

#[cfg(test)]
mod tests {
    use super::global_lag;

    #[test]
    fn global_lag_is_what_is_left_to_read_never_negative() {
        assert_eq!(global_lag(40, 100), 60);
        assert_eq!(global_lag(100, 100), 0);
        // A high watermark cached before the last fetch can be behind the position.
        assert_eq!(global_lag(105, 100), 0);
        assert_eq!(global_lag(0, i64::MAX), i64::MAX);
    }
}
