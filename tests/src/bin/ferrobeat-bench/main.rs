// over 500 lines: the options and each phase of the run in order (the measuring is in the sibling modules).
//! `ferrobeat-bench`: measures the pipeline on this machine and writes `BENCHMARKS.md`.
//!
//! In one run it starts the test broker (Tansu, through `ferrobeat_tests::TestKafka`), preloads
//! realistic ~1 KB Metricbeat documents twice (in full batches, as a backlog arrives, and one
//! record per batch), and measures the real `ferrobeat-processor` binary draining each against a
//! raw consume → produce byte copy with librdkafka's defaults (`passthrough`, this binary as a
//! child process) — records/s, CPU seconds and peak RSS of each child from `/proc`; the pure topology's
//! cost per record against a full serde_json parse; end-to-end latency percentiles at a steady
//! rate; the real agent binary's CPU per sample round and peak RSS; and state: a stream–table
//! join's drain and a store's restore from its changelog, each against the processor's drain.

mod agent;
mod agent_peer;
mod documents;
mod drain;
mod latency;
mod passthrough;
mod peers;
mod process;
mod py_copy_peer;
mod quix_peer;
mod report;
mod restore_timer;
mod send;
mod state;
mod topology_cost;
mod windowed;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use ferrobeat_tests::TestKafka;
use rdkafka::Offset;

use crate::agent::AgentOutput;
use crate::documents::{DocumentGenerator, ExpectedOutputs};
use crate::drain::OutputWatch;
use crate::latency::{LatencyReport, ProbeOutput};
use crate::passthrough::PassthroughArgs;
use crate::report::{Drain, Drains, Figures, Throughput};
use crate::state::{StateBench, StateSizes};
use crate::topology_cost::TopologyCost;
use crate::windowed::{WindowedArgs, WindowedTopics};

/// Partitions of every bench topic (the production layout).
const PARTITIONS: i32 = 3;

/// How long a child may take to drain the preloaded records.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// A drain is over, short of what was expected, when no output arrived for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(15);

/// Measures the processor, the topology, the end-to-end latency and the agent; writes
/// BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Hidden>,
    #[command(flatten)]
    options: Options,
}

/// The bench's settings.
#[derive(Debug, clap::Args)]
struct Options {
    /// Documents preloaded for the drain measurements; also the orders of the stream–table
    /// join, a twentieth of it the keys of its table, half of it the records of the restored
    /// changelog.
    #[arg(long, default_value_t = 200_000)]
    records: usize,
    /// Measure only the processor's drain and the state section (join and restore), print
    /// them and keep their raw output under `--runs-dir`, without writing `--output` (whose
    /// figures all come from one full run).
    #[arg(long)]
    state_only: bool,
    /// Measure only the drain section (the byte copy and the processor on both preloads),
    /// print it and keep its raw output as `<runs-dir>/<date>-bench-drain.txt`, without
    /// writing `--output`: the quick run while tuning (with a smaller `--records`).
    #[arg(long, conflicts_with = "state_only")]
    drain_only: bool,
    /// Documents per second during the latency measurement (200/s: a fleet of 1000 agents
    /// sending cpu and memory every 10 s).
    #[arg(long, default_value_t = 200)]
    latency_rate: u32,
    /// Seconds of the latency measurement.
    #[arg(long, default_value_t = 20)]
    latency_seconds: u64,
    /// Seconds per case of the topology cost measurement.
    #[arg(long, default_value_t = 3)]
    topology_seconds: u64,
    /// The agent's sampling period in the footprint run, in ms.
    #[arg(long, default_value_t = 1000)]
    agent_period_ms: u64,
    /// Sample rounds measured in the agent footprint run.
    #[arg(long, default_value_t = 15)]
    agent_rounds: u32,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    output: PathBuf,
    /// Directory the report is also appended to, with the command line, as
    /// `<date>-bench-pipeline.txt`: the kept raw output of every run.
    #[arg(long, default_value = "docs/runs")]
    runs_dir: PathBuf,
    /// `fetch.wait.max.ms` of both children's consumers. Tansu 0.6.0 holds every fetch for its
    /// full max wait even when records arrive (Apache Kafka answers once `fetch.min.bytes` is
    /// there), so librdkafka's default of 500 ms would measure Tansu, not the processor.
    #[arg(long, default_value_t = 10)]
    fetch_wait_ms: u32,
    /// A further librdkafka property for the processor (its `[kafka.properties]`, also given to
    /// the state section's runtime), `KEY=VALUE`; repeatable. The byte copy keeps librdkafka's
    /// defaults whatever this says.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_property)]
    property: Vec<(String, String)>,
    /// A processor `[runtime]` setting, `KEY=VALUE` with VALUE in TOML (e.g.
    /// `max_in_flight_records=50000`); repeatable. Without it the processor runs its defaults.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_property)]
    runtime: Vec<(String, String)>,
    /// Also run the Python peers (installed once into a cached virtual environment by
    /// `tests/install-peers.sh`): Quix Streams draining the batched backlog with the
    /// processor's topology, and a psutil + confluent-kafka agent beside the real agent.
    #[arg(long)]
    peers: bool,
    /// Measure only the agent (and, with `--peers`, the Python agent beside it), print it and
    /// keep its raw output under `--runs-dir` as `<date>-agent.txt`, without writing `--output`.
    #[arg(long, conflicts_with = "state_only")]
    agent_only: bool,
    /// Measure only the pure topology's cost (no broker), print it and keep its raw output
    /// under `--runs-dir` as `<date>-topology.txt`, without writing `--output`: the quick run
    /// while tuning the topology.
    #[arg(long, conflicts_with_all = ["state_only", "drain_only", "agent_only"])]
    topology_only: bool,
    /// Do not run `cargo build` for the processor and agent binaries (use what is there).
    #[arg(long)]
    no_build: bool,
}

