//! Unit tests of the topology module: topic names and the topology's entry points.

use super::*;

#[test]
fn topology_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Topology>();
}

#[test]
fn topic_names_follow_kafka_rules() {
    assert_eq!(validate_topic_name("metric.cpu-alert_2"), Ok(()));
    assert!(validate_topic_name("").is_err());
    assert!(validate_topic_name("..").is_err());
    assert!(validate_topic_name(&"a".repeat(250)).is_err());
    assert_eq!(
        validate_topic_name("métric"),
        Err("topic name \"métric\" contains 'é'; only ASCII letters, digits, '.', '_' and '-' are allowed".to_owned())
    );
}

/// A record of `topic` at offset 0 of partition 0, stamped 0, without headers.
fn record_of<'a>(
    topic: &'a str,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
) -> InputRecord<'a> {
    InputRecord {
        source: crate::record::SourcePosition {
            topic,
            partition: 0,
            offset: 0,
        },
        timestamp: 0,
        key,
        value,
        headers: Vec::new(),
    }
}

#[test]
fn unknown_source_topic_is_an_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<serdes::Bytes, serdes::Bytes>("in")
        .to("out");
    let topology = builder.build().expect("valid topology");
    let record = record_of("other", None, None);
    let error = topology
        .process(&record, &mut |_| {})
        .expect_err("unknown topic");
    assert_eq!(
        error.to_string(),
        "processing error in node topology: no source reads topic \"other\""
    );
}

#[test]
fn observed_processing_names_every_node_entered_in_order() {
    let builder = StreamsBuilder::new();
    let mut split = builder
        .stream::<serdes::Bytes, serdes::Bytes>("in")
        .split_named("route-");
    split.branch("big", |_, value| value.len() > 3).to("big");
    split.default_branch().to("small");
    let topology = builder.build().expect("valid topology");
    let mut state = topology.new_task_state(&topology.new_global_stores());
    let mut names = |value: &[u8]| {
        let record = record_of("in", Some(b"k"), Some(value));
        let mut entered = Vec::new();
        let mut outputs = 0;
        topology
            .process_observed(&mut state, &record, &mut |_| outputs += 1, &mut |node| {
                entered.push(node.to_owned())
            })
            .expect("processed");
        assert_eq!(outputs, 1);
        entered
    };
    let small = names(b"ab");
    assert_eq!(
        small.first().map(String::as_str),
        Some("KSTREAM-SOURCE-0000000000")
    );
    assert!(small.contains(&"route-0".to_owned()), "{small:?}");
    assert!(!small.contains(&"route-big".to_owned()), "{small:?}");
    assert!(
        small
            .last()
            .is_some_and(|node| node.starts_with("KSTREAM-SINK-")),
        "{small:?}"
    );
    assert!(names(b"abcdef").contains(&"route-big".to_owned()));
}

#[test]
fn only_the_topics_one_subtopology_reads_together_are_co_read() {
    use crate::serdes::{Nullable, Utf8};
    let builder = StreamsBuilder::new();
    let addresses = builder.table::<Utf8, Utf8>("address");
    builder
        .stream::<Utf8, Utf8>("order")
        .join(&addresses, |order, address| format!("{order}@{address}"))
        .to("joined");
    let joined = builder.build().expect("valid topology");
    let mut co_read = joined.co_read_source_topics();
    co_read.sort_unstable();
    assert_eq!(co_read, ["address", "order"]);

    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Utf8>, Utf8>("events")
        .group_by(|_, host| host.to_string())
        .count()
        .to_stream()
        .to("counts");
    let repartitioned = builder.build().expect("valid topology");
    assert_eq!(
        repartitioned.source_topics().len(),
        2,
        "events and the repartition topic"
    );
    assert!(
        repartitioned.co_read_source_topics().is_empty(),
        "a repartition topic's sub-topology is a task of its own"
    );
}
