//! Shipping: every round the sampler hands over is written to the disk spool first, then
//! streamed from the spool to Kafka; a record leaves the spool only when its delivery report
//! succeeds. Sampling never waits for Kafka.
//!
//! * The shipper is the sampler's [`RoundSink`]: it runs on the agent's tick thread, a plain
//!   thread (not an async runtime's worker), which samples, appends the round to the spool and
//!   fsyncs it, and hands the records to the producer, with no hand-off to another thread on
//!   the way. Rounds are appended (and fsynced) as they arrive, whatever Kafka's state; with
//!   the same round go the settlements since the last one and the cursor's write, and the
//!   records to send next are read back (the round just appended from memory).
//! * The producer's delivery reports are served on the same thread, without waiting
//!   ([`KafkaOutput::poll`]): by the next round when rounds come every second or faster, by a
//!   timer otherwise (every 100 ms while records are outstanding), so an agent sampling every
//!   second wakes its thread once per tick.
//! * At most `kafka.max_in_flight` records are with the producer at a time; the rest wait on
//!   disk, so memory stays bounded during an outage.
//! * When a delivery fails, nothing new is sent until every outstanding report is back; then,
//!   after a growing, jittered pause (so that a fleet does not reconnect in lockstep), a fresh
//!   producer replaces the old one, the spool is rewound to its oldest unsettled record and
//!   sending resumes in order (records already delivered are skipped).
//! * If the spool cannot be written, the round is kept in a bounded memory queue instead and
//!   the error is logged and counted.
//! * On shutdown the shipper keeps delivering for at most `kafka.flush_timeout`; what is still
//!   unacknowledged stays in the spool for the next start.

mod backoff;
pub mod check;
pub mod kafka;
pub mod stdout;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrobeat_schema::Event;
use ferrobeat_toolbox::intercept::Interceptors;

use crate::config::KafkaConfig;
use crate::monitor::{AgentMetrics, Count};
use crate::sample::RoundSink;
use crate::spool::{Durability, Spool, SpoolError, SpoolStats, SpooledRecord};
use backoff::RetryPause;
use kafka::{Delivery, KafkaOutput, Pending};

/// The most events kept in memory when the spool cannot be written; past it the oldest are
/// dropped and counted.
const MEMORY_QUEUE_LIMIT: usize = 100_000;
/// The most records read from the spool at once.
const READ_BATCH: usize = 1000;
/// How long delivered records wait at most before they are passed to the spool and its cursor
/// is written: the next round carries them when it comes sooner (the usual case), so this only
/// acts when rounds are further apart.
const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(1);
/// How often the spool's cursor is fsynced (by a round in the period's last second, else by the
/// housekeeping at its end; and at the end of a run): a cursor that did not reach the disk
/// before a power cut only replays records already delivered, so this bounds those duplicates
/// to the last period's deliveries; the records themselves are fsynced before they are sent.
const CURSOR_SYNC_PERIOD: Duration = Duration::from_secs(10);

/// What shipping did, reported when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipSummary {
    /// Events acknowledged during this run.
    pub acknowledged: u64,
    /// Events left unacknowledged in the spool for the next start.
    pub left_in_spool: u64,
    /// Events kept only in memory that were lost at exit (the spool was unwritable).
    pub lost_from_memory: u64,
}

/// Whether new records may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Sending.
    Open,
    /// A delivery failed: waiting for the outstanding reports before retrying.
    Failing,
    /// Every report is back: retrying from the spool at this instant.
    PausedUntil(Instant),
}

/// Streams spooled rounds to Kafka, as the sampler's [`RoundSink`]. See the module
/// documentation.
#[derive(Debug)]
pub struct KafkaShipper {
    config: KafkaConfig,
    key: Option<Vec<u8>>,
    interceptors: Interceptors,
    output: KafkaOutput,
    spool: Spool,
    /// Records read from the spool that the producer has not taken yet.
    unsent: VecDeque<SpooledRecord>,
    /// Records that could not be spooled.
    memory: VecDeque<Vec<u8>>,
    in_flight: usize,
    /// Delivered records not passed to the spool yet (with the next round, or at the next
    /// housekeeping), and since when the oldest of them waits.
    settled: Vec<u64>,
    settled_since: Instant,
    /// When the spool's cursor was last fsynced.
    cursor_synced: Instant,
    /// Whether it was written since.
    cursor_unsynced: bool,
    flow: Flow,
    retry_pause: RetryPause,
    metrics: Arc<AgentMetrics>,
    spool_seen: SpoolStats,
    /// The acknowledged count when the shipper was made, for its summary.
    acknowledged_before: u64,
}