/// Subcommands the bench runs itself with.
#[derive(Debug, Subcommand)]
enum Hidden {
    /// The raw consume → produce byte copy (the broker-bound ceiling).
    #[command(hide = true)]
    Passthrough(PassthroughArgs),
    /// The windowed count per host over 1-minute windows (the windowed aggregation's row).
    #[command(hide = true)]
    WindowedCount(WindowedArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Hidden::Passthrough(args)) => passthrough::run(args),
        Some(Hidden::WindowedCount(args)) => windowed::run(args),
        None if cli.options.agent_only => agent::agent_only(&cli.options),
        None if cli.options.topology_only => topology_cost::topology_only(&cli.options),
        None => run(&cli.options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrobeat-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `KEY=VALUE` settings from the command line.
type Settings = [(String, String)];

/// The topics of one measurement.
#[derive(Debug)]
struct Topics {
    input: String,
    copy: String,
    cpu: String,
    memory: String,
    alert: String,
    dead_letter: String,
}

impl Topics {
    /// Creates a fresh set of topics named after `prefix`.
    fn create(kafka: &TestKafka, prefix: &str) -> anyhow::Result<Topics> {
        let input = kafka.unique_topic(&format!("{prefix}-all"));
        kafka.create_topic(&input, PARTITIONS)?;
        Topics::create_outputs(kafka, prefix, input)
    }

    /// The same input as `self` with fresh output topics named after `prefix`: a child that
    /// drains it again must not write where an earlier child did, or a watch reading its
    /// outputs from the beginning would count the earlier child's.
    fn with_fresh_outputs(&self, kafka: &TestKafka, prefix: &str) -> anyhow::Result<Topics> {
        Topics::create_outputs(kafka, prefix, self.input.clone())
    }

    /// Creates fresh output topics named after `prefix` for `input`.
    fn create_outputs(kafka: &TestKafka, prefix: &str, input: String) -> anyhow::Result<Topics> {
        let name = |role: &str| kafka.unique_topic(&format!("{prefix}-{role}"));
        let topics = Topics {
            input,
            copy: name("copy"),
            cpu: name("cpu"),
            memory: name("memory"),
            alert: name("alert"),
            dead_letter: name("dlq"),
        };
        for topic in [
            &topics.copy,
            &topics.cpu,
            &topics.memory,
            &topics.alert,
            &topics.dead_letter,
        ] {
            kafka.create_topic(topic, PARTITIONS)?;
        }
        Ok(topics)
    }
}

/// Starts the measured children.
#[derive(Debug)]
struct Children<'a> {
    binaries: &'a Binaries,
    kafka: &'a TestKafka,
    /// The byte copy's librdkafka properties: the bench's settings for the test broker only.
    copy_properties: &'a [(String, String)],
    /// The processor's `[kafka.properties]`.
    properties: &'a [(String, String)],
    runtime: &'a [(String, String)],
    scratch: &'a Path,
}

impl Children<'_> {
    /// The bench's settings for the test broker as `--property KEY=VALUE` arguments: all the
    /// byte copies and peers get of the bench's settings.
    fn broker_property_args(&self) -> impl Iterator<Item = String> {
        self.copy_properties
            .iter()
            .flat_map(|(key, value)| ["--property".to_owned(), format!("{key}={value}")])
    }

