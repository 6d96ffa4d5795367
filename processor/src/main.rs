//! The ferrobeat-processor binary: `run` (the default) processes until SIGTERM or Ctrl-C;
//! `describe` prints the topology without touching a broker; `lag` shows the group's lag;
//! `setup` creates and verifies the pipeline's topics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::builder::NonEmptyStringValueParser;
use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};
use ferrobeat_processor::config::{
    DEFAULT_CONFIG_PATH, MAX_THREADS, Overrides, ProcessorConfig, PropertyFlag,
};
use ferrobeat_processor::lag;
use ferrobeat_processor::metric_topology::{TopologyCounts, metric_pipeline};
use ferrobeat_processor::monitor::Monitor;
use ferrobeat_processor::monitor::logging::spawn_change_logger;
use ferrobeat_processor::monitor::metrics::{PrometheusObserver, RuntimeMetrics};
use ferrobeat_processor::monitor::restore::RestoreMetrics;
use ferrobeat_processor::setup;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use ferrobeat_toolbox::config::parse_property_flag;
use ferrobeat_toolbox::endpoint::Endpoint;
use ferrobeat_toolbox::logging::{LogFormat, subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Routes Metricbeat events by metricset and raises hot-CPU alerts, as a Kafka Streams
/// application does.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    logging: LogArgs,
}

#[derive(Debug, Args)]
struct LogArgs {
    /// Log filter (tracing's EnvFilter syntax, e.g. `info,ferrobeat_processor=debug`)
    /// [default: RUST_LOG, else info].
    #[arg(long, global = true, env = "FERROBEAT_LOG", value_name = "FILTER")]
    log: Option<String>,
    /// Log line format on standard error: text or json.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
}

impl LogArgs {
    fn init(&self) {
        let filter = match &self.log {
            Some(filter) => EnvFilter::new(filter),
            None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        };
        // try_init also routes the `log` crate's records into tracing.
        subscriber(self.log_format, filter, std::io::stderr)
            .try_init()
            .unwrap_or_else(|error| {
                eprintln!("ferrobeat-processor: cannot set up logging: {error}")
            });
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Process records until SIGTERM or Ctrl-C (the default command).
    Run(RunArgs),
    /// Print the topology (no broker needed).
    Describe(DescribeArgs),
    /// Show the group's lag per input partition with a Burrow-style status (and a stateful
    /// topology's changelog end offsets); exits 0 when the group is OK, 1 when it is WARN or
    /// ERR, 2 when the brokers cannot be queried.
    Lag(LagArgs),
    /// Create the pipeline's topics (and a stateful topology's changelog topics) that are
    /// missing and verify the ones that exist; exits 0 when every topic is as asked, 1 when an
    /// existing topic differs, 2 on an error.
    Setup(SetupArgs),
}

#[derive(Debug, Args)]
struct SetupArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Bootstrap brokers, `host:port,...` (overrides `kafka.bootstrap_servers`).
    #[arg(long, value_name = "LIST", value_parser = NonEmptyStringValueParser::new())]
    bootstrap_servers: Option<String>,
    /// Partitions of each topic created.
    #[arg(long, value_name = "N", default_value_t = setup::DEFAULT_PARTITIONS)]
    partitions: i32,
    /// Replication factor of each topic created (at most the number of brokers).
    #[arg(long, value_name = "N", default_value_t = setup::DEFAULT_REPLICATION_FACTOR)]
    replication_factor: i32,
    /// Bound, in seconds, of each request and of the wait for new topics.
    #[arg(long, value_name = "SECONDS", default_value_t = setup::DEFAULT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// Configuration file (TOML); every key has a default when omitted
    /// [default: /etc/ferrobeat-processor/ferrobeat-processor.toml when it exists].
    #[arg(short, long, env = "FERROBEAT_PROCESSOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the configuration file is looked for without --config (packaging and tests).
    #[arg(long, hide = true, env = "FERROBEAT_PROCESSOR_DEFAULT_CONFIG", value_name = "FILE",
          default_value = DEFAULT_CONFIG_PATH)]
    default_config: PathBuf,
    /// A librdkafka property, e.g. -X security.protocol=ssl; repeatable, wins over
    /// [kafka.properties].
    #[arg(short = 'X', value_name = "NAME=VALUE", value_parser = parse_property_flag)]
    property: Vec<PropertyFlag>,
}

