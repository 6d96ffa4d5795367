//! Windowed aggregation and suppression through the test driver, with Kafka Streams' semantics:
//! epoch-aligned half-open windows, hopping windows, grace and late records, result
//! timestamps, windowed key bytes, expiry, suppression until a window closes, and stream time
//! surviving a restore from the changelog.

use std::time::Duration;

use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};
use ferrobeat_streams::record::{InputRecord, SourcePosition};
use ferrobeat_streams::serdes::{Long, Serde, Utf8};
use ferrobeat_streams::topology::WINDOW_CHANGELOG_EXTRA_RETENTION_MS;
use ferrobeat_streams::{StreamsBuilder, Suppressed, TimeWindows, Topology, Windowed};

const MINUTE: Duration = Duration::from_secs(60);

/// A count per key of `events` over `windows`, in store `counts`, written to `out`, suppressed
/// until each window closes when `suppress`.
fn windowed_count(windows: TimeWindows, suppress: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let counts = builder
        .stream::<Utf8, Utf8>("events")
        .group_by_key()
        .windowed_by(windows)
        .count_as("counts");
    let counts = if suppress {
        counts.suppress(Suppressed::until_window_closes().with_name("finals"))
    } else {
        counts
    };
    counts.to_stream().to("out");
    builder.build().expect("valid topology")
}

/// Size 60 s, grace 10 s.
fn graced() -> TimeWindows {
    TimeWindows::of_size_and_grace(MINUTE, Duration::from_secs(10))
}

/// One output: key, window start, window end as read back (unknown), count, timestamp.
#[derive(Debug, PartialEq, Eq)]
struct Counted {
    key: String,
    start: i64,
    count: i64,
    timestamp: i64,
}

fn counted(key: &str, start: i64, count: i64, timestamp: i64) -> Counted {
    Counted {
        key: key.to_owned(),
        start,
        count,
        timestamp,
    }
}

fn read(driver: &TopologyTestDriver, topic: &str) -> Vec<Counted> {
    driver
        .create_output_topic(topic)
        .read_records_to_list()
        .into_iter()
        .map(|record| {
            let key = Windowed::<Utf8>::deserialize(record.key.as_deref()).expect("windowed key");
            let value = record.value.expect("a count");
            Counted {
                key: key.key.into_owned(),
                start: key.window.start,
                count: i64::from_be_bytes(value.try_into().expect("8 bytes")),
                timestamp: record.timestamp.expect("a timestamp"),
            }
        })
        .collect()
}

fn pipe(driver: &TopologyTestDriver, records: &[(&str, i64)]) {
    let events = driver.create_input_topic("events");
    for (key, timestamp) in records {
        events.pipe_record(TestRecord::from_key_value(key, "e").with_timestamp(*timestamp));
    }
}

#[test]
fn records_at_59_999_and_60_000_ms_land_in_different_one_minute_windows() {
    let driver = TopologyTestDriver::new(windowed_count(
        TimeWindows::of_size_with_no_grace(MINUTE),
        false,
    ));
    pipe(&driver, &[("h", 59_999), ("h", 60_000)]);
    let out = driver.create_output_topic("out").read_records_to_list();
    let keys: Vec<Vec<u8>> = out.iter().map(|r| r.key.clone().expect("key")).collect();
    assert_eq!(
        keys,
        [
            [b"h".as_slice(), &0i64.to_be_bytes()].concat(),
            [b"h".as_slice(), &60_000i64.to_be_bytes()].concat(),
        ],
        "the key's bytes then the window start, 8 bytes big-endian"
    );
    let first = Windowed::<Utf8>::deserialize(Some(&keys[0])).expect("windowed key");
    assert_eq!(
        first.to_string(),
        r#"{"key":"h","window":{"start":"1970-01-01T00:00:00.000Z","end":null}}"#
    );
}

#[test]
fn a_ten_minute_window_advancing_by_one_minute_puts_a_record_in_ten_windows() {
    let windows = TimeWindows::of_size_with_no_grace(MINUTE * 10).advance_by(MINUTE);
    let driver = TopologyTestDriver::new(windowed_count(windows, false));
    pipe(&driver, &[("h", 3_600_000)]);
    let starts: Vec<i64> = read(&driver, "out").iter().map(|c| c.start).collect();
    let expected: Vec<i64> = (0..10).map(|i| 3_060_000 + i * 60_000).collect();
    assert_eq!(
        starts, expected,
        "oldest window first, the last starting at the record"
    );
}