    /// The arguments both byte copies (the Rust one and the Python one) take: copy `records`
    /// records from `topics.input` to `topics.copy` in a new group named after `group`.
    fn copy_args(&self, topics: &Topics, records: usize, group: &str) -> Vec<String> {
        [
            "--bootstrap-servers",
            self.kafka.bootstrap_servers(),
            "--input",
            &topics.input,
            "--output",
            &topics.copy,
            "--group",
            &self.kafka.unique_topic(group),
            "--records",
            &records.to_string(),
        ]
        .map(str::to_owned)
        .into_iter()
        .chain(self.broker_property_args())
        .collect()
    }

    /// The passthrough copying `records` records from `topics.input` to `topics.copy`.
    fn passthrough(&self, topics: &Topics, records: usize) -> anyhow::Result<Child> {
        Command::new(&self.binaries.bench)
            .arg("passthrough")
            .args(self.copy_args(topics, records, "bench-passthrough"))
            // It exits once its standard input closes (see `passthrough::run`).
            .stdin(Stdio::piped())
            .spawn()
            .context("starting the passthrough")
    }

    /// The processor on `topics`, logging to `processor-<name>.log` (returned); `sections` are
    /// more configuration tables (the stateful drain's `[alerting]` and `[summaries]`).
    fn processor(
        &self,
        topics: &Topics,
        name: &str,
        sections: &str,
    ) -> anyhow::Result<(Child, PathBuf)> {
        let log = self.scratch.join(format!("processor-{name}.log"));
        let child = start_processor(
            &self.binaries.processor,
            self.kafka,
            topics,
            (self.properties, self.runtime, sections),
            &self.scratch.join(format!("processor-{name}.toml")),
            &log,
        )?;
        Ok((child, log))
    }

    /// The passthrough's drain of `records` records of `topics.input`; it exits afterwards.
    fn drain_passthrough(&self, topics: &Topics, records: usize) -> anyhow::Result<Throughput> {
        let mut watch =
            OutputWatch::new(self.kafka, &[&topics.copy], PARTITIONS, Offset::Beginning)?;
        let mut copier = self.passthrough(topics, records)?;
        measure_drain_until_stdin_closes(&mut copier, &mut watch, records, "the passthrough")
    }

    /// The processor's drain of `records` records into `outputs` outputs; fails if it
    /// dead-lettered any.
    fn drain_processor(
        &self,
        topics: &Topics,
        records: usize,
        outputs: usize,
    ) -> anyhow::Result<Throughput> {
        let watched = [&topics.cpu, &topics.memory, &topics.alert];
        self.drain_processor_as(topics, (records, outputs), &watched, ("drain", ""))
    }

    /// The stateful metric topology's drain of `records` records (sustained alerts and
    /// per-host one-minute summaries, keyed by [`documents::HOSTS`] hosts), timed on its
    /// `routed` cpu and memory outputs: its alerts and summaries depend on state, not on the
    /// record count.
    fn drain_stateful(
        &self,
        topics: &Topics,
        records: usize,
        routed: usize,
    ) -> anyhow::Result<Throughput> {
        let sections = format!(
            "[alerting]\nmode = \"transitions\"\n\n[summaries]\ntopic = \"{}\"\n",
            self.kafka.unique_topic("bench-summaries")
        );
        let watched = [&topics.cpu, &topics.memory];
        self.drain_processor_as(topics, (records, routed), &watched, ("stateful", &sections))
    }

