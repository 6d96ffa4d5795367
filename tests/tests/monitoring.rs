//! The monitoring endpoints of both real binaries on the test broker: the promised Prometheus
//! series exist and agree with what was processed, consumer lag drains to 0, `/health` and
//! `/ready` answer, `promtool check metrics` accepts both scrapes, logs are JSON lines when
//! asked, and the endpoint goes away after SIGTERM.

mod processor_support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use ferrobeat_tests::TestKafka;
use processor_support::endpoint::{
    Monitored, PROMETHEUS_ACCEPT, get, get_accepting, promtool, samples, sum, value,
};
use processor_support::{
    broker_pipeline, count_by_topic, expected_outputs, mixed_values, preload_on_every_partition,
};

const INPUTS: usize = 120;
const PARTITIONS: i32 = 2;

/// Runs `promtool check metrics` on a scrape; panics with its complaints.
fn promtool_accepts(promtool: &str, what: &str, scrape: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "promtool check metrics refused the {what} scrape:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every line of `log` is a JSON object with a level and a message; returns the messages.
fn json_messages(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).expect("log");
    text.lines()
        .map(|line| {
            let object: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
            assert!(object["level"].is_string(), "no level: {line}");
            object["message"]
                .as_str()
                .unwrap_or_else(|| panic!("no message: {line}"))
                .to_owned()
        })
        .collect()
}

#[test]
fn processor_endpoint_reports_what_it_processed_and_its_lag_drains() {
    let kafka = TestKafka::start().expect("test broker");
    let config = broker_pipeline(&kafka, "monitoring", PARTITIONS);
    let inputs = mixed_values(INPUTS);
    preload_on_every_partition(&kafka, &config.topology.input_topic, &inputs);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut processor = Monitored::processor(&config, "debug", dir.path());

    let input = &config.topology.input_topic;
    let consumed = format!("ferrobeat_processor_records_consumed_total{{topic=\"{input}\"}}");
    let lag = |partition: i32| {
        format!(
            "ferrobeat_processor_consumer_lag_records{{topic=\"{input}\",partition=\"{partition}\"}}"
        )
    };
    // Everything processed, and the lag of both partitions reported as drained.
    let scrape = processor.scrape_until("*/*", "drained", |now| {
        value(now, &consumed) == INPUTS as f64
            && (0..PARTITIONS).all(|partition| now.get(&lag(partition)) == Some(&0.0))
    });
    let now = samples(&scrape);
    let expected = count_by_topic(&expected_outputs(&config, &inputs));
    assert_eq!(
        value(&now, "ferrobeat_processor_records_processed_total"),
        INPUTS as f64
    );
    for (topic, count) in &expected {
        assert_eq!(
            value(
                &now,
                &format!("ferrobeat_processor_records_produced_total{{topic=\"{topic}\"}}")
            ),
            *count as f64,
            "records produced to {topic}\n{scrape}"
        );
    }
    let dead_letters = expected
        .get(&config.errors.dead_letter_topic)
        .copied()
        .unwrap_or(0);
    assert!(dead_letters > 0, "the inputs include malformed records");
    assert_eq!(
        value(
            &now,
            "ferrobeat_processor_records_dead_lettered_total{reason=\"record-failed\"}"
        ),
        dead_letters as f64
    );
    // One worker thread: its process count is every record; its poll count is one per batch of
    // records (what librdkafka holds is taken without waiting), and its commit count grew.
    let thread = |name: &str| sum(&now, name, "thread=");
    assert_eq!(
        thread("ferrobeat_processor_process_latency_seconds_count"),
        INPUTS as f64
    );
    assert!(thread("ferrobeat_processor_poll_latency_seconds_count") >= 1.0);
    // Debug level: per task (partition) and per topology node.
    assert_eq!(
        sum(
            &now,
            "ferrobeat_processor_task_records_processed_total",
            "partition="
        ),
        INPUTS as f64
    );
    assert_eq!(
        sum(
            &now,
            "ferrobeat_processor_node_records_processed_total",
            "node=\"KSTREAM-SOURCE-"
        ),
        INPUTS as f64
    );
    assert!(thread("ferrobeat_processor_commit_latency_seconds_count") >= 1.0);
    assert!(thread("ferrobeat_processor_rebalances_total") >= 1.0);
    assert_eq!(
        thread("ferrobeat_processor_assigned_partitions"),
        f64::from(PARTITIONS)
    );
    assert_eq!(
        value(&now, "ferrobeat_processor_client_state{state=\"RUNNING\"}"),
        1.0
    );
    assert_eq!(
        sum(
            &now,
            "ferrobeat_processor_record_e2e_latency_seconds_count",
            "node=\"source\""
        ),
        INPUTS as f64
    );
    assert!(
        sum(
            &now,
            "ferrobeat_processor_record_e2e_latency_seconds_count",
            "node=\"sink\""
        ) > 0.0
    );
    for series in [
        "ferrobeat_processor_records_dropped_total{reason=\"delivery-failed\"}",
        "ferrobeat_processor_outputs_acknowledged_total",
    ] {
        assert!(now.contains_key(series), "no {series} in\n{scrape}");
    }
    // Prometheus itself asks for OpenMetrics and gets it.
    let (_, openmetrics) =
        get_accepting(processor.addr, "/metrics", PROMETHEUS_ACCEPT).expect("scrape");
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(openmetrics.contains("# TYPE ferrobeat_processor_records_consumed counter"));

    let (status, health) = get(processor.addr, "/health").expect("/health answers");
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).expect("JSON health");
    assert_eq!(health["state"], "RUNNING");
    assert_eq!(
        health["assigned_partitions"],
        serde_json::json!([format!("{input}-0"), format!("{input}-1")])
    );
    assert_eq!(
        get(processor.addr, "/ready").map(|(status, _)| status),
        Some(200)
    );

    if let Some(promtool) = promtool() {
        promtool_accepts(&promtool, "processor", &scrape);
    }
    processor.stop_and_check_endpoint_gone("processor");

    let messages = json_messages(&processor.log);
    let described = |prefix: &str| {
        messages
            .iter()
            .filter(|message| message.starts_with(prefix) && message.contains(input))
            .count()
    };
    assert_eq!(described("topology:"), 1, "the topology at start");
    assert!(
        described("running; topology:") >= 1,
        "the topology on REBALANCING -> RUNNING"
    );
    assert!(
        messages
            .iter()
            .any(|message| message.contains("records_processed=+")),
        "a line of the counters that moved"
    );
}