#[test]
fn a_record_whose_windows_closed_is_dropped_and_counted() {
    let driver = TopologyTestDriver::new(windowed_count(graced(), false));
    pipe(&driver, &[("h", 75_000), ("h", 5_000)]);
    assert_eq!(read(&driver, "out"), [counted("h", 60_000, 1, 75_000)]);
    assert_eq!(driver.dropped_late(), 1);
    assert!(driver.errors().is_empty(), "{:?}", driver.errors());
}

#[test]
fn a_record_within_the_grace_period_is_accepted() {
    let driver = TopologyTestDriver::new(windowed_count(graced(), false));
    pipe(&driver, &[("h", 69_999), ("h", 55_000)]);
    assert_eq!(
        read(&driver, "out"),
        [counted("h", 60_000, 1, 69_999), counted("h", 0, 1, 55_000)]
    );
    assert_eq!(driver.dropped_late(), 0);
}

#[test]
fn a_window_result_has_the_largest_timestamp_of_its_records() {
    let driver = TopologyTestDriver::new(windowed_count(graced(), false));
    pipe(&driver, &[("h", 10_000), ("h", 30_000), ("h", 20_000)]);
    assert_eq!(
        read(&driver, "out"),
        [
            counted("h", 0, 1, 10_000),
            counted("h", 0, 2, 30_000),
            counted("h", 0, 3, 30_000),
        ]
    );
}

#[test]
fn suppression_emits_one_final_result_per_window_once_end_plus_grace_is_reached() {
    let driver = TopologyTestDriver::new(windowed_count(graced(), true));
    pipe(
        &driver,
        &[("a", 10_000), ("b", 20_000), ("a", 30_000), ("c", 65_000)],
    );
    pipe(&driver, &[("a", 69_999)]);
    assert_eq!(read(&driver, "out"), [], "nothing before end + grace");
    pipe(&driver, &[("c", 70_000)]);
    assert_eq!(
        read(&driver, "out"),
        [counted("a", 0, 2, 30_000), counted("b", 0, 1, 20_000)],
        "the window [0, 60 s) closes at 70 s: its last counts, once"
    );
    pipe(&driver, &[("a", 75_000), ("b", 129_999), ("a", 5_000)]);
    assert_eq!(
        read(&driver, "out"),
        [],
        "a closed window is not emitted again"
    );
    assert_eq!(driver.dropped_late(), 1);
    pipe(&driver, &[("z", 200_000)]);
    assert_eq!(
        read(&driver, "out"),
        [
            counted("a", 60_000, 2, 75_000),
            counted("c", 60_000, 2, 70_000),
            counted("b", 120_000, 1, 129_999),
        ]
    );
    let buffer = driver
        .key_value_store("finals-store")
        .expect("buffer store");
    assert_eq!(
        buffer.len(),
        2,
        "the open window of z and the stream time: {buffer:?}"
    );
}

#[test]
fn expired_windows_are_deleted_from_the_store_and_its_changelog() {
    let driver = TopologyTestDriver::new(windowed_count(graced(), false)).with_application_id("w");
    pipe(&driver, &[("a", 10_000), ("b", 69_999)]);
    let window = |key: &str, start: i64| [key.as_bytes(), &start.to_be_bytes()].concat();
    let windows = |driver: &TopologyTestDriver| -> Vec<Vec<u8>> {
        let store = driver.key_value_store("counts").expect("window store");
        store
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| key.len() >= 8)
            .collect()
    };
    assert_eq!(windows(&driver), [window("a", 0), window("b", 60_000)]);
    pipe(&driver, &[("b", 70_000)]);
    assert_eq!(
        windows(&driver),
        [window("b", 60_000)],
        "retention is size + grace: the window at 0 expires at stream time 70 s"
    );
    let tombstones: Vec<Vec<u8>> = driver
        .create_output_topic("w-counts-changelog")
        .read_records_to_list()
        .into_iter()
        .filter(|record| record.value.is_none())
        .filter_map(|record| record.key)
        .collect();
    assert_eq!(tombstones, [window("a", 0)]);
    let topology = windowed_count(graced(), false);
    let changelog = topology.internal_topics("w");
    let retention = (70_000 + WINDOW_CHANGELOG_EXTRA_RETENTION_MS).to_string();
    assert_eq!(
        changelog[0].config,
        [
            ("cleanup.policy".to_owned(), "compact,delete".to_owned()),
            ("retention.ms".to_owned(), retention)
        ]
    );
}