impl KafkaShipper {
    /// A shipper producing to `config`'s topic with record key `key`, from `spool`, through
    /// `interceptors`.
    ///
    /// # Errors
    /// The producer cannot be created from `config`.
    pub fn new(
        config: &KafkaConfig,
        key: Option<Vec<u8>>,
        interceptors: Interceptors,
        spool: Spool,
        metrics: Arc<AgentMetrics>,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        let output = KafkaOutput::new(config, key.clone(), interceptors.clone())?;
        let shipper = KafkaShipper {
            config: config.clone(),
            key,
            interceptors,
            output,
            spool,
            unsent: VecDeque::new(),
            memory: VecDeque::new(),
            in_flight: 0,
            settled: Vec::new(),
            settled_since: Instant::now(),
            cursor_synced: Instant::now(),
            cursor_unsynced: false,
            flow: Flow::Open,
            retry_pause: RetryPause::new(),
            acknowledged_before: metrics.get(Count::Acknowledged),
            metrics,
            spool_seen: SpoolStats::default(),
        };
        shipper.metrics.set_spool(&shipper.spool.stats());
        Ok(shipper)
    }

    /// Once sampling stopped: keeps delivering for at most the flush timeout, settles what
    /// was delivered and fsyncs the cursor, then closes the spool (which cuts the active
    /// segment back to its data, so a spool closed this way holds no zero-filled room).
    pub fn finish(mut self) -> ShipSummary {
        let deadline = Instant::now() + self.config.flush_timeout;
        while !self.is_idle() {
            self.feed();
            let next = self.next_wake().min(deadline);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            if Instant::now() >= deadline {
                break;
            }
            self.on_wake();
        }
        self.housekeeping(Durability::Synced);
        let summary = ShipSummary {
            acknowledged: self.metrics.get(Count::Acknowledged) - self.acknowledged_before,
            left_in_spool: self.spool.stats().depth,
            lost_from_memory: self.memory.len() as u64,
        };
        if summary.left_in_spool > 0 {
            tracing::info!(
                events = summary.left_in_spool,
                "unacknowledged events stay in the spool for the next start"
            );
        }
        summary
    }

    /// Writes a round's events to the spool in one append, so one fsync (or, failing that, to
    /// memory), after the settlements since the last round and before the cursor's write and
    /// the read of what [`Self::feed`] sends next.
    fn accept_round(&mut self, events: Vec<Event>) {
        // The reports that came since the last poll (the last round's, usually) are settled
        // with this round rather than on their own.
        self.serve_deliveries();
        let payloads: Vec<Vec<u8>> = events.iter().map(ferrobeat_schema::to_vec).collect();
        let n = payloads.len() as u64;
        self.metrics.add(Count::Sampled, n);
        let cursor = self.cursor_durability();
        if let Some(durability) = cursor {
            self.cursor_requested(durability);
        }
        self.settle_delivered();
        let appended = self.spool.append(&payloads);
        let read = match self.read_room() {
            0 => Ok(Vec::new()),
            max => self.spool.read(max),
        };
        self.take_read(read);
        if let Some(Err(error)) = cursor.map(|durability| self.spool.persist_cursor(durability)) {
            self.cursor_failed(&error);
        }
        match appended {
            Ok(_) => self.metrics.add(Count::Spooled, n),
            Err(error) => {
                self.metrics.add(Count::SpoolErrors, 1);
                tracing::error!(%error, "cannot spool a round; keeping it in memory");
                self.memory.extend(payloads);
                let excess = self.memory.len().saturating_sub(MEMORY_QUEUE_LIMIT);
                self.memory.drain(..excess);
                self.metrics.add(Count::Dropped, excess as u64);
            }
        }
        self.refresh_spool_metrics();
    }

    /// How many records the next read from the spool may take: none while the flow is held
    /// or records read before wait to be sent.
    fn read_room(&self) -> usize {
        if self.flow == Flow::Open && self.unsent.is_empty() {
            self.config
                .max_in_flight
                .saturating_sub(self.in_flight)
                .min(READ_BATCH)
        } else {
            0
        }
    }

