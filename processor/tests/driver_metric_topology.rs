// over 500 lines: one test per routing, alert and dead-letter rule of the metric topology, each independent.
//! The metric topology run by the test driver: routing, alerts, dead letters.

mod mission;

use mission::{
    CPU_EVENT, MEMORY_EVENT, MISSION_ALERT, cpu_event_with_norm_pct, driver, hot_cpu_event,
};

use std::sync::Arc;

use ferrobeat_processor::metric_topology::{
    MetricPipeline, MetricTopologyConfig, TopologyCounts, metric_pipeline, metric_topology,
};
use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};
use ferrobeat_streams::errors::{ErrorHandlingConfig, ErrorPolicy};

const OUTPUTS: [&str; 4] = [
    "metric.cpu",
    "metric.memory",
    "metric.cpu.alert",
    "metric.dlq",
];

/// Pipes `values` into the default metric topology and returns what each output topic got.
fn run(values: &[&str]) -> [Vec<String>; 4] {
    run_with(&MetricTopologyConfig::default(), values)
}

fn run_with(config: &MetricTopologyConfig, values: &[&str]) -> [Vec<String>; 4] {
    let driver = driver(metric_topology(config));
    driver
        .create_input_topic(&config.input_topic)
        .pipe_values(values);
    OUTPUTS.map(|topic| {
        driver
            .create_output_topic(topic)
            .read_value_strings_to_list()
    })
}

#[test]
fn mission_documents_are_routed_byte_for_byte() {
    let [cpu, memory, alerts, dead] = run(&[CPU_EVENT, MEMORY_EVENT]);
    assert_eq!(cpu, [CPU_EVENT]);
    assert_eq!(memory, [MEMORY_EVENT]);
    assert!(alerts.is_empty(), "0.1889 must not alert: {alerts:?}");
    assert!(dead.is_empty(), "{dead:?}");
}

#[test]
fn hot_cpu_event_raises_the_mission_alert() {
    let hot = hot_cpu_event();
    let [cpu, memory, alerts, dead] = run(&[&hot]);
    assert_eq!(cpu, [hot.as_str()]);
    assert!(memory.is_empty() && dead.is_empty());
    assert_eq!(alerts, [MISSION_ALERT]);
}

#[test]
fn alert_threshold_is_strictly_greater() {
    let at = cpu_event_with_norm_pct("0.5");
    let above = cpu_event_with_norm_pct("0.5001");
    let integer_one = cpu_event_with_norm_pct("1");
    let [cpu, _, alerts, dead] = run(&[&at, &above, &integer_one]);
    assert_eq!(cpu.len(), 3);
    assert!(dead.is_empty(), "{dead:?}");
    let expected = r#"{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local","timestamp":"2025-01-31T07:55:26.555Z"}"#;
    assert_eq!(
        alerts,
        [expected, expected],
        "0.5 must not alert, 0.5001 and 1 must"
    );
}

#[test]
fn threshold_and_topics_are_configurable() {
    let config: MetricTopologyConfig = toml::from_str(
        "input_topic = \"in\"\ncpu_topic = \"metric.cpu\"\nalert_topic = \"metric.cpu.alert\"\nalert_threshold = 0.1",
    )
    .expect("valid config");
    config.validate().expect("valid config");
    let [cpu, _, alerts, _] = run_with(&config, &[CPU_EVENT]);
    assert_eq!(cpu, [CPU_EVENT]);
    assert_eq!(alerts.len(), 1, "0.1889 > 0.1 must alert");
}

#[test]
fn alert_keeps_extra_host_fields_in_their_order() {
    let event = hot_cpu_event().replace(
        r#""host":{"cpu":{"usage":0.8586},"name":"Aaronui-MacBookPro.local"}"#,
        r#""host":{"name":"web-1","os":{"type":"linux","kernel":"6.1.0"},"cpu":{"usage":0.8586},"architecture":"x86_64","ip":["10.0.0.5","fe80::1"],"zeta":null,"alpha":true}"#,
    );
    let [_, _, alerts, _] = run(&[&event]);
    assert_eq!(
        alerts,
        [
            r#"{"name":"web-1","os":{"type":"linux","kernel":"6.1.0"},"cpu":{"usage":0.8586},"architecture":"x86_64","ip":["10.0.0.5","fe80::1"],"zeta":null,"alpha":true,"timestamp":"2025-01-31T08:00:26.557Z"}"#
        ]
    );
}