    /// A processor's drain of `records` records into `outputs` outputs of the `watched`
    /// topics, run as `name` with more configuration `sections`; fails if it dead-lettered any.
    fn drain_processor_as(
        &self,
        topics: &Topics,
        (records, outputs): (usize, usize),
        watched: &[&String],
        (name, sections): (&str, &str),
    ) -> anyhow::Result<Throughput> {
        let watched: Vec<&str> = watched.iter().map(|topic| topic.as_str()).collect();
        let mut watch = OutputWatch::new(self.kafka, &watched, PARTITIONS, Offset::Beginning)?;
        let (mut processor, log) = self.processor(topics, name, sections)?;
        let drained = measure_drain(&mut processor, &mut watch, records, outputs);
        let stopped = process::terminate(&mut processor, Duration::from_secs(30));
        let processor_drain =
            drained.with_context(|| format!("measuring the processor{}", log_tail(&log)))?;
        stopped.with_context(|| format!("stopping the processor{}", log_tail(&log)))?;
        let dead_letters = self
            .kafka
            .read_topic(&topics.dead_letter, 0, Duration::from_secs(2))?
            .len();
        if dead_letters > 0 {
            bail!(
                "the processor dead-lettered {dead_letters} bench records{}",
                log_tail(&log)
            );
        }
        Ok(processor_drain)
    }

    /// The byte copy's and then the processor's drain of `input`, each by a group of its own.
    fn drain_both(&self, input: &Topics, expected: usize, records: usize) -> anyhow::Result<Drain> {
        eprintln!("byte copy draining {records} records of {}…", input.input);
        let passthrough = self.drain_passthrough(input, records)?;
        eprintln!("processor draining {records} records of {}…", input.input);
        let processor = self.drain_processor(input, records, expected)?;
        Ok(Drain {
            passthrough,
            processor,
        })
    }

    /// Both drains of both preloaded inputs (the batched backlog first), the stateful ones and,
    /// with `peers`, Quix Streams' on the batched backlog.
    fn drains(&self, bench: &Prepared, records: usize, peers: bool) -> anyhow::Result<Drains> {
        let expected = bench.expected.total();
        let one_per_batch = bench
            .one_per_batch_topics
            .as_ref()
            .context("the one-record-per-batch input was not preloaded")?;
        let batched = self.drain_both(&bench.drain_topics, expected, records)?;
        let routed = bench.expected.cpu + bench.expected.memory;
        eprintln!("stateful metric topology draining {records} records…");
        let stateful_topics = bench
            .drain_topics
            .with_fresh_outputs(self.kafka, "bench-stateful")?;
        let stateful = self.drain_stateful(&stateful_topics, records, routed)?;
        eprintln!(
            "windowed count (1-minute windows over {} hosts) draining {records} records…",
            documents::HOSTS
        );
        let windowed_topics = bench
            .windowed_topics
            .as_ref()
            .context("the windowed count's input was not preloaded")?;
        let windowed = self.drain_windowed(windowed_topics, records)?;
        let (python_copy, quix) = if peers {
            eprintln!("Python byte copy draining {records} records…");
            let copy_topics = bench
                .drain_topics
                .with_fresh_outputs(self.kafka, "bench-python-copy")?;
            let python_copy = self.drain_python_copy(&copy_topics, records)?;
            eprintln!("Quix Streams draining {records} records…");
            let quix_topics = bench
                .drain_topics
                .with_fresh_outputs(self.kafka, "bench-quix")?;
            (
                Some(python_copy),
                Some(self.drain_quix(&quix_topics, records, expected)?),
            )
        } else {
            (None, None)
        };
        Ok(Drains {
            python_copy,
            quix,
            batched,
            one_per_batch: self.drain_both(one_per_batch, expected, records)?,
            stateful,
            windowed,
        })
    }

