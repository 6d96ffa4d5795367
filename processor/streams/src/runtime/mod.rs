//! The Kafka runtime (Kafka Streams' `KafkaStreams`): worker threads in one consumer group
//! running a [`Topology`] at least once, with Kafka Streams' client states.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ferrobeat_streams::StreamsBuilder;
//! use ferrobeat_streams::config::StreamsConfig;
//! use ferrobeat_streams::runtime::StreamsRuntime;
//! use ferrobeat_streams::serdes::{Bytes, Nullable};
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<Nullable<Bytes>, Nullable<Bytes>>("stream_log")
//!     .to("stream_log_copy");
//! let config = StreamsConfig::new("localhost:9092", "stream-copy-application");
//! let runtime = StreamsRuntime::new(builder.build()?, config);
//! runtime.add_state_listener(Box::new(|old, new| println!("{old} -> {new}")));
//! runtime.start()?;
//! // ... until SIGTERM:
//! runtime.close(std::time::Duration::from_secs(30));
//! # Ok(()) }
//! ```
//!
//! Threads, not tokio: every worker blocks in librdkafka's poll and owns its clients, like a
//! Kafka Streams `StreamThread`; an async executor would add nothing but a layer.

pub mod backpressure;
mod changelogs;
mod clients;
pub mod delivery;
mod global;
pub mod observer;
pub mod offsets;
pub mod restart;
pub mod restore;
pub mod state;
pub mod stats;
pub mod task_order;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrobeat_toolbox::intercept::Interceptors;
use parking_lot::Mutex;

pub use changelogs::StateSetupError;
pub use observer::{NoObserver, RecordClock, RuntimeObserver, WorkerObserver, global_lag};
pub use restore::{LoggingStateRestoreListener, RestoreError, StateRestoreListener};
pub use state::{ClientState, IllegalTransition, StateListener, StateMachine};
pub use stats::{RuntimeStats, StatsSnapshot};
pub use worker::WorkerError;

use self::offsets::SourcePartition;
use self::restart::{Restart, RestartBudget};
use crate::config::{StreamsConfig, UncaughtErrorPolicy};
use crate::state::{GlobalStores, StoreError, TaskState, changelog_topic, task_directory};
use crate::topology::Topology;

/// What the workers of one client share.
struct Shared {
    /// `{application id}-{process id}-{instance number}`, the prefix of thread and client names.
    client_id: String,
    topology: Topology,
    source_topics: Vec<String>,
    config: StreamsConfig,
    stats: Arc<RuntimeStats>,
    observer: Arc<dyn RuntimeObserver>,
    /// The global tables' stores, read by every task.
    globals: GlobalStores,
    /// The changelog topic of each local store, by store index.
    changelogs: Vec<String>,
    /// Told about every store restored.
    restore_listener: Mutex<Arc<dyn StateRestoreListener>>,
    state: StateMachine,
    shutdown: AtomicBool,
    /// Live workers and whether each currently holds an assignment.
    assignments: Mutex<HashMap<usize, bool>>,
}

impl Shared {
    /// Records whether worker `id` holds an assignment, and moves the client between
    /// REBALANCING and RUNNING: RUNNING once every live worker has its assignment.
    fn set_assigned(&self, id: usize, assigned: bool) {
        let mut assignments = self.assignments.lock();
        assignments.insert(id, assigned);
        self.update_running_state(&assignments);
    }

    fn remove_worker(&self, id: usize) {
        let mut assignments = self.assignments.lock();
        assignments.remove(&id);
        self.update_running_state(&assignments);
    }

