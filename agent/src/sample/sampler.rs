//! Running the metricsets on their cadences, on the agent's tick thread.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ferrobeat_schema::{Event, Metricset};

use super::inbox::{Inbox, Poster, inbox};
use super::offload::Offloaded;
use super::{CollectError, Collector, Sampled};
use crate::monitor::AgentMetrics;

/// When a round is next due: the first multiple of `period` after `start` that is later
/// than `now`. Rounds are anchored to `start`, so lateness never accumulates (no drift), and
/// rounds missed while the process was stalled are skipped rather than run in a burst.
pub fn next_due(start: Instant, period: Duration, now: Instant) -> Instant {
    let period_ns = period.as_nanos().max(1);
    let elapsed_ns = now.saturating_duration_since(start).as_nanos();
    let periods = elapsed_ns / period_ns + 1;
    let offset_ns = periods.saturating_mul(period_ns);
    start + Duration::from_nanos(u64::try_from(offset_ns).unwrap_or(u64::MAX))
}

/// Where the sampler's rounds go, and what else the tick thread does between rounds: the
/// Kafka shipper (spool, producer, delivery reports) or standard output.
pub trait RoundSink {
    /// Takes one round's events (never empty); `false` once sampling must stop.
    fn take(&mut self, events: Vec<Event>) -> bool;
    /// When [`RoundSink::on_timer`] is next due, if anything waits for it.
    fn next_timer(&self) -> Option<Instant>;
    /// Does what was due at [`RoundSink::next_timer`].
    fn on_timer(&mut self);
}

/// A channel as a sink, for a caller that takes the rounds elsewhere: each round is sent;
/// sampling stops once the receiver is gone.
impl RoundSink for mpsc::Sender<Vec<Event>> {
    fn take(&mut self, events: Vec<Event>) -> bool {
        self.send(events).is_ok()
    }

    fn next_timer(&self) -> Option<Instant> {
        None
    }

    fn on_timer(&mut self) {}
}

/// What wakes the sampler besides its schedule.
#[derive(Debug)]
pub(super) enum Wake {
    /// Sampling must stop.
    Stop,
    /// The offloaded metricset's round is done.
    Sampled(Sampled),
}

/// Stops the [`Sampler`] it was made with (promptly, even while it waits for its next round)
/// when dropped.
#[derive(Debug)]
pub struct Stopper(Poster<Wake>);

impl Drop for Stopper {
    fn drop(&mut self) {
        self.0.post(Wake::Stop);
    }
}

/// The metricset collected on a thread of its own.
const OFFLOADED: Metricset = Metricset::Filesystem;

/// Runs every enabled metricset on its own fixed cadence, the first round of each at once, on
/// the calling thread (the agent's tick thread), handing each round's events to a
/// [`RoundSink`] and doing the sink's timed work between rounds; one wake-up per tick when the
/// sink's timers fall on the rounds. Every round's duration, and whether it failed, goes to
/// the metrics; a failed round is also logged, and the next round comes at its usual time.
///
/// The OS is read inline: a round of cpu+memory+network+diskio costs about 0.3 ms of CPU (see
/// `benches/sample_round.rs`). Filesystem is the exception: its `statvfs` calls can hang on a
/// dead network mount, so it runs on a thread of its own and the others keep their cadence;
/// while one of its rounds runs, its next rounds are skipped (logged).
#[derive(Debug)]
pub struct Sampler {
    collector: Collector,
    offloaded: Option<Offloaded>,
    metrics: Arc<AgentMetrics>,
    inbox: Inbox<Wake>,
    /// Every enabled metricset and its period (the offloaded one included).
    periods: Vec<(Metricset, Duration)>,
}

/// One metricset's place on its grid.
struct Slot {
    metricset: Metricset,
    period: Duration,
    due: Instant,
}

