//! The windowed aggregation's drain (issue 15's benchmark row): a count per host over 1-minute
//! tumbling windows, run by the streams runtime in a child process (this binary's hidden
//! `windowed-count` subcommand) so that its CPU time and peak RSS are its own, as the
//! processor's are.
//!
//! Its input holds the drain's documents again, keyed by their host (the [`HOSTS`] hosts) and
//! stamped as a fleet of that size sampling every [`SAMPLE_PERIOD_MS`] would: each host's
//! records fall six to a window, and the backlog spans about half an hour of windows. The
//! count writes every update (no suppression), each to the output topic and to its store's
//! changelog (`cleanup.policy=compact,delete`), so one output per input record times it as the
//! other drains are timed.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use ferrobeat_streams::runtime::StreamsRuntime;
use ferrobeat_streams::serdes::{Bytes, Utf8};
use ferrobeat_streams::{StreamsBuilder, TimeWindows, Topology};
use ferrobeat_tests::TestKafka;
use rdkafka::Offset;

use crate::documents::{HOSTS, host_name};
use crate::drain::OutputWatch;
use crate::report::Throughput;
use crate::{Children, PARTITIONS, send};

/// The windows' size.
const WINDOW: Duration = Duration::from_secs(60);

/// How often each host of the input samples, in ms of record time.
const SAMPLE_PERIOD_MS: i64 = 10_000;

/// The record time of the input's first record (1 February 2025, UTC).
const START_MS: i64 = 1_738_368_000_000;

/// The window store's name (its changelog is `<application id>-bench-window-counts-changelog`).
const STORE: &str = "bench-window-counts";

/// Where the child reads and writes, and how it runs.
#[derive(Debug, clap::Args)]
pub(crate) struct WindowedArgs {
    /// Bootstrap servers.
    #[arg(long)]
    bootstrap_servers: String,
    /// The keyed, timestamped input topic.
    #[arg(long)]
    input: String,
    /// The topic the counts are written to.
    #[arg(long)]
    output: String,
    /// The application id (group and internal topics' prefix).
    #[arg(long)]
    application_id: String,
    /// A librdkafka property, as the processor's drain gets them; repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::parse_property)]
    property: Vec<(String, String)>,
    /// A `[runtime]` setting (TOML value), as the processor's drain gets them; repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::parse_property)]
    runtime: Vec<(String, String)>,
}

/// The input and output topics of the windowed count.
#[derive(Debug)]
pub(crate) struct WindowedTopics {
    input: String,
    output: String,
}

/// The windowed count: `input` (host → document) grouped by key, counted per 1-minute
/// tumbling window without grace, every update written to `output`.
fn topology(input: &str, output: &str) -> anyhow::Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Bytes>(input)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(WINDOW))
        .count_as(STORE)
        .to_stream()
        .to(output);
    builder.build().context("building the windowed count")
}

/// The child: runs the windowed count until its standard input closes (the bench reads its
/// footprint from `/proc` after the last output arrives), then closes the runtime.
pub(crate) fn run(args: &WindowedArgs) -> anyhow::Result<()> {
    let config = crate::state::streams_config(
        &args.bootstrap_servers,
        &args.application_id,
        &args.property,
        &args.runtime,
    )?;
    let runtime = StreamsRuntime::new(topology(&args.input, &args.output)?, config);
    runtime.start().context("starting the windowed count")?;
    let waited = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())
        .context("waiting for standard input to close");
    crate::state::close(&runtime, "the windowed count")?;
    waited.map(drop)
}

/// Record `index` of the input: its host's name (the key) and its record time.
fn keyed(index: usize) -> (String, i64) {
    (
        host_name(index),
        START_MS + index as i64 * SAMPLE_PERIOD_MS / HOSTS as i64,
    )
}

/// Creates the windowed count's topics and preloads `documents` into its input in full batches,
/// keyed by host and timestamped (see the module's documentation).
pub(crate) fn preload(kafka: &TestKafka, documents: &[Vec<u8>]) -> anyhow::Result<WindowedTopics> {
    let topics = WindowedTopics {
        input: kafka.unique_topic("bench-windowed-in"),
        output: kafka.unique_topic("bench-windowed-counts"),
    };
    for topic in [&topics.input, &topics.output] {
        kafka.create_topic(topic, PARTITIONS)?;
    }
    let keys: Vec<(String, i64)> = (0..documents.len()).map(keyed).collect();
    send::preload(
        &kafka.client_config(),
        &topics.input,
        keys.iter()
            .zip(documents)
            .map(|((host, timestamp), document)| {
                (Some(host.as_bytes()), document.as_slice(), Some(*timestamp))
            }),
    )?;
    Ok(topics)
}

impl Children<'_> {
    /// The windowed count's drain of the `records` records of `topics.input`: one output each.
    pub(crate) fn drain_windowed(
        &self,
        topics: &WindowedTopics,
        records: usize,
    ) -> anyhow::Result<Throughput> {
        let mut watch =
            OutputWatch::new(self.kafka, &[&topics.output], PARTITIONS, Offset::Beginning)?;
        let settings = |flag: &'static str, settings: &[(String, String)]| {
            settings
                .iter()
                .flat_map(move |(key, value)| [flag.to_owned(), format!("{key}={value}")])
                .collect::<Vec<_>>()
        };
        let mut child = Command::new(&self.binaries.bench)
            .args([
                "windowed-count",
                "--bootstrap-servers",
                self.kafka.bootstrap_servers(),
            ])
            .args(["--input", &topics.input, "--output", &topics.output])
            .args([
                "--application-id",
                &self.kafka.unique_topic("bench-windowed"),
            ])
            .args(settings("--property", self.properties))
            .args(settings("--runtime", self.runtime))
            .stdin(Stdio::piped())
            .spawn()
            .context("starting the windowed count")?;
        crate::measure_drain_until_stdin_closes(
            &mut child,
            &mut watch,
            records,
            "the windowed count",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_samples_every_ten_seconds_six_times_a_window() {
        let (host, first) = keyed(7);
        let (same_host, next) = keyed(7 + HOSTS);
        assert_eq!(host, same_host);
        assert_eq!(next - first, SAMPLE_PERIOD_MS);
        let window_ms = WINDOW.as_millis() as i64;
        let per_window = (0..HOSTS * 12)
            .map(keyed)
            .filter(|(name, time)| name == &host && (time - START_MS) / window_ms == 0)
            .count();
        assert_eq!(per_window, 6);
        assert_eq!(
            START_MS % window_ms,
            0,
            "windows align with the input's start"
        );
    }

    #[test]
    fn the_topology_counts_per_window_with_a_changelog() {
        let topology = topology("in", "out").expect("valid topology");
        let described = topology.describe().to_string();
        assert!(described.contains(STORE), "{described}");
    }
}