    /// The stores of task `partition`: persistent under `runtime.state_dir` when it is set
    /// (waiting, up to `runtime.restore_timeout`, while another worker of this machine still
    /// closes them), else in memory.
    fn open_task_state(&self, partition: i32) -> Result<TaskState, StoreError> {
        let Some(state_dir) = &self.config.runtime.state_dir else {
            return Ok(self.topology.new_task_state(&self.globals));
        };
        let directory = task_directory(state_dir, &self.config.kafka.application_id, partition);
        let deadline = Instant::now() + self.config.runtime.restore_timeout;
        loop {
            match self.topology.open_task_state(&self.globals, &directory) {
                Err(StoreError::Locked(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                opened => return opened,
            }
        }
    }

    /// Whether each partition number is a task with state of its own: stores, or time
    /// (punctuations, time-driven nodes); else one stateless state serves all.
    fn has_tasks(&self) -> bool {
        !self.changelogs.is_empty() || self.topology.is_time_driven()
    }

    /// The name of worker `id`, as Kafka Streams names its threads.
    fn worker_name(&self, id: usize) -> String {
        format!("{}-StreamThread-{id}", self.client_id)
    }

    fn is_assigned(&self, id: usize) -> bool {
        self.assignments.lock().get(&id).copied().unwrap_or(false)
    }

    /// The hooks around the clients.
    fn interceptors(&self) -> &Interceptors {
        &self.config.interceptors
    }

    /// The name of source topic number `index`.
    fn source_topic(&self, index: usize) -> &str {
        self.source_topics.get(index).map_or("", String::as_str)
    }

    /// A partition of a source topic, its topic as an index into the source topics.
    fn source_partition(&self, topic: &str, partition: i32) -> SourcePartition {
        let topic = self
            .source_topics
            .iter()
            .position(|source| source == topic)
            .unwrap_or(usize::MAX);
        SourcePartition { topic, partition }
    }

    fn update_running_state(&self, assignments: &HashMap<usize, bool>) {
        let all_assigned =
            !assignments.is_empty() && assignments.values().all(|&assigned| assigned);
        let (next, from) = if all_assigned {
            (ClientState::Running, ClientState::Rebalancing)
        } else {
            (ClientState::Rebalancing, ClientState::Running)
        };
        // Only between the two running states: a shutdown in progress is never undone.
        if let Err(error) = self.state.transition_if(next, |current| current == from) {
            tracing::error!("{error}");
        }
    }
}

/// Why the client could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `start` was called on a client that is not in CREATED.
    #[error("cannot start: the client is {0}, not CREATED")]
    AlreadyStarted(ClientState),
    /// The topology's stores cannot be set up: a source topic is missing, topics a join reads
    /// are not co-partitioned, or a changelog topic differs or cannot be created.
    #[error("cannot start: {0}")]
    State(#[from] StateSetupError),
    /// The operating system refused a thread.
    #[error("cannot spawn the supervisor thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Clients created in this process, to tell their threads and Kafka clients apart.
static INSTANCES: AtomicUsize = AtomicUsize::new(1);

/// A stream-processing client: start it, watch its state, close it.
pub struct StreamsRuntime {
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for StreamsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsRuntime")
            .field("application_id", &self.shared.config.kafka.application_id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl StreamsRuntime {
    /// A client in CREATED running `topology` with `config`, reporting nothing.
    pub fn new(topology: Topology, config: StreamsConfig) -> Self {
        Self::with_observer(topology, config, Arc::new(NoObserver))
    }

    /// A client in CREATED running `topology` with `config`, reporting to `observer` (an
    /// application's metrics). Its repartition topics are named after the application id
    /// ([`Topology::for_application`]).
    pub fn with_observer(
        topology: Topology,
        config: StreamsConfig,
        observer: Arc<dyn RuntimeObserver>,
    ) -> Self {
        let topology = topology.for_application(&config.kafka.application_id);
        let source_topics = topology
            .source_topics()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let globals = topology.new_global_stores();
        let changelogs = topology
            .new_task_state(&globals)
            .store_names()
            .iter()
            .map(|store| changelog_topic(&config.kafka.application_id, store))
            .collect();
        let runtime = StreamsRuntime {
            shared: Arc::new(Shared {
                client_id: format!(
                    "{}-{}-{}",
                    config.kafka.application_id,
                    std::process::id(),
                    INSTANCES.fetch_add(1, Ordering::Relaxed)
                ),
                topology,
                source_topics,
                config,
                stats: Arc::new(RuntimeStats::default()),
                observer: Arc::clone(&observer),
                globals,
                changelogs,
                restore_listener: Mutex::new(Arc::new(LoggingStateRestoreListener)),
                state: StateMachine::new(),
                shutdown: AtomicBool::new(false),
                assignments: Mutex::new(HashMap::new()),
            }),
            supervisor: Mutex::new(None),
        };
        observer.state_changed(ClientState::Created);
        runtime.add_state_listener(Box::new(move |_, new| observer.state_changed(new)));
        runtime
    }

    /// The counters, shared, for an exporter that reads them when asked.
    pub fn stats_handle(&self) -> Arc<RuntimeStats> {
        Arc::clone(&self.shared.stats)
    }

    /// Replaces the listener told about every store restored from its changelog (by default
    /// [`LoggingStateRestoreListener`]); set it before [`StreamsRuntime::start`].
    pub fn set_restore_listener(&self, listener: Arc<dyn StateRestoreListener>) {
        *self.shared.restore_listener.lock() = listener;
    }

    /// Registers a listener called with `(old, new)` after every state transition.
    pub fn add_state_listener(&self, listener: StateListener) {
        self.shared.state.add_listener(listener);
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.shared.state.state()
    }

    /// The counters so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Starts the workers: CREATED → REBALANCING, then RUNNING once every worker has its
    /// partitions.
    pub fn start(&self) -> Result<(), RuntimeError> {
        let topology = &self.shared.topology;
        if !topology.stores().is_empty() || !topology.repartition_topics().is_empty() {
            changelogs::prepare(&self.shared.config, &self.shared.topology)?;
        }
        self.shared
            .state
            .transition(ClientState::Rebalancing)
            .map_err(|error| RuntimeError::AlreadyStarted(error.from))?;
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name(format!("{}-supervisor", shared.client_id))
            .spawn(move || supervise(&shared))
            .map_err(RuntimeError::Spawn)?;
        *self.supervisor.lock() = Some(handle);
        Ok(())
    }

    /// Asks the workers to finish their in-flight records, commit and leave the group, and waits
    /// up to `timeout` for NOT_RUNNING (or ERROR). Returns the state reached.
    pub fn close(&self, timeout: Duration) -> ClientState {
        self.shared.shutdown.store(true, Ordering::Release);
        let started =
            |state: ClientState| state.is_running_or_rebalancing() || state == ClientState::Created;
        if let Err(error) = self
            .shared
            .state
            .transition_if(ClientState::PendingShutdown, started)
        {
            tracing::error!("{error}");
        }
        let supervisor = self.supervisor.lock().take();
        if supervisor.is_none() {
            // Never started: nothing to wait for.
            if let Err(error) = self
                .shared
                .state
                .transition_if(ClientState::NotRunning, |state| {
                    state == ClientState::PendingShutdown
                })
            {
                tracing::error!("{error}");
            }
        }
        let reached = self.wait_until(timeout, ClientState::is_terminal);
        match supervisor {
            Some(handle) if reached.is_terminal() => handle
                .join()
                .unwrap_or_else(|_| tracing::error!("the supervisor thread panicked")),
            Some(handle) => {
                tracing::warn!(state = %reached, "workers still finishing after {timeout:?}");
                *self.supervisor.lock() = Some(handle);
            }
            None => {}
        }
        reached
    }

    /// Blocks until the state satisfies `done` or `timeout` passes; returns the state then.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(ClientState) -> bool) -> ClientState {
        self.shared.state.wait_for(timeout, done)
    }
}

/// Exit report of one worker thread.
type WorkerExit = (usize, Result<(), WorkerError>);

fn spawn_worker(shared: &Arc<Shared>, id: usize, exits: &Sender<WorkerExit>) {
    shared.set_assigned(id, false);
    let name = shared.worker_name(id);
    let worker_shared = Arc::clone(shared);
    let exits_for_worker = exits.clone();
    let spawned = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                worker::run(Arc::clone(&worker_shared), id)
            }))
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Err(WorkerError::Panicked {
                    worker: name,
                    message,
                })
            });
            // The supervisor outlives every worker; if it is gone there is nobody to tell.
            let _ = exits_for_worker.send((id, result));
        });
    if let Err(error) = spawned {
        let failure = WorkerError::Panicked {
            worker: shared.worker_name(id),
            message: format!("cannot spawn the thread: {error}"),
        };
        let _ = exits.send((id, Err(failure)));
    }
}

