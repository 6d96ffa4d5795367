//! `[alerting] mode = "transitions"`: the sub-topology that turns cpu samples into one record
//! per transition of a host's alert state ([`super::sustained`]).
//!
//! A host's samples arrive unkeyed on any partition of the input, so each cpu event becomes a
//! small [`CpuSample`] keyed by `host.name` and goes through the repartition topic
//! `<application id>-alert-hosts-repartition`; a custom processor then keeps each host's
//! [`HostAlert`] in the store `alert-state` (its changelog makes a restart or a rebalance
//! resume where the host was) and forwards a record keyed by host name for each transition. A
//! wall-clock punctuation checks the firing hosts for `no_data`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use ferrobeat_streams::serdes::{Bytes, IntoValue, Json, Serde, Utf8};
use ferrobeat_streams::topology::{
    KStream, ProcessingError, ProcessorContext, PunctuationType, StreamsBuilder,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::sustained::{HostAlert, Sample, Status, SustainedRule, Transition, transition_record};
use super::{MetricEvent, MetricEventSerde, TopologyCounts};

/// The store of the hosts' alert states.
pub const ALERT_STORE: &str = "alert-state";
/// The name of the repartition that keys cpu samples by host (topic
/// `<application id>-alert-hosts-repartition`).
pub const ALERT_REPARTITION: &str = "alert-hosts";

/// What the alert state needs of a cpu event, as it crosses the repartition topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuSample {
    /// `host.name`.
    pub host: String,
    /// `system.cpu.total.norm.pct` (or computed from `total.pct / cores`).
    pub norm: f64,
    /// `@timestamp` as sent.
    pub timestamp: String,
    /// The reference design's alert object of this event.
    pub alert: Box<RawValue>,
}

impl IntoValue for CpuSample {
    type Serde = Json<CpuSample>;

    fn into_value<'a>(self) -> <Json<CpuSample> as Serde>::Value<'a> {
        self
    }
}

impl CpuSample {
    /// The sample of a cpu event; counts a computed norm in `counts`.
    ///
    /// # Errors
    /// A message naming what the event lacks (`host.name`, `@timestamp`, the norm, `host`).
    fn of(event: &MetricEvent<'_>, counts: &TopologyCounts) -> Result<Self, String> {
        let norm = event.cpu_norm_pct()?;
        if norm.computed {
            counts.normalised.record();
        }
        let alert = String::from_utf8(event.alert()?)
            .map_err(|e| format!("the alert object is not UTF-8: {e}"))?;
        Ok(CpuSample {
            host: event.host_name()?.into_owned(),
            norm: norm.pct,
            timestamp: event
                .timestamp()
                .ok_or("event lacks the string `@timestamp`")?
                .to_owned(),
            alert: RawValue::from_string(alert)
                .map_err(|e| format!("the alert object is not JSON: {e}"))?,
        })
    }
}

/// How often the firing hosts are checked for `no_data`: a third of `no_data_after`, at least
/// every second.
fn check_interval(rule: &SustainedRule) -> Duration {
    (rule.no_data_after / 3).max(Duration::from_secs(1))
}

/// Adds the sub-topology to `builder` over the cpu events `cpu`; returns the stream of
/// transition records keyed by host name.
pub(super) fn transitions(
    builder: &StreamsBuilder,
    cpu: &KStream<ferrobeat_streams::serdes::Nullable<Bytes>, MetricEventSerde>,
    rule: SustainedRule,
    counts: &Arc<TopologyCounts>,
) -> KStream<Utf8, Bytes> {
    builder
        .add_state_store(ALERT_STORE)
        .expect("the metric topology declares the alert store once");
    let sampled = Arc::clone(counts);
    let observed = Arc::clone(counts);
    let checked = Arc::clone(counts);
    cpu.try_map_values(move |event| CpuSample::of(&event, &sampled))
        .named("alert-sample")
        .select_key(|_, sample| sample.host.clone())
        .named("alert-by-host")
        .repartition_as(ALERT_REPARTITION)
        .processor::<Utf8, Bytes>()
        .stores([ALERT_STORE])
        .schedule(
            check_interval(&rule),
            PunctuationType::WallClock,
            move |ctx, now| check_no_data(ctx, now, &rule, &checked),
        )
        .process(move |ctx, host, sample| observe(ctx, host.as_ref(), &sample, &rule, &observed))
        .named("alert-transitions")
}

/// The stored state of `host`, or a new one.
fn stored_state(
    ctx: &ProcessorContext<'_, '_, Utf8, Bytes>,
    host: &str,
) -> Result<HostAlert, ProcessingError> {
    match ctx.get(ALERT_STORE, host.as_bytes())? {
        Some(bytes) => serde_json::from_slice(bytes)
            .map_err(|e| ctx.error(format!("the alert state of host {host:?}: {e}"))),
        None => Ok(HostAlert::new()),
    }
}

fn store_state(
    ctx: &mut ProcessorContext<'_, '_, Utf8, Bytes>,
    host: &str,
    state: &HostAlert,
) -> Result<(), ProcessingError> {
    let bytes = serde_json::to_vec(state)
        .map_err(|e| ctx.error(format!("the alert state of host {host:?}: {e}")))?;
    ctx.put(ALERT_STORE, host.as_bytes(), &bytes)
}

/// Takes one sample of `host` (event time: the record's timestamp) and forwards the record of
/// the transition it causes, if any.
fn observe(
    ctx: &mut ProcessorContext<'_, '_, Utf8, Bytes>,
    host: &str,
    sample: &CpuSample,
    rule: &SustainedRule,
    counts: &TopologyCounts,
) -> Result<(), ProcessingError> {
    let mut state = stored_state(ctx, host)?;
    let before = state.clone();
    let transition = state.observe(
        rule,
        Sample {
            at: ctx.timestamp(),
            timestamp: &sample.timestamp,
            hot: sample.norm > rule.threshold,
            alert: sample.alert.get(),
        },
    );
    if state != before {
        store_state(ctx, host, &state)?;
    }
    if let Some(transition) = transition {
        counts.transitions.record(transition);
        let record = transition_record(sample.alert.get().as_bytes(), transition, state.since());
        ctx.forward(Cow::Owned(host.to_owned()), Cow::Owned(record))?;
    }
    Ok(())
}

/// The wall-clock check at `now`: every firing host whose samples stopped for `no_data_after`
/// goes `no_data`, with a record repeating its latest alert.
fn check_no_data(
    ctx: &mut ProcessorContext<'_, '_, Utf8, Bytes>,
    now: i64,
    rule: &SustainedRule,
    counts: &TopologyCounts,
) -> Result<(), ProcessingError> {
    for (key, value) in ctx.entries(ALERT_STORE)? {
        let host = String::from_utf8_lossy(&key).into_owned();
        let mut state: HostAlert = serde_json::from_slice(&value)
            .map_err(|e| ctx.error(format!("the alert state of host {host:?}: {e}")))?;
        if state.status != Status::Firing && state.noted.is_none() {
            continue;
        }
        let before = state.clone();
        let transition = state.check_no_data(rule, now);
        if state != before {
            store_state(ctx, &host, &state)?;
        }
        if transition == Some(Transition::NoData) {
            counts.transitions.record(Transition::NoData);
            let alert = state.latest_alert.as_deref().unwrap_or("{}").as_bytes();
            let record = transition_record(alert, Transition::NoData, state.since());
            ctx.forward(Cow::Owned(host), Cow::Owned(record))?;
        }
    }
    Ok(())
}
