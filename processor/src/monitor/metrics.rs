// over 500 lines: about 90 are unit tests; the series are declared together so their names and labels stay consistent.
//! The runtime's Prometheus series (Kafka Streams' thread-, topic-, task- and client-level
//! metrics), and the pre-resolved handles a worker updates on its hot path.
//!
//! They are the streams runtime's reports ([`RuntimeObserver`], [`WorkerObserver`]) exported.
//! A worker resolves its labelled handles once ([`RuntimeObserver::worker`]); per record it only
//! adds to atomics and observes histograms it already holds (no label lookup, no allocation),
//! except at the `debug` level, whose per-task and per-node counters cost a hash lookup per
//! record and node.
//! Totals the runtime already counts ([`RuntimeStats`]) are read at scrape time, not counted
//! twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferrobeat_streams::runtime::stats::{Counter as StatsCounter, RuntimeStats};
use ferrobeat_streams::runtime::{
    ClientState, RecordClock, RuntimeObserver, WorkerObserver, global_lag,
};
use parking_lot::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rdkafka::statistics::Statistics;

use super::MetricsLevel;
use crate::metric_topology::TopologyCounts;

type Labels<const N: usize> = [(&'static str, String); N];
type HistogramFamily<const N: usize> = Family<Labels<N>, Histogram, fn() -> Histogram>;

/// Buckets for in-process latencies: 10 µs to about 2.6 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

/// Buckets for end-to-end latencies: 1 ms to about 70 min.
fn end_to_end_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 12))
}

/// The metric families of one client, shared by its workers and its endpoint.
#[derive(Debug)]
pub struct RuntimeMetrics {
    level: MetricsLevel,
    poll_latency: HistogramFamily<1>,
    process_latency: HistogramFamily<1>,
    commit_latency: HistogramFamily<1>,
    rebalances: Family<Labels<1>, Counter>,
    assigned_partitions: Family<Labels<1>, Gauge>,
    consumed: Family<Labels<1>, Counter>,
    produced: Family<Labels<1>, Counter>,
    end_to_end_latency: HistogramFamily<2>,
    task_processed: Family<Labels<2>, Counter>,
    node_processed: Family<Labels<1>, Counter>,
    consumer_lag: Family<Labels<2>, Gauge>,
    global_table_lag: Family<Labels<2>, Gauge>,
    global_table_position: Family<Labels<2>, Gauge>,
    state: Family<Labels<1>, Gauge>,
    /// The partitions each worker holds, by worker name, as `topic-partition`.
    assignments: Mutex<BTreeMap<String, Vec<String>>>,
    ever_running: AtomicBool,
}

impl RuntimeMetrics {
    /// Families at `level`; the client is CREATED.
    pub fn new(level: MetricsLevel) -> Self {
        let metrics = RuntimeMetrics {
            level,
            poll_latency: Family::new_with_constructor(latency_histogram),
            process_latency: Family::new_with_constructor(latency_histogram),
            commit_latency: Family::new_with_constructor(latency_histogram),
            rebalances: Family::default(),
            assigned_partitions: Family::default(),
            consumed: Family::default(),
            produced: Family::default(),
            end_to_end_latency: Family::new_with_constructor(end_to_end_histogram),
            task_processed: Family::default(),
            node_processed: Family::default(),
            consumer_lag: Family::default(),
            global_table_lag: Family::default(),
            global_table_position: Family::default(),
            state: Family::default(),
            assignments: Mutex::new(BTreeMap::new()),
            ever_running: AtomicBool::new(false),
        };
        metrics.record_state(ClientState::Created);
        metrics
    }

