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

/// `--topology-only`: the topology's cost over the first 1000 of `--records` generated
/// documents (as in a full run), printed and kept under `--runs-dir`.
pub(crate) fn topology_only(options: &crate::Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let (documents, _) =
        crate::documents::DocumentGenerator::new().batch(options.records.min(1000));
    let cost = measure(&documents, Duration::from_secs(options.topology_seconds))?;
    let text = crate::report::render_topology_only(
        &cost,
        &crate::report::Machine::this(),
        started.elapsed().as_secs_f64(),
    );
    crate::save_report(&text, &options.runs_dir, "topology")
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
    let mut topology_pass = || {
        let mut bytes = 0usize;
        for record in &records {
            let processed = topology.process_in(&mut task, black_box(record), &mut |output| {
                bytes += output.value.map_or(0, |value| value.len());
            });
            black_box(processed).ok();
        }
        black_box(bytes);
    };
    let mut serde_event_pass = || {
        for document in documents {
            black_box(serde_json::from_slice::<ferrobeat_schema::Event>(black_box(document)).ok());
        }
    };
    let mut serde_validate_pass = || {
        for document in documents {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(document)).ok());
        }
    };
    let [topology_ns, serde_event_ns, serde_validate_ns] = best_per_record_ns(
        records.len(),
        per_case,
        [
            &mut topology_pass,
            &mut serde_event_pass,
            &mut serde_validate_pass,
        ],
    )?;
    Ok(TopologyCost {
        serde_validate_ns,
        documents: documents.len(),
        mean_bytes: documents.iter().map(Vec::len).sum::<usize>() / documents.len().max(1),
        topology_ns,
        serde_event_ns,
    })
}

/// How many rounds [`best_per_record_ns`] splits each case's time into.
const ROUNDS: u32 = 15;

/// Runs each pass (over `records` records) once to warm up, then in [`ROUNDS`] rounds, each
/// running every pass in turn for its share of `per_case`: the on-CPU time per record of each
/// pass's best round, in ns. On-CPU time, and interleaved, so that other work on this shared
/// machine neither counts as the topology's time nor slows one case's whole measurement.
fn best_per_record_ns<const N: usize>(
    records: usize,
    per_case: Duration,
    mut passes: [&mut dyn FnMut(); N],
) -> anyhow::Result<[f64; N]> {
    for pass in &mut passes {
        pass();
    }
    let mut best = [f64::INFINITY; N];
    for _ in 0..ROUNDS {
        for (pass, best) in passes.iter_mut().zip(&mut best) {
            let start = Instant::now();
            let cpu_start = crate::process::this_thread_cpu_ns()?;
            let mut runs = 0u32;
            while start.elapsed() < per_case / ROUNDS || runs == 0 {
                pass();
                runs += 1;
            }
            let cpu_ns = crate::process::this_thread_cpu_ns()? - cpu_start;
            *best = best.min(cpu_ns as f64 / (f64::from(runs) * records as f64));
        }
    }
    Ok(best)
}
