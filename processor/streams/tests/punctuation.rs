//! The Processor API through the test driver: a custom processor with a store, stream-time and
//! wall-clock punctuations (when they fire, how often, their outputs' timestamps and headers),
//! the store changes a punctuation makes in the changelog, failing punctuators under the error
//! policies, and the processor in `describe()`.

use std::time::Duration;

use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};
use ferrobeat_streams::errors::{ErrorHandlingConfig, ErrorPolicy, HEADER_MESSAGE};
use ferrobeat_streams::serdes::{Long, Utf8};
use ferrobeat_streams::topology::{ProcessingError, PunctuationType, TopologyError};
use ferrobeat_streams::{StreamsBuilder, Topology};

const STORE: &str = "counts";

/// Counts records per key in a store; every `interval` of `kind`'s time, forwards each count
/// to `totals` and empties the store (Kafka Streams' classic punctuation example).
fn counting(kind: PunctuationType, interval: Duration) -> Topology {
    let builder = StreamsBuilder::new();
    builder.add_state_store(STORE).expect("a new store");
    builder
        .stream::<Utf8, Utf8>("events")
        .processor::<Utf8, Long>()
        .stores([STORE])
        .schedule(interval, kind, |ctx, _time| {
            for (key, value) in ctx.entries(STORE)? {
                let count = i64::from_be_bytes(value.try_into().expect("8 bytes"));
                ctx.delete(STORE, &key)?;
                let key = String::from_utf8(key).expect("utf-8 key");
                ctx.forward(key.into(), count)?;
            }
            Ok(())
        })
        .process(|ctx, key, _value| {
            let count = ctx.get(STORE, key.as_bytes())?.map_or(0, |bytes| {
                i64::from_be_bytes(bytes.try_into().expect("8 bytes"))
            });
            ctx.put(STORE, key.as_bytes(), &(count + 1).to_be_bytes())
        })
        .to("totals");
    builder.build().expect("valid topology")
}

/// Every unread record of `totals` as (key, count, timestamp, header count).
fn totals(driver: &TopologyTestDriver) -> Vec<(String, i64, i64, usize)> {
    driver
        .create_output_topic("totals")
        .read_records_to_list()
        .into_iter()
        .map(|record| {
            let key = String::from_utf8(record.key.expect("a key")).expect("utf-8");
            let count =
                i64::from_be_bytes(record.value.expect("a value").try_into().expect("8 bytes"));
            let timestamp = record.timestamp.expect("a timestamp");
            (key, count, timestamp, record.headers.len())
        })
        .collect()
}

fn event(key: &str, timestamp: i64) -> TestRecord {
    TestRecord::from_key_value(key, "x")
        .with_timestamp(timestamp)
        .with_header("trace", "t-1")
}

#[test]
fn stream_time_punctuation_fires_when_stream_time_reaches_its_due_time_once_per_advance() {
    let driver = TopologyTestDriver::new(counting(
        PunctuationType::StreamTime,
        Duration::from_secs(10),
    ));
    let events = driver.create_input_topic("events");
    // The first record fires the schedule (first due at 0), after the record was counted.
    events.pipe_record(event("a", 1_000));
    assert_eq!(totals(&driver), [("a".to_owned(), 1, 1_000, 0)]);
    events.pipe_record(event("a", 5_000));
    events.pipe_record(event("b", 9_999));
    assert!(totals(&driver).is_empty(), "not due before 10 000");
    assert_eq!(driver.stream_time(), Some(9_999));
    events.pipe_record(event("a", 10_000));
    assert_eq!(
        totals(&driver),
        [
            ("a".to_owned(), 2, 10_000, 0),
            ("b".to_owned(), 1, 10_000, 0)
        ],
        "stamped with stream time, without the input's headers"
    );
    // A jump over three intervals fires once; a late record neither fires nor moves time.
    events.pipe_record(event("c", 43_000));
    assert_eq!(totals(&driver), [("c".to_owned(), 1, 43_000, 0)]);
    events.pipe_record(event("c", 12_000));
    events.pipe_record(event("c", 49_999));
    assert!(totals(&driver).is_empty(), "next due at 50 000, not 53 000");
    assert_eq!(driver.stream_time(), Some(49_999));
    events.pipe_record(event("d", 50_000));
    assert_eq!(
        totals(&driver),
        [
            ("c".to_owned(), 2, 50_000, 0),
            ("d".to_owned(), 1, 50_000, 0)
        ]
    );
    // The wall clock does not drive stream time (no quiet-task advance by default).
    driver.advance_wall_clock(Duration::from_secs(3_600));
    assert!(totals(&driver).is_empty());
    assert_eq!(driver.stream_time(), Some(50_000));
}

