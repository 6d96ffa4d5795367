//! Windowed aggregation on the broker, through the `windowed_count` example: a one-minute
//! windowed count over a re-keyed stream goes through its repartition topic, is suppressed until
//! each window closes and written to an output topic; the final counts are exact, and after the
//! instance stops (cleanly, or by `kill -9` once its offsets are committed), or while it runs, a
//! new instance of the same application, restoring its window store, buffer and stream times
//! from their changelogs, emits every later final window once and no earlier one again.

mod processor_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrobeat_tests::TestKafka;
use processor_support::{
    Example, committed_offsets, eventually, kill_9_and_wait_out_its_session, spawn_example_with,
    terminate,
};

const PARTITIONS: i32 = 3;
const TIMEOUT: Duration = Duration::from_secs(30);
const MINUTE: i64 = 60_000;
const HOSTS: [&str; 6] = ["h0", "h1", "h2", "h3", "h4", "h5"];
/// The example's application id, input and output topics.
const APPLICATION_ID: &str = "windowed-count-application";
const EVENTS: &str = "events";
const FINALS: &str = "window_finals";
const REPARTITION: &str = "windowed-count-application-counts-repartition";

/// How the first instance ends.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// SIGTERM: it commits what it processed and leaves the group.
    Clean,
    /// `kill -9` once its group committed every input and repartitioned record.
    Kill,
    /// Not stopped: a second instance joins once the group committed, takes tasks over, and
    /// both run on.
    Join,
}

/// Produces one record per (host, timestamp), keyed and valued by the host.
fn produce(kafka: &TestKafka, events: &str, records: &[(&str, i64)]) {
    let records: Vec<_> = records
        .iter()
        .map(|(host, timestamp)| ((Some(host.as_bytes()), Some(host.as_bytes())), *timestamp))
        .collect();
    kafka.produce_keyed_at(events, &records).expect("produce");
}

/// Waits until the repartition topic holds `records` records: everything produced so far is
/// then ordered before what is produced next on every partition of it.
fn repartitioned(kafka: &TestKafka, records: usize) {
    let read = kafka
        .read_topic(REPARTITION, records, TIMEOUT)
        .expect("read");
    assert_eq!(read.len(), records, "every record repartitioned once");
}

/// Every final count written, per (host, window start): a window emitted twice shows twice.
fn finals(kafka: &TestKafka, topic: &str, at_least: usize) -> BTreeMap<(String, i64), Vec<i64>> {
    let mut by_window: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for record in kafka.read_topic(topic, at_least, TIMEOUT).expect("read") {
        let key = record.key.expect("a windowed key");
        let (host, start) = key.split_at(key.len() - 8);
        let start = i64::from_be_bytes(start.try_into().expect("8 bytes"));
        let count = i64::from_be_bytes(record.value.expect("a count").try_into().expect("8 bytes"));
        let host = String::from_utf8(host.to_vec()).expect("utf-8");
        by_window.entry((host, start)).or_default().push(count);
    }
    by_window
}

/// For each host, `count(host index)` records in the window starting at `start`.
fn window_records(start: i64, count: impl Fn(usize) -> usize) -> Vec<(&'static str, i64)> {
    let mut records = Vec::new();
    for (index, host) in HOSTS.iter().enumerate() {
        for n in 0..count(index) {
            records.push((*host, start + 1_000 * i64::try_from(n).expect("small")));
        }
    }
    records
}

fn expected(windows: &[(i64, &dyn Fn(usize) -> usize)]) -> BTreeMap<(String, i64), Vec<i64>> {
    let mut expected = BTreeMap::new();
    for (start, count) in windows {
        for (index, host) in HOSTS.iter().enumerate() {
            let count = i64::try_from(count(index)).expect("small");
            expected.insert(((*host).to_owned(), *start), vec![count]);
        }
    }
    expected
}

/// Waits until the example's `log` holds every one of `texts`.
fn wait_for_log(log: &Path, texts: &[&str]) {
    let text = || std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        eventually(TIMEOUT, || texts
            .iter()
            .all(|wanted| text().contains(wanted))),
        "not all of {texts:?} logged:\n{}",
        text()
    );
}

/// Whether the group committed `records` records on each of the input and repartition topics.
fn committed(kafka: &TestKafka, records: usize) -> bool {
    [EVENTS, REPARTITION].iter().all(|topic| {
        let offsets = committed_offsets(&kafka.client_config(), APPLICATION_ID, topic, PARTITIONS);
        offsets.values().sum::<i64>() == i64::try_from(records).expect("small")
    })
}

