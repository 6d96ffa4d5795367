//! Running the metricsets on their cadences.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ferrobeat_schema::{Event, Metricset};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::offload::Offloaded;
use super::{CollectError, Collector, Sampled};
use crate::alarm::Alarm;
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

/// Runs every enabled metricset on its own fixed cadence, the first round of each at once,
/// sending each round's events to `out` (waiting for room), until `shutdown` turns true or
/// its sender is dropped. Returns early if `out` is closed. Every round's duration, and
/// whether it failed, goes to `metrics`; a failed round is also logged, and the next round
/// comes at its usual time.
///
/// The OS is read inline on the runtime: a round of cpu+memory+network+diskio costs about
/// 0.3 ms of CPU (see `benches/sample_round.rs`), too little to warrant the blocking pool.
/// Filesystem is the exception: its `statvfs` calls can hang on a dead network mount, so it
/// runs on a thread of its own and the others keep their cadence; while one of its rounds
/// runs, its next rounds are skipped (logged).
pub async fn run_sampler(
    collector: Collector,
    metrics: Arc<AgentMetrics>,
    out: mpsc::Sender<Vec<Event>>,
    shutdown: watch::Receiver<bool>,
) {
    Sampler {
        collector,
        offloaded: None,
        metrics,
        out,
        shutdown,
    }
    .run()
    .await;
}

/// The metricset collected on a thread of its own.
const OFFLOADED: Metricset = Metricset::Filesystem;

/// The sampling task's state.
struct Sampler {
    collector: Collector,
    offloaded: Option<Offloaded>,
    metrics: Arc<AgentMetrics>,
    out: mpsc::Sender<Vec<Event>>,
    shutdown: watch::Receiver<bool>,
}

/// One metricset's place on its grid.
struct Slot {
    metricset: Metricset,
    period: Duration,
    due: Instant,
}

/// What woke the sampler up.
enum Wake {
    Stop,
    ShutdownUnchanged,
    Outcome(Sampled),
    Due,
}

impl Sampler {
    async fn run(mut self) {
        let start = Instant::now();
        let config = self.collector.config();
        let mut schedule: Vec<Slot> = config
            .metricsets
            .iter()
            .map(|&metricset| Slot {
                metricset,
                period: config.period_of(metricset),
                due: start,
            })
            .collect();
        self.offload(OFFLOADED);
        let mut alarm = Alarm::new();
        loop {
            if *self.shutdown.borrow_and_update() {
                return;
            }
            let Some(slot) = schedule.iter_mut().min_by_key(|slot| slot.due) else {
                return;
            };
            let wake = tokio::select! {
                biased;
                changed = self.shutdown.changed() => {
                    if changed.is_err() || *self.shutdown.borrow_and_update() {
                        Wake::Stop
                    } else {
                        Wake::ShutdownUnchanged
                    }
                }
                sampled = next_outcome(&mut self.offloaded) => Wake::Outcome(sampled),
                () = alarm.sleep_until(slot.due) => Wake::Due,
            };
            let go_on = match wake {
                Wake::Stop => false,
                Wake::ShutdownUnchanged => true,
                Wake::Outcome(sampled) => self.deliver(sampled).await,
                Wake::Due => {
                    let go_on = self.start_round(slot.metricset).await;
                    slot.due = next_due(start, slot.period, Instant::now());
                    go_on
                }
            };
            if !go_on {
                return;
            }
        }
    }

    /// Moves `metricset`, if enabled, to a collector on a thread of its own.
    fn offload(&mut self, metricset: Metricset) {
        let Some(collector) = self.collector.split_off(metricset) else {
            return;
        };
        match Offloaded::start(collector, metricset) {
            Ok(offloaded) => self.offloaded = Some(offloaded),
            // The main collector's adapter can still read it.
            Err(error) => {
                tracing::warn!(%metricset, %error, "cannot start a sampling thread; sampling inline")
            }
        }
    }

    /// Runs a round of `metricset` (or asks its thread for one); `false` once sampling must
    /// stop.
    async fn start_round(&mut self, metricset: Metricset) -> bool {
        let at = Utc::now();
        match &mut self.offloaded {
            Some(offloaded) if offloaded.metricset() == metricset => {
                if !offloaded.request(at) {
                    tracing::warn!(%metricset, "the previous round is still running; this one is skipped");
                }
                true
            }
            _ => {
                let sampled = self.collector.sample(metricset, at);
                self.deliver(sampled).await
            }
        }
    }

    /// Reports a round to the metrics and sends its events on; `false` once sampling must
    /// stop.
    async fn deliver(&mut self, sampled: Sampled) -> bool {
        let Sampled {
            metricset,
            duration,
            result,
        } = sampled;
        self.metrics
            .round_collected(metricset, duration, result.is_err());
        match result {
            Ok(events) if events.is_empty() => true,
            Ok(events) => match unless_shutdown(&mut self.shutdown, self.out.send(events)).await {
                Some(Ok(())) => true,
                Some(Err(_)) => {
                    tracing::info!("event receiver closed; sampling stops");
                    false
                }
                None => false,
            },
            Err(error) => {
                tracing::warn!(%metricset, %error, "collection round failed");
                true
            }
        }
    }
}

/// The outcome of the offloaded round in progress; never completes without one.
async fn next_outcome(offloaded: &mut Option<Offloaded>) -> Sampled {
    match offloaded {
        Some(offloaded) => offloaded.outcome().await,
        None => std::future::pending().await,
    }
}

/// Awaits `work` unless shutdown is requested (or its sender dropped) first: `None` then.
async fn unless_shutdown<F: Future>(
    shutdown: &mut watch::Receiver<bool>,
    work: F,
) -> Option<F::Output> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow_and_update() {
                    return None;
                }
            }
            output = &mut work => return Some(output),
        }
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