#[test]
fn a_longer_retention_keeps_closed_windows() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Utf8>("events")
        .group_by_key()
        .windowed_by(graced())
        .with_retention(MINUTE * 10)
        .count_as("counts");
    let driver = TopologyTestDriver::new(builder.build().expect("valid"));
    pipe(&driver, &[("a", 10_000), ("a", 500_000)]);
    assert_eq!(driver.dropped_late(), 0);
    let store = driver.key_value_store("counts").expect("window store");
    assert_eq!(store.iter().filter(|(key, _)| key.len() >= 8).count(), 2);
}

/// Runs `records` (key, timestamp) of `events` through `topology` in `state`, returning the
/// outputs of `out` as (key, timestamp).
fn run(
    topology: &Topology,
    state: &mut ferrobeat_streams::state::TaskState,
    records: &[(&str, i64)],
) -> Vec<(Vec<u8>, i64)> {
    let mut outputs = Vec::new();
    for (offset, (key, timestamp)) in records.iter().enumerate() {
        let input = InputRecord {
            source: SourcePosition {
                topic: "events",
                partition: 0,
                offset: i64::try_from(offset).expect("small"),
            },
            timestamp: *timestamp,
            key: Some(key.as_bytes()),
            value: Some(b"e"),
            headers: Vec::new(),
        };
        topology
            .process_in(state, &input, &mut |output| {
                if output.topic == "out" {
                    outputs.push((output.key.expect("key").into_owned(), output.timestamp));
                }
            })
            .expect("processed");
    }
    outputs
}

/// A new task state restored from the store changes of `before` (its changelog records).
fn restore(
    topology: &Topology,
    globals: &ferrobeat_streams::state::GlobalStores,
    before: &mut ferrobeat_streams::state::TaskState,
) -> ferrobeat_streams::state::TaskState {
    let mut restored = topology.new_task_state(globals);
    for change in before.take_changes() {
        let store = restored.store_mut(change.store).expect("store");
        store.apply(&change.key, change.value.as_deref());
    }
    restored
}

#[test]
fn stream_time_and_the_buffer_survive_a_restore_from_the_changelog() {
    let topology = windowed_count(graced(), true);
    let globals = topology.new_global_stores();
    let mut before = topology.new_task_state(&globals);
    let window = |key: &str, start: i64| [key.as_bytes(), &start.to_be_bytes()].concat();
    assert_eq!(
        run(&topology, &mut before, &[("a", 10_000), ("b", 75_000)]),
        [(window("a", 0), 10_000)],
        "[0, 60 s) closes at 70 s; b's window [60 s, 120 s) stays buffered"
    );
    let mut restored = restore(&topology, &globals, &mut before);
    let outputs = run(&topology, &mut restored, &[("a", 20_000), ("c", 130_000)]);
    assert_eq!(
        restored.dropped_late(),
        1,
        "the closed window is not reopened"
    );
    assert_eq!(
        outputs,
        [(window("b", 60_000), 75_000)],
        "the buffered window is emitted after the restore, the emitted one not again"
    );
}

#[test]
fn describe_shows_the_window_store_the_buffer_and_the_repartition_topic() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Utf8>("events")
        .group_by(|_, value| value.to_string())
        .windowed_by(graced())
        .count_as("counts")
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to("out");
    let description = builder.build().expect("valid").describe().to_string();
    for expected in [
        "Sink: counts-repartition-sink (topic: counts-repartition)",
        "Source: counts-repartition-source (topics: [counts-repartition])",
        "(stores: [counts])",
        "Processor: KTABLE-SUPPRESS-",
        "(stores: [KTABLE-SUPPRESS-STATE-STORE-",
    ] {
        assert!(
            description.contains(expected),
            "{expected} in {description}"
        );
    }
}

