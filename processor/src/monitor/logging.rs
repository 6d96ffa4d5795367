//! The periodic log line of the runtime's counters that moved (the subscriber itself is
//! [`ferrobeat_toolbox::logging`], shared with the agent).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ferrobeat_streams::runtime::{ClientState, StatsSnapshot, StreamsRuntime};

/// Logs, every `interval` and once more when the client stops, the counters of `runtime` that
/// moved since the last line (nothing when none did).
pub fn spawn_change_logger(
    runtime: Arc<StreamsRuntime>,
    interval: Duration,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("counter-log".to_owned())
        .spawn(move || {
            let mut before = StatsSnapshot::default();
            loop {
                let state = runtime.wait_until(interval, ClientState::is_terminal);
                let now = runtime.stats();
                if let Some(line) = now.changes_since(&before) {
                    tracing::info!(target: "ferrobeat_processor::monitor", "{line}");
                }
                before = now;
                if state.is_terminal() {
                    return;
                }
            }
        })
}
