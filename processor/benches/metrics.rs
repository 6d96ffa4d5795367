//! What the Prometheus series cost a worker per record: one poll observation, the source's
//! counter and end-to-end latency, the process latency, and one sink's counter and latency —
//! everything a streams worker reports for a record with one output, through the same
//! `WorkerObserver` trait object the runtime calls. Compare with the
//! processor's CPU time per record in BENCHMARKS.md (the target: metrics < 5 % of it). At the
//! debug level, also the per-task and per-node counters.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrobeat_processor::monitor::MetricsLevel;
use ferrobeat_processor::monitor::metrics::{PrometheusObserver, RuntimeMetrics};
use ferrobeat_streams::runtime::{RecordClock, RuntimeObserver};

/// The nodes a memory event enters in the metric topology.
const NODES: [&str; 4] = [
    "KSTREAM-SOURCE-0000000000",
    "route-",
    "route-memory",
    "KSTREAM-SINK-0000000002",
];

fn bench_metrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics per record");
    group.throughput(Throughput::Elements(1));
    for level in [MetricsLevel::Info, MetricsLevel::Debug] {
        let observer = PrometheusObserver(Arc::new(RuntimeMetrics::new(level)));
        let sinks = ["metric.cpu", "metric.memory", "metric.cpu.alert"];
        let mut worker =
            observer.worker("bench-StreamThread-1", &["metric.all".to_owned()], &sinks);
        let timestamp = RecordClock::now().0;
        let mut partition = 0;
        group.bench_function(format!("{level:?}"), |b| {
            b.iter(|| {
                let started = Instant::now();
                worker.polled(black_box(Duration::from_micros(3)));
                partition = (partition + 1) % 3;
                let clock = RecordClock::now();
                worker.consumed(0, partition, black_box(timestamp), clock);
                if worker.observes_nodes() {
                    // The metric topology's path of a memory event: source, router, branch, sink.
                    for node in NODES {
                        worker.node_entered(black_box(node));
                    }
                }
                worker.produced(black_box("metric.memory"), timestamp, clock);
                worker.processed(1, started.elapsed());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_metrics);
criterion_main!(benches);
