// over 500 lines: one test per DSL operator and example, each independent.
//! The DSL is general: the reference's other examples and every operator, run by the driver.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};
use ferrobeat_streams::errors::DEFAULT_DEAD_LETTER_TOPIC;
use ferrobeat_streams::serdes::{Bytes, Json, Nullable, Utf8};
use ferrobeat_streams::topology::{
    KStream, ProcessingErrorKind, StreamsBuilder, Topology, TopologyError,
};

type Text = KStream<Nullable<Bytes>, Utf8>;

/// A topology reading `in` as text with raw nullable keys, shaped by `shape`.
fn text_topology(shape: impl FnOnce(Text)) -> Topology {
    let builder = StreamsBuilder::new();
    shape(builder.stream::<Nullable<Bytes>, Utf8>("in"));
    builder.build().expect("valid topology")
}

/// Pipes `values` into `in` and returns the values written to `out`.
fn run(topology: Topology, values: &[&str]) -> Vec<String> {
    let driver = TopologyTestDriver::new(topology);
    driver.create_input_topic("in").pipe_values(values);
    driver
        .create_output_topic("out")
        .read_value_strings_to_list()
}

#[test]
fn reference_example_copies_a_topic() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Bytes>, Nullable<Bytes>>("in")
        .to("out");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    let input = driver.create_input_topic("in");
    input.pipe_record(
        TestRecord::from_key_value("k", [0xff, 0x00])
            .with_timestamp(42)
            .with_header("h", "v"),
    );
    input.pipe_record(TestRecord::default());
    let output = driver.create_output_topic("out");
    let copied = output.read_record().expect("a copy");
    assert_eq!(
        copied,
        TestRecord::from_key_value("k", [0xff, 0x00])
            .with_timestamp(42)
            .with_header("h", "v")
    );
    assert_eq!(
        output.read_key_value(),
        Some((None, None)),
        "null key and value copied as nulls"
    );
    assert!(output.is_empty());
}

#[test]
fn reference_example_keeps_values_longer_than_five_characters() {
    let topology = text_topology(|s| s.filter(|_, v| v.chars().count() > 5).to("out"));
    assert_eq!(
        run(topology, &["hello", "hello!", "", "Ünïcödé", "12345"]),
        ["hello!", "Ünïcödé"]
    );
}

#[test]
fn filter_not_drops_matches() {
    let topology = text_topology(|s| s.filter_not(|_, v| v.starts_with('#')).to("out"));
    assert_eq!(run(topology, &["#comment", "data", "#x"]), ["data"]);
}

#[test]
fn filter_sees_the_key() {
    let topology = text_topology(|s| {
        s.filter(|k, _| k.as_deref() == Some(b"keep".as_slice()))
            .to("out")
    });
    let driver = TopologyTestDriver::new(topology);
    driver
        .create_input_topic("in")
        .pipe_key_values([("keep", "a"), ("drop", "b"), ("keep", "c")]);
    let out = driver.create_output_topic("out").read_key_values_to_list();
    let keep = Some(b"keep".to_vec());
    assert_eq!(
        out,
        [
            (keep.clone(), Some(b"a".to_vec())),
            (keep, Some(b"c".to_vec()))
        ]
    );
}

#[test]
fn map_values_changes_value_and_type() {
    let topology = text_topology(|s| {
        s.map_values(|v| v.to_uppercase())
            .map_values(|v| format!("{}!", v).into_bytes())
            .to("out")
    });
    assert_eq!(run(topology, &["ab", "ç"]), ["AB!", "Ç!"]);
}

#[test]
fn map_changes_key_and_value() {
    let topology = text_topology(|s| {
        s.map(|_, v| {
            (
                Some(v.len().to_string()),
                v.chars().rev().collect::<String>(),
            )
        })
        .to("out")
    });
    let driver = TopologyTestDriver::new(topology);
    driver
        .create_input_topic("in")
        .pipe_values(["abc", "hello"]);
    let out = driver.create_output_topic("out").read_key_values_to_list();
    assert_eq!(
        out,
        [
            (Some(b"3".to_vec()), Some(b"cba".to_vec())),
            (Some(b"5".to_vec()), Some(b"olleh".to_vec()))
        ]
    );
}

