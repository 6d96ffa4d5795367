//! `ferrobeat-quickstart`: the whole pipeline in one command, on an embedded broker.
//!
//! It starts librdkafka's in-process mock cluster holding the pipeline topics (3 partitions each)
//! unless `--bootstrap-servers` names a real cluster, runs the real agent sampling this machine and
//! the real processor topology against it — the same sampler, spool, producer, runtime and topology
//! as in production; only the broker differs — and shows what arrives on `metric.all`,
//! `metric.cpu`, `metric.memory` and `metric.cpu.alert`.

mod burn;
mod view;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use ferrobeat_agent::collect::parse_duration;
use ferrobeat_agent::config::AgentConfig;
use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_processor::metric_topology::alerting::AlertMode;
use ferrobeat_processor::metric_topology::metric_pipeline;
use ferrobeat_schema::topics;
use ferrobeat_streams::runtime::StreamsRuntime;
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::view::PipelineView;

/// Partitions of every topic the quickstart creates.
const PARTITIONS: i32 = 3;

/// Runs agent → Kafka → processor on this machine and shows the records flowing.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Stop by itself after this long (`90s`, `5m`); without it, run until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// The agent's sampling period (production default: 10s).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    period: Duration,
    /// Make an alert appear: keep every core busy for this long at the start (`15s`).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    burn_cpu: Option<Duration>,
    /// Alert threshold on `system.cpu.total.norm.pct` (production default: 0.5); a lower one
    /// makes an alert appear on an idle machine.
    #[arg(long, default_value_t = 0.5, value_name = "FRACTION")]
    alert_threshold: f64,
    /// Show the stateful pipeline: alerts per transition (`firing`, `resolved`, `no_data`) of
    /// each host instead of per hot sample, and per-minute summaries on `metric.cpu.1m`.
    #[arg(long)]
    transitions: bool,
    /// Use this Kafka cluster (topics must exist) instead of the embedded mock cluster.
    #[arg(long, value_name = "LIST")]
    bootstrap_servers: Option<String>,
    /// Where the agent keeps its id and spool (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrobeat-quickstart: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The bootstrap servers given, or those of an embedded mock cluster (returned, to keep it
/// running) holding the pipeline's topics.
fn broker(
    args: &Args,
) -> anyhow::Result<(String, Option<MockCluster<'static, DefaultProducerContext>>)> {
    if let Some(list) = &args.bootstrap_servers {
        return Ok((list.clone(), None));
    }
    let cluster = MockCluster::new(1).context("starting the embedded mock cluster")?;
    for topic in mock_cluster_topics(args)? {
        cluster
            .create_topic(&topic, PARTITIONS, 1)
            .with_context(|| format!("creating {topic}"))?;
    }
    Ok((cluster.bootstrap_servers(), Some(cluster)))
}

/// A runtime for the agent, which also sets `stop` on Ctrl-C.
fn agent_runtime(stop: &Arc<AtomicBool>) -> anyhow::Result<tokio::runtime::Runtime> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the agent's runtime")?;
    let stop = Arc::clone(stop);
    tokio.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.store(true, Ordering::Relaxed);
        }
    });
    Ok(tokio)
}