    // One registration per series (name, help, handle): a table would only add indirection.
    /// Registers every family, and the runtime's totals `stats` (read at scrape time), in
    /// `registry`.
    /// `counts` is what the metric topology counted (unrouted records, computed normalised
    /// totals, unusable inventory values).
    pub fn register(
        &self,
        registry: &mut Registry,
        stats: Arc<RuntimeStats>,
        counts: Arc<TopologyCounts>,
    ) {
        let histograms = [
            (
                "poll_latency_seconds",
                "Time in the consumer's poll, per worker thread (count: polls)",
                &self.poll_latency,
            ),
            (
                "process_latency_seconds",
                "Time to process one record, per worker thread (count: records processed)",
                &self.process_latency,
            ),
            (
                "commit_latency_seconds",
                "Time to request an offset commit, per worker thread (count: commits)",
                &self.commit_latency,
            ),
        ];
        for (name, help, family) in histograms {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "rebalances",
            "Partition assignments received, per worker thread",
            self.rebalances.clone(),
        );
        registry.register(
            "assigned_partitions",
            "Partitions assigned, per worker thread",
            self.assigned_partitions.clone(),
        );
        registry.register(
            "records_consumed",
            "Records consumed, per source topic",
            self.consumed.clone(),
        );
        registry.register(
            "records_produced",
            "Records handed to the producer, per sink topic (re-sends not counted)",
            self.produced.clone(),
        );
        registry.register(
            "record_e2e_latency_seconds",
            "Wall-clock time minus the record's timestamp, at source and sink nodes",
            self.end_to_end_latency.clone(),
        );
        self.register_lags(registry);
        registry.register(
            "client_state",
            "1 for the client's current state (Kafka Streams' states), 0 for the others",
            self.state.clone(),
        );
        if self.level == MetricsLevel::Debug {
            registry.register(
                "task_records_processed",
                "Records processed, per task (source partition); debug level",
                self.task_processed.clone(),
            );
            registry.register(
                "node_records_processed",
                "Records that entered each topology node; debug level",
                self.node_processed.clone(),
            );
        }
        registry.register_collector(Box::new(TotalsCollector { stats, counts }));
    }

    /// Registers the lags per topic-partition: the group's consumers' (from librdkafka's
    /// statistics) and the global tables' reader's (present once a topology with global tables
    /// reports).
    fn register_lags(&self, registry: &mut Registry) {
        registry.register(
            "consumer_lag_records",
            "High watermark minus committed offset, per assigned partition (librdkafka statistics)",
            self.consumer_lag.clone(),
        );
        registry.register(
            "global_table_lag_records",
            "High watermark minus the global tables' reader's position, per partition of a \
             global table's topic",
            self.global_table_lag.clone(),
        );
        registry.register(
            "global_table_position",
            "Next offset the global tables' reader reads, per partition of a global table's topic",
            self.global_table_position.clone(),
        );
    }

    /// Records a state transition: the `client_state` gauges, and whether it was ever RUNNING.
    fn record_state(&self, new: ClientState) {
        for state in ClientState::ALL {
            self.state
                .get_or_create(&[("state", state.name().to_owned())])
                .set(i64::from(state == new));
        }
        if new == ClientState::Running {
            self.ever_running.store(true, Ordering::Release);
        }
    }

    /// Whether the client has reached RUNNING at least once.
    pub fn ever_running(&self) -> bool {
        self.ever_running.load(Ordering::Acquire)
    }

    /// Every assigned partition, as `topic-partition`, sorted.
    pub fn assigned_partitions(&self) -> Vec<String> {
        let mut partitions: Vec<String> = self
            .assignments
            .lock()
            .values()
            .flatten()
            .cloned()
            .collect();
        partitions.sort();
        partitions
    }
}

/// The runtime's reports, exported: a shared handle, since workers keep their own.
#[derive(Debug, Clone)]
pub struct PrometheusObserver(pub Arc<RuntimeMetrics>);

impl RuntimeObserver for PrometheusObserver {
    fn worker(&self, thread: &str, sources: &[String], sinks: &[&str]) -> Box<dyn WorkerObserver> {
        Box::new(self.0.worker(thread, sources, sinks))
    }

    fn state_changed(&self, new: ClientState) {
        self.0.record_state(new);
    }