#[test]
fn bad_windows_and_unsupported_uses_are_refused_at_build() {
    let refused = |windows: TimeWindows| {
        let builder = StreamsBuilder::new();
        builder
            .stream::<Utf8, Utf8>("events")
            .group_by_key()
            .windowed_by(windows)
            .count();
        builder.build().map(|_| ()).map_err(|e| e.to_string())
    };
    assert_eq!(
        refused(TimeWindows::of_size_with_no_grace(MINUTE).advance_by(MINUTE * 2)),
        Err(
            "node KSTREAM-SOURCE-0000000000: windows advancing by 120000 ms: the advance must \
             be above 0 and at most the window size (60000 ms)"
                .to_owned()
        )
    );
    assert!(
        refused(TimeWindows::of_size_with_no_grace(MINUTE).advance_by(Duration::ZERO)).is_err()
    );
    assert!(refused(TimeWindows::of_size_with_no_grace(MINUTE)).is_ok());
    let builder = StreamsBuilder::new();
    builder
        .table::<Windowed<Utf8>, Long>("windowed")
        .suppress(Suppressed::until_window_closes());
    let error = builder
        .build()
        .expect_err("no windows to take the grace from");
    assert!(
        error.to_string().contains("needs the windows' grace"),
        "{error}"
    );
    let builder = StreamsBuilder::new();
    let counts = builder
        .stream::<Utf8, Utf8>("events")
        .group_by_key()
        .windowed_by(graced())
        .count();
    builder
        .stream::<Windowed<Utf8>, Utf8>("lookups")
        .join(&counts, |_, count| *count)
        .to("joined");
    let error = builder
        .build()
        .expect_err("a window store cannot be looked up");
    assert!(error.to_string().contains("is not supported"), "{error}");
}

#[test]
fn wall_clock_closing_emits_the_last_window_of_a_quiet_task_only_when_enabled() {
    for enabled in [false, true] {
        let builder = StreamsBuilder::new();
        let suppressed = Suppressed::until_window_closes();
        let suppressed = if enabled {
            suppressed.close_on_wall_clock(Duration::from_secs(30))
        } else {
            suppressed
        };
        builder
            .stream::<Utf8, Utf8>("events")
            .group_by_key()
            .windowed_by(graced())
            .count()
            .suppress(suppressed)
            .to_stream()
            .to("out");
        let topology = builder.build().expect("valid topology");
        let driver = TopologyTestDriver::new(topology).with_wall_clock(1_000_000);
        pipe(&driver, &[("a", 10_000), ("a", 20_000)]);
        driver.advance_wall_clock(Duration::from_secs(29));
        assert_eq!(
            read(&driver, "out"),
            [],
            "quiet for less than the idle time"
        );
        // Quiet for 89 s: with wall-clock closing, stream time is 20 s + 89 s = 109 s, past the
        // window's end + grace (70 s).
        driver.advance_wall_clock(Duration::from_secs(60));
        let closed = if enabled {
            vec![counted("a", 0, 2, 20_000)]
        } else {
            Vec::new()
        };
        assert_eq!(read(&driver, "out"), closed, "enabled: {enabled}");
        // A record for that window after it was closed by the clock is late, not a second
        // final result; without wall-clock closing the window is still open and takes it.
        pipe(&driver, &[("a", 30_000), ("z", 500_000)]);
        let later = if enabled {
            Vec::new()
        } else {
            vec![counted("a", 0, 3, 30_000)]
        };
        assert_eq!(read(&driver, "out"), later, "enabled: {enabled}");
        assert_eq!(driver.dropped_late(), u64::from(enabled));
    }
}

/// A task restored from its changelogs (at a restart, or moved to another instance) that takes
/// no record still closes the windows it buffered by the wall clock, from the stream time its
/// buffer kept: the last minutes of hosts that stopped before a restart come out.
#[test]
fn a_restored_task_closes_its_buffered_windows_by_the_wall_clock() {
    let builder = StreamsBuilder::new();
    let closing = Suppressed::until_window_closes().close_on_wall_clock(Duration::from_secs(30));
    builder
        .stream::<Utf8, Utf8>("events")
        .group_by_key()
        .windowed_by(graced())
        .count()
        .suppress(closing)
        .to_stream()
        .to("out");
    let topology = builder.build().expect("valid topology");
    let globals = topology.new_global_stores();
    let mut before = topology.new_task_state(&globals);
    assert_eq!(
        run(&topology, &mut before, &[("a", 10_000), ("a", 20_000)]),
        []
    );
    let mut restored = restore(&topology, &globals, &mut before);
    let mut outputs = Vec::new();
    // The first reading starts the quiet period; 89 s later stream time is 20 s + 89 s = 109 s,
    // past the window's end + grace (70 s).
    for now in [1_000_000, 1_029_000, 1_089_000] {
        let errors = topology.punctuate_wall_clock(&mut restored, now, &mut |output| {
            outputs.push((output.key.expect("key").into_owned(), output.timestamp));
        });
        assert!(errors.is_empty(), "{errors:?}");
    }
    let window = [b"a".as_slice(), &0_i64.to_be_bytes()].concat();
    assert_eq!(outputs, [(window, 20_000)]);
}
