// over 500 lines: one renderer per section of BENCHMARKS.md, in the report's order, and their tests.
//! BENCHMARKS.md: the machine, the command, every figure with its unit, ratios to its peer and
//! each target as met or missed; and the raw copy of each run kept under `docs/runs/`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::agent::{AgentOutput, AgentReport, METRICSETS};
use crate::agent_peer::{self, AgentPeerReport};
use crate::documents::ExpectedOutputs;
use crate::latency::LatencyReport;
use crate::restore_timer::Restore;
use crate::state::StateFigures;
use crate::topology_cost::TopologyCost;

/// The targets of issues 9 and 17 (the processor's drain of a batched backlog: rate against
/// the byte copy, peak RSS, CPU per record no more than the byte copy's).
const TARGET_PROCESSOR_RATIO: f64 = 0.8;
const TARGET_TOPOLOGY_RATIO: f64 = 1.0;
const TARGET_PROCESSOR_RSS_KB: u64 = 64 * 1024;
const TARGET_AGENT_RSS_KB: u64 = 8 * 1024;
const TARGET_P99_RATIO: f64 = 1.1;

// Plain figure structs: their field lists look alike but hold different figures.
/// A child draining the preloaded records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throughput {
    /// Output records that arrived.
    pub(crate) outputs: usize,
    /// Output records expected.
    pub(crate) expected_outputs: usize,
    /// Input records per second over the last nine tenths of the outputs.
    pub(crate) records_per_second: f64,
    /// Seconds from the first tenth of the outputs to the last.
    pub(crate) seconds: f64,
    /// The child's CPU seconds (user + system) when the last output arrived.
    pub(crate) cpu_seconds: f64,
    /// The child's peak RSS then, in kB.
    pub(crate) peak_rss_kb: u64,
}

/// The byte copy and the processor draining one preloaded input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drain {
    /// The raw byte copy with librdkafka's defaults.
    pub(crate) passthrough: Throughput,
    /// The processor with its defaults.
    pub(crate) processor: Throughput,
}

impl Drain {
    /// The processor's drain rate over the byte copy's.
    fn ratio(&self) -> f64 {
        self.processor.records_per_second / self.passthrough.records_per_second
    }
}

/// The drains of both preloaded inputs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drains {
    /// Preloaded in full batches by a producer with librdkafka's defaults: the backlog users
    /// meet, and the row the targets are checked on.
    pub(crate) batched: Drain,
    /// Preloaded one record per batch.
    pub(crate) one_per_batch: Drain,
    /// The processor with `[alerting] mode = "transitions"` and `[summaries]` on the batched
    /// backlog, timed on its routed records.
    pub(crate) stateful: Throughput,
    /// A windowed count per host over 1-minute tumbling windows (the streams runtime in a
    /// child), on the same documents keyed by host and timestamped.
    pub(crate) windowed: Throughput,
    /// With `--peers`: the byte copy in Python (confluent-kafka, librdkafka's defaults) on the
    /// batched backlog, the reference issue 17 measured the processor against.
    pub(crate) python_copy: Option<Throughput>,
    /// With `--peers`: Quix Streams running the processor's topology on the batched backlog.
    pub(crate) quix: Option<Throughput>,
}

/// What a `--drain-only` run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainOnly {
    /// Documents preloaded.
    pub(crate) records: usize,
    /// Their mean size in bytes.
    pub(crate) mean_bytes: usize,
    /// Preload rates, batched and one record per batch, records/s.
    pub(crate) preload_rates: [f64; 2],
    /// The drains.
    pub(crate) drains: Drains,
    /// Wall time of the whole run, in seconds.
    pub(crate) run_seconds: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    /// Documents preloaded.
    pub(crate) records: usize,
    /// Their mean size in bytes.
    pub(crate) mean_bytes: usize,
    /// What the processor makes of them.
    pub(crate) expected: ExpectedOutputs,
    /// Preload rates, batched and one record per batch, records/s.
    pub(crate) preload_rates: [f64; 2],
    /// The byte copy and the processor on both inputs.
    pub(crate) drains: Drains,
    /// The processor's peak RSS in the latency run, in kB.
    pub(crate) processor_peak_after_latency_kb: u64,
    /// Pure topology against serde_json.
    pub(crate) topology: TopologyCost,
    /// End-to-end latency through the processor (produce → alert).
    pub(crate) latency: LatencyReport,
    /// The same through the passthrough (produce → copy).
    pub(crate) passthrough_latency: LatencyReport,
    /// The agent's footprint: producing to the broker, then writing to standard output.
    pub(crate) agent: [AgentReport; 2],
    /// The agent beside the Python agent (`--peers`).
    pub(crate) agent_peer: Option<AgentPeerReport>,
    /// `fetch.wait.max.ms` of the children's consumers.
    pub(crate) fetch_wait_ms: u32,
    /// The stream–table join and the restore.
    pub(crate) state: StateFigures,
    /// Wall time of the whole run, in seconds.
    pub(crate) run_seconds: f64,
}

