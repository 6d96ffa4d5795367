//! The agent's commands wired together: `run` (sample, spool, ship, monitor until told to
//! stop), `once` (one round of every metricset) and `test output`.

use std::path::PathBuf;
use std::sync::Arc;

use ferrobeat_schema::Event;
use ferrobeat_toolbox::endpoint::{Endpoint, EndpointError};
use ferrobeat_toolbox::intercept::{InterceptorError, Interceptors};
use tokio::sync::{oneshot, watch};

use crate::collect::Identity;
use crate::config::{AgentConfig, OutputKind, RecordKey};
use crate::identity::{self, IdentityError};
use crate::monitor::{self, AgentMetrics};
use crate::sample::{CollectError, Collector, Sampler, Stopper, collect_once};
use crate::ship::check::{Step, check_output};
use crate::ship::stdout::StdoutSink;
use crate::ship::{KafkaShipper, ShipSummary};
use crate::spool::{Spool, SpoolError};

/// The spool's directory below the data directory.
pub const SPOOL_DIR: &str = "spool";

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The agent's identity could not be established.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The Kafka producer could not be created.
    #[error("cannot create the Kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    /// An `[[interceptors]]` entry was refused (the configuration was not validated).
    #[error("cannot create the interceptors: {0}")]
    Interceptors(#[from] InterceptorError),
    /// The metrics endpoint could not be started.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Collection failed (for `once` and `test output`).
    #[error(transparent)]
    Collect(#[from] CollectError),
    /// Standard output could not be written.
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    /// The tick thread (sampling, spool, shipping) could not be started.
    #[error("cannot start the agent's tick thread: {0}")]
    Thread(std::io::Error),
}

/// What a `run` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    /// The Kafka shipper's summary (`None` for stdout output).
    pub shipped: Option<ShipSummary>,
}