    fn global_table_position(
        &self,
        topic: &str,
        partition: i32,
        position: i64,
        high_watermark: i64,
    ) {
        let labels = [
            ("topic", topic.to_owned()),
            ("partition", partition.to_string()),
        ];
        self.0
            .global_table_lag
            .get_or_create(&labels)
            .set(global_lag(position, high_watermark));
        self.0
            .global_table_position
            .get_or_create(&labels)
            .set(position);
    }
}

impl RuntimeMetrics {
    /// The handles of worker thread `thread`, reading `sources` (indexed as the runtime's
    /// source topics) and writing `sinks`.
    pub fn worker(
        self: &Arc<Self>,
        thread: &str,
        sources: &[String],
        sinks: &[&str],
    ) -> WorkerMetrics {
        let thread_label = [("thread", thread.to_owned())];
        let topic =
            |family: &Family<Labels<1>, Counter>, node: &'static str, topic: &str| TopicHandles {
                topic: topic.to_owned(),
                records: family.get_or_create_owned(&[("topic", topic.to_owned())]),
                end_to_end_latency: self
                    .end_to_end_latency
                    .get_or_create_owned(&[("node", node.to_owned()), ("topic", topic.to_owned())]),
            };
        WorkerMetrics {
            runtime: Arc::clone(self),
            thread: thread.to_owned(),
            poll_latency: self.poll_latency.get_or_create_owned(&thread_label),
            process_latency: self.process_latency.get_or_create_owned(&thread_label),
            commit_latency: self.commit_latency.get_or_create_owned(&thread_label),
            rebalances: self.rebalances.get_or_create_owned(&thread_label),
            assigned: self.assigned_partitions.get_or_create_owned(&thread_label),
            sources: sources
                .iter()
                .map(|source| topic(&self.consumed, "source", source))
                .collect(),
            sinks: sinks
                .iter()
                .map(|sink| topic(&self.produced, "sink", sink))
                .collect(),
            tasks: HashMap::new(),
            nodes: HashMap::new(),
            lagging: Vec::new(),
        }
    }
}

/// The counters and histograms of one source or sink topic.
#[derive(Debug)]
struct TopicHandles {
    topic: String,
    records: Counter,
    end_to_end_latency: Histogram,
}

impl TopicHandles {
    fn record(&self, timestamp_ms: i64, now_ms: i64) {
        self.records.inc();
        if timestamp_ms >= 0 {
            let age_ms = now_ms.saturating_sub(timestamp_ms).max(0);
            self.end_to_end_latency.observe(age_ms as f64 / 1000.0);
        }
    }
}

/// One worker thread's handles: everything it updates per record, resolved in advance.
#[derive(Debug)]
pub struct WorkerMetrics {
    runtime: Arc<RuntimeMetrics>,
    thread: String,
    poll_latency: Histogram,
    process_latency: Histogram,
    commit_latency: Histogram,
    rebalances: Counter,
    assigned: Gauge,
    sources: Vec<TopicHandles>,
    sinks: Vec<TopicHandles>,
    /// Debug level only: per source partition (topic index, partition).
    tasks: HashMap<(usize, i32), Counter>,
    /// Debug level only: per topology node, by name.
    nodes: HashMap<String, Counter>,
    /// The partitions whose lag this worker reported last.
    lagging: Vec<Labels<2>>,
}

impl WorkerObserver for WorkerMetrics {
    fn polled(&mut self, elapsed: Duration) {
        self.poll_latency.observe(elapsed.as_secs_f64());
    }

    fn committed(&mut self, elapsed: Duration) {
        self.commit_latency.observe(elapsed.as_secs_f64());
    }

    fn consumed(&mut self, topic: usize, partition: i32, timestamp_ms: i64, clock: RecordClock) {
        let now = clock.0;
        if let Some(source) = self.sources.get(topic) {
            source.record(timestamp_ms, now);
            if self.runtime.level == MetricsLevel::Debug {
                let runtime = &self.runtime;
                self.tasks
                    .entry((topic, partition))
                    .or_insert_with(|| {
                        runtime.task_processed.get_or_create_owned(&[
                            ("topic", source.topic.clone()),
                            ("partition", partition.to_string()),
                        ])
                    })
                    .inc();
            }
        }
    }

