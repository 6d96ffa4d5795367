//! One poll's batch of records, as Kafka Streams' `StreamThread` takes them: wait for a first
//! record, then take what librdkafka already fetched without waiting, up to
//! [`MAX_POLL_RECORDS`], processing each as it comes. What is not about one record (reading the
//! clocks, serving delivery reports, backpressure, commits, the latency metrics) is done once per
//! batch, by the poll loop, not once per record: per record it cost more than the topology's own
//! work on a drained backlog.
//!
//! Nothing about a record's guarantees changes: each is processed and its outputs handed to the
//! producer as it is taken, in the order consumed, and its offset is committed only once they are
//! acknowledged ([`crate::runtime::offsets`]). A batch stops early once the in-flight limits are
//! reached, so they are not exceeded by more than one record's outputs.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::consume::WorkerContext;
use super::{Pipeline, WorkerError};
use crate::errors::LogRateLimiter;
use crate::runtime::observer::RecordClock;
use crate::runtime::stats::Counter;

/// The most records (or consumer errors) one batch takes: Kafka's `max.poll.records` default.
/// It bounds the time between two rounds of the poll loop's bookkeeping.
pub(super) const MAX_POLL_RECORDS: usize = 500;

/// Waits up to `timeout` for a record, then processes it and every record the consumer holds
/// already, up to [`MAX_POLL_RECORDS`] or until the in-flight limits are reached. The pipeline
/// is locked per record, never across a poll: a poll runs the rebalance and statistics
/// callbacks, which lock it.
pub(super) fn poll_batch(
    consumer: &BaseConsumer<WorkerContext>,
    timeout: Duration,
    errors: &mut LogRateLimiter,
    worker: &str,
) -> Result<(), WorkerError> {
    let poll_started = Instant::now();
    let first = consumer.poll(timeout);
    let started = Instant::now();
    let pipeline = &consumer.context().pipeline;
    pipeline
        .lock()
        .observer
        .polled(started.duration_since(poll_started));
    if first.is_none() {
        return Ok(());
    }
    // The wall clock of every record of the batch (their end-to-end latencies).
    let clock = RecordClock::now();
    let mut polled = first;
    let mut taken = 0;
    let result = loop {
        let mut pipeline = pipeline.lock();
        if let Some(failure) = pipeline.failure.take() {
            break Err(failure);
        }
        match polled {
            Some(Ok(message)) => {
                if let Err(error) = pipeline.consume(&message, clock) {
                    break Err(error);
                }
            }
            Some(Err(error)) => {
                if let Some(held_back) = errors.admit(Instant::now()) {
                    tracing::warn!(
                        worker,
                        "consumer error: {error} ({held_back} similar held back)"
                    );
                }
            }
            None => break Ok(()),
        }
        taken += 1;
        if taken >= MAX_POLL_RECORDS || pipeline.over_in_flight_limits() {
            break Ok(());
        }
        drop(pipeline);
        polled = consumer.poll(Duration::ZERO);
    };
    pipeline.lock().report_processed(started);
    result
}

impl Pipeline {
    /// Whether the records in flight reached either limit: a batch stops taking records.
    fn over_in_flight_limits(&self) -> bool {
        let limits = self.in_flight_limits();
        self.tracker.in_flight_records() >= limits.records
            || self.tracker.in_flight_bytes() >= limits.bytes
    }

    /// Reports the records processed since the last report, processed since `started`: their
    /// count, and the time they took.
    pub(super) fn report_processed(&mut self, started: Instant) {
        if self.processed == 0 {
            return;
        }
        let records = std::mem::take(&mut self.processed);
        let count = u64::try_from(records).unwrap_or(u64::MAX);
        self.shared.stats.add(Counter::RecordsProcessed, count);
        self.observer.processed(records, started.elapsed());
    }
}