    fn take_read(&mut self, read: Result<Vec<SpooledRecord>, SpoolError>) {
        match read {
            Ok(records) => self.unsent.extend(records),
            Err(error) => {
                tracing::error!(%error, "cannot read the spool");
                self.metrics.add(Count::SpoolErrors, 1);
            }
        }
    }

    /// Hands records to the producer while the flow is open and there is room.
    fn feed(&mut self) {
        while self.flow == Flow::Open && self.in_flight < self.config.max_in_flight {
            if self.unsent.is_empty() && self.spool.has_unread() {
                let read = self.spool.read(self.read_room());
                self.take_read(read);
            }
            let sent = if let Some(record) = self.unsent.pop_front() {
                let sent = self
                    .output
                    .send(Pending::Spooled(record.seq), &record.payload);
                if sent.is_err() {
                    self.unsent.push_front(record);
                }
                sent
            } else if let Some(payload) = self.memory.pop_front() {
                let sent = self
                    .output
                    .send(Pending::InMemory(payload.clone()), &payload);
                if sent.is_err() {
                    self.memory.push_front(payload);
                }
                sent
            } else {
                return;
            };
            match sent {
                Ok(()) => self.in_flight += 1,
                Err((error, _)) => {
                    // The producer's queue is full: wait for reports to make room.
                    tracing::debug!(%error, "producer refused a record for now");
                    return;
                }
            }
        }
    }

    /// When the shipper's timer is next due: the earliest of the next delivery poll, the
    /// housekeeping and the retry.
    fn next_wake(&self) -> Instant {
        let mut next = self.output.poll_due();
        if let Some(at) = self.housekeeping_due() {
            next = next.min(at);
        }
        if let Flow::PausedUntil(at) = self.flow {
            next = next.min(at);
        }
        next
    }

    /// Does what [`Self::next_wake`] was set for: whichever of the delivery poll, the
    /// housekeeping and the retry is due.
    fn on_wake(&mut self) {
        let now = Instant::now();
        if self.output.poll_due() <= now {
            self.serve_deliveries();
        }
        if self.housekeeping_due().is_some_and(|at| at <= now) {
            let durability = self.cursor_durability().unwrap_or(Durability::Written);
            self.housekeeping(durability);
        }
        if matches!(self.flow, Flow::PausedUntil(at) if at <= now) {
            self.retry();
        }
    }

    /// Serves the producer's events on this thread and acts on the delivery reports among them.
    fn serve_deliveries(&mut self) {
        for delivery in self.output.poll() {
            self.on_delivery(delivery);
        }
    }