impl Sampler {
    /// A sampler of `collector`'s metricsets (filesystem's moved to a thread of its own), and
    /// the handle that stops it.
    pub fn new(mut collector: Collector, metrics: Arc<AgentMetrics>) -> (Sampler, Stopper) {
        let (wake, inbox) = inbox();
        // Before the split: the offloaded metricset keeps its place on the schedule.
        let config = collector.config();
        let periods = config
            .metricsets
            .iter()
            .map(|&metricset| (metricset, config.period_of(metricset)))
            .collect();
        let offloaded = collector.split_off(OFFLOADED).and_then(|split| {
            Offloaded::start(split, OFFLOADED, wake.clone())
                .map_err(|error| {
                    // The main collector's adapter can still read it.
                    tracing::warn!(metricset = %OFFLOADED, %error, "cannot start a sampling thread; sampling inline");
                })
                .ok()
        });
        let sampler = Sampler {
            collector,
            offloaded,
            metrics,
            inbox,
            periods,
        };
        (sampler, Stopper(wake))
    }

    /// Samples until the [`Stopper`] is dropped or `sink` refuses a round.
    pub fn run(mut self, sink: &mut impl RoundSink) {
        let start = Instant::now();
        let mut schedule: Vec<Slot> = self
            .periods
            .iter()
            .map(|&(metricset, period)| Slot {
                metricset,
                period,
                due: start,
            })
            .collect();
        loop {
            let Some(due) = schedule.iter().map(|slot| slot.due).min() else {
                return;
            };
            let next = sink.next_timer().map_or(due, |at| at.min(due));
            let go_on = match self.inbox.wait_until(next) {
                Some(Wake::Stop) => false,
                Some(Wake::Sampled(sampled)) => {
                    if let Some(offloaded) = &mut self.offloaded {
                        offloaded.done();
                    }
                    let events = self.record(sampled);
                    self.hand_over(events, sink)
                }
                None => {
                    let now = Instant::now();
                    // The metricsets due together make one round for the sink: one append, one
                    // fsync, one send.
                    let mut events = Vec::new();
                    for slot in schedule.iter_mut().filter(|slot| slot.due <= now) {
                        self.start_round(slot.metricset, &mut events);
                        slot.due = next_due(start, slot.period, Instant::now());
                    }
                    let go_on = self.hand_over(events, sink);
                    if go_on && sink.next_timer().is_some_and(|at| at <= now) {
                        sink.on_timer();
                    }
                    go_on
                }
            };
            if !go_on {
                return;
            }
        }
    }

    /// Runs a round of `metricset`, adding its events to `events` (or asks its thread for
    /// one).
    fn start_round(&mut self, metricset: Metricset, events: &mut Vec<Event>) {
        let at = Utc::now();
        match &mut self.offloaded {
            Some(offloaded) if offloaded.metricset() == metricset => {
                if !offloaded.request(at) {
                    tracing::warn!(%metricset, "the previous round is still running; this one is skipped");
                }
            }
            _ => {
                let sampled = self.collector.sample(metricset, at);
                events.extend(self.record(sampled));
            }
        }
    }

    /// Reports a round to the metrics (and a failed one to the log); its events.
    fn record(&self, sampled: Sampled) -> Vec<Event> {
        let Sampled {
            metricset,
            duration,
            result,
        } = sampled;
        self.metrics
            .round_collected(metricset, duration, result.is_err());
        result.unwrap_or_else(|error| {
            tracing::warn!(%metricset, %error, "collection round failed");
            Vec::new()
        })
    }

    /// Hands `events`, if any, to `sink`; `false` once sampling must stop.
    fn hand_over(&self, events: Vec<Event>, sink: &mut impl RoundSink) -> bool {
        if events.is_empty() || sink.take(events) {
            return true;
        }
        tracing::info!("the output stopped taking rounds; sampling stops");
        false
    }
}

/// One round of every enabled metricset, for a one-shot run. As in Metricbeat's first
/// round, cpu reports the averages since boot and network/diskio carry no host summary.
///
/// # Errors
/// The first metricset that fails.
pub fn collect_once(collector: &mut Collector) -> Result<Vec<Event>, CollectError> {
    let metricsets = collector.config().metricsets.clone();
    let mut events = Vec::new();
    for metricset in metricsets {
        events.extend(collector.collect(metricset, Utc::now())?);
    }
    Ok(events)
}