impl ConfigArg {
    fn load(&self) -> anyhow::Result<ProcessorConfig> {
        Ok(ProcessorConfig::load_with(
            self.config.as_deref(),
            &self.default_config,
            &self.property,
        )?)
    }
}

/// The configuration file and the flags that name the cluster and the group in it.
#[derive(Debug, Args)]
struct GroupArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Bootstrap brokers, `host:port,...` (overrides `kafka.bootstrap_servers`).
    #[arg(long, value_name = "LIST", value_parser = NonEmptyStringValueParser::new())]
    bootstrap_servers: Option<String>,
    /// Application id, the consumer group (overrides `kafka.application_id`).
    #[arg(long, value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    application_id: Option<String>,
}

impl GroupArgs {
    /// The flags that override keys of the file.
    fn overrides(&self) -> Overrides {
        Overrides {
            bootstrap_servers: self.bootstrap_servers.clone(),
            application_id: self.application_id.clone(),
            ..Overrides::default()
        }
    }

    /// The configuration file with the flags applied over it.
    fn load(&self) -> anyhow::Result<ProcessorConfig> {
        let mut config = self.config.load()?;
        self.overrides().apply(&mut config);
        Ok(config)
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    group: GroupArgs,
    /// Worker threads (overrides `runtime.threads`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS as i64))]
    threads: Option<u16>,
    /// Serve `/metrics`, `/health` and `/ready` on ADDR, e.g. 127.0.0.1:9464 (overrides
    /// `monitoring.metrics_addr`; off by default).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
}

#[derive(Debug, Args)]
struct DescribeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DescribeFormat::Text)]
    format: DescribeFormat,
}

#[derive(Debug, Args)]
struct LagArgs {
    #[command(flatten)]
    group: GroupArgs,
    /// Refresh every SECS seconds (default 5) over a sliding window until interrupted.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "5", value_parser = seconds)]
    watch: Option<Duration>,
    /// Print one JSON document per refresh instead of the table.
    #[arg(long)]
    json: bool,
    /// Seconds between two observations of a one-shot run.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = seconds)]
    interval: Duration,
    /// Observations of a one-shot run; statuses need at least two to see a trend.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        value_parser = clap::value_parser!(u64).range(1..=100)
    )]
    samples: u64,
    /// Bound of each request to the brokers, in seconds.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    timeout: Duration,
}

