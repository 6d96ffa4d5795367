//! The pure topology's cost per record on one core, against a full serde_json parse of the same
//! documents into the schema's typed `Event` and a bare validation of them (`IgnoredAny`): no
//! broker, no clients, one thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrobeat_processor::metric_topology::{MetricTopologyConfig, metric_topology};
use ferrobeat_streams::record::{InputRecord, SourcePosition};

// Plain figure types of the bench: alike in shape only.
/// Nanoseconds per record of each way through the documents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopologyCost {
    /// Documents measured (distinct).
    pub(crate) documents: usize,
    /// Their mean size in bytes.
    pub(crate) mean_bytes: usize,
    /// The metric topology's `process_in` on a task state kept across records, per record, in ns.
    pub(crate) topology_ns: f64,
    /// `serde_json::from_slice::<ferrobeat_schema::Event>`, per record, in ns.
    pub(crate) serde_event_ns: f64,
    /// `serde_json::from_slice::<IgnoredAny>` (validating the JSON, keeping nothing), per record,
    /// in ns: the floor of any topology built on serde_json.
    pub(crate) serde_validate_ns: f64,
}

/// Measures both over `documents`, each repeated for at least `per_case`.
pub(crate) fn measure(documents: &[Vec<u8>], per_case: Duration) -> anyhow::Result<TopologyCost> {
    let config = MetricTopologyConfig {
        alert_threshold: crate::documents::ALERT_THRESHOLD,
        ..MetricTopologyConfig::default()
    };
    let topology = metric_topology(&config);
    let records: Vec<InputRecord<'_>> = documents
        .iter()
        .enumerate()
        .map(|(offset, document)| InputRecord {
            source: SourcePosition {
                topic: &config.input_topic,
                partition: 0,
                offset: offset as i64,
            },
            timestamp: 1_738_310_400_000,
            key: None,
            value: Some(document),
            headers: Vec::new(),
        })
        .collect();
    for record in &records {
        topology.process(record, &mut |_| {}).with_context(|| {
            format!(
                "the topology refused bench document {}",
                record.source.offset
            )
        })?;
    }
    // As a worker runs it: the stateless task's state is kept from record to record
    // (`Topology::process` would build a fresh one for every record).
    let mut task = topology.new_task_state(&topology.new_global_stores());
    let topology_ns = per_record_ns(records.len(), per_case, || {
        let mut bytes = 0usize;
        for record in &records {
            let processed = topology.process_in(&mut task, black_box(record), &mut |output| {
                bytes += output.value.map_or(0, |value| value.len());
            });
            black_box(processed).ok();
        }
        black_box(bytes);
    });
    let serde_event_ns = per_record_ns(documents.len(), per_case, || {
        for document in documents {
            black_box(serde_json::from_slice::<ferrobeat_schema::Event>(black_box(document)).ok());
        }
    });
    let serde_validate_ns = per_record_ns(documents.len(), per_case, || {
        for document in documents {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(document)).ok());
        }
    });
    Ok(TopologyCost {
        serde_validate_ns,
        documents: documents.len(),
        mean_bytes: documents.iter().map(Vec::len).sum::<usize>() / documents.len().max(1),
        topology_ns,
        serde_event_ns,
    })
}

/// Runs `pass` (over `records` records) once to warm up, then until `at_least` has passed;
/// the time per record of the best of three such runs, in ns.
fn per_record_ns(records: usize, at_least: Duration, mut pass: impl FnMut()) -> f64 {
    pass();
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let mut passes = 0u32;
            while start.elapsed() < at_least / 3 || passes == 0 {
                pass();
                passes += 1;
            }
            start.elapsed().as_nanos() as f64 / (f64::from(passes) * records as f64)
        })
        .fold(f64::INFINITY, f64::min)
}
