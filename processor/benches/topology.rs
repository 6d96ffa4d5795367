//! The metric topology on ~1 KB Metricbeat documents (mixed metricsets, half of the cpu events
//! above the threshold) against a full `serde_json::from_slice::<ferrobeat_schema::Event>` of
//! the same documents. Target: ≤ 1 µs per record through the topology.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrobeat_processor::metric_topology::{MetricEvent, MetricTopologyConfig, metric_topology};
use ferrobeat_streams::record::{InputRecord, OutputRecord, SourcePosition};
use ferrobeat_toolbox::intercept::{Interceptor, Interceptors, RecordView};

/// A host object as Metricbeat's `add_host_metadata` writes it, to bring documents to ~1 KB.
const RICH_HOST: &str = r#""host":{"name":"web-1","hostname":"web-1","architecture":"x86_64","os":{"type":"linux","platform":"debian","family":"debian","name":"Debian GNU/Linux","version":"12 (bookworm)","kernel":"6.1.0-18-amd64","codename":"bookworm"},"id":"8f3c1e2d4b5a69788796a5b4c3d2e1f0","ip":["10.0.0.5","fe80::216:3eff:fe12:3456"],"mac":["00-16-3E-12-34-56"],"containerized":false"#;

/// The schema crate's reference documents, hosts enriched; cpu events half hot, half not.
fn documents() -> Vec<Vec<u8>> {
    let hot_ticks = include_str!("../../shared/schema/tests/documents/linux-cpu-ticks.json"); // 0.6125
    let cold_ticks = hot_ticks.replace("0.6125", "0.3125");
    let cold_mission =
        include_str!("../../shared/schema/tests/documents/mission-cpu.json").to_owned(); // 0.1889
    let hot_mission = cold_mission.replace("0.1889", "0.8586");
    let others = [
        include_str!("../../shared/schema/tests/documents/linux-memory.json"),
        include_str!("../../shared/schema/tests/documents/mission-memory.json"),
        include_str!("../../shared/schema/tests/documents/linux-network.json"),
        include_str!("../../shared/schema/tests/documents/linux-diskio.json"),
        include_str!("../../shared/schema/tests/documents/linux-load.json"),
        include_str!("../../shared/schema/tests/documents/linux-filesystem.json"),
    ];
    [hot_ticks.to_owned(), cold_ticks, hot_mission, cold_mission]
        .into_iter()
        .chain(others.map(str::to_owned))
        .map(|doc| {
            doc.replacen(r#""host":{"name":"web-1""#, RICH_HOST, 1)
                .into_bytes()
        })
        .collect()
}

/// The documents as records of `metric.all`, after checking the schema reads each.
fn input_records(documents: &[Vec<u8>]) -> Vec<InputRecord<'_>> {
    let mean = documents.iter().map(Vec::len).sum::<usize>() / documents.len();
    eprintln!("{} documents, {mean} bytes on average", documents.len());
    for doc in documents {
        assert!(
            serde_json::from_slice::<ferrobeat_schema::Event>(doc).is_ok(),
            "the schema must read every bench document: {}",
            String::from_utf8_lossy(doc)
        );
    }
    documents
        .iter()
        .enumerate()
        .map(|(offset, doc)| InputRecord {
            source: SourcePosition {
                topic: "metric.all",
                partition: 0,
                offset: offset as i64,
            },
            timestamp: 1_738_310_400_000,
            key: None,
            value: Some(doc),
            headers: Vec::new(),
        })
        .collect()
}

/// The worker's interceptor calls for `records` and their outputs (`on_consume` per record,
/// `on_send` per output), without the topology.
fn call_hooks(
    interceptors: &Interceptors,
    records: &[InputRecord<'_>],
    outputs_of: &[Vec<OutputRecord<'_>>],
) -> usize {
    for (record, outputs) in records.iter().zip(outputs_of) {
        interceptors.on_consume(|| record.intercept_view());
        for output in outputs {
            interceptors.on_send(|| RecordView {
                topic: &output.topic,
                partition: None,
                offset: None,
                timestamp: Some(output.timestamp),
                key: output.key.as_deref(),
                value: output.value.as_deref(),
                headers: Vec::new(),
            });
        }
    }
    outputs_of.len()
}

fn bench_topology(c: &mut Criterion) {
    let documents = documents();
    let records = input_records(&documents);
    let topology = metric_topology(&MetricTopologyConfig::default());
    let mut outputs = 0usize;
    for record in &records {
        topology
            .process(record, &mut |_| outputs += 1)
            .expect("bench documents are valid");
    }
    assert_eq!(outputs, 4 + 2 + 2, "4 cpu + 2 alerts + 2 memory");

    let process_all = || {
        let mut produced = 0usize;
        for record in &records {
            let emitted = topology.process(black_box(record), &mut |output| {
                produced += output.value.map_or(0, |v| v.len());
            });
            black_box(emitted).ok();
        }
        produced
    };
    let parse_all = || {
        documents
            .iter()
            .filter(|doc| MetricEvent::parse(black_box(doc)).is_ok())
            .count()
    };
    let ignore_all = || {
        documents
            .iter()
            .filter(|doc| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(doc)).is_ok())
            .count()
    };
    let full_all = || {
        documents
            .iter()
            .filter(|doc| serde_json::from_slice::<ferrobeat_schema::Event>(black_box(doc)).is_ok())
            .count()
    };
    // The interceptor calls for these records: with none configured, then with one that does
    // nothing.
    let outputs_of: Vec<_> = records
        .iter()
        .map(|record| {
            let mut outputs = Vec::new();
            topology
                .process(record, &mut |output| outputs.push(output))
                .ok();
            outputs
        })
        .collect();
    let none = Interceptors::default();
    let no_op = Interceptors::new(vec![("no-op".to_owned(), Box::new(NoOp))]);
    let hooks_none = || call_hooks(black_box(&none), &records, &outputs_of);
    let hooks_no_op = || call_hooks(black_box(&no_op), &records, &outputs_of);
    let cases: [(&str, &dyn Fn() -> usize); 6] = [
        ("metric_topology_process", &process_all),
        ("interceptor_hooks_none_configured", &hooks_none),
        ("interceptor_hooks_one_no_op", &hooks_no_op),
        ("metric_event_parse", &parse_all),
        ("serde_json_ignored_any", &ignore_all),
        ("serde_json_full_event", &full_all),
    ];

    let mut group = c.benchmark_group("metric_records");
    group.throughput(Throughput::Elements(records.len() as u64));
    for (name, case) in cases {
        group.bench_function(name, |b| b.iter(case));
    }
    group.finish();
}

/// An interceptor whose hooks all do nothing: the cost of calling a configured chain.
#[derive(Debug)]
struct NoOp;

impl Interceptor for NoOp {}

criterion_group!(benches, bench_topology);
criterion_main!(benches);
