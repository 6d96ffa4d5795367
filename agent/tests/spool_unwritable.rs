//! When the spool cannot be written (here: its next segment is `/dev/full`), the shipper
//! logs and counts the error and keeps the rounds in memory: every event is still delivered.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrobeat_agent::config::KafkaConfig;
use ferrobeat_agent::monitor::{AgentMetrics, Count};
use ferrobeat_agent::sample::RoundSink;
use ferrobeat_agent::ship::KafkaShipper;
use ferrobeat_agent::spool::{Spool, SpoolLimits};
use ferrobeat_schema::Event;
use ferrobeat_toolbox::intercept::Interceptors;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const TOPIC: &str = "metric.all";
const ROUND: usize = 5;
const ROUNDS: usize = 4;

/// The mission's real Metricbeat cpu event, stamped `millis` after a fixed instant.
fn event(millis: i64) -> Event {
    let mut event = ferrobeat_schema::from_slice(
        br#"{"@timestamp":"2025-01-31T07:55:26.555Z","@metadata":{"beat":"metricbeat","type":"_doc","version":"8.17.1"},"service":{"type":"system"},"system":{"cpu":{"idle":{"pct":8.1113,"norm":{"pct":0.8111}},"nice":{"pct":0,"norm":{"pct":0}},"cores":10,"total":{"pct":1.8887,"norm":{"pct":0.1889}},"user":{"norm":{"pct":0.1148},"pct":1.1476},"system":{"pct":0.7411,"norm":{"pct":0.0741}}}},"host":{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"},"event":{"dataset":"system.cpu","module":"system","duration":2847417},"ecs":{"version":"8.0.0"},"agent":{"name":"Aaronui-MacBookPro.local","type":"metricbeat","version":"8.17.1","ephemeral_id":"abcd-efgh-1234-5678","id":"abcdefghijk-1234567-ababna"},"metricset":{"period":10000,"name":"cpu"}}"#,
    )
    .expect("fixture parses");
    event.timestamp += chrono::Duration::milliseconds(millis);
    event
}

fn read_timestamps(bootstrap: &str, expected: usize) -> BTreeSet<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "spool-unwritable-reader")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = BTreeSet::new();
    while seen.len() < expected && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("consume");
            let event =
                ferrobeat_schema::from_slice(message.payload().expect("value")).expect("event");
            seen.insert(event.timestamp.timestamp_millis());
        }
    }
    seen
}

#[cfg(target_os = "linux")]
#[test]
fn unwritable_spool_falls_back_to_memory_and_delivers_everything() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = SpoolLimits {
        max_bytes: 1024 * 1024,
        segment_bytes: 1,
    };
    let (spool, _) = Spool::open(dir.path(), limits).expect("open spool");
    // Every round gets a segment of its own: the second one, starting at sequence 5, cannot
    // take a single byte.
    std::os::unix::fs::symlink("/dev/full", dir.path().join(format!("{:020}.seg", ROUND)))
        .expect("symlink");

    let config = KafkaConfig {
        bootstrap_servers: cluster.bootstrap_servers(),
        linger: Duration::from_millis(5),
        ..KafkaConfig::default()
    };
    let metrics = AgentMetrics::new();
    let shipper = KafkaShipper::new(
        &config,
        None,
        Interceptors::default(),
        spool,
        metrics.clone(),
    )
    .expect("shipper");
    // The shipper is the sampler's sink: each round handed over is spooled at once, in a
    // segment of its own.
    let mut shipper = shipper;
    for round in 0..ROUNDS {
        let events: Vec<Event> = (0..ROUND)
            .map(|i| event((round * ROUND + i) as i64))
            .collect();
        assert!(shipper.take(events), "the shipper takes round {round}");
    }
    let summary = shipper.finish();

    assert_eq!(metrics.get(Count::Sampled), (ROUND * ROUNDS) as u64);
    assert_eq!(
        metrics.get(Count::Spooled),
        ROUND as u64,
        "only the first round spooled"
    );
    assert_eq!(metrics.get(Count::SpoolErrors), (ROUNDS - 1) as u64);
    assert_eq!(metrics.get(Count::Acknowledged), (ROUND * ROUNDS) as u64);
    assert_eq!(summary.lost_from_memory, 0);
    assert_eq!(summary.left_in_spool, 0);

    let timestamps = read_timestamps(&cluster.bootstrap_servers(), ROUND * ROUNDS);
    assert_eq!(timestamps.len(), ROUND * ROUNDS, "every event delivered");
}
