//! The global tables' reader reports its position and the high watermark of every partition of
//! a global table's topic to the runtime's observer (`RuntimeObserver::global_table_position`):
//! once the table is loaded, and again as new records arrive, its lag reaches 0 at the topic's
//! end, whatever partitions the records landed on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrobeat_streams::StreamsBuilder;
use ferrobeat_streams::config::StreamsConfig;
use ferrobeat_streams::runtime::{
    ClientState, NoObserver, RuntimeObserver, StreamsRuntime, WorkerObserver, global_lag,
};
use ferrobeat_streams::serdes::Utf8;
use ferrobeat_tests::{KeyedRecord, TestKafka};

const DEADLINE: Duration = Duration::from_secs(30);
const GLOBAL_PARTITIONS: i32 = 2;

/// The last report of the global tables' reader per (topic, partition): (position, high
/// watermark).
#[derive(Debug, Default)]
struct GlobalReports(Mutex<BTreeMap<(String, i32), (i64, i64)>>);

impl RuntimeObserver for GlobalReports {
    fn worker(&self, _: &str, _: &[String], _: &[&str]) -> Box<dyn WorkerObserver> {
        Box::new(NoObserver)
    }

    fn global_table_position(&self, topic: &str, partition: i32, position: i64, high: i64) {
        self.0
            .lock()
            .expect("not poisoned")
            .insert((topic.to_owned(), partition), (position, high));
    }
}

impl GlobalReports {
    /// Waits until every partition of `topic` is reported caught up (lag 0) with `records`
    /// records read in all; returns the reports then, or fails with the last ones.
    fn wait_caught_up(&self, topic: &str, records: i64) -> BTreeMap<i32, (i64, i64)> {
        let started = Instant::now();
        loop {
            let reports: BTreeMap<i32, (i64, i64)> = self
                .0
                .lock()
                .expect("not poisoned")
                .iter()
                .filter(|((known, _), _)| known == topic)
                .map(|((_, partition), report)| (*partition, *report))
                .collect();
            let read: i64 = reports.values().map(|(position, _)| position).sum();
            let caught_up = reports.len() == GLOBAL_PARTITIONS as usize
                && reports
                    .values()
                    .all(|(position, high)| global_lag(*position, *high) == 0);
            if caught_up && read == records {
                return reports;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the global reader did not report {records} records read with no lag: {reports:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn keyed(prefix: &str, count: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..count)
        .map(|i| {
            (
                format!("{prefix}{i}").into_bytes(),
                format!("city {i}").into_bytes(),
            )
        })
        .collect()
}

fn produce(kafka: &TestKafka, topic: &str, records: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()> {
    let records: Vec<KeyedRecord<'_>> = records
        .iter()
        .map(|(key, value)| (Some(key.as_slice()), Some(value.as_slice())))
        .collect();
    kafka.produce_keyed(topic, &records)
}

#[test]
fn the_global_reader_reports_its_lag_once_loaded_and_while_following() -> anyhow::Result<()> {
    let kafka = TestKafka::start()?;
    let [address, order, joined] =
        ["address_v2", "order", "order_join"].map(|topic| kafka.unique_topic(topic));
    kafka.create_topic(&address, GLOBAL_PARTITIONS)?;
    kafka.create_topic(&order, 1)?;
    kafka.create_topic(&joined, 1)?;
    produce(&kafka, &address, &keyed("before-", 10))?;

    let builder = StreamsBuilder::new();
    let table = builder.global_table::<Utf8, Utf8>(&address);
    builder
        .stream::<Utf8, Utf8>(&order)
        .join_global(
            &table,
            |key, _| key.to_string(),
            |order, address| format!("{order} send to {address}"),
        )
        .to(&joined);
    let mut config = StreamsConfig::new(kafka.bootstrap_servers(), &kafka.unique_topic("app"));
    config
        .kafka
        .properties
        .insert("session.timeout.ms".to_owned(), "6000".to_owned());
    config.statistics_interval = Duration::from_millis(200);
    let reports = Arc::new(GlobalReports::default());
    let runtime = StreamsRuntime::with_observer(
        builder.build()?,
        config,
        Arc::clone(&reports) as Arc<dyn RuntimeObserver>,
    );
    runtime.start()?;

    // Loaded: every partition at its end, the 10 records read.
    reports.wait_caught_up(&address, 10);
    // Following: 5 more records are read and reported, wherever their keys put them.
    produce(&kafka, &address, &keyed("after-", 5))?;
    let reports = reports.wait_caught_up(&address, 15);
    assert!(
        reports.values().all(|(position, high)| position == high),
        "{reports:?}"
    );
    assert_eq!(runtime.close(DEADLINE), ClientState::NotRunning);
    Ok(())
}
