//! The broker harness really talks to Kafka: produce and consume through it, alone and as a
//! consumer group of two members that split the partitions between them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrobeat_tests::TestKafka;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

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
}

/// Produces `per_partition` records to each of `partitions` partitions, named after their
/// partition; returns them as (partition, value).
fn produce_to_each_partition(
    kafka: &TestKafka,
    topic: &str,
    partitions: i32,
    per_partition: usize,
    tag: &str,
) -> BTreeSet<(i32, Vec<u8>)> {
    let producer: BaseProducer = kafka
        .client_config()
        .set("acks", "all")
        .create()
        .expect("producer");
    let mut sent = BTreeSet::new();
    for partition in 0..partitions {
        for i in 0..per_partition {
            let value = format!("{tag}-p{partition}-{i}").into_bytes();
            producer
                .send(
                    BaseRecord::<(), [u8]>::to(topic)
                        .partition(partition)
                        .payload(&value),
                )
                .expect("queue the record");
            sent.insert((partition, value));
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("every record acknowledged");
    sent
}

/// The harness reads every partition, whatever the partitioner did with keyless records.
#[test]
fn read_topic_reads_every_partition() {
    let kafka = TestKafka::start().expect("broker");
    let topic = kafka.unique_topic("smoke-partitions");
    kafka.create_topic(&topic, 3).expect("topic");
    let sent = produce_to_each_partition(&kafka, &topic, 3, 10, "r");

    let read = kafka
        .read_topic(&topic, sent.len(), Duration::from_secs(20))
        .expect("read");
    let got: BTreeSet<(i32, Vec<u8>)> = read
        .iter()
        .map(|r| (r.partition, r.value.clone().expect("a value")))
        .collect();
    assert_eq!(read.len(), sent.len(), "every record once");
    assert_eq!(
        got, sent,
        "each record read from the partition it was sent to"
    );
}

/// Each member's assigned partitions, as it reports them.
fn assigned(consumer: &BaseConsumer) -> BTreeSet<i32> {
    consumer
        .assignment()
        .expect("assignment")
        .elements()
        .iter()
        .map(|element| element.partition())
        .collect()
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
    let members = [&a, &b];

    // Poll both until each reports a share of a split of the 3 partitions: what each member
    // reads before that depends on when the second one's join moved partitions.
    let deadline = Instant::now() + Duration::from_secs(60);
    let split = loop {
        for consumer in members {
            let _ = consumer.poll(Duration::from_millis(50));
        }
        let (parts_a, parts_b) = (assigned(&a), assigned(&b));
        let union: BTreeSet<i32> = parts_a.union(&parts_b).copied().collect();
        if !parts_a.is_empty()
            && !parts_b.is_empty()
            && parts_a.is_disjoint(&parts_b)
            && union.len() == 3
        {
            break [parts_a, parts_b];
        }
        assert!(
            Instant::now() < deadline,
            "no split of 3 partitions between two members within 60 s: {parts_a:?} {parts_b:?}"
        );
    };

    // Records sent to each partition now are read by the member that owns it, and only by it.
    let sent = produce_to_each_partition(&kafka, &topic, 3, 10, "v");
    let mut read: [BTreeSet<(i32, Vec<u8>)>; 2] = Default::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && read[0].len() + read[1].len() < sent.len() {
        for (consumer, got) in members.iter().zip(&mut read) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                got.insert((m.partition(), m.payload().unwrap_or_default().to_vec()));
            }
        }
    }
    for (member, (parts, got)) in split.iter().zip(&read).enumerate() {
        assert_eq!(
            assigned(members[member]),
            *parts,
            "member {member}'s assignment held while reading"
        );
        let expected: BTreeSet<(i32, Vec<u8>)> = sent
            .iter()
            .filter(|(partition, _)| parts.contains(partition))
            .cloned()
            .collect();
        assert_eq!(
            *got, expected,
            "member {member} reads exactly its partitions {parts:?}"
        );
    }
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