#[test]
fn flat_map_values_emits_zero_or_more_with_the_key() {
    let topology = text_topology(|s| {
        s.flat_map_values(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .to("out")
    });
    let driver = TopologyTestDriver::new(topology);
    let input = driver.create_input_topic("in");
    input.pipe_key_value("line1", "the quick  fox");
    input.pipe_key_value("line2", "   ");
    let out = driver.create_output_topic("out").read_key_values_to_list();
    let key = Some(b"line1".to_vec());
    assert_eq!(
        out,
        ["the", "quick", "fox"].map(|word| (key.clone(), Some(word.as_bytes().to_vec())))
    );
}

#[test]
fn peek_and_foreach_see_every_record() {
    let peeked = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let (peek_count, foreach_bytes) = (Arc::clone(&peeked), Arc::clone(&seen));
    let topology = text_topology(move |s| {
        let s = s.peek(move |_, _| {
            peek_count.fetch_add(1, Ordering::Relaxed);
        });
        s.foreach(move |_, v| {
            foreach_bytes.fetch_add(v.len(), Ordering::Relaxed);
        });
        s.to("out");
    });
    assert_eq!(run(topology, &["ab", "cde"]), ["ab", "cde"]);
    assert_eq!(peeked.load(Ordering::Relaxed), 2);
    assert_eq!(seen.load(Ordering::Relaxed), 5);
}

#[test]
fn merge_joins_two_streams() {
    let builder = StreamsBuilder::new();
    let left = builder.stream::<Nullable<Bytes>, Utf8>("left");
    let right = builder
        .stream::<Nullable<Bytes>, Utf8>("right")
        .map_values(|v| format!("R:{v}"));
    left.merge(&right).to("out");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    driver.create_input_topic("left").pipe_value("a");
    driver.create_input_topic("right").pipe_value("b");
    driver.create_input_topic("left").pipe_value("c");
    assert_eq!(
        driver
            .create_output_topic("out")
            .read_value_strings_to_list(),
        ["a", "R:b", "c"]
    );
}

#[test]
fn split_takes_the_first_matching_branch_and_the_default() {
    let builder = StreamsBuilder::new();
    let mut split = builder
        .stream::<Nullable<Bytes>, Utf8>("in")
        .split_named("by-length-");
    split.branch("short", |_, v| v.len() < 3).to("short");
    split.branch("medium", |_, v| v.len() < 6).to("medium");
    split.branch("also-short", |_, v| v.len() < 2).to("never");
    split.default_branch().to("long");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    driver
        .create_input_topic("in")
        .pipe_values(["a", "abcd", "abcdefgh", "ab"]);
    let read = |topic: &str| {
        driver
            .create_output_topic(topic)
            .read_value_strings_to_list()
    };
    assert_eq!(read("short"), ["a", "ab"]);
    assert_eq!(read("medium"), ["abcd"]);
    assert_eq!(read("long"), ["abcdefgh"]);
    assert!(read("never").is_empty());
}

#[test]
fn split_without_default_drops_the_rest() {
    let topology = text_topology(|s| {
        let mut split = s.split();
        split.branch("x", |_, v| v.starts_with('x')).to("out");
    });
    assert_eq!(run(topology, &["xa", "b", "xc"]), ["xa", "xc"]);
}

#[test]
fn fan_out_gives_each_child_the_record() {
    let topology = text_topology(|s| {
        s.map_values(|v| format!("1:{v}")).to("out");
        s.map_values(|v| format!("2:{v}")).to("out");
    });
    assert_eq!(run(topology, &["a", "b"]), ["1:a", "2:a", "1:b", "2:b"]);
}

#[test]
fn json_serde_maps_typed_values() {
    #[derive(serde::Serialize, serde::Deserialize, Clone)]
    struct Reading {
        host: String,
        pct: f64,
    }
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Bytes>, Json<Reading>>("in")
        .filter(|_, r| r.pct > 0.5)
        .map_values(|r| serde_json::json!({ "hot": r.host }))
        .to("out");
    let topology = builder.build().expect("valid topology");
    let out = run(
        topology,
        &[
            r#"{"host":"a","pct":0.9}"#,
            r#"{"pct":0.7,"host":"b"}"#,
            r#"{"host":"c","pct":0.1}"#,
        ],
    );
    assert_eq!(out, [r#"{"hot":"a"}"#, r#"{"hot":"b"}"#]);
}

#[test]
fn bad_bytes_become_dead_letters_naming_the_node() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Bytes, Json<serde_json::Value>>("in")
        .to("out");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    let input = driver.create_input_topic("in");
    input.pipe_value("{}"); // null key refused by `Bytes`
    input.pipe_key_value("k", "{");
    input.pipe_key_value("k", "[1]");
    assert_eq!(
        driver
            .create_output_topic("out")
            .read_value_strings_to_list(),
        ["[1]"]
    );
    let errors = driver.errors();
    assert_eq!(errors.len(), 2);
    assert!(
        errors
            .iter()
            .all(|e| e.kind == ProcessingErrorKind::Deserialization
                && e.node == "KSTREAM-SOURCE-0000000000")
    );
    assert_eq!(errors[0].message, "key: null where bytes data was expected");
    assert_eq!(
        errors[1].message,
        "value: invalid JSON: EOF while parsing an object at line 1 column 1"
    );
    assert_eq!(
        driver
            .create_output_topic(DEFAULT_DEAD_LETTER_TOPIC)
            .queue_size(),
        2
    );
}

#[test]
fn try_operators_refuse_records_and_discard_their_partial_output() {
    let topology = text_topology(|s| {
        s.to("out");
        s.try_map_values(|v| v.parse::<u32>().map(|n| (n * 2).to_string()))
            .to("doubled");
    });
    let driver = TopologyTestDriver::new(topology);
    driver
        .create_input_topic("in")
        .pipe_values(["21", "x", "4"]);
    assert_eq!(
        driver
            .create_output_topic("out")
            .read_value_strings_to_list(),
        ["21", "4"]
    );
    assert_eq!(
        driver
            .create_output_topic("doubled")
            .read_value_strings_to_list(),
        ["42", "8"]
    );
    let errors = driver.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ProcessingErrorKind::Processing);
    assert_eq!(errors[0].node, "KSTREAM-MAPVALUES-0000000002");
    assert_eq!(errors[0].message, "invalid digit found in string");
}

#[test]
fn values_and_headers_pass_through_borrowed() {
    // A pass-through topology hands the runtime the consumer's own bytes, headers included.
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Bytes>, Bytes>("in")
        .filter(|_, v| !v.is_empty())
        .to("out");
    let topology = builder.build().expect("valid topology");
    let value = b"payload".to_vec();
    let header = b"span-1".to_vec();
    let input = ferrobeat_streams::record::InputRecord {
        source: ferrobeat_streams::record::SourcePosition {
            topic: "in",
            partition: 0,
            offset: 0,
        },
        timestamp: 0,
        key: None,
        value: Some(&value),
        headers: vec![ferrobeat_streams::record::Header {
            key: Cow::Borrowed("trace"),
            value: Some(Cow::Borrowed(&header)),
        }],
    };
    let mut borrowed = 0;
    topology
        .process(&input, &mut |out| {
            assert!(
                matches!(out.value, Some(Cow::Borrowed(v)) if std::ptr::eq(v, value.as_slice()))
            );
            let [inherited] = out.headers.as_slice() else {
                panic!("one header expected: {:?}", out.headers);
            };
            assert!(
                matches!(inherited.value, Some(Cow::Borrowed(v)) if std::ptr::eq(v, header.as_slice())),
                "{inherited:?}"
            );
            borrowed += 1;
        })
        .expect("processed");
    assert_eq!(borrowed, 1);
}

#[test]
fn timestamps_follow_the_input_clock_or_the_record() {
    let topology = text_topology(|s| s.to("out"));
    let driver = TopologyTestDriver::new(topology);
    let input = driver.create_input_topic_with_clock("in", 1_000, 10);
    input.pipe_value("a");
    input.pipe_value_at("b", 5);
    input.pipe_value("c");
    let stamps: Vec<Option<i64>> = driver
        .create_output_topic("out")
        .read_records_to_list()
        .iter()
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(stamps, [Some(1_000), Some(5), Some(1_010)]);
}

#[test]
fn build_refuses_ambiguous_graphs() {
    let builder = StreamsBuilder::new();
    builder.stream::<Bytes, Bytes>("in").to("a");
    builder.stream::<Bytes, Bytes>("in").to("b");
    assert_eq!(
        builder.build().err(),
        Some(TopologyError::DuplicateSourceTopic("in".to_owned()))
    );

    let builder = StreamsBuilder::new();
    builder.stream::<Bytes, Bytes>("in").to("a");
    assert!(builder.build().is_ok());
    assert_eq!(builder.build().err(), Some(TopologyError::AlreadyBuilt));

    // Branch "x" + "y" and split "xy" would both be node "xy".
    let builder = StreamsBuilder::new();
    let s = builder.stream::<Bytes, Bytes>("in");
    s.split_named("x").branch("y", |_, _| true).to("a");
    s.split_named("xy").default_branch().to("b");
    assert_eq!(
        builder.build().err(),
        Some(TopologyError::DuplicateNodeName("xy".to_owned()))
    );
}

#[test]
#[should_panic(expected = "the topology reads no topic \"other\"")]
fn piping_into_an_unread_topic_is_refused() {
    let driver = TopologyTestDriver::new(text_topology(|s| s.to("out")));
    driver.create_input_topic("other");
}

/// Kafka Streams' word-count-like shape without state: two sub-topologies.
fn two_subtopologies() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Bytes>, Utf8>("streams-plaintext-input")
        .flat_map_values(|v| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|_, w| !w.is_empty())
        .to("words");
    builder
        .stream::<Nullable<Bytes>, Utf8>("words")
        .peek(|_, _| {})
        .to("streams-output");
    builder.build().expect("valid topology")
}

