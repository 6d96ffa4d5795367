//! Punctuation on the broker, through the real runtime: a custom processor keeps each host's
//! latest reading in a store, and its wall-clock punctuator writes the store's content while
//! the input is quiet, stamped with the wall clock; the store's changelog has the puts, and
//! the input's offsets are committed to its end although punctuations keep producing.

mod processor_support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrobeat_streams::config::StreamsConfig;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use ferrobeat_streams::serdes::Utf8;
use ferrobeat_streams::topology::PunctuationType;
use ferrobeat_streams::{StreamsBuilder, Topology};
use ferrobeat_tests::{ReadRecord, TestKafka};
use processor_support::{committed_offsets, eventually, init_logging, quick_group};

const PARTITIONS: i32 = 2;
const STORE: &str = "latest";
/// How long the punctuator waits between two snapshots.
const INTERVAL: Duration = Duration::from_millis(300);
/// How long a condition may take to hold.
const WAIT: Duration = Duration::from_secs(60);

/// `readings` (host → reading) into the store; every [`INTERVAL`] of wall-clock time, every
/// host's latest reading to `snapshots`.
fn latest_snapshots(readings: &str, snapshots: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder.add_state_store(STORE).expect("a new store");
    builder
        .stream::<Utf8, Utf8>(readings)
        .processor::<Utf8, Utf8>()
        .stores([STORE])
        .schedule(INTERVAL, PunctuationType::WallClock, |ctx, _time| {
            for (host, reading) in ctx.entries(STORE)? {
                let host = String::from_utf8(host).map_err(|e| ctx.error(e))?;
                let reading = String::from_utf8(reading).map_err(|e| ctx.error(e))?;
                ctx.forward(host.into(), reading.into())?;
            }
            Ok(())
        })
        .process(|ctx, host, reading| ctx.put(STORE, host.as_bytes(), reading.as_bytes()))
        .to(snapshots);
    builder.build().expect("valid topology")
}

fn now_millis() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after the epoch");
    i64::try_from(since.as_millis()).expect("milliseconds fit")
}

fn text(bytes: Option<&Vec<u8>>) -> String {
    String::from_utf8(bytes.cloned().unwrap_or_default()).expect("utf-8")
}

/// Each host's snapshots' readings, in the order written (a host's snapshots share a partition).
fn by_host(records: &[ReadRecord]) -> BTreeMap<String, Vec<String>> {
    let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in records {
        hosts
            .entry(text(record.key.as_ref()))
            .or_default()
            .push(text(record.value.as_ref()));
    }
    hosts
}

#[test]
fn a_wall_clock_punctuator_emits_its_store_while_the_input_is_quiet() {
    init_logging();
    let kafka = TestKafka::start().expect("broker");
    let readings = kafka.unique_topic("readings");
    let snapshots = kafka.unique_topic("snapshots");
    let application_id = kafka.unique_topic("latest-snapshots");
    kafka.create_topic(&readings, PARTITIONS).expect("readings");
    kafka
        .create_topic(&snapshots, PARTITIONS)
        .expect("snapshots");
    // The whole input, written before the application starts, stamped long ago.
    let input = [
        ("host-a", "1", 1_000),
        ("host-b", "7", 2_000),
        ("host-a", "2", 3_000),
    ];
    let records: Vec<_> = input
        .iter()
        .map(|(host, reading, at)| ((Some(host.as_bytes()), Some(reading.as_bytes())), *at))
        .collect();
    kafka
        .produce_keyed_at(&readings, &records)
        .expect("produce");

    let started = now_millis();
    let mut config = StreamsConfig::new(kafka.bootstrap_servers(), &application_id);
    quick_group(&mut config.kafka, &mut config.runtime);
    let runtime = StreamsRuntime::new(latest_snapshots(&readings, &snapshots), config);
    runtime.start().expect("start");

    // Three snapshots or more of each host's latest reading: the punctuator keeps firing
    // although no record comes.
    let latest = BTreeMap::from([("host-a", "2"), ("host-b", "7")]);
    let mut written = Vec::new();
    let repeated = eventually(WAIT, || {
        written = kafka
            .read_topic(&snapshots, 0, Duration::from_secs(2))
            .expect("read snapshots");
        let hosts = by_host(&written);
        latest.iter().all(|(host, reading)| {
            hosts
                .get(*host)
                .is_some_and(|readings| readings.iter().filter(|seen| seen == reading).count() >= 3)
        })
    });
    assert!(repeated, "snapshots written: {:?}", by_host(&written));
    let read_at = now_millis();
    for record in &written {
        let timestamp = record.timestamp.expect("a timestamp");
        assert!(
            (started..=read_at).contains(&timestamp),
            "stamped with the wall clock, not the input's time: {timestamp}"
        );
        assert!(record.headers.is_empty(), "{:?}", record.headers);
    }
    for (host, readings) in by_host(&written) {
        assert_eq!(
            readings.last().map(String::as_str),
            latest.get(host.as_str()).copied(),
            "{host}'s last snapshot is its latest reading"
        );
    }

    let changelog = format!("{application_id}-{STORE}-changelog");
    let puts = kafka
        .read_topic(&changelog, input.len(), WAIT)
        .expect("read the changelog");
    assert_eq!(
        puts.len(),
        input.len(),
        "one put per reading, none by the punctuator"
    );

    // The input is committed to its end although punctuations keep producing: their holds
    // on the offsets are released as they are acknowledged.
    let committed_to_the_end = eventually(WAIT, || {
        committed_offsets(
            &kafka.client_config(),
            &application_id,
            &readings,
            PARTITIONS,
        )
        .values()
        .sum::<i64>()
            == i64::try_from(input.len()).expect("small")
    });
    assert!(committed_to_the_end, "every reading committed");
    assert_eq!(runtime.close(WAIT), ClientState::NotRunning);
}