    fn on_delivery(&mut self, delivery: Delivery) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match (delivery.pending, delivery.result) {
            (pending, Ok(_)) => {
                if let Pending::Spooled(seq) = pending {
                    if self.settled.is_empty() {
                        self.settled_since = Instant::now();
                    }
                    self.settled.push(seq);
                }
                self.metrics.add(Count::Acknowledged, 1);
                self.retry_pause.reset();
            }
            (pending, Err(error)) => {
                self.metrics.add(Count::Failed, 1);
                if self.flow == Flow::Open {
                    tracing::warn!(
                        %error,
                        "delivery failed; holding new records and retrying from the spool"
                    );
                    self.flow = Flow::Failing;
                }
                if let Pending::InMemory(payload) = pending {
                    self.memory.push_front(payload);
                }
            }
        }
        if self.flow == Flow::Failing && self.in_flight == 0 {
            self.pause();
        }
    }

    /// Replaces the producer, rewinds the spool to the oldest unsettled record and opens
    /// the flow again. A fresh producer gets a new producer id, so no state of the failed
    /// session (sequence numbers, a fenced or forgotten id after a broker restart) can keep
    /// failing the retry; every report of the old one is already in.
    fn retry(&mut self) {
        match KafkaOutput::new(&self.config, self.key.clone(), self.interceptors.clone()) {
            Ok(output) => {
                let old = std::mem::replace(&mut self.output, output);
                // Destroying a producer waits on librdkafka's threads: not on the tick thread,
                // which would sample late.
                let dropped = std::thread::Builder::new()
                    .name("producer-drop".to_owned())
                    .spawn(move || drop(old));
                if let Err(error) = dropped {
                    tracing::warn!(%error, "cannot start a thread to destroy the old producer");
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot create a new producer");
                self.pause();
                return;
            }
        }
        // Rewinding goes back to the oldest unsettled record: settle what was delivered first.
        if !self.settled.is_empty() {
            self.housekeeping(Durability::Written);
        }
        self.spool.rewind();
        self.unsent.clear();
        self.flow = Flow::Open;
        tracing::info!(
            pending = self.spool.stats().depth,
            "resending from the spool"
        );
    }

    /// Holds the flow for the next retry pause (jittered: see [`RetryPause`]).
    fn pause(&mut self) {
        self.flow = Flow::PausedUntil(Instant::now() + self.retry_pause.next(fastrand::f64()));
    }

    /// When housekeeping is due, if anything waits for it: delivered records not passed to the
    /// spool for [`HOUSEKEEPING_PERIOD`], a cursor not fsynced for [`CURSOR_SYNC_PERIOD`].
    fn housekeeping_due(&self) -> Option<Instant> {
        let settle = (!self.settled.is_empty()).then(|| self.settled_since + HOUSEKEEPING_PERIOD);
        let sync = self
            .cursor_unsynced
            .then(|| self.cursor_synced + CURSOR_SYNC_PERIOD);
        settle.into_iter().chain(sync).min()
    }

    /// What the next request to the spool should do with the cursor: fsync it when it was
    /// written and not fsynced for [`CURSOR_SYNC_PERIOD`] (less [`HOUSEKEEPING_PERIOD`]: a round
    /// in the period's last second carries the fsync, so the timer seldom wakes for it), else
    /// write it when records are settled with that request.
    fn cursor_durability(&self) -> Option<Durability> {
        if self.cursor_unsynced
            && self.cursor_synced.elapsed() + HOUSEKEEPING_PERIOD >= CURSOR_SYNC_PERIOD
        {
            Some(Durability::Synced)
        } else if !self.settled.is_empty() {
            Some(Durability::Written)
        } else {
            None
        }
    }

    /// Notes that a request writes (or fsyncs) the cursor.
    fn cursor_requested(&mut self, durability: Durability) {
        self.cursor_unsynced = durability == Durability::Written;
        if durability == Durability::Synced {
            self.cursor_synced = Instant::now();
        }
    }

    fn cursor_failed(&self, error: &SpoolError) {
        tracing::error!(%error, "cannot persist the spool cursor");
        self.metrics.add(Count::SpoolErrors, 1);
    }

    /// Passes the records delivered since the last round to the spool and writes (or fsyncs)
    /// the cursor.
    fn housekeeping(&mut self, durability: Durability) {
        self.cursor_requested(durability);
        self.settle_delivered();
        if let Err(error) = self.spool.persist_cursor(durability) {
            self.cursor_failed(&error);
        }
        self.refresh_spool_metrics();
    }

    /// Settles the records delivered since the last settlement; a failure is logged (the
    /// record is then only settled again after a restart, as a duplicate).
    fn settle_delivered(&mut self) {
        for seq in std::mem::take(&mut self.settled) {
            if let Err(error) = self.spool.settle(seq) {
                tracing::error!(%error, "cannot settle a delivered record in the spool");
            }
        }
    }

    fn refresh_spool_metrics(&mut self) {
        let stats = self.spool.stats();
        self.metrics
            .add(Count::Dropped, stats.dropped - self.spool_seen.dropped);
        self.metrics
            .add(Count::Corrupt, stats.corrupt - self.spool_seen.corrupt);
        self.metrics.set_spool(&stats);
        self.spool_seen = stats;
    }

    fn is_idle(&self) -> bool {
        self.in_flight == 0
            && self.unsent.is_empty()
            && self.memory.is_empty()
            && !self.spool.has_unread()
    }
}

impl RoundSink for KafkaShipper {
    fn take(&mut self, events: Vec<Event>) -> bool {
        // The round served the producer's events before it settled: no second poll.
        self.accept_round(events);
        self.feed();
        true
    }

    fn next_timer(&self) -> Option<Instant> {
        Some(self.next_wake())
    }

    fn on_timer(&mut self) {
        self.on_wake();
        self.serve_deliveries();
        self.feed();
    }
}
