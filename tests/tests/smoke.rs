//! The broker harness really talks to Kafka: produce and consume through it, alone and as a
//! consumer group of two members that split the partitions between them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrobeat_tests::TestKafka;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

#[test]
fn produce_then_read_back_every_record() {
    let kafka = TestKafka::start().expect("broker");
    let topic = kafka.unique_topic("smoke");
    kafka.create_topic(&topic, 3).expect("topic");
    let values: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("record-{i}").into_bytes())
        .collect();
    kafka.produce(&topic, &values).expect("produce");

    let read = kafka
        .read_topic(&topic, values.len(), Duration::from_secs(20))
        .expect("read");
    let got: BTreeSet<Vec<u8>> = read.iter().filter_map(|r| r.value.clone()).collect();
    assert_eq!(read.len(), values.len(), "every record once");
    assert_eq!(got, values.into_iter().collect::<BTreeSet<_>>());
    let partitions: BTreeSet<i32> = read.iter().map(|r| r.partition).collect();
    assert!(
        partitions.len() > 1,
        "keyless records spread over partitions: {partitions:?}"
    );
}

#[test]
fn a_group_of_two_splits_the_partitions() {
    let kafka = TestKafka::start().expect("broker");
    let topic = kafka.unique_topic("smoke-group");
    kafka.create_topic(&topic, 3).expect("topic");
    let group = kafka.unique_topic("smoke-group-id");
    let member = || -> BaseConsumer {
        let consumer: BaseConsumer = kafka
            .client_config()
            .set("group.id", &group)
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        consumer
    };
    let (a, b) = (member(), member());
    let values: Vec<Vec<u8>> = (0..90).map(|i| format!("v{i}").into_bytes()).collect();
    kafka.produce(&topic, &values).expect("produce");

    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut parts_a, mut parts_b) = (BTreeSet::new(), BTreeSet::new());
    while Instant::now() < deadline && seen.len() < values.len() {
        for (consumer, parts) in [(&a, &mut parts_a), (&b, &mut parts_b)] {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                seen.insert(m.payload().map(<[u8]>::to_vec));
                parts.insert(m.partition());
            }
        }
    }
    assert_eq!(seen.len(), values.len(), "the group read every record");
    let assigned = |c: &BaseConsumer| c.assignment().expect("assignment").count();
    assert_eq!(
        assigned(&a) + assigned(&b),
        3,
        "3 partitions split between two members"
    );
    assert!(
        assigned(&a) >= 1 && assigned(&b) >= 1,
        "both members own partitions"
    );
    assert!(
        parts_a.is_disjoint(&parts_b),
        "no partition read by both: {parts_a:?} {parts_b:?}"
    );
}

#[test]
fn without_a_broker_the_harness_fails() {
    let mut kafka = TestKafka::start().expect("broker");
    if kafka.is_external() {
        return;
    }
    let topic = kafka.unique_topic("smoke-gone");
    kafka.create_topic(&topic, 1).expect("topic");
    kafka.stop();
    let err = kafka
        .read_topic(&topic, 1, Duration::from_secs(3))
        .expect_err("reading from a stopped broker must fail");
    assert!(err.to_string().contains(&topic), "{err:#}");
}
