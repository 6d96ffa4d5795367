//! The client's lifecycle, after Kafka Streams' `KafkaStreams.State`.
//!
//! ```text
//! CREATED ──▶ REBALANCING ⇄ RUNNING
//!    │            │            │
//!    └────────────┴──────┬─────┴──▶ PENDING_SHUTDOWN ──▶ NOT_RUNNING
//!                 │      │
//!                 └──────┴────────▶ PENDING_ERROR ──▶ ERROR
//! ```
//!
//! [`ClientState`] is the pure table of legal transitions; [`StateMachine`] holds the current state,
//! refuses illegal moves, logs one line per transition and tells every registered listener.

use std::fmt;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// A state of the stream-processing client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// Built, not started.
    Created,
    /// Started; at least one worker is waiting for (or handling) a partition assignment.
    Rebalancing,
    /// Every worker has its assignment and processes records.
    Running,
    /// Shutting down: finishing in-flight work, committing, leaving the group.
    PendingShutdown,
    /// Shut down cleanly.
    NotRunning,
    /// A worker failed and the client is shutting down because of it.
    PendingError,
    /// Shut down because of an error.
    Error,
}

impl ClientState {
    /// Every state, in Kafka Streams' order.
    pub const ALL: [ClientState; 7] = [
        ClientState::Created,
        ClientState::Rebalancing,
        ClientState::Running,
        ClientState::PendingShutdown,
        ClientState::NotRunning,
        ClientState::PendingError,
        ClientState::Error,
    ];

    /// Whether Kafka Streams allows moving from `self` to `next` (`RUNNING → RUNNING` included).
    pub fn can_transition_to(self, next: ClientState) -> bool {
        use ClientState::*;
        matches!(
            (self, next),
            (Created, Rebalancing | PendingShutdown)
                | (Rebalancing, Running | PendingShutdown | PendingError)
                | (
                    Running,
                    Rebalancing | Running | PendingShutdown | PendingError
                )
                | (PendingShutdown, NotRunning)
                | (PendingError, Error)
        )
    }

    /// Whether the client is started and not yet shutting down.
    pub fn is_running_or_rebalancing(self) -> bool {
        matches!(self, ClientState::Running | ClientState::Rebalancing)
    }

    /// Whether the client has stopped for good (`NOT_RUNNING` or `ERROR`).
    pub fn is_terminal(self) -> bool {
        matches!(self, ClientState::NotRunning | ClientState::Error)
    }

    // An enum-to-text match, as elsewhere: one arm per variant.
    /// The Kafka Streams name of the state, e.g. `PENDING_SHUTDOWN`.
    pub fn name(self) -> &'static str {
        match self {
            ClientState::Created => "CREATED",
            ClientState::Rebalancing => "REBALANCING",
            ClientState::Running => "RUNNING",
            ClientState::PendingShutdown => "PENDING_SHUTDOWN",
            ClientState::NotRunning => "NOT_RUNNING",
            ClientState::PendingError => "PENDING_ERROR",
            ClientState::Error => "ERROR",
        }
    }
}

impl fmt::Display for ClientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refused state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal client state transition {from} -> {to}")]
pub struct IllegalTransition {
    /// State the client was in.
    pub from: ClientState,
    /// State that was asked for.
    pub to: ClientState,
}

/// Called with `(old, new)` after every state change, on the thread that made it.
pub type StateListener = Box<dyn Fn(ClientState, ClientState) + Send + Sync>;

/// The current state, its listeners, and a condition to wait on.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<ClientState>,
    changed: Condvar,
    listeners: Mutex<Vec<StateListener>>,
}

