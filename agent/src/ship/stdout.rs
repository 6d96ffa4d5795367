//! The stdout output: every event as one line of JSON (NDJSON), same envelope as on Kafka.

use std::io::{self, Write};
use std::sync::Arc;

use ferrobeat_schema::Event;
use tokio::sync::mpsc;

use crate::monitor::{AgentMetrics, Count};

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

/// Writes every round received to standard output until `rounds` closes.
///
/// # Errors
/// Standard output cannot be written (for instance the reading end of a pipe closed).
pub async fn run(
    mut rounds: mpsc::Receiver<Vec<Event>>,
    metrics: Arc<AgentMetrics>,
) -> io::Result<()> {
    while let Some(events) = rounds.recv().await {
        let n = events.len() as u64;
        metrics.add(Count::Sampled, n);
        write_ndjson(&mut io::stdout().lock(), &events)?;
        metrics.add(Count::Acknowledged, n);
    }
    Ok(())
}