    /// At the debug level only.
    fn observes_nodes(&self) -> bool {
        self.runtime.level == MetricsLevel::Debug
    }

    fn node_entered(&mut self, name: &str) {
        match self.nodes.get(name) {
            Some(counter) => {
                counter.inc();
            }
            None => {
                let counter = self
                    .runtime
                    .node_processed
                    .get_or_create_owned(&[("node", name.to_owned())]);
                counter.inc();
                self.nodes.insert(name.to_owned(), counter);
            }
        }
    }

    /// One observation per record, each the batch's mean (as Kafka Streams records its
    /// `process-latency`): the count stays the records processed.
    fn processed(&mut self, records: usize, elapsed: Duration) {
        let mean = elapsed.as_secs_f64() / records.max(1) as f64;
        for _ in 0..records {
            self.process_latency.observe(mean);
        }
    }

    fn produced(&mut self, topic: &str, timestamp_ms: i64, clock: RecordClock) {
        if let Some(sink) = self.sinks.iter().find(|sink| sink.topic == topic) {
            sink.record(timestamp_ms, clock.0);
            return;
        }
        // A topic the topology does not name (the dead-letter topic): resolved once.
        let runtime = Arc::clone(&self.runtime);
        let handles = TopicHandles {
            topic: topic.to_owned(),
            records: runtime
                .produced
                .get_or_create_owned(&[("topic", topic.to_owned())]),
            end_to_end_latency: runtime
                .end_to_end_latency
                .get_or_create_owned(&[("node", "sink".to_owned()), ("topic", topic.to_owned())]),
        };
        handles.record(timestamp_ms, clock.0);
        self.sinks.push(handles);
    }

    fn assigned(&mut self, partitions: Vec<String>, rebalance: bool) {
        if rebalance {
            self.rebalances.inc();
        }
        self.assigned
            .set(i64::try_from(partitions.len()).unwrap_or(i64::MAX));
        self.runtime
            .assignments
            .lock()
            .insert(self.thread.clone(), partitions);
    }

    /// Sets the lag gauges from the consumer's statistics, and removes those of partitions it
    /// no longer reports.
    fn statistics(&mut self, statistics: &Statistics) {
        let mut reported = Vec::new();
        for (topic, partitions) in &statistics.topics {
            for partition in partitions.partitions.values() {
                if partition.partition < 0 || !partition.desired || partition.consumer_lag < 0 {
                    continue;
                }
                let labels = [
                    ("topic", topic.clone()),
                    ("partition", partition.partition.to_string()),
                ];
                self.runtime
                    .consumer_lag
                    .get_or_create(&labels)
                    .set(partition.consumer_lag);
                reported.push(labels);
            }
        }
        for gone in self.lagging.iter().filter(|old| !reported.contains(old)) {
            self.runtime.consumer_lag.remove(gone);
        }
        self.lagging = reported;
    }
}

impl Drop for WorkerMetrics {
    fn drop(&mut self) {
        self.assigned.set(0);
        self.runtime.assignments.lock().remove(&self.thread);
        for gone in &self.lagging {
            self.runtime.consumer_lag.remove(gone);
        }
    }
}

/// Exposes the totals of [`RuntimeStats`] and the topology's counts at scrape time.
#[derive(Debug)]
struct TotalsCollector {
    stats: Arc<RuntimeStats>,
    counts: Arc<TopologyCounts>,
}

