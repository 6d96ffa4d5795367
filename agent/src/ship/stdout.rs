//! The stdout output: every event as one line of JSON (NDJSON), same envelope as on Kafka.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use ferrobeat_schema::Event;

use crate::monitor::{AgentMetrics, Count};
use crate::sample::RoundSink;

/// Writes `events` as NDJSON and flushes.
///
/// # Errors
/// The writer fails (a closed pipe, …).
pub fn write_ndjson<W: Write>(out: &mut W, events: &[Event]) -> io::Result<()> {
    for event in events {
        out.write_all(&ferrobeat_schema::to_vec(event))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The sampler's [`RoundSink`] for the stdout output: writes every round to standard output,
/// on the tick thread, until a write fails.
#[derive(Debug)]
pub struct StdoutSink {
    metrics: Arc<AgentMetrics>,
    failed: Option<io::Error>,
}

impl StdoutSink {
    /// A sink counting what it writes in `metrics`.
    pub fn new(metrics: Arc<AgentMetrics>) -> Self {
        StdoutSink {
            metrics,
            failed: None,
        }
    }

    /// How the output ended.
    ///
    /// # Errors
    /// Standard output could not be written (for instance the reading end of a pipe closed).
    pub fn finish(self) -> io::Result<()> {
        self.failed.map_or(Ok(()), Err)
    }
}

impl RoundSink for StdoutSink {
    fn take(&mut self, events: Vec<Event>) -> bool {
        let n = events.len() as u64;
        self.metrics.add(Count::Sampled, n);
        match write_ndjson(&mut io::stdout().lock(), &events) {
            Ok(()) => {
                self.metrics.add(Count::Acknowledged, n);
                true
            }
            Err(error) => {
                self.failed = Some(error);
                false
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        None
    }

    fn on_timer(&mut self) {}
}