/// Starts the workers, replaces or gives up on failed ones, and makes the final transition.
fn supervise(shared: &Arc<Shared>) {
    let global_reader = if shared.topology.global_topics().is_empty() {
        None
    } else {
        match global::load_then_follow(Arc::clone(shared)) {
            Ok(reader) => Some(reader),
            Err(error) => {
                tracing::error!("global tables: {error}; shutting the client down");
                shared.shutdown.store(true, Ordering::Release);
                if let Err(illegal) = shared.state.transition(ClientState::PendingError) {
                    tracing::error!("{illegal}");
                }
                finish(shared);
                return;
            }
        }
    };
    let (exits, exit_reports) = mpsc::channel();
    let threads = shared.config.runtime.threads;
    for id in 1..=threads {
        spawn_worker(shared, id, &exits);
    }
    let runtime = &shared.config.runtime;
    let mut budget =
        RestartBudget::new(runtime.max_worker_replacements, runtime.replacement_window);
    let mut next_id = threads + 1;
    let mut live = threads;
    while live > 0 {
        let Ok((id, result)) = exit_reports.recv() else {
            break;
        };
        live -= 1;
        shared.remove_worker(id);
        let Err(error) = result else { continue };
        if shared.shutdown.load(Ordering::Acquire) {
            tracing::error!("{error} (while shutting down)");
            continue;
        }
        let restart = match runtime.uncaught_error_policy {
            UncaughtErrorPolicy::ReplaceWorker => {
                budget.on_failure(Instant::now(), fastrand::f64())
            }
            UncaughtErrorPolicy::ShutdownClient => Restart::GiveUp { replacements: 0 },
        };
        match restart {
            Restart::After(pause) => {
                tracing::error!("{error}; replacing the worker in {pause:.1?}");
                if wait_unless_shutdown(shared, pause) {
                    shared.stats.add(stats::Counter::WorkersReplaced, 1);
                    spawn_worker(shared, next_id, &exits);
                    next_id += 1;
                    live += 1;
                }
            }
            Restart::GiveUp { replacements } => {
                if runtime.uncaught_error_policy == UncaughtErrorPolicy::ReplaceWorker {
                    tracing::error!(
                        "{error}; {replacements} workers were replaced within {:?} already \
                         (runtime.max_worker_replacements): shutting the client down",
                        runtime.replacement_window
                    );
                } else {
                    tracing::error!("{error}; shutting the client down");
                }
                shared.shutdown.store(true, Ordering::Release);
                if let Err(illegal) = shared.state.transition(ClientState::PendingError) {
                    tracing::error!("{illegal}");
                }
            }
        }
    }
    if let Some(reader) = global_reader
        && reader.join().is_err()
    {
        tracing::error!("the global tables' reader panicked");
    }
    finish(shared);
}

/// Sleeps `pause` unless a shutdown is requested first; returns whether the pause ran out.
fn wait_unless_shutdown(shared: &Shared, pause: Duration) -> bool {
    let deadline = Instant::now() + pause;
    while !shared.shutdown.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
    false
}

/// The final transition, once every worker stopped.
fn finish(shared: &Shared) {
    // Workers stop only on request or failure, so the client is PENDING_SHUTDOWN or
    // PENDING_ERROR by now; RUNNING or REBALANCING would mean every worker stopped by itself.
    let result = match shared.state.state() {
        ClientState::PendingError => shared.state.transition(ClientState::Error),
        ClientState::Running | ClientState::Rebalancing => shared
            .state
            .transition(ClientState::PendingShutdown)
            .and_then(|()| shared.state.transition(ClientState::NotRunning)),
        _ => shared.state.transition(ClientState::NotRunning),
    };
    if let Err(illegal) = result {
        tracing::error!("{illegal}");
    }
}
