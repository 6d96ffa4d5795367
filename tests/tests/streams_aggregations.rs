//! Aggregations on the broker: a count over a re-keyed stream goes through its repartition
//! topic (created at start, keyed by the new key), keeps its store in a changelog, and after a
//! clean stop a new instance restores the store and continues counting from it.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrobeat_streams::StreamsBuilder;
use ferrobeat_streams::config::StreamsConfig;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use ferrobeat_streams::serdes::{Nullable, Utf8};
use ferrobeat_tests::TestKafka;

const PARTITIONS: i32 = 3;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the word count of `words` into `counts` under `application_id` until it has written
/// `outputs` records to `counts` in all, then stops it cleanly.
fn run_word_count(
    kafka: &TestKafka,
    application_id: &str,
    (words, counts): (&str, &str),
    outputs: usize,
) {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Utf8>, Utf8>(words)
        .group_by(|_, word| word.to_string())
        .count()
        .to_stream()
        .to(counts);
    let mut config = StreamsConfig::new(kafka.bootstrap_servers(), application_id);
    config
        .kafka
        .properties
        .insert("session.timeout.ms".to_owned(), "6000".to_owned());
    let runtime = StreamsRuntime::new(builder.build().expect("valid topology"), config);
    runtime.start().expect("start");
    assert_eq!(
        runtime.wait_until(TIMEOUT, |state| state == ClientState::Running),
        ClientState::Running
    );
    let written = kafka.read_topic(counts, outputs, TIMEOUT).expect("read");
    assert!(written.len() >= outputs, "{} of {outputs}", written.len());
    assert_eq!(runtime.close(TIMEOUT), ClientState::NotRunning);
}

/// Every count written per word, in the order written (a word's counts share a partition).
fn counts_by_word(kafka: &TestKafka, counts: &str, at_least: usize) -> BTreeMap<String, Vec<i64>> {
    let mut by_word: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for record in kafka.read_topic(counts, at_least, TIMEOUT).expect("read") {
        let word = String::from_utf8(record.key.expect("keyed")).expect("utf-8");
        let count = i64::from_be_bytes(record.value.expect("a count").try_into().expect("8 bytes"));
        by_word.entry(word).or_default().push(count);
    }
    by_word
}

fn produce_words(kafka: &TestKafka, topic: &str, words: &[&str]) {
    let values: Vec<Vec<u8>> = words.iter().map(|word| word.as_bytes().to_vec()).collect();
    kafka.produce(topic, &values).expect("produce words");
}

#[test]
fn a_count_over_a_re_keyed_stream_continues_from_its_restored_store_after_a_restart() {
    let kafka = TestKafka::start().expect("broker");
    let words = kafka.unique_topic("words");
    let counts = kafka.unique_topic("counts");
    let application_id = kafka.unique_topic("word-count");
    kafka.create_topic(&words, PARTITIONS).expect("words");
    kafka.create_topic(&counts, PARTITIONS).expect("counts");

    produce_words(
        &kafka,
        &words,
        &["kafka", "streams", "kafka", "rust", "kafka", "streams"],
    );
    run_word_count(&kafka, &application_id, (&words, &counts), 6);
    let first = counts_by_word(&kafka, &counts, 6);
    let expected = |pairs: &[(&str, i64)]| -> BTreeMap<String, Vec<i64>> {
        pairs
            .iter()
            .map(|(word, n)| ((*word).to_owned(), (1..=*n).collect()))
            .collect()
    };
    assert_eq!(
        first,
        expected(&[("kafka", 3), ("rust", 1), ("streams", 2)])
    );

    let repartition =
        format!("{application_id}-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition");
    let repartitioned = kafka.read_topic(&repartition, 6, TIMEOUT).expect("read");
    assert_eq!(repartitioned.len(), 6, "one record per word");
    let mut partition_of: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
    for record in &repartitioned {
        let key = record.key.clone().expect("keyed by the word");
        assert_eq!(Some(key.as_slice()), record.value.as_deref());
        let partition = *partition_of.entry(key).or_insert(record.partition);
        assert_eq!(partition, record.partition, "a word stays on one partition");
    }

    // A new instance (in-memory stores) restores the count from its changelog and goes on.
    produce_words(&kafka, &words, &["kafka", "rust", "kafka"]);
    run_word_count(&kafka, &application_id, (&words, &counts), 9);
    assert_eq!(
        counts_by_word(&kafka, &counts, 9),
        expected(&[("kafka", 5), ("rust", 2), ("streams", 2)]),
        "the counts continue from the restored store, none repeated"
    );
}

#[test]
fn a_repartition_topic_with_another_partition_count_is_refused_at_start() {
    let kafka = TestKafka::start().expect("broker");
    let words = kafka.unique_topic("words");
    let application_id = kafka.unique_topic("word-count");
    kafka.create_topic(&words, PARTITIONS).expect("words");
    let repartition = format!("{application_id}-counts-repartition");
    kafka
        .create_topic(&repartition, 1)
        .expect("a hand-made repartition topic");
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Utf8>, Utf8>(&words)
        .group_by(|_, word| word.to_string())
        .count_as("counts");
    let config = StreamsConfig::new(kafka.bootstrap_servers(), &application_id);
    let runtime = StreamsRuntime::new(builder.build().expect("valid topology"), config);
    let error = runtime.start().expect_err("refused").to_string();
    let expected = format!(
        "repartition topic {repartition:?} has 1 partitions but the topics it repartitions have \
         {PARTITIONS}: delete it or recreate it with {PARTITIONS} partitions"
    );
    assert!(error.contains(&expected), "{error}");
}
