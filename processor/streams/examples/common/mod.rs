//! What the examples share: the command line (`--bootstrap-servers`, `--application-id`,
//! `--state-dir`, `-X name=value`), a check that the topics exist, and running until SIGTERM or
//! Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use ferrobeat_streams::Topology;
use ferrobeat_streams::config::StreamsConfig;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use rdkafka::consumer::{BaseConsumer, Consumer};

/// The command line of an example.
#[derive(Debug, Parser)]
pub(crate) struct Args {
    /// Comma-separated `host:port` list of bootstrap brokers.
    #[arg(long, default_value = "localhost:9092")]
    pub(crate) bootstrap_servers: String,
    /// The application id (consumer group; prefix of the changelog topics).
    #[arg(long)]
    pub(crate) application_id: Option<String>,
    /// Keep the state stores in this directory (persistent, checkpointed: a restart restores
    /// only the changelog's tail); in memory when unset.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// A librdkafka property, as kcat takes it (repeatable), e.g. `-X session.timeout.ms=6000`.
    #[arg(short = 'X', value_name = "NAME=VALUE", value_parser = property)]
    pub(crate) properties: Vec<(String, String)>,
}

fn property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

/// Runs `topology` as `default_application_id` (unless `--application-id` says otherwise) until
/// SIGTERM or Ctrl-C, after checking that `topics` exist.
pub(crate) fn run(
    topology: Topology,
    default_application_id: &str,
    topics: &[&str],
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let application_id = args
        .application_id
        .as_deref()
        .unwrap_or(default_application_id);
    let mut config = StreamsConfig::new(&args.bootstrap_servers, application_id);
    config.kafka.properties.extend(args.properties);
    config.kafka.validate().context("invalid settings")?;
    config.runtime.commit_interval = Duration::from_millis(200);
    config.runtime.state_dir = args.state_dir;
    require_topics(&config, topics)?;
    println!("{}", topology.describe());
    let runtime = Arc::new(StreamsRuntime::new(topology, config));
    runtime.start()?;
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    let watched = Arc::clone(&runtime);
    signals.block_on(async move {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("cannot listen for SIGTERM")?;
        let failed = tokio::task::spawn_blocking(move || {
            watched.wait_until(Duration::from_secs(u64::MAX / 4), |state| {
                state.is_terminal() || state == ClientState::PendingError
            })
        });
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
            _ = failed => {}
        }
        anyhow::Ok(())
    })?;
    let state = runtime.close(Duration::from_secs(40));
    if state != ClientState::NotRunning {
        bail!("stopped in state {state}");
    }
    Ok(())
}

/// Refuses to start when a topic the example reads does not exist.
fn require_topics(config: &StreamsConfig, topics: &[&str]) -> anyhow::Result<()> {
    let client: BaseConsumer = config.kafka.client_config("example-metadata").create()?;
    let metadata = client
        .fetch_metadata(None, Duration::from_secs(30))
        .context("cannot read the brokers' metadata")?;
    for topic in topics {
        let exists = metadata
            .topics()
            .iter()
            .any(|known| known.name() == *topic && known.error().is_none());
        if !exists {
            bail!(
                "topic {topic:?} does not exist on {}",
                config.kafka.bootstrap_servers
            );
        }
    }
    Ok(())
}
