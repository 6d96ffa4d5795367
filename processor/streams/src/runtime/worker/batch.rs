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
//!
//! When records trickle in (each batch one record, the consumer holding nothing more when asked
//! at once), the zero-timeout poll after the first record only ever comes back empty: a batch
//! then takes its first record alone ([`Trickle`]), and asks for more again every
//! [`TRICKLE_PROBE`] batches, so a backlog that builds up is batched again within a few records.

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

/// While records trickle, one batch in this many still polls for a second record.
const TRICKLE_PROBE: u32 = 16;

/// How many batches in a row held a single record: whether records trickle in.
#[derive(Debug, Default)]
pub(super) struct Trickle {
    single_batches: u32,
}

impl Trickle {
    /// Whether the next batch polls for more records after its first.
    fn polls_after_first(&self) -> bool {
        self.single_batches < 2 || self.single_batches % TRICKLE_PROBE == 0
    }

    /// Notes a batch of `taken` records.
    fn batch_taken(&mut self, taken: usize) {
        self.single_batches = if taken == 1 {
            self.single_batches.wrapping_add(1).max(1)
        } else {
            0
        };
    }
}

/// Waits up to `timeout` for a record, then processes it and every record the consumer holds
/// already, up to [`MAX_POLL_RECORDS`] or until the in-flight limits are reached, unless
/// records `trickle` in. The pipeline is locked per record, never across a poll: a poll runs the
/// rebalance and statistics callbacks, which lock it.
pub(super) fn poll_batch(
    consumer: &BaseConsumer<WorkerContext>,
    timeout: Duration,
    errors: &mut LogRateLimiter,
    trickle: &mut Trickle,
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
    let more = trickle.polls_after_first();
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
        if taken >= MAX_POLL_RECORDS || !more || pipeline.over_in_flight_limits() {
            break Ok(());
        }
        drop(pipeline);
        polled = consumer.poll(Duration::ZERO);
    };
    trickle.batch_taken(taken);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trickling_records_are_taken_alone_and_probed_for_a_backlog() {
        let mut trickle = Trickle::default();
        assert!(trickle.polls_after_first());
        // Full batches: always poll on.
        trickle.batch_taken(MAX_POLL_RECORDS);
        assert!(trickle.polls_after_first());
        // One single-record batch may be chance; two in a row is a trickle.
        trickle.batch_taken(1);
        assert!(trickle.polls_after_first());
        trickle.batch_taken(1);
        let polls: Vec<bool> = (0..2 * TRICKLE_PROBE)
            .map(|_| {
                let polls = trickle.polls_after_first();
                trickle.batch_taken(1);
                polls
            })
            .collect();
        let probes = polls.iter().filter(|polls| **polls).count();
        assert_eq!(probes, 2, "{polls:?}");
        // A probe that finds more records ends the trickle.
        trickle.batch_taken(2);
        assert!(trickle.polls_after_first());
        // However long the trickle, probes go on.
        let mut trickle = Trickle {
            single_batches: u32::MAX - 1,
        };
        let probes = (0..3 * TRICKLE_PROBE)
            .filter(|_| {
                let polls = trickle.polls_after_first();
                trickle.batch_taken(1);
                polls
            })
            .count();
        assert!(probes >= 2, "{probes}");
    }
}