    /// The agent's footprint writing to Kafka (`topic`), then to stdout; then, with `--peers`,
    /// beside the Python agent.
    fn agent_footprint(
        &self,
        topic: &str,
        options: &Options,
    ) -> anyhow::Result<([agent::AgentReport; 2], Option<agent_peer::AgentPeerReport>)> {
        let run = |output| {
            agent::measure(
                &self.binaries.agent,
                (self.kafka, topic),
                output,
                Duration::from_millis(options.agent_period_ms),
                options.agent_rounds,
                self.scratch,
            )
        };
        let footprint = [run(AgentOutput::Kafka)?, run(AgentOutput::Stdout)?];
        let peer = agent::peers_wanted(self.binaries, self.kafka, self.scratch, options)?;
        Ok((footprint, peer))
    }

    /// The passthrough's end-to-end latency on `topics`.
    fn latency_passthrough(
        &self,
        generator: &DocumentGenerator,
        topics: &Topics,
        options: &Options,
    ) -> anyhow::Result<LatencyReport> {
        let probes = options.latency_rate as usize * options.latency_seconds as usize;
        let mut copier = self.passthrough(topics, probes + latency::WARM_UP_PROBES_MAX)?;
        let measured = measure_latency(self.kafka, generator, topics, ProbeOutput::Copy, options);
        // It copies fewer than it was told (the warm-up is shorter than its maximum) and has no
        // graceful shutdown: SIGTERM ends it, and its exit status says nothing.
        process::terminate(&mut copier, Duration::from_secs(30)).ok();
        measured.context("measuring the passthrough's latency")
    }

    /// The processor's end-to-end latency on `topics`, and its peak RSS afterwards (kB).
    fn latency_processor(
        &self,
        generator: &DocumentGenerator,
        topics: &Topics,
        options: &Options,
    ) -> anyhow::Result<(LatencyReport, u64)> {
        let (mut processor, log) = self.processor(topics, "latency", "")?;
        let measured = measure_latency(self.kafka, generator, topics, ProbeOutput::Alert, options)
            .and_then(|latency| Ok((latency, process::footprint(processor.id())?.peak_rss_kb)));
        let stopped = process::terminate(&mut processor, Duration::from_secs(30));
        let measured = measured
            .with_context(|| format!("measuring the processor's latency{}", log_tail(&log)))?;
        stopped.with_context(|| format!("stopping the processor{}", log_tail(&log)))?;
        Ok(measured)
    }
}

fn run(options: &Options) -> anyhow::Result<()> {
    let bench = Prepared::new(options)?;
    let copy_properties = broker_properties(options);
    let properties = processor_properties(options);
    let children = Children {
        binaries: &bench.binaries,
        kafka: &bench.kafka,
        copy_properties: &copy_properties,
        properties: &properties,
        runtime: &options.runtime,
        scratch: bench.scratch.path(),
    };
    let state_bench = StateBench {
        kafka: &bench.kafka,
        properties: &properties,
        runtime: &options.runtime,
    };
    if options.state_only {
        eprintln!("processor draining {} records…", options.records);
        let processor = children.drain_processor(
            &bench.drain_topics,
            options.records,
            bench.expected.total(),
        )?;
        let state = state_bench.measure(StateSizes::scaled(options.records))?;
        let text = report::render_state_only(
            &report::StateOnly {
                records: options.records,
                processor,
                state,
                run_seconds: bench.started.elapsed().as_secs_f64(),
            },
            &report::Machine::this(),
        );
        return save_report(&text, &options.runs_dir, "bench-pipeline");
    }

    let drains = children.drains(&bench, options.records, options.peers)?;
    if options.drain_only {
        return save_drain_only(options, &bench, drains);
    }

    // The latency runs get topics of their own: Tansu slows down on topics holding the drain.
    let latency_topics = Topics::create(&bench.kafka, "bench-latency")?;
    eprintln!("passthrough latency…");
    let passthrough_latency =
        children.latency_passthrough(&bench.generator, &latency_topics, options)?;
    eprintln!("processor latency…");
    let (latency, processor_peak_after_latency_kb) =
        children.latency_processor(&bench.generator, &latency_topics, options)?;

    eprintln!("agent footprint…");
    let agent_topic = bench.kafka.unique_topic("bench-agent");
    bench.kafka.create_topic(&agent_topic, PARTITIONS)?;
    let (agent, agent_peer) = children.agent_footprint(&agent_topic, options)?;

    // Last, so that the broker holds none of its topics during the other measurements.
    let state = state_bench.measure(StateSizes::scaled(options.records))?;

    let figures = Figures {
        records: options.records,
        mean_bytes: bench.mean_bytes,
        expected: bench.expected,
        preload_rates: bench.preload_rates,
        drains,
        processor_peak_after_latency_kb,
        topology: bench
            .topology
            .context("the topology cost was not measured")?,
        latency,
        passthrough_latency,
        fetch_wait_ms: options.fetch_wait_ms,
        agent,
        agent_peer,
        state,
        run_seconds: bench.started.elapsed().as_secs_f64(),
    };
    write_report(&figures, &options.output, &options.runs_dir)
}