impl fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMachine")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Default for StateMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl StateMachine {
    /// A state machine in `CREATED`.
    pub fn new() -> Self {
        StateMachine {
            inner: Arc::new(Inner {
                state: Mutex::new(ClientState::Created),
                changed: Condvar::new(),
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        *self.inner.state.lock()
    }

    /// Registers a listener called after every transition.
    pub fn add_listener(&self, listener: StateListener) {
        self.inner.listeners.lock().push(listener);
    }

    /// Moves to `next` if that is legal; moving to the current state is a silent no-op.
    pub fn transition(&self, next: ClientState) -> Result<(), IllegalTransition> {
        self.transition_if(next, |_| true).map(|_| ())
    }

    /// Moves to `next` only if `condition(current)` holds and the move is legal. Returns whether it
    /// moved; `Ok(false)` when the condition refused or the state was already `next`.
    pub fn transition_if(
        &self,
        next: ClientState,
        condition: impl FnOnce(ClientState) -> bool,
    ) -> Result<bool, IllegalTransition> {
        let previous = {
            let mut state = self.inner.state.lock();
            let current = *state;
            if current == next || !condition(current) {
                return Ok(false);
            }
            if !current.can_transition_to(next) {
                return Err(IllegalTransition {
                    from: current,
                    to: next,
                });
            }
            *state = next;
            current
        };
        tracing::info!(from = %previous, to = %next, "state transition {previous} -> {next}");
        for listener in self.inner.listeners.lock().iter() {
            listener(previous, next);
        }
        self.inner.changed.notify_all();
        Ok(true)
    }

    /// Blocks until the state satisfies `done` or `timeout` passes; returns the last state seen.
    pub fn wait_for(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(ClientState) -> bool,
    ) -> ClientState {
        let deadline = std::time::Instant::now() + timeout;
        let mut state = self.inner.state.lock();
        while !done(*state) {
            if self
                .inner
                .changed
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                break;
            }
        }
        *state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientState::*;

    #[test]
    fn transition_table_matches_kafka_streams() {
        let legal = [
            (Created, Rebalancing),
            (Created, PendingShutdown),
            (Rebalancing, Running),
            (Rebalancing, PendingShutdown),
            (Rebalancing, PendingError),
            (Running, Rebalancing),
            (Running, Running),
            (Running, PendingShutdown),
            (Running, PendingError),
            (PendingShutdown, NotRunning),
            (PendingError, Error),
        ];
        for from in ClientState::ALL {
            for to in ClientState::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn machine_refuses_illegal_moves_and_tells_listeners_of_legal_ones() {
        let machine = StateMachine::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        machine.add_listener(Box::new(move |old, new| sink.lock().push((old, new))));

        assert_eq!(
            machine.transition(Running),
            Err(IllegalTransition {
                from: Created,
                to: Running
            })
        );
        machine
            .transition(Rebalancing)
            .expect("created -> rebalancing");
        machine.transition(Running).expect("rebalancing -> running");
        machine.transition(Running).expect("same state is a no-op");
        assert_eq!(
            machine.transition_if(Rebalancing, |s| s == Created),
            Ok(false)
        );
        machine
            .transition(PendingShutdown)
            .expect("running -> pending");
        assert!(machine.transition(Error).is_err());
        machine
            .transition(NotRunning)
            .expect("pending -> not running");
        assert!(machine.transition(Rebalancing).is_err());

        assert_eq!(
            *seen.lock(),
            vec![
                (Created, Rebalancing),
                (Rebalancing, Running),
                (Running, PendingShutdown),
                (PendingShutdown, NotRunning)
            ]
        );
        assert_eq!(machine.state(), NotRunning);
        assert!(machine.state().is_terminal());
    }

    #[test]
    fn wait_for_returns_when_the_state_arrives() {
        let machine = StateMachine::new();
        let remote = machine.clone();
        let mover = std::thread::spawn(move || {
            remote.transition(PendingShutdown).expect("legal");
            remote.transition(NotRunning).expect("legal");
        });
        let seen = machine.wait_for(std::time::Duration::from_secs(5), ClientState::is_terminal);
        mover.join().expect("mover thread");
        assert_eq!(seen, NotRunning);
    }
}
