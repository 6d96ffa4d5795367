//! How long a stateful processor's tasks wait for their stores when they are assigned: the
//! real `ferrobeat-processor` binary with `[alerting] mode = "transitions"` and `[summaries]`
//! (three stores, nine empty changelog partitions) on a fresh application id.
//!
//! The restore consumer used to assign the changelogs at their beginning before it knew their
//! leaders, and librdkafka then puts the offset query off by 500 ms: every assignment of a
//! stateful task waited at least that long although there was nothing to restore.

mod processor_support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_processor::metric_topology::alerting::AlertMode;
use ferrobeat_tests::TestKafka;
use processor_support::{
    broker_pipeline, config_file_text, eventually, processor_binary, spawn_processor_binary,
    terminate,
};

const PARTITIONS: i32 = 3;
const TIMEOUT: Duration = Duration::from_secs(60);
/// librdkafka's offset-query backoff for a partition without a known leader: what the restore
/// of empty changelogs must not wait for.
const OFFSET_QUERY_BACKOFF: Duration = Duration::from_millis(500);

/// `text` without its ANSI colour sequences (`ESC [ ... m`).
fn plain(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The time of every log line (RFC 3339, first on the line) that contains `message`.
fn logged_at(log: &str, message: &str) -> Vec<DateTime<Utc>> {
    log.lines()
        .filter(|line| line.contains(message))
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn empty_changelogs_are_restored_without_waiting_for_the_offset_query_backoff() {
    let kafka = TestKafka::start().expect("broker");
    let mut config: ProcessorConfig = broker_pipeline(&kafka, "restore", PARTITIONS);
    let summaries = kafka.unique_topic("restore-1m");
    kafka
        .create_topic(&summaries, PARTITIONS)
        .expect("summaries topic");
    config.summaries.topic = Some(summaries);
    config.alerting.mode = AlertMode::Transitions;
    config.validate().expect("a valid configuration");
    let scratch = tempfile::tempdir().expect("scratch dir");
    let file = scratch.path().join("processor.toml");
    std::fs::write(&file, config_file_text(&config)).expect("write config");
    let log = scratch.path().join("processor.log");
    let mut child = spawn_processor_binary(&processor_binary(), &file, &log);
    let text = || plain(&std::fs::read_to_string(&log).unwrap_or_default());
    let running = eventually(TIMEOUT, || text().contains("running; topology"));
    terminate(&mut child, Duration::from_secs(30));
    let text = text();
    assert!(running, "the processor did not run:\n{text}");

    let assigned = logged_at(&text, "partitions assigned");
    let restored = logged_at(&text, "task restored");
    assert_eq!(assigned.len(), 1, "one assignment:\n{text}");
    assert_eq!(
        restored.len(),
        PARTITIONS as usize,
        "a task per partition:\n{text}"
    );
    let waited = (restored[restored.len() - 1] - assigned[0])
        .to_std()
        .expect("restored after the assignment");
    assert!(
        waited < OFFSET_QUERY_BACKOFF,
        "restoring {PARTITIONS} tasks' empty changelogs took {waited:?}:\n{text}"
    );
}
