//! Windowed aggregation on the broker: a one-minute windowed count over a re-keyed stream goes
//! through its repartition topic, is suppressed until each window closes and written to an
//! output topic; the final counts are exact, and after a clean stop a new instance of the same
//! application (restoring its window store, buffer and stream times from their changelogs)
//! emits every later final window once and no earlier one again.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrobeat_streams::config::StreamsConfig;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use ferrobeat_streams::serdes::{Nullable, Utf8};
use ferrobeat_streams::{StreamsBuilder, Suppressed, TimeWindows};
use ferrobeat_tests::TestKafka;

const PARTITIONS: i32 = 3;
const TIMEOUT: Duration = Duration::from_secs(30);
const MINUTE: i64 = 60_000;
const HOSTS: [&str; 6] = ["h0", "h1", "h2", "h3", "h4", "h5"];

/// Starts the suppressed windowed count of the hosts named by the values of `events` (keyed
/// by host, re-keyed by value) into `finals`, in store `counts`.
fn start(
    kafka: &TestKafka,
    application_id: &str,
    (events, finals): (&str, &str),
) -> StreamsRuntime {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Utf8>, Utf8>(events)
        .group_by(|_, host| host.to_string())
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(60),
            Duration::from_secs(300),
        ))
        .count_as("counts")
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to(finals);
    let mut config = StreamsConfig::new(kafka.bootstrap_servers(), application_id);
    for (name, value) in [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
    ] {
        config
            .kafka
            .properties
            .insert(name.to_owned(), value.to_owned());
    }
    let runtime = StreamsRuntime::new(builder.build().expect("valid topology"), config);
    runtime.start().expect("start");
    assert_eq!(
        runtime.wait_until(TIMEOUT, |state| state == ClientState::Running),
        ClientState::Running
    );
    runtime
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
fn repartitioned(kafka: &TestKafka, application_id: &str, records: usize) {
    let topic = format!("{application_id}-counts-repartition");
    let read = kafka.read_topic(&topic, records, TIMEOUT).expect("read");
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

#[test]
fn a_suppressed_windowed_count_emits_each_final_window_once_across_a_restart() {
    let kafka = TestKafka::start().expect("broker");
    let events = kafka.unique_topic("events");
    let out = kafka.unique_topic("finals");
    let application_id = kafka.unique_topic("windowed-count");
    kafka.create_topic(&events, PARTITIONS).expect("events");
    kafka.create_topic(&out, PARTITIONS).expect("finals");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    let hour = 60 * MINUTE;
    // Three hours ago, on the hour: every window below is in the past.
    let t0 = i64::try_from(now.as_millis()).expect("fits") / hour * hour - 3 * hour;

    let first = start(&kafka, &application_id, (&events, &out));
    let w0 = |index: usize| index + 1;
    let w1 = |_: usize| 2;
    let mut round = window_records(t0, w0);
    round.extend(window_records(t0 + MINUTE, w1));
    produce(&kafka, &events, &round);
    let mut produced = round.len();
    repartitioned(&kafka, &application_id, produced);
    // One record per host an hour later closes the host's windows in whichever task has it.
    let closers = window_records(t0 + hour, |_| 1);
    produce(&kafka, &events, &closers);
    produced += closers.len();
    let first_finals = expected(&[(t0, &w0), (t0 + MINUTE, &w1)]);
    assert_eq!(finals(&kafka, &out, first_finals.len()), first_finals);
    repartitioned(&kafka, &application_id, produced);
    assert_eq!(first.close(TIMEOUT), ClientState::NotRunning);

    // The same application again: the closers' windows were buffered, not emitted.
    let second = start(&kafka, &application_id, (&events, &out));
    let more = window_records(t0 + hour + 30_000, |index| index % 2);
    produce(&kafka, &events, &more);
    produced += more.len();
    repartitioned(&kafka, &application_id, produced);
    produce(&kafka, &events, &window_records(t0 + 2 * hour, |_| 1));
    let hour_window = |index: usize| 1 + index % 2;
    let mut all_finals = first_finals;
    all_finals.extend(expected(&[(t0 + hour, &hour_window)]));
    assert_eq!(
        finals(&kafka, &out, all_finals.len()),
        all_finals,
        "every final window once: none lost, none repeated by the restart"
    );
    assert_eq!(second.close(TIMEOUT), ClientState::NotRunning);
}