fn run(args: Args) -> anyhow::Result<()> {
    let (bootstrap, _cluster) = broker(&args)?;
    let scratch = tempfile::tempdir().context("creating the agent's data directory")?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());

    let trigger = alert_trigger(&args);
    println!(
        "ferrobeat quickstart: broker {} ({bootstrap}), agent period {:?}, {trigger}",
        if args.bootstrap_servers.is_some() {
            "given"
        } else {
            "embedded mock cluster"
        },
        args.period,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let tokio = agent_runtime(&stop)?;

    let config = processor_config(&bootstrap, &args)?;
    let topology = metric_pipeline(config.pipeline(), Arc::default());
    let processor = StreamsRuntime::new(topology, config.streams()?);
    processor.start().context("starting the processor")?;

    let (agent_stop, agent_shutdown) = tokio::sync::watch::channel(false);
    let agent = tokio.spawn(ferrobeat_agent::run::run(
        agent_config(&bootstrap, args.period, data_dir),
        agent_shutdown,
    ));
    if let Some(length) = args.burn_cpu {
        burn::burn_all_cores(length, Arc::clone(&stop));
    }

    let watched = watched_topics(&args);
    let mut view = PipelineView::new(client_config(&bootstrap), &watched, PARTITIONS)?;
    let started = Instant::now();
    let mut last_plain = Instant::now() - Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        view.poll(Duration::from_millis(500));
        if agent.is_finished() {
            break;
        }
        // Redraw every second on a terminal; a plain block every 5 s otherwise.
        if view.in_place() || last_plain.elapsed() >= Duration::from_secs(5) {
            last_plain = Instant::now();
            view.draw(&format!(
                "--- {:>4.0}s  state {}",
                started.elapsed().as_secs_f64(),
                processor.state()
            ))?;
        }
    }

    stop.store(true, Ordering::Relaxed);
    let _ = agent_stop.send(true);
    let agent_result =
        tokio.block_on(async { tokio::time::timeout(Duration::from_secs(15), agent).await });
    let final_state = processor.close(Duration::from_secs(15));
    view.poll(Duration::from_secs(1));
    view.print_latest();
    let counts: Vec<String> = watched
        .iter()
        .map(|t| format!("{t}={}", view.count(t)))
        .collect();
    println!("summary: {} (processor {final_state})", counts.join(" "));
    match agent_result {
        Ok(Ok(Ok(_))) => Ok(()),
        Ok(Ok(Err(error))) => bail!("the agent stopped: {error}"),
        Ok(Err(error)) => bail!("the agent task failed: {error}"),
        Err(_) => bail!("the agent did not stop within 15 s"),
    }
}

fn alert_trigger(args: &Args) -> String {
    match (args.burn_cpu, args.alert_threshold) {
        (Some(length), threshold) => {
            format!("alert trigger: CPU burn on every core for {length:?} (threshold {threshold})")
        }
        (None, threshold) if threshold < 0.5 => {
            format!("alert trigger: lowered threshold {threshold} (production: 0.5)")
        }
        (None, threshold) => format!(
            "alert threshold {threshold}; no alert trigger (add --burn-cpu 15s or --alert-threshold 0.01)"
        ),
    }
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

fn agent_config(bootstrap: &str, period: Duration, data_dir: PathBuf) -> AgentConfig {
    let mut config = AgentConfig::default();
    config.kafka.bootstrap_servers = bootstrap.to_owned();
    config.collect.period = period;
    config.data_dir = data_dir;
    config
}

/// The topics the embedded mock cluster starts with: the pipeline's and, with
/// `--transitions`, the summaries' and the state's repartition and changelog topics (the mock
/// cluster does not create topics through the admin API, as the runtime would on a real one).
fn mock_cluster_topics(args: &Args) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = topics::PIPELINE
        .iter()
        .map(|&topic| topic.to_owned())
        .collect();
    if args.transitions {
        let config = processor_config("localhost:9092", args)?;
        names.push(SUMMARIES_TOPIC.to_owned());
        let topology = metric_pipeline(config.pipeline(), Arc::default());
        names.extend(
            topology
                .internal_topics(&config.kafka.application_id)
                .into_iter()
                .map(|topic| topic.name),
        );
    }
    Ok(names)
}

/// The topics the view watches: the pipeline's, and with `--transitions` the summaries'.
fn watched_topics(args: &Args) -> Vec<&'static str> {
    let mut watched = vec![topics::ALL, topics::CPU, topics::MEMORY, topics::CPU_ALERT];
    if args.transitions {
        watched.push(SUMMARIES_TOPIC);
    }
    watched
}

/// Where `--transitions` writes the per-minute summaries.
const SUMMARIES_TOPIC: &str = "metric.cpu.1m";

fn processor_config(bootstrap: &str, args: &Args) -> anyhow::Result<ProcessorConfig> {
    let mut config = ProcessorConfig::default();
    config.kafka.bootstrap_servers = bootstrap.to_owned();
    config.kafka.application_id = "ferrobeat-quickstart".to_owned();
    config.topology.alert_threshold = args.alert_threshold;
    if args.transitions {
        config.alerting.mode = AlertMode::Transitions;
        config.summaries.topic = Some(SUMMARIES_TOPIC.to_owned());
    }
    config
        .kafka
        .properties
        .insert("session.timeout.ms".to_owned(), "6000".to_owned());
    config.validate().context("--alert-threshold")?;
    Ok(config)
}