#[test]
fn wall_clock_punctuation_fires_only_when_the_clock_advances() {
    let start = 1_700_000_000_000;
    let driver = TopologyTestDriver::new(counting(
        PunctuationType::WallClock,
        Duration::from_secs(10),
    ))
    .with_wall_clock(start);
    let events = driver.create_input_topic("events");
    // Records, however far their timestamps go, fire nothing.
    events.pipe_record(event("a", 1_000));
    events.pipe_record(event("a", 900_000));
    assert!(totals(&driver).is_empty());
    driver.advance_wall_clock(Duration::from_millis(9_999));
    assert!(totals(&driver).is_empty(), "not due before one interval");
    driver.advance_wall_clock(Duration::from_millis(1));
    assert_eq!(
        totals(&driver),
        [("a".to_owned(), 2, start + 10_000, 0)],
        "stamped with the wall clock"
    );
    // Nothing to emit: a due punctuation forwards nothing.
    driver.advance_wall_clock(Duration::from_secs(10));
    assert!(totals(&driver).is_empty());
    // A long pause fires once, and the grid goes on from the start.
    events.pipe_record(event("b", 2_000));
    driver.advance_wall_clock(Duration::from_secs(35));
    assert_eq!(totals(&driver), [("b".to_owned(), 1, start + 55_000, 0)]);
    events.pipe_record(event("b", 3_000));
    driver.advance_wall_clock(Duration::from_millis(4_999));
    assert!(totals(&driver).is_empty(), "next due at start + 60 000");
    driver.advance_wall_clock(Duration::from_millis(1));
    assert_eq!(totals(&driver), [("b".to_owned(), 1, start + 60_000, 0)]);
    assert_eq!(driver.wall_clock(), start + 60_000);
}

#[test]
fn store_changes_of_a_punctuation_reach_the_changelog_stamped_with_its_time() {
    let driver =
        TopologyTestDriver::new(counting(PunctuationType::WallClock, Duration::from_secs(1)))
            .with_application_id("app");
    let events = driver.create_input_topic("events");
    events.pipe_record(event("a", 7));
    events.pipe_record(event("b", 8));
    let changelog = driver.create_output_topic("app-counts-changelog");
    let puts: Vec<_> = changelog
        .read_records_to_list()
        .into_iter()
        .map(|record| (record.key, record.value.is_some(), record.timestamp))
        .collect();
    assert_eq!(
        puts,
        [
            (Some(b"a".to_vec()), true, Some(7)),
            (Some(b"b".to_vec()), true, Some(8))
        ]
    );
    driver.advance_wall_clock(Duration::from_secs(1));
    let deletes: Vec<_> = changelog
        .read_records_to_list()
        .into_iter()
        .map(|record| (record.key, record.value, record.timestamp))
        .collect();
    assert_eq!(
        deletes,
        [
            (Some(b"a".to_vec()), None, Some(1_000)),
            (Some(b"b".to_vec()), None, Some(1_000))
        ],
        "tombstones at the punctuation's time"
    );
    assert_eq!(driver.key_value_store(STORE), Some(Vec::new()));
}

/// A processor whose first schedule fails every time and whose second emits a tick.
fn failing_punctuator() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Utf8>("events")
        .processor::<Utf8, Utf8>()
        .schedule(
            Duration::from_secs(1),
            PunctuationType::WallClock,
            |ctx, time| Err(ctx.error(format!("cannot reach the inventory at {time}"))),
        )
        .schedule(
            Duration::from_secs(1),
            PunctuationType::WallClock,
            |ctx, _| ctx.forward("tick".into(), "ok".into()),
        )
        .process(|ctx, key, value| ctx.forward(key, value))
        .named("inventory")
        .to("out");
    builder.build().expect("valid topology")
}

