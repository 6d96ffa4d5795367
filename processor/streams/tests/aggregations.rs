//! Grouping and aggregations through the test driver: `count`, `reduce` and `aggregate` into a
//! table backed by a store and its changelog, null keys and values, re-keying through a
//! repartition topic, and descriptions in Kafka Streams' names.

use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};
use ferrobeat_streams::serdes::{Long, Nullable, Utf8};
use ferrobeat_streams::{StreamsBuilder, Topology};

/// A count per key of `words` written to `counts`, grouped by key or, with `by_value`, by the
/// word in the value (through a repartition topic).
fn word_count(by_value: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let words = builder.stream::<Nullable<Utf8>, Nullable<Utf8>>("words");
    let grouped = if by_value {
        words.group_by(|_, word| word.as_deref().map(str::to_owned))
    } else {
        words.group_by_key()
    };
    grouped.count().to_stream().to("counts");
    builder.build().expect("valid topology")
}

/// The records of `topic` as (text key, decoded value).
fn read<T>(
    driver: &TopologyTestDriver,
    topic: &str,
    decode: impl Fn(Vec<u8>) -> T,
) -> Vec<(String, Option<T>)> {
    driver
        .create_output_topic(topic)
        .read_key_values_to_list()
        .into_iter()
        .map(|(key, value)| {
            let key = String::from_utf8(key.unwrap_or_default()).expect("utf-8 key");
            (key, value.map(&decode))
        })
        .collect()
}

fn long(bytes: Vec<u8>) -> i64 {
    i64::from_be_bytes(bytes.try_into().expect("8 bytes"))
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("utf-8")
}

fn counted(expected: &[(&str, i64)]) -> Vec<(String, Option<i64>)> {
    expected
        .iter()
        .map(|(key, count)| ((*key).to_owned(), Some(*count)))
        .collect()
}

#[test]
fn count_by_key_emits_every_update_and_keeps_the_store_and_changelog() {
    let driver = TopologyTestDriver::new(word_count(false)).with_application_id("wc");
    let words = driver.create_input_topic("words");
    words.pipe_key_values([("a", "x"), ("b", "y"), ("a", "z")]);
    assert_eq!(
        read(&driver, "counts", long),
        counted(&[("a", 1), ("b", 1), ("a", 2)])
    );
    let store = "KSTREAM-AGGREGATE-STATE-STORE-0000000001";
    assert_eq!(
        driver.key_value_store(store),
        Some(vec![
            (b"a".to_vec(), 2i64.to_be_bytes().to_vec()),
            (b"b".to_vec(), 1i64.to_be_bytes().to_vec()),
        ])
    );
    assert_eq!(
        read(&driver, &format!("wc-{store}-changelog"), long),
        counted(&[("a", 1), ("b", 1), ("a", 2)]),
        "every update goes to the changelog, never a tombstone"
    );
    assert!(
        driver
            .produced_topic_names()
            .iter()
            .all(|topic| !topic.ends_with("-repartition")),
        "an unchanged key needs no repartition topic: {:?}",
        driver.produced_topic_names()
    );
}

#[test]
fn null_keys_are_dropped_and_counted_and_null_values_ignored() {
    let driver = TopologyTestDriver::new(word_count(false));
    let words = driver.create_input_topic("words");
    words.pipe_record(TestRecord::from_value("keyless"));
    words.pipe_record(TestRecord {
        key: Some(b"a".to_vec()),
        ..TestRecord::default()
    });
    words.pipe_key_value("a", "x");
    assert_eq!(read(&driver, "counts", long), counted(&[("a", 1)]));
    assert_eq!(driver.dropped_without_key(), 1);
    assert!(driver.errors().is_empty(), "{:?}", driver.errors());
}

#[test]
fn reduce_starts_from_the_first_value_and_combines_the_next() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Utf8>("letters")
        .group_by_key()
        .reduce(|joined, letter| format!("{joined}{letter}"))
        .to_stream()
        .to("words");
    let topology = builder.build().expect("valid topology");
    assert_eq!(
        topology
            .stores()
            .iter()
            .map(|store| store.name.as_str())
            .collect::<Vec<_>>(),
        ["KSTREAM-REDUCE-STATE-STORE-0000000001"]
    );
    let driver = TopologyTestDriver::new(topology);
    driver.create_input_topic("letters").pipe_key_values([
        ("1", "a"),
        ("2", "x"),
        ("1", "b"),
        ("1", "c"),
    ]);
    let expected = [("1", "a"), ("2", "x"), ("1", "ab"), ("1", "abc")];
    assert_eq!(
        read(&driver, "words", text),
        expected
            .iter()
            .map(|(key, value)| ((*key).to_owned(), Some((*value).to_owned())))
            .collect::<Vec<_>>()
    );
}

#[test]
fn aggregate_folds_from_the_initializer_into_another_type() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Utf8>("words")
        .group_by_key()
        .aggregate_as(
            "lengths",
            || 100i64,
            |_key, word, total: i64| total + i64::try_from(word.len()).unwrap_or(i64::MAX),
        )
        .to_stream()
        .to("totals");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    driver
        .create_input_topic("words")
        .pipe_key_values([("k", "abc"), ("k", "de"), ("j", "")]);
    assert_eq!(
        read(&driver, "totals", long),
        counted(&[("k", 103), ("k", 105), ("j", 100)])
    );
    assert_eq!(
        driver
            .key_value_store("lengths")
            .map(|entries| entries.len()),
        Some(2)
    );
    assert_eq!(
        driver
            .create_output_topic("topology-test-driver-lengths-changelog")
            .queue_size(),
        3
    );
}