#[test]
fn describe_matches_kafka_streams_text() {
    assert_eq!(
        two_subtopologies().describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [streams-plaintext-input])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000002 (stores: [])
      --> KSTREAM-SINK-0000000003
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Sink: KSTREAM-SINK-0000000003 (topic: words)
      <-- KSTREAM-FILTER-0000000002

   Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000004 (topics: [words])
      --> KSTREAM-PEEK-0000000005
    Processor: KSTREAM-PEEK-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000006
      <-- KSTREAM-SOURCE-0000000004
    Sink: KSTREAM-SINK-0000000006 (topic: streams-output)
      <-- KSTREAM-PEEK-0000000005

"
    );
}

#[test]
fn describe_shows_terminal_processors_and_topics_named_like_nodes() {
    let builder = StreamsBuilder::new();
    let s = builder.stream::<Bytes, Bytes>("KSTREAM-FOREACH-0000000001");
    s.foreach(|_, _| {});
    let description = builder.build().expect("valid topology").describe();
    assert_eq!(
        description.to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [KSTREAM-FOREACH-0000000001])
      --> KSTREAM-FOREACH-0000000001
    Processor: KSTREAM-FOREACH-0000000001 (stores: [])
      --> none
      <-- KSTREAM-SOURCE-0000000000

"
    );
    // A topic and a node of the same name stay two vertices in the drawings.
    assert!(
        description
            .to_mermaid()
            .ends_with("  t0 --> n0\n  n0 --> n1\n"),
        "{}",
        description.to_mermaid()
    );
    assert!(
        description
            .to_dot()
            .contains("\"topic:KSTREAM-FOREACH-0000000001\" -> \"node:KSTREAM-SOURCE-0000000000\"")
    );
}