// Each program's endpoint test checks its own series; their endings look alike.
#[test]
fn agent_endpoint_reports_sampling_and_shipping() {
    let kafka = TestKafka::start().expect("test broker");
    let topic = kafka.unique_topic("agent-monitoring");
    kafka.create_topic(&topic, 1).expect("topic");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = Monitored::agent(&kafka, &topic, dir.path());

    let scrape = agent.scrape_until("*/*", "acknowledged", |now| {
        value(now, "ferrobeat_agent_events_acknowledged_total") >= 4.0
    });
    let now = samples(&scrape);
    assert!(value(&now, "ferrobeat_agent_events_sampled_total") >= 4.0);
    for metricset in ["cpu", "memory"] {
        assert!(
            value(
                &now,
                &format!(
                    "ferrobeat_agent_sampling_duration_seconds_count{{metricset=\"{metricset}\"}}"
                )
            ) >= 1.0,
            "sampling latency of {metricset}\n{scrape}"
        );
    }
    assert!(now.contains_key("ferrobeat_agent_spool_depth_events"));

    let (status, health) = get(agent.addr, "/health").expect("/health answers");
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).expect("JSON health");
    assert_eq!(health["status"], "running");
    assert!(health["spool_depth"].is_i64(), "{health}");
    assert!(health["last_acknowledged"].is_string(), "{health}");
    assert_eq!(
        get(agent.addr, "/ready").map(|(status, _)| status),
        Some(200)
    );

    if let Some(promtool) = promtool() {
        promtool_accepts(&promtool, "agent", &scrape);
    }
    agent.stop_and_check_endpoint_gone("agent");
    assert!(
        json_messages(&agent.log)
            .iter()
            .any(|message| message == "ferrobeat-agent started")
    );
}