#[test]
fn pretty_printed_input_passes_unchanged_and_alerts_compactly() {
    let value: serde_json::Value = serde_json::from_str(&hot_cpu_event()).expect("valid JSON");
    let pretty = serde_json::to_string_pretty(&value).expect("printable");
    // serde_json's Map sorts keys, so build the host with its original member order by hand.
    let pretty = pretty.replace(
        "\"host\": {\n    \"cpu\": {\n      \"usage\": 0.8586\n    },\n    \"name\": \"Aaronui-MacBookPro.local\"\n  }",
        "\"host\" :\t{\r\n    \"name\" : \"Aaronui MacBookPro.local\",\n    \"cpu\": { \"usage\" : 0.8586 }\n  }",
    );
    assert!(
        pretty.contains("\"host\" :\t{"),
        "fixture must hold the hand-made host:\n{pretty}"
    );
    let [cpu, _, alerts, dead] = run(&[&pretty]);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(cpu, [pretty.as_str()]);
    assert_eq!(
        alerts,
        [
            r#"{"name":"Aaronui MacBookPro.local","cpu":{"usage":0.8586},"timestamp":"2025-01-31T08:00:26.557Z"}"#
        ]
    );
}

#[test]
fn unknown_metricsets_are_dropped_unless_routed() {
    let network = CPU_EVENT.replace(r#""name":"cpu""#, r#""name":"network""#);
    let diskio = CPU_EVENT.replace(r#""name":"cpu""#, r#""name":"diskio""#);
    let outputs = run(&[&network, &diskio]);
    assert!(outputs.iter().all(Vec::is_empty), "{outputs:?}");

    let mut config = MetricTopologyConfig::default();
    config
        .extra_routes
        .insert("network".to_owned(), "metric.network".to_owned());
    config.validate().expect("valid config");
    let counts = Arc::new(TopologyCounts::default());
    let driver = driver(metric_pipeline(
        MetricPipeline::stateless(&config),
        Arc::clone(&counts),
    ));
    driver
        .create_input_topic("metric.all")
        .pipe_values([&network, &diskio, &diskio]);
    assert_eq!(
        driver
            .create_output_topic("metric.network")
            .read_value_strings_to_list(),
        [network]
    );
    assert_eq!(driver.produced_topic_names(), ["metric.network"]);
    assert_eq!(
        counts.unrouted.snapshot().into_iter().collect::<Vec<_>>(),
        [("diskio".to_owned(), 2)],
        "dropped records are counted by metricset, routed ones are not"
    );
}

#[test]
fn keys_timestamps_and_headers_are_kept() {
    let driver = driver(metric_topology(&MetricTopologyConfig::default()));
    let input = driver.create_input_topic("metric.all");
    input.pipe_record(
        TestRecord::from_key_value("host-7", hot_cpu_event())
            .with_timestamp(1_738_310_426_557)
            .with_header("origin", "agent-7"),
    );
    for topic in ["metric.cpu", "metric.cpu.alert"] {
        let record = driver
            .create_output_topic(topic)
            .read_record()
            .expect("one record");
        assert_eq!(record.key.as_deref(), Some(b"host-7".as_slice()), "{topic}");
        assert_eq!(record.timestamp, Some(1_738_310_426_557), "{topic}");
        assert_eq!(
            record.header_string("origin").as_deref(),
            Some("agent-7"),
            "{topic}"
        );
    }
}

/// Pipes one bad value and returns the dead letter's message header, checking the others.
fn dead_letter_reason(value: Option<&[u8]>) -> String {
    let driver = driver(metric_topology(&MetricTopologyConfig::default()));
    let input = driver.create_input_topic("metric.all");
    input.pipe_value(CPU_EVENT); // offset 0, fine
    input.pipe_record(
        TestRecord {
            key: Some(b"k".to_vec()),
            value: value.map(<[u8]>::to_vec),
            ..TestRecord::default()
        }
        .with_header("h", "v"),
    );
    let letters = driver
        .create_output_topic("metric.dlq")
        .read_records_to_list();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.value.as_deref(), value, "the original value");
    assert_eq!(
        letter.key.as_deref(),
        Some(b"k".as_slice()),
        "the original key"
    );
    assert_eq!(
        letter.header_string("h").as_deref(),
        Some("v"),
        "the original headers"
    );
    assert_eq!(
        letter.header_string("__streams.errors.topic").as_deref(),
        Some("metric.all")
    );
    assert_eq!(
        letter
            .header_string("__streams.errors.partition")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        letter.header_string("__streams.errors.offset").as_deref(),
        Some("1")
    );
    assert_eq!(driver.errors().len(), 1);
    // The failed record produced nothing else; the good one went through.
    assert_eq!(
        driver
            .create_output_topic("metric.cpu")
            .read_value_strings_to_list(),
        [CPU_EVENT]
    );
    assert!(driver.create_output_topic("metric.cpu.alert").is_empty());
    let kind = letter
        .header_string("__streams.errors.exception")
        .unwrap_or_default();
    let message = letter
        .header_string("__streams.errors.message")
        .unwrap_or_default();
    format!("{kind}: {message}")
}

#[test]
fn malformed_records_are_dead_lettered_with_reasons() {
    let cases: [(&[u8], &str); 6] = [
        (
            b"not json",
            "deserialization: value: invalid JSON: expected ident at line 1 column 2",
        ),
        (
            br#"{"metricset":{"name":"cpu""#,
            "deserialization: value: invalid JSON at `metricset`: EOF while parsing an object at line 1 column 26",
        ),
        (
            b"\xEF\xBB\xBF{}",
            "deserialization: value: the value starts with a UTF-8 byte-order mark; JSON records must not",
        ),
        (
            br#"{"metricset":{"name":"cpu"},"a":NaN}"#,
            "deserialization: value: invalid JSON at `a`: expected value at line 1 column 33",
        ),
        (
            br#"{"metricset":{"name":"cpu"}} {}"#,
            "deserialization: value: invalid JSON: trailing characters at line 1 column 30",
        ),
        (
            b"[]",
            "deserialization: value: invalid JSON: invalid type: sequence, expected a Metricbeat event (a JSON object) at line 1 column 0",
        ),
    ];
    for (value, reason) in cases {
        assert_eq!(
            dead_letter_reason(Some(value)),
            reason,
            "{}",
            String::from_utf8_lossy(value)
        );
    }
    assert_eq!(
        dead_letter_reason(None),
        "deserialization: value: null value (tombstone) where a Metricbeat event was expected"
    );
}

#[test]
fn incomplete_records_are_dead_lettered_with_reasons() {
    let no_metricset = MEMORY_EVENT.replace(r#""metricset":{"name":"memory","period":10000},"#, "");
    // Without norm.pct and without cores to compute it from.
    let no_pct = CPU_EVENT
        .replace(r#""norm":{"pct":0.1889}"#, r#""norm":{}"#)
        .replace(r#""cores":10,"#, "");
    let hot = hot_cpu_event();
    let hot_without_host = hot.replace(
        r#""host":{"cpu":{"usage":0.8586},"name":"Aaronui-MacBookPro.local"},"#,
        "",
    );
    let hot_without_timestamp = hot.replace(r#""@timestamp":"2025-01-31T08:00:26.557Z","#, "");
    let hot_with_string_host = hot.replace(
        r#""host":{"cpu":{"usage":0.8586},"name":"Aaronui-MacBookPro.local"}"#,
        r#""host":"web-1""#,
    );
    let cases = [
        (
            no_metricset,
            "deserialization: value: missing field `metricset.name`",
        ),
        (
            no_pct,
            "processing: cpu event lacks the number `system.cpu.total.norm.pct`, and the \
             numbers `system.cpu.total.pct` and `system.cpu.cores` to compute it from",
        ),
        (
            hot_without_host,
            "processing: event lacks the object `host`",
        ),
        (
            hot_without_timestamp,
            "processing: event lacks the string `@timestamp`",
        ),
        (
            hot_with_string_host,
            "processing: `host` must be an object, found \"web-1\"",
        ),
    ];
    for (value, reason) in cases {
        assert_eq!(
            dead_letter_reason(Some(value.as_bytes())),
            reason,
            "{value}"
        );
    }
}

#[test]
fn error_policies_skip_or_fail() {
    let topology = metric_topology(&MetricTopologyConfig::default());
    let skip = ErrorHandlingConfig {
        policy: ErrorPolicy::LogAndContinue,
        ..ErrorHandlingConfig::default()
    };
    let driver = TopologyTestDriver::with_error_handling(topology.clone(), skip);
    driver
        .create_input_topic("metric.all")
        .pipe_values(["{", CPU_EVENT]);
    assert_eq!(driver.produced_topic_names(), ["metric.cpu"]);
    assert_eq!(driver.errors().len(), 1);

    let fail = ErrorHandlingConfig {
        policy: ErrorPolicy::Fail,
        ..ErrorHandlingConfig::default()
    };
    let driver = TopologyTestDriver::with_error_handling(topology, fail);
    let error = driver
        .create_input_topic("metric.all")
        .try_pipe_record(TestRecord::from_value("{"))
        .expect_err("fail policy");
    assert_eq!(error.node, "KSTREAM-SOURCE-0000000000");
    assert!(driver.produced_topic_names().is_empty());
}

#[test]
fn describe_prints_kafka_streams_format() {
    let mut config = MetricTopologyConfig::default();
    config
        .extra_routes
        .insert("network".to_owned(), "metric.network".to_owned());
    let description = metric_topology(&config).describe().to_string();
    assert_eq!(
        description,
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [metric.all])
      --> route-
    Processor: route- (stores: [])
      --> route-cpu, route-memory, route-network, route-unrouted
      <-- KSTREAM-SOURCE-0000000000
    Processor: route-cpu (stores: [])
      --> cpu-above-threshold, KSTREAM-SINK-0000000003
      <-- route-
    Processor: cpu-above-threshold (stores: [])
      --> cpu-alert
      <-- route-cpu
    Processor: cpu-alert (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- cpu-above-threshold
    Processor: route-memory (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- route-
    Processor: route-network (stores: [])
      --> KSTREAM-SINK-0000000001
      <-- route-
    Processor: route-unrouted (stores: [])
      --> KSTREAM-FOREACH-0000000002
      <-- route-
    Processor: KSTREAM-FOREACH-0000000002 (stores: [])
      --> none
      <-- route-unrouted
    Sink: KSTREAM-SINK-0000000001 (topic: metric.network)
      <-- route-network
    Sink: KSTREAM-SINK-0000000003 (topic: metric.cpu)
      <-- route-cpu
    Sink: KSTREAM-SINK-0000000004 (topic: metric.memory)
      <-- route-memory
    Sink: KSTREAM-SINK-0000000007 (topic: metric.cpu.alert)
      <-- cpu-alert

"
    );
}

/// A tiny deterministic generator (no `rand` needed): xorshift64.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.next() % options.len() as u64) as usize]
    }
}

/// Whether JSON text has insignificant whitespace (is not compact).
fn has_whitespace_outside_strings(json: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    json.chars().any(|c| {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            false
        } else {
            in_string = c == '"';
            c.is_ascii_whitespace()
        }
    })
}

/// What the topology must do with `value`, computed the slow, obvious way with
/// `serde_json::Value`: (cpu, memory, alert as a `Value`).
fn model(value: &str, threshold: f64) -> (bool, bool, Option<serde_json::Value>) {
    let event: serde_json::Value =
        serde_json::from_str(value).expect("generated events are valid JSON");
    match event["metricset"]["name"].as_str() {
        Some("cpu") => {
            let pct = event["system"]["cpu"]["total"]["norm"]["pct"]
                .as_f64()
                .expect("generated with a pct");
            let alert = (pct > threshold).then(|| {
                let mut host = event["host"].clone();
                host["timestamp"] = event["@timestamp"].clone();
                host
            });
            (true, false, alert)
        }
        Some("memory") => (false, true, None),
        _ => (false, false, None),
    }
}

#[test]
fn agrees_with_a_naive_model_on_generated_events() {
    let mut random = Xorshift(0x9E37_79B9_7F4A_7C15);
    let threshold = 0.5;
    let driver = driver(metric_topology(&MetricTopologyConfig::default()));
    let input = driver.create_input_topic("metric.all");
    let outputs = OUTPUTS.map(|topic| driver.create_output_topic(topic));
    for round in 0..500 {
        let metricset = random.pick(&["cpu", "cpu", "memory", "network", "load", "c\\u0070u"]);
        let pct = random.pick(&[
            "0.4999",
            "0.5",
            "0.5001",
            "0",
            "1",
            "0.75",
            "5e-1",
            "0.50000000001",
        ]);
        let host = random.pick(&[
            r#"{"name":"a"}"#,
            r#"{"z":1,"a":{"b":[1,2,{"c":null}]},"name":"h \"q\""}"#,
            r#"{}"#,
            r#"{ "name" : "spaced" , "os" : { "kernel" : "6.1" } }"#,
        ]);
        let timestamp = random.pick(&["2025-01-31T08:00:26.557Z", "2025-02-01T00:00:00.000Z"]);
        let mut value = format!(
            r#"{{"@timestamp":"{timestamp}","host":{host},"metricset":{{"period":10000,"name":"{metricset}"}},"system":{{"cpu":{{"cores":4,"total":{{"pct":1.2,"norm":{{"pct":{pct}}}}}}}}}}}"#
        );
        if random.next().is_multiple_of(3) {
            // Whitespace between tokens only (no generated string holds `":` or `,"`).
            value = value.replace("\":", "\" :\t").replace(",\"", ",\r\n  \"");
        }
        input.pipe_value(&value);
        let (cpu, memory, alert) = model(&value, threshold);
        let context = format!("round {round}: {value}");
        assert_eq!(
            outputs[0].read_value_string().as_deref(),
            cpu.then_some(value.as_str()),
            "{context}"
        );
        assert_eq!(
            outputs[1].read_value_string().as_deref(),
            memory.then_some(value.as_str()),
            "{context}"
        );
        let produced = outputs[2].read_value_string();
        match (alert, produced) {
            (None, None) => {}
            (Some(expected), Some(produced)) => {
                let parsed: serde_json::Value =
                    serde_json::from_str(&produced).expect("alerts are JSON");
                assert_eq!(parsed, expected, "{context}");
                assert!(
                    !has_whitespace_outside_strings(&produced),
                    "compact: {produced}"
                );
                assert!(
                    produced.ends_with(&format!(r#""timestamp":"{timestamp}"}}"#)),
                    "{produced}"
                );
            }
            (expected, produced) => {
                panic!("{context}: expected alert {expected:?}, got {produced:?}")
            }
        }
        assert!(outputs[3].is_empty(), "{context}");
    }
}

/// A cpu event as Metricbeat sends it with `cpu.metrics: ["percentages"]`: no `norm` objects.
fn percentages_only(event: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(event).expect("json");
    let cpu = value
        .pointer_mut("/system/cpu")
        .and_then(serde_json::Value::as_object_mut)
        .expect("system.cpu");
    for state in cpu.values_mut() {
        if let Some(state) = state.as_object_mut() {
            state.remove("norm");
        }
    }
    serde_json::to_string(&value).expect("json")
}

#[test]
fn norm_is_computed_from_total_and_cores_and_counted() {
    let cold = percentages_only(CPU_EVENT); // 1.8887 over 10 cores: 0.1889
    let hot = percentages_only(&hot_cpu_event()); // 8.586 over 10 cores: 0.8586
    let impossible = cold.replace(r#""pct":1.8887"#, r#""pct":18.887"#); // 1.8887 > 1
    assert!(!cold.contains("norm") && !hot.contains("norm"), "{cold}");
    let counts = Arc::new(TopologyCounts::default());
    let driver = driver(metric_pipeline(
        MetricPipeline::stateless(&MetricTopologyConfig::default()),
        Arc::clone(&counts),
    ));
    driver
        .create_input_topic("metric.all")
        .pipe_values([&cold, &hot, &impossible]);
    let read = |topic: &str| {
        driver
            .create_output_topic(topic)
            .read_value_strings_to_list()
    };
    assert_eq!(read("metric.cpu"), [cold, hot.clone()], "routed unchanged");
    assert_eq!(read("metric.cpu.alert"), [MISSION_ALERT]);
    assert_eq!(read("metric.dlq"), [impossible]);
    assert_eq!(
        counts.normalised.get(),
        2,
        "the two computed values are counted"
    );
}