/// A duration (`"500ms"`, `"2s"`) or a whole number of seconds, above zero.
fn seconds(text: &str) -> Result<Duration, String> {
    match ferrobeat_toolbox::config::parse_duration_or_seconds(text)? {
        Duration::ZERO => Err("must be above zero".to_owned()),
        duration => Ok(duration),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DescribeFormat {
    /// Kafka Streams' `Topology.describe()` text.
    Text,
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Blocks until SIGTERM, Ctrl-C, or the client stopping by itself (`stopped` notified).
fn wait_for_stop_signal(
    runtime: &StreamsRuntime,
    stopped: &tokio::sync::Notify,
) -> anyhow::Result<()> {
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    signals.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("cannot listen for SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            () = stopped.notified() => tracing::warn!(state = %runtime.state(), "the client stopped by itself"),
        }
        anyhow::Ok(())
    })
}

/// How often the counters that moved are logged.
const COUNTER_LOG_INTERVAL: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    if let Some(target) = ferrobeat_toolbox::generate::requested(std::env::args_os()) {
        return ferrobeat_toolbox::generate::print(target, Cli::command());
    }
    let cli = Cli::parse();
    cli.logging.init();
    let result = match cli.command {
        Some(Command::Describe(args)) => describe(&args),
        Some(Command::Lag(args)) => lag(&args),
        Some(Command::Setup(args)) => setup(&args),
        Some(Command::Run(args)) => run(&args),
        None => run(&cli.run),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ferrobeat-processor: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn setup(args: &SetupArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.config.load()?;
    if let Some(servers) = &args.bootstrap_servers {
        config.kafka.bootstrap_servers.clone_from(servers);
    }
    let topics = setup::pipeline_topics(config.pipeline(), &config.errors);
    let internal = metric_pipeline(config.pipeline(), Arc::default())
        .internal_topics(&config.kafka.application_id);
    let mut spec = setup::SetupSpec::new(topics, args.partitions, args.replication_factor)?
        .with_internal_topics(internal)?;
    if let Some(inventory) = &config.topology.inventory_topic {
        let compact = vec![("cleanup.policy".to_owned(), "compact".to_owned())];
        spec = spec.with_topic_config(inventory, compact)?;
    }
    let client = config
        .kafka
        .client_config(&format!("{}-setup", config.kafka.application_id));
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the admin client's runtime")?
        .block_on(setup::setup_topics(
            &client,
            &spec,
            Duration::from_secs(args.timeout),
        ))?;
    print!("{report}");
    Ok(if report.is_consistent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe(args: &DescribeArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let description = metric_pipeline(config.pipeline(), Arc::default()).describe();
    match args.format {
        DescribeFormat::Text => print!("{description}"),
        DescribeFormat::Dot => print!("{}", description.to_dot()),
        DescribeFormat::Mermaid => print!("{}", description.to_mermaid()),
    }
    Ok(ExitCode::SUCCESS)
}

fn lag(args: &LagArgs) -> anyhow::Result<ExitCode> {
    let config = args.group.load()?;
    let topology = metric_pipeline(config.pipeline(), Arc::default());
    let topics = topology
        .source_topics()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let changelogs = topology.internal_topics(&config.kafka.application_id);
    let query = lag::query::LagQuery::new(&config.kafka, topics, args.timeout)?
        .with_changelogs(&changelogs);
    let options = lag::LagOptions {
        samples: usize::try_from(args.samples).unwrap_or(usize::MAX),
        interval: args.interval,
        watch: args.watch,
        json: args.json,
    };
    let status = lag::run(&query, &options, &mut std::io::stdout().lock())?;
    Ok(match status {
        lag::status::GroupStatus::Ok => ExitCode::SUCCESS,
        lag::status::GroupStatus::Warn | lag::status::GroupStatus::Err => ExitCode::FAILURE,
    })
}

fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.group.config.load()?;
    Overrides {
        threads: args.threads.map(usize::from),
        metrics_addr: args.metrics_addr,
        ..args.group.overrides()
    }
    .apply(&mut config);
    let counts = Arc::new(TopologyCounts::default());
    let topology = metric_pipeline(config.pipeline(), Arc::clone(&counts));
    let description = topology.describe();
    let metrics = Arc::new(RuntimeMetrics::new(config.monitoring.level));
    let runtime = Arc::new(StreamsRuntime::with_observer(
        topology,
        config.streams()?,
        Arc::new(PrometheusObserver(Arc::clone(&metrics))),
    ));
    let restore = Arc::new(RestoreMetrics::default());
    runtime.set_restore_listener(Arc::clone(&restore) as _);
    tracing::info!("topology:\n{description}");
    runtime.add_state_listener(Box::new(move |old, new| {
        if old == ClientState::Rebalancing && new == ClientState::Running {
            tracing::info!("running; topology:\n{description}");
        }
    }));
    let endpoint = config
        .monitoring
        .metrics_addr
        .map(|addr| {
            let monitor = Monitor::new(Arc::clone(&runtime), metrics, counts).with_restore(restore);
            Endpoint::start(addr, move |path| monitor.answer(path))
        })
        .transpose()?;
    if let Some(endpoint) = &endpoint {
        tracing::info!(addr = %endpoint.local_addr(), "serving /metrics, /health and /ready");
    }
    let stopped = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&stopped);
    runtime.add_state_listener(Box::new(move |_, new| {
        if new.is_terminal() || new == ClientState::PendingError {
            notify.notify_one();
        }
    }));
    tracing::info!(
        bootstrap_servers = %config.kafka.bootstrap_servers,
        application_id = %config.kafka.application_id,
        threads = config.runtime.threads,
        "starting"
    );
    runtime.start()?;
    let change_logger = spawn_change_logger(Arc::clone(&runtime), COUNTER_LOG_INTERVAL)
        .context("cannot start the counter log")?;
    wait_for_stop_signal(&runtime, &stopped)?;
    // Workers bound their own wait by shutdown_timeout; allow them that plus leaving the group.
    let bound = config.runtime.shutdown_timeout + Duration::from_secs(10);
    let state = runtime.close(bound);
    // The counter log ends (with a last line) once the client stops.
    if state.is_terminal() && change_logger.join().is_err() {
        tracing::error!("the counter log thread panicked");
    }
    drop(endpoint);
    let stats = runtime.stats();
    tracing::info!(%state, ?stats, "stopped");
    Ok(match state {
        ClientState::NotRunning => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}