/// Runs the agent until `shutdown` turns true (or its sender is dropped): samples on the
/// configured periods, spools and ships (or prints) every round, logs and serves its counters.
/// On shutdown, sampling stops, delivery goes on for at most `kafka.flush_timeout`, and the rest
/// stays in the spool.
///
/// Sampling, the spool and the producer run on one plain thread, the tick thread (see
/// [`Sampler`]); the async runtime that awaits this future serves the metrics endpoint, the
/// change log and the shutdown request.
///
/// # Errors
/// Start-up failures: identity, spool, producer or metrics endpoint. Once running, only a
/// stdout output that cannot be written ends the run with an error.
pub async fn run(
    config: AgentConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<RunReport, RunError> {
    let identity = persistent_identity(&config)?;
    let metrics = AgentMetrics::with_unhealthy_after(config.monitoring.unhealthy_after);
    let (monitor_stop, monitor_shutdown) = watch::channel(false);
    let endpoint = match config.monitoring.metrics_addr {
        Some(addr) => {
            let (metrics, stopping) = (Arc::clone(&metrics), shutdown.clone());
            let endpoint =
                Endpoint::start(addr, move |path| metrics.answer(path, *stopping.borrow()))?;
            tracing::info!(addr = %endpoint.local_addr(), "serving /metrics, /health and /ready");
            Some(endpoint)
        }
        None => None,
    };
    let change_log = tokio::spawn(monitor::log_changes(
        Arc::clone(&metrics),
        config.monitoring.log_interval,
        monitor_shutdown,
    ));

    let output = match config.output {
        OutputKind::Kafka => Output::Kafka(Box::new(kafka_shipper(
            &config,
            &identity,
            Arc::clone(&metrics),
        )?)),
        OutputKind::Stdout => Output::Stdout(StdoutSink::new(Arc::clone(&metrics))),
    };
    tracing::info!(
        agent_id = %identity.agent_id,
        ephemeral_id = %identity.ephemeral_id,
        host = %identity.host_name,
        output = ?config.output,
        "ferrobeat-agent started"
    );
    let (sampler, stopper) = Sampler::new(
        Collector::new(config.collect.clone(), identity),
        Arc::clone(&metrics),
    );
    let (done, finished) = oneshot::channel();
    let tick = std::thread::Builder::new()
        .name("tick".to_owned())
        .spawn(move || {
            // A dropped sender (the thread panicked) is answered by the join below.
            let _ = done.send(output.run(sampler));
        })
        .map_err(RunError::Thread)?;
    let finished = until_finished(shutdown, stopper, finished).await;
    let joined = tokio::task::spawn_blocking(move || tick.join()).await;
    let result = match (finished, joined) {
        (Some(result), _) => result,
        (None, Ok(Err(panic))) => std::panic::resume_unwind(panic),
        (None, _) => unreachable!("the tick thread ends with a result or a panic"),
    };
    let _ = monitor_stop.send(true);
    let _ = change_log.await;
    drop(endpoint);
    tracing::info!("ferrobeat-agent stopped");
    result
}

/// Where the tick thread's rounds go.
enum Output {
    Kafka(Box<KafkaShipper>),
    Stdout(StdoutSink),
}

impl Output {
    /// Samples into this output until `sampler` is stopped, then finishes the output (the
    /// shipper's flush and spool close): the tick thread's whole life.
    fn run(self, sampler: Sampler) -> Result<RunReport, RunError> {
        match self {
            Output::Kafka(mut shipper) => {
                sampler.run(shipper.as_mut());
                Ok(RunReport {
                    shipped: Some((*shipper).finish()),
                })
            }
            Output::Stdout(mut sink) => {
                sampler.run(&mut sink);
                sink.finish()
                    .map(|()| RunReport { shipped: None })
                    .map_err(RunError::Stdout)
            }
        }
    }
}

/// Waits for the tick thread's result; stops its sampler (drops `stopper`) when `shutdown`
/// turns true or its sender is dropped. `None` if the thread ended without a result.
async fn until_finished(
    mut shutdown: watch::Receiver<bool>,
    stopper: Stopper,
    mut finished: oneshot::Receiver<Result<RunReport, RunError>>,
) -> Option<Result<RunReport, RunError>> {
    tokio::select! {
        // It ended on its own: the stdout output failed.
        result = &mut finished => return result.ok(),
        _ = shutdown.wait_for(|stop| *stop) => drop(stopper),
    }
    finished.await.ok()
}

fn kafka_shipper(
    config: &AgentConfig,
    identity: &Identity,
    metrics: Arc<AgentMetrics>,
) -> Result<KafkaShipper, RunError> {
    let spool_dir: PathBuf = config.data_dir.join(SPOOL_DIR);
    let (spool, recovery) = Spool::open(&spool_dir, config.spool.into())?;
    if recovery.replay > 0 || recovery.torn_bytes > 0 || recovery.cursor_lost {
        tracing::info!(
            replay = recovery.replay,
            torn_bytes = recovery.torn_bytes,
            cursor_lost = recovery.cursor_lost,
            dir = %spool_dir.display(),
            "spool recovered"
        );
    }
    let key = record_key(config, identity);
    let interceptors = Interceptors::from_specs(&config.interceptors)?;
    Ok(KafkaShipper::new(
        &config.kafka,
        key,
        interceptors,
        spool,
        metrics,
    )?)
}

fn record_key(config: &AgentConfig, identity: &Identity) -> Option<Vec<u8>> {
    match config.kafka.key {
        RecordKey::None => None,
        RecordKey::Hostname => Some(identity.host_name.clone().into_bytes()),
    }
}

fn persistent_identity(config: &AgentConfig) -> Result<Identity, IdentityError> {
    let agent_id = identity::load_or_create_agent_id(&config.data_dir)?;
    identity::identity(config.name.as_deref(), agent_id, config.event.clone())
}

/// The persistent identity when the data directory is usable, else a temporary one (for
/// the one-shot commands, which should not need the service's permissions).
fn best_effort_identity(config: &AgentConfig) -> Result<Identity, IdentityError> {
    persistent_identity(config).or_else(|error| {
        tracing::warn!(%error, "using a temporary agent id");
        identity::identity(
            config.name.as_deref(),
            uuid::Uuid::new_v4(),
            config.event.clone(),
        )
    })
}

/// One round of every enabled metricset.
///
/// # Errors
/// The host name cannot be read, or a metricset fails.
pub fn once(config: &AgentConfig) -> Result<Vec<Event>, RunError> {
    let mut collector = Collector::new(config.collect.clone(), best_effort_identity(config)?);
    Ok(collect_once(&mut collector)?)
}

/// `test output`: samples one round, then checks the Kafka output step by step, producing
/// that round.
pub async fn test_output(config: &AgentConfig) -> Vec<Step> {
    let sampled = best_effort_identity(config)
        .map_err(RunError::from)
        .and_then(|identity| {
            let key = record_key(config, &identity);
            let mut collector = Collector::new(config.collect.clone(), identity);
            Ok((key, collect_once(&mut collector)?))
        });
    match sampled {
        Ok((key, events)) => check_output(&config.kafka, key, &events).await,
        Err(error) => vec![Step {
            name: "sample",
            outcome: Err(error.to_string()),
        }],
    }
}