/// What a `--state-only` run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateOnly {
    /// Documents the processor drained.
    pub(crate) records: usize,
    /// The processor's stateless drain, the reference of the state figures.
    pub(crate) processor: Throughput,
    /// The stream–table join and the restore.
    pub(crate) state: StateFigures,
    /// Wall time of the whole run, in seconds.
    pub(crate) run_seconds: f64,
}

/// What an `--agent-only` run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgentOnly {
    /// The agent's footprint: producing to the broker, then writing to standard output.
    pub(crate) agent: [AgentReport; 2],
    /// The agent beside the Python agent (`--peers`).
    pub(crate) agent_peer: Option<AgentPeerReport>,
    /// Wall time of the whole run, in seconds.
    pub(crate) run_seconds: f64,
}

/// Where the run happened.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    /// CPU model.
    pub(crate) cpu: String,
    /// Logical CPUs available.
    pub(crate) cpus: usize,
    /// Memory in MiB.
    pub(crate) memory_mib: u64,
    /// Kernel release.
    pub(crate) kernel: String,
    /// UTC date and time of the run.
    pub(crate) date: String,
}

impl Machine {
    /// This machine, now.
    pub(crate) fn this() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        Machine {
            cpu: cpuinfo
                .lines()
                .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
                .map_or_else(
                    || "unknown".to_owned(),
                    |(_, model)| model.trim().to_owned(),
                ),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            memory_mib: meminfo
                .lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |kb| kb / 1024),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// Met or missed, for a table cell.
pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// The heading of the hand-written part of BENCHMARKS.md, which a refresh keeps.
pub(crate) const ANALYSIS_HEADING: &str = "## Analysis";

/// `fresh` followed by the hand-written analysis of `previous` (from [`ANALYSIS_HEADING`] on),
/// if it has one.
pub(crate) fn keep_analysis(fresh: &str, previous: &str) -> String {
    match previous.find(&format!("\n{ANALYSIS_HEADING}")) {
        Some(start) => format!("{fresh}{}", &previous[start..]),
        None => fresh.to_owned(),
    }
}

/// Appends `text`, under a heading with the command line, to `<dir>/<day>-<what>.txt` (`day`
/// as `YYYY-MM-DD`, `what` the kind of run: `bench-pipeline`, `bench-drain`, `bench-agent`),
/// creating the directory and the file when missing, so that every run of a day is kept;
/// returns the file's path.
pub(crate) fn save_raw_output(
    dir: &Path,
    day: &str,
    what: &str,
    text: &str,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{day}-{what}.txt"));
    let mut command = vec!["cargo".to_owned(), "bench-pipeline".to_owned()];
    command.extend(std::env::args().skip(1));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    write!(file, "## {}\n\n{text}\n", command.join(" "))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The report as Markdown.
pub(crate) fn render(figures: &Figures, machine: &Machine) -> String {
    let mut out = Markdown::default();
    header(&mut out, figures, machine);
    targets(&mut out, figures);
    drain(&mut out, &figures.drains, figures.records);
    topology_cost(&mut out, &figures.topology);
    latency(&mut out, figures);
    agent(&mut out, &figures.agent, figures.agent_peer.as_ref());
    state(&mut out, &figures.state, &figures.drains.batched.processor);
    out.0
}

/// The report of a `--drain-only` run: the drain section.
pub(crate) fn render_drain_only(run: &DrainOnly, machine: &Machine) -> String {
    let mut out = section_only("Drain", "--drain-only", machine, run.run_seconds);
    out.line(format!(
        "- {} documents of {} bytes on average, {}",
        run.records,
        run.mean_bytes,
        preloads(run.preload_rates)
    ));
    out.line(String::new());
    drain(&mut out, &run.drains, run.records);
    out.line(format!(
        "Targets on the batched backlog: {}",
        drain_targets(&run.drains, run.records)
            .iter()
            .map(|(target, measured, met)| format!("{target}: {measured}, {}", verdict(*met)))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    out.0
}

/// How the two inputs were preloaded, with their rates.
fn preloads([batched, one_per_batch]: [f64; 2]) -> String {
    format!(
        "preloaded in full batches at {batched:.0} records/s and one record per batch at \
         {one_per_batch:.0} records/s"
    )
}

/// CPU µs per input record of a drain, over the child's whole life.
fn cpu_per_record(throughput: &Throughput, records: usize) -> f64 {
    throughput.cpu_seconds * 1e6 / records.max(1) as f64
}

/// The processor's drain targets on `drain` of `records`: the target, what was measured, and
/// whether it is met.
fn drain_targets(drains: &Drains, records: usize) -> Vec<(&'static str, String, bool)> {
    let drain = &drains.batched;
    let Drain {
        passthrough,
        processor,
    } = drain;
    let complete = processor.outputs == processor.expected_outputs
        && passthrough.outputs == passthrough.expected_outputs;
    let (cpu, copy_cpu) = (
        cpu_per_record(processor, records),
        cpu_per_record(passthrough, records),
    );
    let mut targets = vec![
        (
            "processor ≥ 0.8 × byte copy (batched backlog)",
            format!(
                "{:.2} × ({:.0} vs {:.0} records/s)",
                drain.ratio(),
                processor.records_per_second,
                passthrough.records_per_second
            ),
            complete && drain.ratio() >= TARGET_PROCESSOR_RATIO,
        ),
        (
            "processor peak RSS ≤ 64 MiB draining it",
            format!("{:.1} MiB", processor.peak_rss_kb as f64 / 1024.0),
            processor.peak_rss_kb <= TARGET_PROCESSOR_RSS_KB,
        ),
        (
            "processor CPU per record ≤ the byte copy's (Rust, rdkafka)",
            format!("{cpu:.1} µs vs {copy_cpu:.1} µs"),
            cpu <= copy_cpu,
        ),
    ];
    if let Some(python_copy) = &drains.python_copy {
        let python_cpu = cpu_per_record(python_copy, records);
        targets.push((
            "processor CPU per record ≤ the Python byte copy's (issue 17's reference)",
            format!("{cpu:.1} µs vs {python_cpu:.1} µs"),
            python_copy.outputs == python_copy.expected_outputs && cpu <= python_cpu,
        ));
    }
    targets
}

/// The report of a `--state-only` run: the processor's drain and the state section.
pub(crate) fn render_state_only(run: &StateOnly, machine: &Machine) -> String {
    let mut out = section_only("State", "--state-only", machine, run.run_seconds);
    out.line(format!(
        "- ferrobeat-processor's stateless drain of {} documents: {} of {} outputs, {:.0} records/s",
        run.records, run.processor.outputs, run.processor.expected_outputs, run.processor.records_per_second
    ));
    out.line(String::new());
    state(&mut out, &run.state, &run.processor);
    out.0
}

/// The report of an `--agent-only` run: the agent section.
pub(crate) fn render_agent_only(run: &AgentOnly, machine: &Machine) -> String {
    let mut out = section_only("Agent", "--agent-only", machine, run.run_seconds);
    out.line(String::new());
    if let Some(peer) = &run.agent_peer {
        out.line("| Target | Measured | Verdict |".into());
        out.line("|---|---|---|".into());
        out.0.push_str(&agent_peer::target_rows(peer));
        out.line(String::new());
    }
    agent(&mut out, &run.agent, run.agent_peer.as_ref());
    out.0
}

/// The report of a `--topology-only` run: the pure topology's cost.
pub(crate) fn render_topology_only(
    topology: &TopologyCost,
    machine: &Machine,
    run_seconds: f64,
) -> String {
    let mut out = section_only("Topology", "--topology-only", machine, run_seconds);
    out.line(String::new());
    topology_cost(&mut out, topology);
    out.0
}

/// The heading and machine line of a run that measured one section (`flag`).
fn section_only(section: &str, flag: &str, machine: &Machine, run_seconds: f64) -> Markdown {
    let mut out = Markdown::default();
    out.line(format!(
        "# {section} section only (`cargo bench-pipeline {flag}`)"
    ));
    out.line(String::new());
    out.line(format!(
        "- Machine: {} × {}, {} MiB RAM, Linux {}; {}; whole run {run_seconds:.0} s",
        machine.cpus, machine.cpu, machine.memory_mib, machine.kernel, machine.date,
    ));
    out
}

/// Markdown text, written a line at a time.
#[derive(Default)]
struct Markdown(String);

impl Markdown {
    fn line(&mut self, text: String) {
        self.0.push_str(&text);
        self.0.push('\n');
    }

    /// A drain table's row: `name` draining `records` records of `input`.
    fn row(&mut self, input: &str, name: &str, t: &Throughput, records: usize) {
        self.line(format!(
            "| {input} | {name} | {} of {} | {:.0} | {:.2} s | {:.2} s | {:.1} µs | {:.1} MiB |",
            t.outputs,
            t.expected_outputs,
            t.records_per_second,
            t.seconds,
            t.cpu_seconds,
            cpu_per_record(t, records),
            t.peak_rss_kb as f64 / 1024.0
        ));
    }

    /// A drain table's ratios of `measured` to `reference`: rate, CPU seconds, peak RSS.
    fn ratios(&mut self, input: &str, label: &str, measured: &Throughput, reference: &Throughput) {
        self.line(format!(
            "| {input} | {label} | | {:.2} × | | {:.2} × | | {:.2} × |",
            measured.records_per_second / reference.records_per_second,
            measured.cpu_seconds / reference.cpu_seconds,
            measured.peak_rss_kb as f64 / reference.peak_rss_kb as f64
        ));
    }
}

/// The title, how the report is made, the machine and the documents.
fn header(out: &mut Markdown, figures: &Figures, machine: &Machine) {
    out.line("# Benchmarks".into());
    out.line(String::new());
    out.line("Written by `cargo bench-pipeline` (the `ferrobeat-bench` binary of the `ferrobeat-tests` crate); \
          every figure above the Analysis comes from its last run, whose raw output it appends to \
          `docs/runs/<date>-bench-pipeline.txt`. Re-run it to refresh them (the Analysis section is \
          hand-written and kept) and commit that file with them: every run's raw output is kept \
          under `docs/runs/`, and a figure quoted anywhere points to it. `--records N` scales the \
          drain and state measurements, `--state-only` measures only the processor's drain and \
          the state section and `--drain-only` only the drain section (both printed and kept \
          under `docs/runs/`, not written here), `--help` lists the other settings."
        .into());
    out.line(String::new());
    out.line(format!(
        "- Machine: {} × {}, {} MiB RAM, Linux {}, shared by the broker, the bench and the measured process",
        machine.cpus, machine.cpu, machine.memory_mib, machine.kernel
    ));
    out.line(format!(
        "- Date: {}; whole run {:.0} s",
        machine.date, figures.run_seconds
    ));
    out.line(format!(
        "- Broker: Tansu 0.6.0 (memory storage) on loopback, all topics {} partitions; documents: {} of \
         {} bytes on average (cpu {}, of which {} above the 0.5 threshold; memory {}; network, diskio, \
         load, filesystem the rest), {}",
        crate::PARTITIONS,
        figures.records,
        figures.mean_bytes,
        figures.expected.cpu,
        figures.expected.alerts,
        figures.expected.memory,
        preloads(figures.preload_rates)
    ));
    out.line(String::new());
}

/// The targets table: issue 17's, each as a ratio to a reference measured in the same run.
fn targets(out: &mut Markdown, figures: &Figures) {
    let Figures {
        topology,
        latency,
        passthrough_latency,
        agent: [agent, _],
        ..
    } = figures;
    let (p99, reference_p99) = (
        latency.percentile_ms(0.99),
        passthrough_latency.percentile_ms(0.99),
    );
    let received = latency.latencies_us.len();
    let topology_ratio = topology.topology_ns / topology.serde_validate_ns;
    out.line("## Targets".into());
    out.line(String::new());
    out.line("| Target | Measured | Verdict |".into());
    out.line("|---|---|---|".into());
    for (target, measured, met) in drain_targets(&figures.drains, figures.records) {
        out.line(format!("| {target} | {measured} | {} |", verdict(met)));
    }
    out.line(format!(
        "| pure topology ≤ 1.0 × a bare serde_json validation | {topology_ratio:.2} × ({:.0} vs {:.0} ns) | {} |",
        topology.topology_ns,
        topology.serde_validate_ns,
        verdict(topology_ratio <= TARGET_TOPOLOGY_RATIO)
    ));
    match &figures.agent_peer {
        Some(peer) => out.0.push_str(&agent_peer::target_rows(peer)),
        None => out.line(format!(
            "| agent peak RSS ≤ 8 MiB (CPU ratio: with `--peers`) | {:.1} MiB | {} |",
            agent.peak_rss_kb as f64 / 1024.0,
            verdict(agent.peak_rss_kb <= TARGET_AGENT_RSS_KB)
        )),
    }
    out.line(format!(
        "| produce → alert p99 ≤ 1.1 × the byte copy's | {:.2} × ({p99:.1} vs {reference_p99:.1} ms; {received} of {} alerts) | {} |",
        p99 / reference_p99,
        latency.expected_outputs,
        verdict(p99 <= TARGET_P99_RATIO * reference_p99 && received == latency.expected_outputs)
    ));
    out.line(String::new());
}

/// The drain table: the byte copy and the processor on each preloaded input.
fn drain(out: &mut Markdown, drains: &Drains, records: usize) {
    out.line("## Draining a preloaded backlog".into());
    out.line(String::new());
    out.line("The same documents are preloaded twice: in full batches by a producer with librdkafka's \
          batching defaults (the backlog users meet: agents producing with linger, a spool replaying \
          after an outage; the row the targets are checked on), and one record per batch \
          (`linger.ms=0`, `batch.num.messages=1`), on which Tansu 0.6.0 answers each fetch with one \
          record per partition and holds every client to about the same rate. Each drain is a child \
          process of the bench reading one input from the earliest offset with a consumer group of \
          its own (`session.timeout.ms` 6000, `fetch.wait.max.ms` as below): the byte copy \
          (consume → produce the bytes, keyless) with **librdkafka's defaults** (no idempotence, no \
          compression, 64 MiB prefetch), not the processor's settings, and the processor with **its \
          defaults**. Its rate is nine tenths of the input records over the time from the first tenth \
          of its outputs to the last, as seen by an independent consumer (the first tenth holds the \
          start-up: a child consumes while its producer gets its id, then sends a burst); CPU seconds \
          (whole life, start-up included, per input record) and peak RSS (`VmHWM`) are read from \
          `/proc/<pid>` when the last output arrives. The stateful row runs the processor once \
          more on the batched backlog with `[alerting] mode = \"transitions\"` and `[summaries]` \
          (per-host state behind a repartition topic, 1-minute tumbling windows over 1 000 hosts, \
          suppressed, each with its changelog), timed on its routed cpu and memory records. \
          The windowed count is Kafka Streams' `groupByKey().windowedBy(1 minute).count()` in \
          the streams runtime (a child running this bench's `windowed-count`, with the \
          processor's runtime settings): the same documents again, keyed by their 1 000 hosts \
          and timestamped as those hosts sampling every 10 s (six records per host and window, \
          about half an hour of windows), every update written to its output and its store's \
          changelog, timed on its outputs (one per input). With `--peers`, the byte copy is \
          also run in Python (`tests/peers/byte_copy.py`: confluent-kafka with librdkafka's \
          defaults, consuming batches of 500, the reference issue 17 measured the processor \
          against) and Quix Streams runs the processor's stateless topology \
          (`tests/peers/quix_topology.py`: cpu and memory routed, an alert per hot cpu event) \
          on the batched backlog, each with its own defaults and the bench's two broker \
          settings, measured as the processor is."
        .into());
    out.line(String::new());
    out.line(
        "| input | child | outputs | records/s | last 9/10 drain time | CPU seconds | CPU µs per record | peak RSS |"
            .into(),
    );
    out.line("|---|---|---|---|---|---|---|---|".into());
    for (input, drain) in [
        ("full batches", &drains.batched),
        ("one record per batch", &drains.one_per_batch),
    ] {
        let Drain {
            passthrough,
            processor,
        } = drain;
        out.row(
            input,
            "byte copy (librdkafka defaults)",
            passthrough,
            records,
        );
        out.row(input, "ferrobeat-processor (defaults)", processor, records);
        out.ratios(input, "processor / byte copy", processor, passthrough);
    }
    let stateless = &drains.batched.processor;
    if let Some(copy) = &drains.python_copy {
        let name = "byte copy in Python, confluent-kafka 2.12.2 (librdkafka defaults)";
        out.row("full batches", name, copy, records);
        out.ratios(
            "full batches",
            "processor / Python byte copy",
            stateless,
            copy,
        );
    }
    if let Some(quix) = &drains.quix {
        let name = "Quix Streams 3.28.1, same topology (its defaults)";
        out.row("full batches", name, quix, records);
        out.ratios("full batches", "processor / Quix Streams", stateless, quix);
    }
    stateful_rows(out, drains, records);
    out.line(String::new());
}

/// The stateful drains' rows (the stateful metric topology, the windowed count), each with its
/// ratios to the stateless processor's drain.
fn stateful_rows(out: &mut Markdown, drains: &Drains, records: usize) {
    let stateless = &drains.batched.processor;
    for (input, name, t) in [
        (
            "full batches",
            "ferrobeat-processor, stateful (transitions + 1-minute summaries per host; routed outputs)",
            &drains.stateful,
        ),
        (
            "full batches, keyed by host",
            "windowed count (1 000 keys, 1-minute tumbling windows; one count per input)",
            &drains.windowed,
        ),
    ] {
        out.row(input, name, t, records);
        let short = name.split(" (").next().unwrap_or(name);
        out.ratios(
            input,
            &format!("{short} / stateless processor"),
            t,
            stateless,
        );
    }
}

/// The pure topology cost against parsing.
fn topology_cost(out: &mut Markdown, topology: &TopologyCost) {
    out.line("## Pure topology cost (one core, no broker)".into());
    out.line(String::new());
    out.line(format!(
        "Over {} distinct documents of {} bytes on average, on-CPU time of the best of 15 interleaved rounds of each (other work on the machine neither counts nor slows one case more than the others):",
        topology.documents, topology.mean_bytes
    ));
    out.line(String::new());
    out.line("| | ns per record | records/s per core |".into());
    out.line("|---|---|---|".into());
    for (name, ns) in [
        (
            "metric topology `process_in` with its task's state kept, as a worker runs it (route + alert)",
            topology.topology_ns,
        ),
        (
            "`serde_json::from_slice::<ferrobeat_schema::Event>`",
            topology.serde_event_ns,
        ),
        (
            "`serde_json::from_slice::<IgnoredAny>` (validation only)",
            topology.serde_validate_ns,
        ),
    ] {
        out.line(format!("| {name} | {ns:.0} | {:.0} |", 1e9 / ns));
    }
    out.line(format!(
        "| topology / full parse | {:.2} × | |",
        topology.topology_ns / topology.serde_event_ns
    ));
    out.line(format!(
        "| topology / validation only | {:.2} × | |",
        topology.topology_ns / topology.serde_validate_ns
    ));
    out.line(String::new());
}

/// The end-to-end latency table.
fn latency(out: &mut Markdown, figures: &Figures) {
    let Figures {
        latency,
        passthrough_latency,
        ..
    } = figures;
    out.line("## End-to-end latency".into());
    out.line(String::new());
    out.line(format!(
        "{} probes at {} records/s into a child started on empty topics and warmed up, each handed to a producer with \
             `linger.ms=0`, `acks=all`, timed from that moment until an independent consumer \
             (`fetch.wait.max.ms=10`) receives what it makes: the processor's alert for each hot cpu \
             probe, the passthrough's copy of each probe. Both children's consumers have \
             `fetch.wait.max.ms={}` (see below).",
        latency.sent, latency.rate, figures.fetch_wait_ms
    ));
    out.line(String::new());
    out.line("| | received | written twice | read twice | p50 | p90 | p99 | p99.9 | max |".into());
    out.line("|---|---|---|---|---|---|---|---|---|".into());
    for (name, run) in [
        ("ferrobeat-processor (produce → alert)", latency),
        ("raw passthrough (produce → copy)", passthrough_latency),
    ] {
        out.line(format!(
            "| {name} | {} of {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            run.latencies_us.len(),
            run.expected_outputs,
            run.duplicates,
            run.read_again,
            run.percentile_ms(0.5),
            run.percentile_ms(0.9),
            run.percentile_ms(0.99),
            run.percentile_ms(0.999),
            run.percentile_ms(1.0)
        ));
    }
    out.line(String::new());
    out.line("Tansu 0.6.0 holds every fetch for its full `fetch.wait.max.ms` even when records arrive \
              (Apache Kafka answers as soon as `fetch.min.bytes` is there), so with librdkafka's default \
              of 500 ms each hop would wait up to half a second on this broker; the bench lowers it for \
              both children alike (`--fetch-wait-ms`). *Written twice* counts outputs at a second offset (at-least-once duplicates); *read twice* counts records the broker returned again at the same offset to the watching consumer (counted once)."
            .into());
    out.line(String::new());
    out.line(format!(
        "Processor peak RSS in the latency run: {:.1} MiB.",
        figures.processor_peak_after_latency_kb as f64 / 1024.0
    ));
    out.line(String::new());
}

/// The agent's footprint, producing to Kafka and writing to stdout.
fn agent(out: &mut Markdown, footprint: &[AgentReport; 2], peer: Option<&AgentPeerReport>) {
    let [agent, agent_without_kafka] = footprint;
    out.line("## Agent".into());
    out.line(String::new());
    out.line(format!(
        "The real `ferrobeat-agent` binary sampling {METRICSETS} every {} ms, once producing to the \
         broker and once writing NDJSON to standard output (discarded): CPU time of all its threads \
         over {} rounds after a warm-up, from `/proc/<pid>/task/*/schedstat`, and its peak RSS \
         (`VmHWM`). The collection alone is measured by `cargo bench -p ferrobeat-agent --bench \
         sample_round`.",
        agent.period.as_millis(),
        agent.rounds
    ));
    out.line(String::new());
    out.line("| output | CPU per round | peak RSS |".into());
    out.line("|---|---|---|".into());
    for run in [agent, agent_without_kafka] {
        out.line(format!(
            "| {} | {:.0} µs | {:.1} MiB |",
            match run.output {
                AgentOutput::Kafka => "Kafka (production)",
                AgentOutput::Stdout => "standard output (no Kafka client)",
            },
            run.cpu_per_round_us,
            run.peak_rss_kb as f64 / 1024.0
        ));
    }
    out.line(String::new());
    if let Some(peer) = peer {
        out.0.push_str(&agent_peer::render(peer));
    }
}

/// The state section: the stream–table join and the restore, each against the processor's
/// stateless drain of the same run.
fn state(out: &mut Markdown, figures: &StateFigures, processor: &Throughput) {
    let StateFigures {
        sizes,
        join,
        restore,
    } = figures;
    let ratio = |records_per_second: f64| records_per_second / processor.records_per_second;
    out.line("## State: stream–table join and restore".into());
    out.line(String::new());
    out.line(format!(
        "Run in the bench's own process through `ferrobeat_streams::runtime::StreamsRuntime` (its \
         `StateRestoreListener` is an in-process hook), with the processor drain's settings (its \
         `[runtime]`, one worker thread by default, and client properties), on the topology of the \
         `kstream_join_ktable` example (`table(address)`, `stream(order).join(address)` → \
         `order_join`, UTF-8 strings) over topics of {partitions} partitions, preloaded in full \
         batches by a producer with librdkafka's defaults and the `murmur2_random` partitioner. \
         **Join**: the table's {keys} customers (15-byte keys, addresses of about 55 bytes) are loaded by a first \
         run of the application, which then stops; {orders} orders (31-byte values, keys spread \
         evenly over the {keys} customers) are preloaded, and a second run restores the table \
         from its changelog and drains them (one output per order). Its rate is taken as the \
         drain rows' are (nine tenths of the orders over the time from the first tenth of the \
         outputs to the last, seen by an independent consumer), so the table's load and restore \
         stay out of it (they are given below). **Restore**: a fresh application with an empty \
         store over its changelog `<application id>-<store>-changelog` (compacted, \
         {partitions} partitions) preloaded with {changelog} records ({changelog_keys} keys, \
         {versions} versions each, the last one last); timed by a `StateRestoreListener` from \
         the first `on_restore_start` to the last `on_restore_end`, then checked by probe \
         orders, each of which must be joined with its key's last version.",
        partitions = crate::PARTITIONS,
        keys = sizes.table_keys,
        orders = sizes.orders,
        changelog = sizes.changelog_records,
        changelog_keys = sizes.changelog_keys,
        versions = sizes.changelog_records / sizes.changelog_keys.max(1),
    ));
    out.line(String::new());
    out.line("| | records | records/s | time | ratio to the processor's stateless drain |".into());
    out.line("|---|---|---|---|---|".into());
    out.line(format!(
        "| stream–table join ({} orders, table of {} keys) | {} of {} outputs | {:.0} | {:.2} s (last 9/10) | {:.2} × |",
        sizes.orders,
        sizes.table_keys,
        join.outputs,
        join.expected_outputs,
        join.records_per_second,
        join.seconds,
        ratio(join.records_per_second)
    ));
    out.line(format!(
        "| restore from the changelog ({} records, {} keys) | {} restored | {:.0} ({:.0} inside the partitions' restores) | {:.2} s ({:.2} s inside) | {:.2} × ({:.2} ×) |",
        sizes.changelog_records,
        sizes.changelog_keys,
        restore.records,
        restore.records_per_second(),
        restore.applying_records_per_second(),
        restore.seconds,
        restore.applying_seconds,
        ratio(restore.records_per_second()),
        ratio(restore.applying_records_per_second())
    ));
    out.line(format!(
        "| ferrobeat-processor's stateless drain (above) | {} of {} outputs | {:.0} | {:.2} s (last 9/10) | 1.00 × |",
        processor.outputs,
        processor.expected_outputs,
        processor.records_per_second,
        processor.seconds
    ));
    out.line(String::new());
    table_load(out, figures);
}

/// The state section's last paragraph: how long the join's table took to load and restore.
fn table_load(out: &mut Markdown, StateFigures { sizes, join, .. }: &StateFigures) {
    let Restore {
        records,
        seconds,
        applying_seconds,
    } = join.table_restore;
    out.line(format!(
        "The join's table: its {} records were loaded from its topic in {:.2} s by the first run \
         (start-up and group join included), and restored from its changelog by the second in \
         {seconds:.2} s ({records} records, {:.0} records/s; {applying_seconds:.2} s inside the \
         partitions' restores). *Inside the partitions' restores* sums each changelog \
         partition's time from its `on_restore_start` to its `on_restore_end`; the partitions \
         of one rebalance are restored together by one restore consumer, so that sum can exceed \
         the restore's own time, and the time before the first `on_restore_start` (the \
         consumer connecting and fetching) is outside both.",
        sizes.table_keys,
        join.table_load_seconds,
        join.table_restore.records_per_second()
    ));
    out.line(String::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_keeps_the_hand_written_analysis_only() {
        let previous = "# Benchmarks\nold figures\n\n## Analysis\n\nwhy\n";
        assert_eq!(
            keep_analysis("# Benchmarks\nnew figures\n", previous),
            "# Benchmarks\nnew figures\n\n## Analysis\n\nwhy\n"
        );
        assert_eq!(keep_analysis("fresh\n", "no analysis here"), "fresh\n");
    }

    #[test]
    fn every_run_of_a_day_is_appended_to_its_raw_output_file() {
        let scratch = tempfile::tempdir().expect("scratch directory");
        let runs = scratch.path().join("docs").join("runs");
        let save = |text| save_raw_output(&runs, "2026-12-04", "bench-pipeline", text);
        let first = save("first report\n").expect("first run");
        let second = save("second report\n").expect("second run");
        assert_eq!(first, runs.join("2026-12-04-bench-pipeline.txt"));
        assert_eq!(second, first);
        let kept = std::fs::read_to_string(&first).expect("reading the raw output");
        assert!(kept.starts_with("## cargo bench-pipeline"), "{kept}");
        let first_at = kept.find("first report").expect("the first run is kept");
        let second_at = kept.find("second report").expect("the second run is kept");
        assert!(first_at < second_at, "{kept}");
        assert_eq!(kept.matches("## cargo bench-pipeline").count(), 2, "{kept}");
    }
}
