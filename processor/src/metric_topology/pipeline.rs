//! The whole metric topology from its three sections: `[topology]` (routes, threshold,
//! inventory), `[alerting]` (an alert per hot sample, or per transition) and `[summaries]`.

use std::sync::Arc;

use ferrobeat_streams::serdes::{Bytes, Nullable, Serde, Utf8};
use ferrobeat_streams::topology::{GlobalKTable, KStream, StreamsBuilder, Topology};

use super::alerting::{AlertMode, AlertingConfig};
use super::inventory;
use super::summary::SummariesConfig;
use super::{
    CPU_METRICSET, MEMORY_METRICSET, MetricEventSerde, MetricTopologyConfig, TopologyCounts,
    summaries, transitions,
};

/// The defaults of the sections a [`MetricPipeline::stateless`] leaves out.
static DEFAULT_ALERTING: AlertingConfig = AlertingConfig::DEFAULT;
static DEFAULT_SUMMARIES: SummariesConfig = SummariesConfig::DEFAULT;

/// Everything the metric topology is built from.
#[derive(Debug, Clone, Copy)]
pub struct MetricPipeline<'c> {
    /// `[topology]`.
    pub topology: &'c MetricTopologyConfig,
    /// `[alerting]`.
    pub alerting: &'c AlertingConfig,
    /// `[summaries]`.
    pub summaries: &'c SummariesConfig,
}

impl<'c> MetricPipeline<'c> {
    /// `topology` with the default alerting (an alert per hot sample) and no summaries: the
    /// reference design's topology, which keeps no state.
    pub fn stateless(topology: &'c MetricTopologyConfig) -> Self {
        MetricPipeline {
            topology,
            alerting: &DEFAULT_ALERTING,
            summaries: &DEFAULT_SUMMARIES,
        }
    }
}

/// Builds the metric topology of `pipeline`, counting in `counts` what it drops or mends
/// ([`TopologyCounts`]). Validate the configuration first: invalid topic names are not checked
/// here.
pub fn metric_pipeline(pipeline: MetricPipeline<'_>, counts: Arc<TopologyCounts>) -> Topology {
    let config = pipeline.topology;
    let builder = StreamsBuilder::new();
    let events = builder.stream::<Nullable<Bytes>, MetricEventSerde>(&config.input_topic);
    let mut routes = events.split_named("route-");
    let cpu = routes.branch(CPU_METRICSET, |_, event| event.metricset() == CPU_METRICSET);
    let memory = routes.branch(MEMORY_METRICSET, |_, event| {
        event.metricset() == MEMORY_METRICSET
    });
    for (metricset, topic) in &config.extra_routes {
        let wanted = metricset.clone();
        routes
            .branch(metricset, move |_, event| event.metricset() == wanted)
            .to(topic);
    }
    routes.default_branch().named("route-unrouted").foreach({
        let counts = Arc::clone(&counts);
        move |_, event| counts.unrouted.record(event.metricset())
    });
    cpu.to(&config.cpu_topic);
    memory.to(&config.memory_topic);
    let inventory = config
        .inventory_topic
        .as_ref()
        .map(|topic| builder.global_table::<Utf8, Bytes>(topic));
    let sink = AlertSink {
        topic: &config.alert_topic,
        inventory: inventory.as_ref(),
        counts: &counts,
    };
    match pipeline.alerting.mode {
        AlertMode::EverySample => {
            let threshold = config.alert_threshold;
            let every = Arc::clone(&counts);
            let alerts = cpu
                .try_filter(move |_, event| {
                    let norm = event.cpu_norm_pct()?;
                    if norm.computed {
                        every.normalised.record();
                    }
                    Ok::<_, String>(norm.pct > threshold)
                })
                .named("cpu-above-threshold")
                .try_map_values(|event| event.alert())
                .named("cpu-alert");
            sink.write(&alerts, |_, alert| inventory::alert_host_name(alert));
        }
        AlertMode::Transitions => {
            let rule = pipeline.alerting.rule(config.alert_threshold);
            let alerts = transitions::transitions(&builder, &cpu, rule, &counts);
            sink.write(&alerts, |host, _| host.clone().into_owned());
        }
    }
    if let Some(topic) = &pipeline.summaries.topic {
        summaries::summaries(&cpu, &memory, pipeline.summaries, topic);
    }
    builder
        .build()
        .expect("the metric topology has unique node and store names by construction")
}

/// Where alerts go: the alert topic, through the inventory's join when there is one.
struct AlertSink<'s> {
    topic: &'s str,
    inventory: Option<&'s GlobalKTable<Utf8, Bytes>>,
    counts: &'s Arc<TopologyCounts>,
}

impl AlertSink<'_> {
    /// Writes `alerts` to the alert topic; with an inventory, each gains its host's entry
    /// (the host named by `host_of(key, alert)`).
    fn write<K: Serde, H>(&self, alerts: &KStream<K, Bytes>, host_of: H)
    where
        H: for<'a> Fn(&K::Value<'a>, &<Bytes as Serde>::Value<'a>) -> String
            + Send
            + Sync
            + 'static,
    {
        let Some(inventory) = self.inventory else {
            alerts.to(self.topic);
            return;
        };
        let counts = Arc::clone(self.counts);
        alerts
            .left_join_global(inventory, host_of, move |alert, found| {
                inventory::with_inventory(
                    alert,
                    found.map(|found| &found[..]),
                    &counts.inventory_invalid,
                )
            })
            .named("cpu-alert-inventory")
            .to(self.topic);
    }
}