#[test]
fn a_failing_punctuator_is_dead_lettered_and_the_others_still_run() {
    let driver = TopologyTestDriver::new(failing_punctuator());
    driver.advance_wall_clock(Duration::from_secs(1));
    let out = driver.create_output_topic("out").read_records_to_list();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value_string().as_deref(), Some("ok"));
    let letters = driver
        .create_output_topic("dead-letters")
        .read_records_to_list();
    assert_eq!(letters.len(), 1);
    assert_eq!((&letters[0].key, &letters[0].value), (&None, &None));
    assert_eq!(
        letters[0].header_string(HEADER_MESSAGE).as_deref(),
        Some("punctuation at 1000: cannot reach the inventory at 1000")
    );
    let errors = driver.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].node, "inventory");
}

#[test]
fn a_failing_punctuator_under_fail_is_returned() {
    let config = ErrorHandlingConfig {
        policy: ErrorPolicy::Fail,
        ..ErrorHandlingConfig::default()
    };
    let driver = TopologyTestDriver::with_error_handling(failing_punctuator(), config);
    driver
        .try_advance_wall_clock(Duration::from_millis(999))
        .expect("not due yet");
    let error: ProcessingError = driver
        .try_advance_wall_clock(Duration::from_millis(1))
        .expect_err("the punctuator fails");
    assert_eq!(
        error.to_string(),
        "processing error in node inventory: punctuation at 1000: cannot reach the inventory at 1000"
    );
}

#[test]
fn describe_shows_the_processor_with_its_stores() {
    let topology = counting(PunctuationType::StreamTime, Duration::from_secs(1));
    let described = topology.describe().to_string();
    assert!(
        described.contains("Processor: KSTREAM-PROCESSOR-0000000001 (stores: [counts])"),
        "{described}"
    );
    let changelogs: Vec<String> = topology
        .internal_topics("app")
        .into_iter()
        .map(|topic| topic.name)
        .collect();
    assert_eq!(changelogs, ["app-counts-changelog"]);
}

#[test]
fn stores_must_be_declared_once_before_a_processor_connects_them() {
    let builder = StreamsBuilder::new();
    builder.add_state_store(STORE).expect("a new store");
    assert_eq!(
        builder.add_state_store(STORE),
        Err(TopologyError::DuplicateStoreName(STORE.to_owned()))
    );
    builder
        .stream::<Utf8, Utf8>("events")
        .processor::<Utf8, Utf8>()
        .stores([STORE, "missing"])
        .process(|_, _, _| Ok(()));
    assert_eq!(
        builder.build().err(),
        Some(TopologyError::UnknownStore {
            node: "KSTREAM-PROCESSOR-0000000001".to_owned(),
            store: "missing".to_owned()
        })
    );
}

#[test]
fn a_store_not_connected_is_a_processing_error_naming_it() {
    let builder = StreamsBuilder::new();
    builder.add_state_store(STORE).expect("a new store");
    let events = builder.stream::<Utf8, Utf8>("events");
    events
        .processor::<Utf8, Utf8>()
        .stores([STORE])
        .process(|_, _, _| Ok(()));
    events
        .processor::<Utf8, Utf8>()
        .process(|ctx, key, _| ctx.put(STORE, key.as_bytes(), b"1"))
        .to("out");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    driver.create_input_topic("events").pipe_key_value("a", "x");
    let errors = driver.errors();
    assert_eq!(
        errors[0].message,
        "store \"counts\" is not connected to this processor (connected: [])"
    );
}

#[test]
fn a_store_no_processor_connects_is_refused() {
    let builder = StreamsBuilder::new();
    builder.add_state_store(STORE).expect("a new store");
    builder.stream::<Utf8, Utf8>("events").to("out");
    assert_eq!(
        builder.build().err(),
        Some(TopologyError::UnconnectedStore(STORE.to_owned()))
    );
}
