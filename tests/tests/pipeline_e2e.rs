//! agent → Kafka (Tansu) → processor → outputs, read back by an independent consumer and checked
//! against the agent's own records on `metric.all`.
//!
//! The expectation is computed here from the agent's records with plain serde_json, independently
//! of the processor's code: cpu and memory records are copied byte for byte, and every cpu record
//! above the threshold has an alert made of its `host` object with `timestamp` appended.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrobeat_agent::config::AgentConfig;
use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_processor::metric_topology::metric_topology;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use ferrobeat_tests::{ReadRecord, TestKafka};
use serde::Deserialize;
use serde_json::value::RawValue;

const THRESHOLD: f64 = 0.0001;

#[derive(Deserialize)]
struct Routing<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: &'a str,
    #[serde(borrow)]
    host: &'a RawValue,
    metricset: Metricset<'a>,
    #[serde(default)]
    system: serde_json::Value,
}

#[derive(Deserialize)]
struct Metricset<'a> {
    name: &'a str,
}

/// Multiset of values: value bytes → how many times.
fn multiset<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> BTreeMap<Vec<u8>, usize> {
    let mut counts = BTreeMap::new();
    for value in values {
        *counts.entry(value.to_vec()).or_default() += 1;
    }
    counts
}

fn values(records: &[ReadRecord]) -> impl Iterator<Item = &[u8]> {
    records.iter().filter_map(|r| r.value.as_deref())
}

#[test]
fn agent_records_flow_through_the_processor_exactly() {
    let kafka = TestKafka::start().expect("broker");
    let topic = |name: &str| kafka.unique_topic(name);
    let (all, cpu, memory, alert, dlq) = (
        topic("all"),
        topic("cpu"),
        topic("memory"),
        topic("alert"),
        topic("dlq"),
    );
    for name in [&all, &cpu, &memory, &alert, &dlq] {
        kafka.create_topic(name, 3).expect("topic");
    }

    // The processor first, so it is in the group when the agent's records arrive.
    let mut processor_config = ProcessorConfig::default();
    processor_config.kafka.bootstrap_servers = kafka.bootstrap_servers().to_owned();
    processor_config.kafka.application_id = kafka.unique_topic("e2e-app");
    for (key, value) in [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
    ] {
        processor_config
            .kafka
            .properties
            .insert(key.to_owned(), value.to_owned());
    }
    let topology_config = &mut processor_config.topology;
    topology_config.input_topic = all.clone();
    topology_config.cpu_topic = cpu.clone();
    topology_config.memory_topic = memory.clone();
    topology_config.alert_topic = alert.clone();
    topology_config.alert_threshold = THRESHOLD;
    processor_config.errors.dead_letter_topic = dlq.clone();
    let processor = StreamsRuntime::new(
        metric_topology(&processor_config.topology),
        processor_config.streams().expect("valid streams settings"),
    );
    processor.start().expect("processor starts");

    // The real agent, sampling this machine every 500 ms for about 5 s.
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut agent_config = AgentConfig::default();
    agent_config.kafka.bootstrap_servers = kafka.bootstrap_servers().to_owned();
    agent_config.kafka.topic = all.clone();
    agent_config.collect.period = Duration::from_millis(500);
    agent_config.data_dir = data_dir.path().to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let agent = runtime.spawn(ferrobeat_agent::run::run(agent_config, shutdown));
    std::thread::sleep(Duration::from_secs(5));
    stop.send(true).expect("stop the agent");
    runtime
        .block_on(agent)
        .expect("agent task")
        .expect("agent run");

    let sampled = kafka
        .read_topic(&all, 10, Duration::from_secs(20))
        .expect("metric.all");
    assert!(
        sampled.len() >= 10,
        "the agent produced {} records",
        sampled.len()
    );

    let mut expected_cpu = Vec::new();
    let mut expected_memory = Vec::new();
    let mut expected_alerts = Vec::new();
    for value in values(&sampled) {
        let routing: Routing<'_> = serde_json::from_slice(value).expect("agent record parses");
        match routing.metricset.name {
            "cpu" => {
                expected_cpu.push(value.to_vec());
                let norm = routing.system["cpu"]["total"]["norm"]["pct"]
                    .as_f64()
                    .expect("total.norm.pct");
                if norm > THRESHOLD {
                    let host = routing.host.get();
                    let host = host.strip_suffix('}').expect("host is an object");
                    expected_alerts.push(
                        format!("{host},\"timestamp\":\"{}\"}}", routing.timestamp).into_bytes(),
                    );
                }
            }
            "memory" => expected_memory.push(value.to_vec()),
            other => panic!("the default agent samples cpu and memory only, got {other}"),
        }
    }
    assert!(!expected_cpu.is_empty() && !expected_memory.is_empty() && !expected_alerts.is_empty());

    let read = |topic: &str, n: usize| {
        kafka
            .read_topic(topic, n, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{topic}: {e:#}"))
    };
    let got_cpu = read(&cpu, expected_cpu.len());
    let got_memory = read(&memory, expected_memory.len());
    let got_alerts = read(&alert, expected_alerts.len());
    let state = processor.close(Duration::from_secs(20));

    assert_eq!(
        multiset(values(&got_cpu)),
        multiset(expected_cpu.iter().map(Vec::as_slice))
    );
    assert_eq!(
        multiset(values(&got_memory)),
        multiset(expected_memory.iter().map(Vec::as_slice))
    );
    assert_eq!(
        multiset(values(&got_alerts)),
        multiset(expected_alerts.iter().map(Vec::as_slice))
    );
    assert!(read(&dlq, 0).is_empty(), "nothing dead-lettered");
    assert_eq!(state, ClientState::NotRunning);
}