/// Runs the scenario: finals of two windows per host, the first instance stopped by `stop`, a
/// second instance restoring the state and emitting the next windows' finals, each once.
fn windowed_count_across_a_restart(stop: Stop) {
    let kafka = TestKafka::start().expect("broker");
    kafka.create_topic(EVENTS, PARTITIONS).expect("events");
    kafka.create_topic(FINALS, PARTITIONS).expect("finals");
    let dir = tempfile::tempdir().expect("dir");
    let log = |name: &str| dir.path().join(name);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    let hour = 60 * MINUTE;
    // Three hours ago, on the hour: every window below is in the past.
    let t0 = i64::try_from(now.as_millis()).expect("fits") / hour * hour - 3 * hour;

    let mut first = spawn_example_with("windowed_count", &kafka, &log("first.log"), &[]);
    // Running: its internal topics exist (it creates them at start) and it owns its tasks.
    wait_for_log(&log("first.log"), &["REBALANCING -> RUNNING"]);
    let w0 = |index: usize| index + 1;
    let w1 = |_: usize| 2;
    let mut round = window_records(t0, w0);
    round.extend(window_records(t0 + MINUTE, w1));
    produce(&kafka, EVENTS, &round);
    let mut produced = round.len();
    repartitioned(&kafka, produced);
    // One record per host an hour later closes the host's windows in whichever task has it.
    let closers = window_records(t0 + hour, |_| 1);
    produce(&kafka, EVENTS, &closers);
    produced += closers.len();
    let first_finals = expected(&[(t0, &w0), (t0 + MINUTE, &w1)]);
    assert_eq!(finals(&kafka, FINALS, first_finals.len()), first_finals);
    repartitioned(&kafka, produced);
    end(&mut first, stop, &kafka, produced, &log("first.log"));

    // The same application again: the closers' windows were buffered, not emitted.
    let mut second = spawn_example_with("windowed_count", &kafka, &log("second.log"), &[]);
    // It owns tasks once it restored them from their changelogs.
    wait_for_log(
        &log("second.log"),
        &["task restored", "REBALANCING -> RUNNING"],
    );
    let more = window_records(t0 + hour + 30_000, |index| index % 2);
    produce(&kafka, EVENTS, &more);
    produced += more.len();
    repartitioned(&kafka, produced);
    produce(&kafka, EVENTS, &window_records(t0 + 2 * hour, |_| 1));
    let hour_window = |index: usize| 1 + index % 2;
    let mut all_finals = first_finals;
    all_finals.extend(expected(&[(t0 + hour, &hour_window)]));
    assert_eq!(
        finals(&kafka, FINALS, all_finals.len()),
        all_finals,
        "every final window once after {stop:?}: none lost, none repeated by the restart"
    );
    end(
        &mut second,
        Stop::Clean,
        &kafka,
        produced,
        &log("second.log"),
    );
    if let Stop::Join = stop {
        end(&mut first, Stop::Clean, &kafka, produced, &log("first.log"));
    }
}

/// Stops `example` as `stop` says (a joining second instance leaves it running), once the
/// group committed the `produced` records unless the stop is clean; checks a clean stop ended
/// well.
fn end(example: &mut Example, stop: Stop, kafka: &TestKafka, produced: usize, log: &Path) {
    let text = || std::fs::read_to_string(log).unwrap_or_default();
    match stop {
        Stop::Clean => assert!(
            terminate(&mut example.0, TIMEOUT).is_some_and(|exit| exit.success()),
            "no clean exit:\n{}",
            text()
        ),
        Stop::Kill | Stop::Join => {
            assert!(
                eventually(TIMEOUT, || committed(kafka, produced)),
                "offsets not committed:\n{}",
                text()
            );
            if let Stop::Kill = stop {
                kill_9_and_wait_out_its_session(&mut example.0);
            }
        }
    }
}

#[test]
fn a_suppressed_windowed_count_emits_each_final_window_once_across_a_clean_restart() {
    windowed_count_across_a_restart(Stop::Clean);
}

#[test]
fn a_suppressed_windowed_count_emits_each_final_window_once_across_kill_9() {
    windowed_count_across_a_restart(Stop::Kill);
}

#[test]
fn a_suppressed_windowed_count_emits_each_final_window_once_when_a_second_instance_joins() {
    windowed_count_across_a_restart(Stop::Join);
}