#[test]
fn named_nodes_show_in_descriptions_and_errors() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Bytes>, Utf8>("in")
        .named("lines")
        .try_map_values(|v| v.parse::<i64>().map(|n| n.to_string()))
        .named("parse-number")
        .to("out");
    let topology = builder.build().expect("valid topology");
    let text = topology.describe().to_string();
    assert!(
        text.contains("    Source: lines (topics: [in])\n      --> parse-number\n"),
        "{text}"
    );
    assert!(
        text.contains("    Processor: parse-number (stores: [])\n"),
        "{text}"
    );
    let driver = TopologyTestDriver::new(topology);
    driver.create_input_topic("in").pipe_value("x");
    assert_eq!(driver.errors()[0].node, "parse-number");
    let letter = driver
        .create_output_topic(DEFAULT_DEAD_LETTER_TOPIC)
        .read_record()
        .expect("a dead letter");
    assert_eq!(
        letter
            .header_string("__streams.errors.stacktrace")
            .as_deref(),
        Some("processing error in node parse-number: invalid digit found in string")
    );
}

// Checks the describe formats as processor_cli.rs does through the binary.
#[test]
fn describe_renders_dot_and_mermaid() {
    let description = two_subtopologies().describe();
    let dot = description.to_dot();
    for line in [
        "digraph topology {",
        "  \"topic:words\" [shape=cylinder, label=\"words\"];",
        "  subgraph cluster_1 {",
        "    label=\"Sub-topology: 1\";",
        "    \"node:KSTREAM-PEEK-0000000005\" [shape=box, label=\"KSTREAM-PEEK-0000000005\"];",
        "  \"topic:streams-plaintext-input\" -> \"node:KSTREAM-SOURCE-0000000000\";",
        "  \"node:KSTREAM-SINK-0000000003\" -> \"topic:words\";",
        "  \"topic:words\" -> \"node:KSTREAM-SOURCE-0000000004\";",
        "  \"node:KSTREAM-PEEK-0000000005\" -> \"node:KSTREAM-SINK-0000000006\";",
    ] {
        assert!(dot.lines().any(|l| l == line), "missing {line:?} in\n{dot}");
    }
    let mermaid = description.to_mermaid();
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    for line in [
        "  t0[(\"streams-plaintext-input\")]",
        "  t1[(\"words\")]",
        "  subgraph s0[\"Sub-topology: 0\"]",
        "    n0[\"KSTREAM-SOURCE-0000000000\"]",
        "  t0 --> n0",
        "  n3 --> t1",
        "  t1 --> n4",
    ] {
        assert!(
            mermaid.lines().any(|l| l == line),
            "missing {line:?} in\n{mermaid}"
        );
    }
}
