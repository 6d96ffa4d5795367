//! The ferrobeat-agent binary: parses the command line, loads the configuration and calls
//! the library's commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, Parser, Subcommand};
use ferrobeat_agent::collect::parse_duration;
use ferrobeat_agent::config::{self, AgentConfig, OutputKind, Overrides};
use ferrobeat_agent::{run, ship};
use ferrobeat_schema::Metricset;
use ferrobeat_toolbox::logging::{LogFormat, subscriber};
use tokio::sync::watch;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Samples this host's CPU, memory, network and disks as Elastic Metricbeat 8.x events and
/// ships them to Kafka at least once.
#[derive(Debug, Parser)]
#[command(name = "ferrobeat-agent", version)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct Options {
    /// Configuration file [default: /etc/ferrobeat-agent/ferrobeat-agent.toml on Linux].
    #[arg(short = 'c', long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Brokers to bootstrap from, comma-separated host:port (kafka.bootstrap_servers).
    #[arg(long, global = true, value_name = "HOST:PORT,...")]
    bootstrap_servers: Option<String>,
    /// Topic to produce to (kafka.topic).
    #[arg(long, global = true)]
    topic: Option<String>,
    /// Sampling period, e.g. 10s or 500ms (collect.period).
    #[arg(long, global = true, value_parser = parse_duration)]
    period: Option<Duration>,
    /// Enabled metricsets, comma-separated (collect.metricsets).
    #[arg(long, global = true, value_delimiter = ',')]
    metricsets: Option<Vec<Metricset>>,
    /// Directory for agent.id and the spool (data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where events go (output).
    #[arg(long, global = true, value_enum)]
    output: Option<OutputKind>,
    /// Serve Prometheus metrics at http://ADDR/metrics (monitoring.metrics_addr).
    #[arg(long, global = true, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// A librdkafka property, e.g. -X security.protocol=ssl; repeatable, wins over
    /// [kafka.properties] (kafka.properties."NAME").
    #[arg(short = 'X', global = true, value_name = "NAME=VALUE",
          value_parser = ferrobeat_toolbox::config::parse_property_flag)]
    property: Vec<(String, String)>,
    /// Log filter (tracing's EnvFilter syntax), logged to standard error.
    #[arg(long, global = true, env = "FERROBEAT_LOG", default_value = "info")]
    log: String,
    /// Log line format: text or json.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sample and ship until SIGTERM or Ctrl-C (the default).
    Run,
    /// Print one round of every enabled metricset as NDJSON on standard output.
    Once,
    /// Check the configuration or the output.
    Test {
        #[command(subcommand)]
        what: TestCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    /// Load and check the configuration, including the librdkafka settings.
    Config,
    /// Connect, check the topic and write one round of events, reporting each step.
    Output,
}

impl Options {
    fn overrides(&self) -> Overrides {
        Overrides {
            bootstrap_servers: self.bootstrap_servers.clone(),
            topic: self.topic.clone(),
            period: self.period,
            metricsets: self.metricsets.clone(),
            data_dir: self.data_dir.clone(),
            output: self.output,
            metrics_addr: self.metrics_addr,
            properties: self.property.clone(),
        }
    }
}

fn main() -> ExitCode {
    if let Some(target) = ferrobeat_toolbox::generate::requested(std::env::args_os()) {
        return ferrobeat_toolbox::generate::print(target, Cli::command());
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::new(&cli.options.log);
    // try_init also routes the `log` crate's records into tracing.
    if let Err(error) = subscriber(cli.options.log_format, filter, std::io::stderr).try_init() {
        eprintln!("ferrobeat-agent: cannot set up logging: {error}");
    }
    match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ferrobeat-agent: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = config::load(cli.options.config.as_deref(), &cli.options.overrides())?;
    for warning in config.collect.processor_warnings() {
        tracing::warn!("{warning}");
    }
    // One thread: sampling, the spool and shipping run on the agent's tick thread (a plain
    // thread, see `run::run`); the runtime only serves the metrics endpoint, the change log and
    // the signals, which a multi-thread runtime's workers would serve no better.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            runtime.block_on(run_until_signal(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Once => {
            let events = run::once(&config)?;
            ship::stdout::write_ndjson(&mut std::io::stdout().lock(), &events)
                .context("cannot write to standard output")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Test {
            what: TestCommand::Config,
        } => {
            test_config(&config, cli.options.config.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Test {
            what: TestCommand::Output,
        } => {
            let steps = runtime.block_on(run::test_output(&config));
            for step in &steps {
                println!("{step}");
            }
            let passed = steps.iter().all(|s| s.outcome.is_ok());
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn test_config(config: &AgentConfig, path: Option<&std::path::Path>) -> anyhow::Result<()> {
    if config.output == OutputKind::Kafka {
        ship::kafka::check_settings(&config.kafka)
            .context("`kafka.properties`: librdkafka refused the settings")?;
    }
    let source = path.map_or_else(
        || {
            let default = config::default_config_path();
            if default.is_file() {
                default.display().to_string()
            } else {
                "built-in defaults".to_owned()
            }
        },
        |p| p.display().to_string(),
    );
    println!("Config OK ({source})");
    Ok(())
}

async fn run_until_signal(config: AgentConfig) -> anyhow::Result<()> {
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested: sampling stops, flushing what is pending");
        let _ = stop.send(true);
        wait_for_signal().await;
        tracing::warn!("second stop request: exiting now; the spool keeps what was pending");
        std::process::exit(130);
    });
    run::run(config, shutdown).await?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the agent");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
