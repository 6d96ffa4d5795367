//! The live terminal view: what arrives on each pipeline topic.
//!
//! A group-less consumer reads every partition of the watched topics from the beginning and keeps,
//! per topic, the count, the rate over the last refresh and the latest record. On a terminal the
//! view is redrawn in place; otherwise a plain line per topic is printed at each refresh.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// Counts and the latest record of one topic.
#[derive(Debug, Default)]
struct TopicView {
    name: String,
    count: u64,
    count_at_last_draw: u64,
    latest: String,
}

/// The view over the pipeline topics.
pub(crate) struct PipelineView {
    consumer: BaseConsumer,
    topics: Vec<TopicView>,
    last_draw: Instant,
    drawn_lines: usize,
    in_place: bool,
}

impl std::fmt::Debug for PipelineView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineView")
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl PipelineView {
    /// Watches `topics` (each with `partitions` partitions) on the cluster `config` points at.
    pub(crate) fn new(
        mut config: ClientConfig,
        topics: &[&str],
        partitions: i32,
    ) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = config
            .set("group.id", "ferrobeat-quickstart-view")
            .set("enable.auto.commit", "false")
            .create()
            .context("creating the view's consumer")?;
        let mut assignment = TopicPartitionList::new();
        for topic in topics {
            for partition in 0..partitions {
                assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
            }
        }
        consumer
            .assign(&assignment)
            .context("assigning the view's partitions")?;
        Ok(PipelineView {
            consumer,
            topics: topics
                .iter()
                .map(|t| TopicView {
                    name: (*t).to_owned(),
                    ..TopicView::default()
                })
                .collect(),
            last_draw: Instant::now(),
            drawn_lines: 0,
            in_place: std::io::stdout().is_terminal(),
        })
    }

    /// Reads what arrived for up to `budget`.
    pub(crate) fn poll(&mut self, budget: Duration) {
        let until = Instant::now() + budget;
        while let Some(remaining) = until.checked_duration_since(Instant::now()) {
            match self.consumer.poll(remaining) {
                Some(Ok(message)) => {
                    if let Some(view) = self.topics.iter_mut().find(|t| t.name == message.topic()) {
                        view.count += 1;
                        view.latest =
                            String::from_utf8_lossy(message.payload().unwrap_or_default())
                                .into_owned();
                    }
                }
                Some(Err(e)) => tracing::debug!("view consumer: {e}"),
                None => break,
            }
        }
    }

    /// Whether the view redraws in place (standard output is a terminal).
    pub(crate) fn in_place(&self) -> bool {
        self.in_place
    }

    /// The number of records seen on `topic` so far.
    pub(crate) fn count(&self, topic: &str) -> u64 {
        self.topics
            .iter()
            .find(|t| t.name == topic)
            .map_or(0, |t| t.count)
    }

    /// Draws the view: in place on a terminal, as plain lines otherwise.
    pub(crate) fn draw(&mut self, header: &str) -> std::io::Result<()> {
        let seconds = self.last_draw.elapsed().as_secs_f64().max(0.001);
        self.last_draw = Instant::now();
        let width = terminal_width();
        let mut out = std::io::stdout().lock();
        let mut lines = Vec::with_capacity(self.topics.len() * 2 + 1);
        lines.push(header.to_owned());
        for topic in &mut self.topics {
            let rate = (topic.count - topic.count_at_last_draw) as f64 / seconds;
            topic.count_at_last_draw = topic.count;
            lines.push(format!(
                "{:<18} {:>8} records {:>7.1}/s",
                topic.name, topic.count, rate
            ));
            if self.in_place {
                lines.push(format!(
                    "  latest: {}",
                    truncate(&topic.latest, width.saturating_sub(10))
                ));
            }
        }
        if self.in_place {
            // Move up over the previous drawing and clear it.
            if self.drawn_lines > 0 {
                write!(out, "\x1b[{}A\x1b[J", self.drawn_lines)?;
            }
            self.drawn_lines = lines.len();
        }
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        out.flush()
    }

    /// Prints the latest record of every topic (the closing summary).
    pub(crate) fn print_latest(&self) {
        for topic in &self.topics {
            println!(
                "latest on {}: {}",
                topic.name,
                if topic.latest.is_empty() {
                    "(none)"
                } else {
                    &topic.latest
                }
            );
        }
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(120)
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
