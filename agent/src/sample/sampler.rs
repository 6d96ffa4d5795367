//! Running the metricsets on their cadences.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ferrobeat_schema::Event;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{CollectError, Collector};
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
/// its sender is dropped. Every round's duration, and whether it failed, goes to `metrics`;
/// a failed round is also logged, and the next round comes at its usual time. Returns early if `out` is closed. The OS is read
/// inline on the runtime: a round of cpu+memory+network+diskio costs about 0.3 ms of CPU
/// (see `benches/sample_round.rs`), too little to warrant the blocking pool.
pub async fn run_sampler(
    mut collector: Collector,
    metrics: Arc<AgentMetrics>,
    out: mpsc::Sender<Vec<Event>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let mut schedule: Vec<_> = collector
        .config()
        .metricsets
        .iter()
        .map(|&metricset| (metricset, collector.config().period_of(metricset), start))
        .collect();
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        let Some(slot) = schedule.iter_mut().min_by_key(|(_, _, due)| *due) else {
            return;
        };
        let (metricset, period, due) = *slot;
        if unless_shutdown(&mut shutdown, tokio::time::sleep_until(due))
            .await
            .is_none()
        {
            return;
        }
        let sampled = collector.sample(metricset, Utc::now());
        metrics.round_collected(metricset, sampled.duration, sampled.result.is_err());
        match sampled.result {
            Ok(events) if events.is_empty() => {}
            Ok(events) => match unless_shutdown(&mut shutdown, out.send(events)).await {
                Some(Ok(())) => {}
                Some(Err(_)) => {
                    tracing::info!("event receiver closed; sampling stops");
                    return;
                }
                None => return,
            },
            Err(error) => tracing::warn!(%metricset, %error, "collection round failed"),
        }
        slot.2 = next_due(start, period, Instant::now());
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