/// Prints the report of a `--drain-only` run and keeps it as `<runs-dir>/<date>-bench-drain.txt`.
fn save_drain_only(options: &Options, bench: &Prepared, drains: Drains) -> anyhow::Result<()> {
    let text = report::render_drain_only(
        &report::DrainOnly {
            records: options.records,
            mean_bytes: bench.mean_bytes,
            preload_rates: bench.preload_rates,
            drains,
            run_seconds: bench.started.elapsed().as_secs_f64(),
        },
        &report::Machine::this(),
    );
    save_report(&text, &options.runs_dir, "bench-drain")
}

/// What every run sets up first: the binaries, the documents, the topology cost (in a full run),
/// the broker and the preloaded drain topics.
struct Prepared {
    started: Instant,
    binaries: Binaries,
    scratch: tempfile::TempDir,
    generator: DocumentGenerator,
    expected: ExpectedOutputs,
    mean_bytes: usize,
    topology: Option<TopologyCost>,
    kafka: TestKafka,
    /// The documents preloaded in full batches (the backlog users meet).
    drain_topics: Topics,
    /// The same documents preloaded one record per batch (not for `--state-only`).
    one_per_batch_topics: Option<Topics>,
    /// The same documents keyed by host and timestamped, for the windowed count (not for
    /// `--state-only`).
    windowed_topics: Option<WindowedTopics>,
    /// Preload rates of `drain_topics` and `one_per_batch_topics` (0 when not preloaded),
    /// records/s.
    preload_rates: [f64; 2],
}

impl Prepared {
    fn new(options: &Options) -> anyhow::Result<Prepared> {
        let started = Instant::now();
        let binaries = Binaries::locate(!options.no_build)?;
        let scratch = tempfile::tempdir().context("creating a scratch directory")?;
        let generator = DocumentGenerator::new();
        let (documents, expected) = generator.batch(options.records);
        let mean_bytes = documents.iter().map(Vec::len).sum::<usize>() / documents.len().max(1);
        eprintln!(
            "{} documents of {mean_bytes} bytes on average: {} cpu ({} hot), {} memory",
            documents.len(),
            expected.cpu,
            expected.alerts,
            expected.memory
        );
        let topology = if options.state_only || options.drain_only {
            None
        } else {
            eprintln!("topology cost per record (one core, no broker)…");
            let distinct = &documents[..documents.len().min(1000)];
            Some(topology_cost::measure(
                distinct,
                Duration::from_secs(options.topology_seconds),
            )?)
        };

        eprintln!("starting the broker and preloading…");
        let kafka = TestKafka::start()?;
        let drain_topics = Topics::create(&kafka, "bench")?;
        let one_per_batch_topics = if options.state_only {
            None
        } else {
            Some(Topics::create(&kafka, "bench-single")?)
        };
        let mut preload_rates = [0.0; 2];
        let inputs = [
            Some((&drain_topics, kafka.client_config())),
            one_per_batch_topics
                .as_ref()
                .map(|topics| (topics, send::one_record_per_batch(&kafka.client_config()))),
        ];
        for ((topics, config), rate) in inputs
            .into_iter()
            .zip(&mut preload_rates)
            .filter_map(|(input, rate)| Some((input?, rate)))
        {
            let preload = Instant::now();
            send::preload(
                &config,
                &topics.input,
                documents
                    .iter()
                    .map(|document| (None, document.as_slice(), None)),
            )?;
            *rate = documents.len() as f64 / preload.elapsed().as_secs_f64();
        }
        let windowed_topics = if options.state_only {
            None
        } else {
            Some(windowed::preload(&kafka, &documents)?)
        };
        Ok(Prepared {
            started,
            binaries,
            scratch,
            generator,
            expected,
            mean_bytes,
            topology,
            kafka,
            drain_topics,
            one_per_batch_topics,
            windowed_topics,
            preload_rates,
        })
    }
}

