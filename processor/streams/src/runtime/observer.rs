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

/// The wall clock of one processed record (milliseconds since the Unix epoch), read once per
/// record so that its sinks are timed against the same instant as its source.
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
}

/// Reports of one worker thread, called on its hot path.
pub trait WorkerObserver: Send {
    /// One consumer poll took `elapsed`.
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

    /// Processing the record took `elapsed`.
    fn processed(&mut self, _elapsed: Duration) {}

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