#[test]
fn a_table_of_counts_can_be_transformed_like_any_table() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Utf8>("words")
        .group_by_key()
        .count()
        .filter(|_, count| *count >= 2)
        .to_stream()
        .to("repeated");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    driver
        .create_input_topic("words")
        .pipe_key_values([("a", "1"), ("b", "1"), ("a", "2")]);
    let repeated: Vec<(String, Option<i64>)> = read(&driver, "repeated", long);
    assert_eq!(
        repeated,
        [
            ("a".to_owned(), None),
            ("b".to_owned(), None),
            ("a".to_owned(), Some(2))
        ]
    );
}

#[test]
fn group_by_goes_through_a_repartition_topic_keyed_by_the_new_key() {
    let driver = TopologyTestDriver::new(word_count(true)).with_application_id("wc");
    let words = driver.create_input_topic("words");
    words.pipe_record(TestRecord::from_key_value("line-1", "kafka").with_timestamp(10));
    words.pipe_record(TestRecord::from_value("streams").with_timestamp(20));
    words.pipe_record(TestRecord::from_key_value("line-3", "kafka").with_timestamp(30));
    words.pipe_record(TestRecord {
        key: Some(b"line-4".to_vec()),
        timestamp: Some(40),
        ..TestRecord::default()
    });
    assert_eq!(
        read(&driver, "counts", long),
        counted(&[("kafka", 1), ("streams", 1), ("kafka", 2)])
    );
    let topic = "wc-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition";
    let repartitioned = driver.create_output_topic(topic).read_records_to_list();
    assert_eq!(
        repartitioned
            .iter()
            .map(|record| (record.key.clone(), record.value_string(), record.timestamp))
            .collect::<Vec<_>>(),
        [
            (Some(b"kafka".to_vec()), Some("kafka".to_owned()), Some(10)),
            (
                Some(b"streams".to_vec()),
                Some("streams".to_owned()),
                Some(20)
            ),
            (Some(b"kafka".to_vec()), Some("kafka".to_owned()), Some(30)),
        ],
        "the re-keyed records, without the one whose new key is null"
    );
    assert_eq!(driver.dropped_without_key(), 1);
    let topology = word_count(true).for_application("wc");
    assert_eq!(topology.source_topics(), ["words", topic]);
    assert_eq!(topology.sink_topics(), [topic, "counts"]);
    assert_eq!(topology.repartition_topics(), [topic]);
    assert_eq!(
        topology.for_application("other").repartition_topics(),
        ["other-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition"],
        "naming again replaces the application id"
    );
}

#[test]
fn group_by_key_after_select_key_repartitions_too() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Utf8>, Utf8>("orders")
        .select_key(|_, order| order.split(':').next().unwrap_or_default().to_owned())
        .group_by_key()
        .count_as("orders-per-customer")
        .to_stream()
        .to("order_counts");
    let topology = builder.build().expect("valid topology");
    assert_eq!(
        topology.repartition_topics(),
        ["orders-per-customer-repartition"]
    );
    let driver = TopologyTestDriver::new(topology).with_application_id("shop");
    driver.create_input_topic("orders").pipe_values([
        "jihun:iPhone",
        "gildong:Galaxy",
        "jihun:G-Wagon",
    ]);
    assert_eq!(
        read(&driver, "order_counts", long),
        counted(&[("jihun", 1), ("gildong", 1), ("jihun", 2)])
    );
    assert_eq!(
        driver
            .create_output_topic("shop-orders-per-customer-changelog")
            .queue_size(),
        3
    );
}

#[test]
fn describe_names_nodes_stores_and_repartition_topics_as_kafka_streams() {
    assert_eq!(
        word_count(true).describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [words])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-KEY-SELECT-0000000001
    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000005

   Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> KTABLE-TOSTREAM-0000000007
      <-- KSTREAM-SOURCE-0000000006
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: counts)
      <-- KTABLE-TOSTREAM-0000000007

"
    );
    assert_eq!(
        word_count(false).describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [words])
      --> KSTREAM-AGGREGATE-0000000002
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])
      --> KTABLE-TOSTREAM-0000000003
      <-- KSTREAM-SOURCE-0000000000
    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-AGGREGATE-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: counts)
      <-- KTABLE-TOSTREAM-0000000003

"
    );
}

#[test]
fn a_given_store_name_names_the_repartition_nodes_after_its_topic() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Utf8>("words")
        .group_by(|_, word| word.to_string())
        .count_as("counts")
        .to_stream()
        .to("out");
    let description = builder
        .build()
        .expect("valid topology")
        .describe()
        .to_string();
    for expected in [
        "Processor: counts-repartition-filter (stores: [])",
        "Sink: counts-repartition-sink (topic: counts-repartition)",
        "Source: counts-repartition-source (topics: [counts-repartition])",
        // Kafka burns the generated indices 3 to 5 all the same.
        "Processor: KSTREAM-AGGREGATE-0000000002 (stores: [counts])",
        "Processor: KTABLE-TOSTREAM-0000000006 (stores: [])",
    ] {
        assert!(description.contains(expected), "{expected}\n{description}");
    }
}

#[test]
fn reduce_ignores_null_values() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Utf8, Nullable<Long>>("numbers")
        .group_by_key()
        .reduce(|sum: Option<i64>, next: Option<i64>| Some(sum.unwrap_or(0) + next.unwrap_or(0)))
        .to_stream()
        .to("sums");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    let numbers = driver.create_input_topic("numbers");
    numbers.pipe_key_value("k", 2i64.to_be_bytes());
    numbers.pipe_record(TestRecord {
        key: Some(b"k".to_vec()),
        ..TestRecord::default()
    });
    numbers.pipe_key_value("k", 3i64.to_be_bytes());
    assert_eq!(read(&driver, "sums", long), counted(&[("k", 2), ("k", 5)]));
    assert!(driver.errors().is_empty(), "{:?}", driver.errors());
}