/// Prints the report, appends it to the day's raw output in `runs_dir`, and writes it to
/// `output`, keeping the hand-written analysis there.
fn write_report(figures: &Figures, output: &Path, runs_dir: &Path) -> anyhow::Result<()> {
    let text = report::render(figures, &report::Machine::this());
    save_report(&text, runs_dir, "bench-pipeline")?;
    let previous = std::fs::read_to_string(output).unwrap_or_default();
    std::fs::write(output, report::keep_analysis(&text, &previous))
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!("wrote {}", output.display());
    Ok(())
}

/// Prints the report `text` and appends it to the day's raw output of `what` in `runs_dir`.
fn save_report(text: &str, runs_dir: &Path, what: &str) -> anyhow::Result<()> {
    print!("{text}");
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let raw = report::save_raw_output(runs_dir, &day, what, text)?;
    eprintln!("appended the report to {}", raw.display());
    Ok(())
}

/// The librdkafka properties both children get, for the test broker: a short session (Tansu
/// completes a new group's join after half of it) and `--fetch-wait-ms`.
fn broker_properties(options: &Options) -> Vec<(String, String)> {
    [
        ("session.timeout.ms", "6000".to_owned()),
        ("heartbeat.interval.ms", "500".to_owned()),
        ("fetch.wait.max.ms", options.fetch_wait_ms.to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

/// The processor's `[kafka.properties]`: the broker's settings and `--property`.
fn processor_properties(options: &Options) -> Vec<(String, String)> {
    let mut properties = broker_properties(options);
    properties.extend(options.property.iter().cloned());
    properties
}

/// Probes the running child from `topics.input` to its output for `kind` at the configured rate.
fn measure_latency(
    kafka: &TestKafka,
    generator: &DocumentGenerator,
    topics: &Topics,
    kind: ProbeOutput,
    options: &Options,
) -> anyhow::Result<LatencyReport> {
    let output = match kind {
        ProbeOutput::Copy => &topics.copy,
        ProbeOutput::Alert => &topics.alert,
    };
    eprintln!(
        "  end-to-end latency at {} records/s for {} s…",
        options.latency_rate, options.latency_seconds
    );
    latency::measure(
        kafka,
        generator,
        &topics.input,
        (output, kind),
        PARTITIONS,
        options.latency_rate,
        Duration::from_secs(options.latency_seconds),
    )
}

/// Waits until `watch` has seen `outputs` records from `child` draining `inputs` input records,
/// and takes the child's footprint right then.
fn measure_drain(
    child: &mut Child,
    watch: &mut OutputWatch,
    inputs: usize,
    outputs: usize,
) -> anyhow::Result<Throughput> {
    let arrivals = watch.wait_for(outputs, DRAIN_QUIET, DRAIN_TIMEOUT)?;
    let footprint = process::footprint(child.id())?;
    Ok(Throughput {
        outputs: arrivals.records,
        expected_outputs: outputs,
        records_per_second: arrivals.rate(inputs),
        seconds: arrivals.last.duration_since(arrivals.tenth).as_secs_f64(),
        cpu_seconds: footprint.cpu_seconds,
        peak_rss_kb: footprint.peak_rss_kb,
    })
}

/// [`measure_drain`] of a child that stops when its standard input closes (`what`, for the
/// errors), one output per input record; then closes its standard input and waits for it.
fn measure_drain_until_stdin_closes(
    child: &mut Child,
    watch: &mut OutputWatch,
    records: usize,
    what: &str,
) -> anyhow::Result<Throughput> {
    let drained = measure_drain(child, watch, records, records);
    // Its footprint is read: let it exit.
    drop(child.stdin.take());
    let stopped = process::wait_for_exit(child, Duration::from_secs(60));
    let drained = drained.with_context(|| format!("measuring {what}"))?;
    stopped.with_context(|| what.to_owned())?;
    Ok(drained)
}

/// Writes the processor's configuration for `topics` to `path` and starts the binary with it.
fn start_processor(
    binary: &Path,
    kafka: &TestKafka,
    topics: &Topics,
    (properties, runtime, sections): (&Settings, &Settings, &str),
    path: &Path,
    log: &Path,
) -> anyhow::Result<Child> {
    let mut toml_properties = String::new();
    for (key, value) in properties {
        toml_properties.push_str(&format!("{key:?} = {value:?}\n"));
    }
    let runtime: String = runtime
        .iter()
        .map(|(key, value)| format!("{key} = {value}\n"))
        .collect();
    let config = format!(
        r#"[kafka]
bootstrap_servers = "{bootstrap}"
application_id = "{group}"

[kafka.properties]
{toml_properties}
[runtime]
{runtime}
[topology]
input_topic = "{input}"
cpu_topic = "{cpu}"
memory_topic = "{memory}"
alert_topic = "{alert}"
alert_threshold = {threshold}

[errors]
dead_letter_topic = "{dead_letter}"

{sections}"#,
        bootstrap = kafka.bootstrap_servers(),
        group = kafka.unique_topic("bench-processor"),
        input = topics.input,
        cpu = topics.cpu,
        memory = topics.memory,
        alert = topics.alert,
        threshold = documents::ALERT_THRESHOLD,
        dead_letter = topics.dead_letter,
    );
    std::fs::write(path, config).context("writing the processor configuration")?;
    Command::new(binary)
        .arg("--config")
        .arg(path)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).context("creating the processor log")?)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// The binaries the bench runs: the processor of the bench's own profile, the agent as it ships.
#[derive(Debug)]
struct Binaries {
    bench: PathBuf,
    processor: PathBuf,
    agent: PathBuf,
}

/// The profile directory of the shipped agent (`packaging/build-agent.sh`).
const AGENT_PROFILE: &str = "release-agent";

impl Binaries {
    /// The processor next to this executable and the agent in `target/release-agent/`; built
    /// first (by the cargo that runs this bench, and `packaging/build-agent.sh`) when `build`.
    fn locate(build: bool) -> anyhow::Result<Binaries> {
        let bench = std::env::current_exe().context("locating this executable")?;
        let directory = bench.parent().context("this executable has no directory")?;
        let target = directory
            .parent()
            .context("this executable is not in a profile directory")?;
        if build && let Some(cargo) = std::env::var_os("CARGO") {
            let profile = directory
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("release");
            let mut command = Command::new(cargo);
            command.args(["build", "--quiet", "-p", "ferrobeat-processor", "--bins"]);
            if profile == "release" {
                command.arg("--release");
            }
            let status = command.status().context("running cargo build")?;
            if !status.success() {
                bail!("cargo build of the processor binaries failed ({status})");
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/build-agent.sh");
            let status = Command::new("bash")
                .arg(&script)
                .env("CARGO_TARGET_DIR", target)
                .stdout(Stdio::null())
                .status()
                .with_context(|| format!("running {}", script.display()))?;
            if !status.success() {
                bail!("{} failed ({status})", script.display());
            }
        }
        let binary = |directory: &Path, name: &str, how: &str| -> anyhow::Result<PathBuf> {
            let path = directory.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                bail!("{} is missing: build it with `{how}`", path.display())
            }
        };
        Ok(Binaries {
            processor: binary(
                directory,
                "ferrobeat-processor",
                "cargo build --release --bins -p ferrobeat-processor",
            )?,
            agent: binary(
                &target.join(AGENT_PROFILE),
                "ferrobeat-agent",
                "packaging/build-agent.sh",
            )?,
            bench,
        })
    }
}

/// A `KEY=VALUE` command-line property.
fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// The last lines of a child's log, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.is_empty() {
        String::new()
    } else {
        format!("\n--- {} ---\n{tail}", log.display())
    }
}