impl Collector for TotalsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let totals = self.stats.snapshot();
        let plain = [
            StatsCounter::RecordsProcessed,
            StatsCounter::OutputsAcknowledged,
            StatsCounter::ProductionRetries,
            StatsCounter::Commits,
            StatsCounter::FetchPauses,
            StatsCounter::WorkersReplaced,
        ];
        for counter in plain {
            let metric = encoder.encode_descriptor(
                counter.name(),
                counter.help(),
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(totals.get(counter)).encode(metric)?;
        }
        let metric = encoder.encode_descriptor(
            "cpu_norm_computed",
            "Cpu events without system.cpu.total.norm.pct, compared on total.pct / cores instead",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.counts.normalised.get()).encode(metric)?;
        let metric = encoder.encode_descriptor(
            "inventory_invalid",
            "Inventory values that were not JSON objects (their host's alerts went out without \
             inventory)",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.counts.inventory_invalid.get()).encode(metric)?;
        // reason: `record-failed` (the topology failed on an input record) or `delivery-failed`
        // (an output could not be produced).
        let by_reason = [
            (
                "records_dropped",
                "Records given up on, by reason (skipped inputs, undeliverable outputs)",
                StatsCounter::RecordsSkipped,
                StatsCounter::OutputsDropped,
            ),
            (
                "records_dead_lettered",
                "Records sent to the dead-letter topic, by reason",
                StatsCounter::RecordsDeadLettered,
                StatsCounter::OutputsDeadLettered,
            ),
        ];
        for (name, help, record_failed, delivery_failed) in by_reason {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (reason, counter) in [
                ("record-failed", record_failed),
                ("delivery-failed", delivery_failed),
            ] {
                let labels = [("reason", reason)];
                ConstCounter::new(totals.get(counter)).encode(metric.encode_family(&labels)?)?;
            }
            if name == "records_dropped" {
                // Records a windowed aggregation dropped because their windows had closed.
                let labels = [("reason", "late")];
                ConstCounter::new(totals.get(StatsCounter::RecordsDroppedLate))
                    .encode(metric.encode_family(&labels)?)?;
                // Records of metricsets the metric topology does not route.
                for (metricset, count) in self.counts.unrouted.snapshot() {
                    let labels = [("reason", "unrouted"), ("metricset", metricset.as_str())];
                    ConstCounter::new(count).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        self.encode_transitions(&mut encoder)
    }
}

impl TotalsCollector {
    /// `alert_transitions_total{status}`.
    fn encode_transitions(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "alert_transitions",
            "Alert records of [alerting] mode = \"transitions\", by status",
            None,
            MetricType::Counter,
        )?;
        for (status, count) in self.counts.transitions.snapshot() {
            ConstCounter::new(count).encode(metric.encode_family(&[("status", status)])?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(metrics: &RuntimeMetrics, stats: &Arc<RuntimeStats>) -> String {
        let mut registry = Registry::with_prefix("ferrobeat_processor");
        let counts = TopologyCounts::default();
        counts.unrouted.record("network");
        counts.unrouted.record("network");
        counts.normalised.record();
        counts
            .transitions
            .record(crate::metric_topology::sustained::Transition::Firing);
        metrics.register(&mut registry, Arc::clone(stats), Arc::new(counts));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        text
    }

    #[test]
    fn worker_handles_feed_the_families() {
        let stats = Arc::new(RuntimeStats::default());
        let metrics = Arc::new(RuntimeMetrics::new(MetricsLevel::Info));
        let mut worker = metrics.worker("app-1-StreamThread-1", &["in".to_owned()], &["out"]);
        worker.assigned(vec!["in-0".to_owned(), "in-1".to_owned()], true);
        let clock = RecordClock::now();
        worker.consumed(0, 1, clock.0 - 2_000, clock);
        worker.processed(1, Duration::from_micros(30));
        worker.produced("out", clock.0 - 2_000, clock);
        worker.produced("dlq", -1, clock);
        stats.add(StatsCounter::RecordsSkipped, 3);
        stats.add(StatsCounter::RecordsDroppedLate, 4);
        PrometheusObserver(Arc::clone(&metrics)).state_changed(ClientState::Running);

        let text = text(&metrics, &stats);
        for expected in [
            "ferrobeat_processor_records_consumed_total{topic=\"in\"} 1",
            "ferrobeat_processor_records_produced_total{topic=\"out\"} 1",
            "ferrobeat_processor_records_produced_total{topic=\"dlq\"} 1",
            "ferrobeat_processor_process_latency_seconds_count{thread=\"app-1-StreamThread-1\"} 1",
            "ferrobeat_processor_record_e2e_latency_seconds_count{node=\"source\",topic=\"in\"} 1",
            "ferrobeat_processor_record_e2e_latency_seconds_count{node=\"sink\",topic=\"out\"} 1",
            "ferrobeat_processor_assigned_partitions{thread=\"app-1-StreamThread-1\"} 2",
            "ferrobeat_processor_rebalances_total{thread=\"app-1-StreamThread-1\"} 1",
            "ferrobeat_processor_client_state{state=\"RUNNING\"} 1",
            "ferrobeat_processor_client_state{state=\"CREATED\"} 0",
            "ferrobeat_processor_records_dropped_total{reason=\"record-failed\"} 3",
            "ferrobeat_processor_records_dropped_total{reason=\"late\"} 4",
            "ferrobeat_processor_records_dropped_total{reason=\"unrouted\",metricset=\"network\"} 2",
            "ferrobeat_processor_cpu_norm_computed_total 1",
            "ferrobeat_processor_alert_transitions_total{status=\"firing\"} 1",
            "ferrobeat_processor_alert_transitions_total{status=\"no_data\"} 0",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
        // The e2e latency of a record stamped 2 s ago lands between 1.024 s and 4.096 s.
        let source_bucket = |le: &str| {
            format!("record_e2e_latency_seconds_bucket{{le=\"{le}\",node=\"source\",topic=\"in\"}}")
        };
        assert!(
            text.contains(&format!("{} 0", source_bucket("1.024"))),
            "{text}"
        );
        assert!(
            text.contains(&format!("{} 1", source_bucket("4.096"))),
            "{text}"
        );
        assert!(!text.contains("task_records_processed"), "{text}");
        assert!(!text.contains("node_records_processed"), "{text}");
        assert!(!worker.observes_nodes());
        assert_eq!(metrics.assigned_partitions(), ["in-0", "in-1"]);
        assert!(metrics.ever_running());
        drop(worker);
        assert!(metrics.assigned_partitions().is_empty());
    }

    #[test]
    fn the_global_tables_reader_shows_its_lag_per_partition() {
        let stats = Arc::new(RuntimeStats::default());
        let metrics = Arc::new(RuntimeMetrics::new(MetricsLevel::Info));
        let observer = PrometheusObserver(Arc::clone(&metrics));
        observer.global_table_position("address_v2", 1, 40, 100);
        observer.global_table_position("address_v2", 0, 7, 7);
        let text = text(&metrics, &stats);
        for expected in [
            "ferrobeat_processor_global_table_lag_records{topic=\"address_v2\",partition=\"1\"} 60",
            "ferrobeat_processor_global_table_lag_records{topic=\"address_v2\",partition=\"0\"} 0",
            "ferrobeat_processor_global_table_position{topic=\"address_v2\",partition=\"1\"} 40",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
        // Caught up: the next report replaces the lag.
        observer.global_table_position("address_v2", 1, 100, 100);
        let text = self::text(&metrics, &stats);
        assert!(
            text.contains(
                "ferrobeat_processor_global_table_lag_records{topic=\"address_v2\",partition=\"1\"} 0"
            ),
            "{text}"
        );
    }

    #[test]
    fn debug_level_adds_per_task_counts() {
        let stats = Arc::new(RuntimeStats::default());
        let metrics = Arc::new(RuntimeMetrics::new(MetricsLevel::Debug));
        let mut worker = metrics.worker("t", &["in".to_owned()], &[]);
        assert!(worker.observes_nodes());
        for _ in 0..3 {
            worker.consumed(0, 2, -1, RecordClock::now());
            worker.node_entered("KSTREAM-SOURCE-0000000000");
        }
        worker.node_entered("route-cpu");
        let text = text(&metrics, &stats);
        assert!(
            text.contains(
                "ferrobeat_processor_task_records_processed_total{topic=\"in\",partition=\"2\"} 3"
            ),
            "{text}"
        );
        for expected in [
            "ferrobeat_processor_node_records_processed_total{node=\"KSTREAM-SOURCE-0000000000\"} 3",
            "ferrobeat_processor_node_records_processed_total{node=\"route-cpu\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
    }
}
