//! `[summaries]`: the sub-topology that writes one [`HostSummary`] per host and closed window.
//!
//! Cpu and memory events become small [`Reading`]s grouped by `host.name` (through the
//! repartition topic `<application id>-summaries-repartition`), aggregated per tumbling window
//! of `window` (aligned to the epoch; event time is the record's timestamp, which the agent and
//! Metricbeat set to `@timestamp`) into the window store `summaries`, and suppressed until each
//! window closes (`end + grace` of stream time). A task whose hosts all stopped sends no more
//! records, so its stream time follows the wall clock after `close_idle`: the last windows of
//! hosts that stopped still close.

use ferrobeat_streams::serdes::{Bytes, IntoValue, Json, Nullable, Serde};
use ferrobeat_streams::topology::{KStream, Suppressed, TimeWindows};
use serde::{Deserialize, Serialize};

use super::summary::{HostSummary, SummariesConfig};
use super::{CPU_METRICSET, MetricEvent, MetricEventSerde};

/// The window store of the summaries (its changelog `<application id>-summaries-changelog`).
pub const SUMMARY_STORE: &str = "summaries";
/// The name of the suppression of the summaries (its buffer store `summaries-final-store`).
pub const SUMMARY_SUPPRESSION: &str = "summaries-final";

/// One sample a summary takes, as it crosses the repartition topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reading {
    /// `host.name`.
    pub host: String,
    /// `system.cpu.total.norm.pct` of a cpu event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// `system.memory.actual.used.pct` of a memory event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<f64>,
}

impl IntoValue for Reading {
    type Serde = Json<Reading>;

    fn into_value<'a>(self) -> <Json<Reading> as Serde>::Value<'a> {
        self
    }
}

impl IntoValue for HostSummary {
    type Serde = Json<HostSummary>;

    fn into_value<'a>(self) -> <Json<HostSummary> as Serde>::Value<'a> {
        self
    }
}

impl Reading {
    /// The reading of a cpu or memory event.
    ///
    /// # Errors
    /// A message naming what the event lacks (`host.name`, the cpu norm, the memory figure).
    fn of(event: &MetricEvent<'_>) -> Result<Self, String> {
        let host = event.host_name()?.into_owned();
        Ok(if event.metricset() == CPU_METRICSET {
            Reading {
                host,
                cpu: Some(event.cpu_norm_pct()?.pct),
                memory: None,
            }
        } else {
            Reading {
                host,
                cpu: None,
                memory: Some(event.memory_used_pct()?),
            }
        })
    }
}

/// Adds the sub-topology over the cpu and memory events, writing to `topic`.
pub(super) fn summaries(
    cpu: &KStream<Nullable<Bytes>, MetricEventSerde>,
    memory: &KStream<Nullable<Bytes>, MetricEventSerde>,
    config: &SummariesConfig,
    topic: &str,
) {
    let windows = TimeWindows::of_size_and_grace(config.window, config.grace);
    cpu.merge(memory)
        .named("summary-events")
        .try_map_values(|event| Reading::of(&event))
        .named("summary-reading")
        .group_by(|_, reading| reading.host.clone())
        .windowed_by(windows)
        .aggregate_as(
            SUMMARY_STORE,
            HostSummary::default,
            |_, reading, summary| {
                let mut summary = summary;
                if let Some(cpu) = reading.cpu {
                    summary.cpu.add(cpu);
                }
                if let Some(memory) = reading.memory {
                    summary.memory.add(memory);
                }
                summary
            },
        )
        .suppress(
            Suppressed::until_window_closes()
                .with_name(SUMMARY_SUPPRESSION)
                .close_on_wall_clock(config.close_idle),
        )
        .to_stream()
        .flat_map_values(|summary| summary)
        .named("summary-record")
        .map(|windowed, summary| {
            let record = summary.render(&windowed.key, windowed.window.start, windowed.window.end);
            (windowed.key.clone().into_owned(), record)
        })
        .to(topic);
}
