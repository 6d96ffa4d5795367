//! The monitoring endpoints of both real binaries on the test broker: the promised Prometheus
//! series exist and agree with what was processed, consumer lag drains to 0, `/health` and
//! `/ready` answer, `promtool check metrics` accepts both scrapes, logs are JSON lines when
//! asked, and the endpoint goes away after SIGTERM.

mod processor_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferrobeat_tests::TestKafka;
use processor_support::{
    broker_pipeline, config_file_text, count_by_topic, eventually, expected_outputs, mixed_values,
    processor_binary, terminate, workspace_binary,
};

const INPUTS: usize = 120;
const PARTITIONS: i32 = 2;
const TIMEOUT: Duration = Duration::from_secs(30);
/// The `Accept` header of a Prometheus 2.x scrape.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A loopback address with a port free a moment ago.
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

/// `GET path` on `addr` as curl asks: the status and the body; `None` when nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    get_accepting(addr, path, "*/*")
}

/// `GET path` on `addr` with `Accept: accept`.
fn get_accepting(addr: SocketAddr, path: &str, accept: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The samples of a Prometheus text scrape: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The value of `series`, 0 when absent.
fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// The sum of every sample of metric `name` (all label sets) whose series contains `filter`.
fn sum(samples: &BTreeMap<String, f64>, name: &str, filter: &str) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| series.starts_with(&format!("{name}{{")) && series.contains(filter))
        .map(|(_, value)| value)
        .sum()
}

/// The promtool binary, installed by `tests/install-promtool.sh` if needed; `None` (with the
/// reason printed) only when it cannot be installed.
fn promtool() -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install-promtool.sh");
    let output = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run install-promtool.sh");
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && !path.is_empty() {
        Some(path)
    } else {
        eprintln!("SKIPPED promtool check metrics: promtool cannot be installed here");
        None
    }
}

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

/// Scrapes `/metrics` of `child` until `done` holds of its samples (within [`TIMEOUT`]) and
/// returns that scrape; otherwise kills `child` and fails with the last scrape and its `log`.
fn scrape_until(
    child: &mut Child,
    addr: SocketAddr,
    log: &Path,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> String {
    let mut scrape = String::new();
    let reached = eventually(TIMEOUT, || {
        let Some((200, text)) = get(addr, "/metrics") else {
            return false;
        };
        scrape = text;
        done(&samples(&scrape))
    });
    if !reached {
        let _ = child.kill();
        panic!(
            "not {what} in {TIMEOUT:?}; last scrape:\n{scrape}\nlog:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    scrape
}

/// SIGTERM, a clean exit, and nothing listening on `addr` any more.
fn stop_and_check_endpoint_gone(child: &mut Child, addr: SocketAddr, what: &str) {
    let exit = terminate(child, TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the {what} did not stop after SIGTERM")
    });
    assert!(exit.success(), "the {what} exited with {exit}");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the {what}'s endpoint still answers after it stopped"
    );
}

#[test]
fn processor_endpoint_reports_what_it_processed_and_its_lag_drains() {
    let kafka = TestKafka::start().expect("test broker");
    let config = broker_pipeline(&kafka, "monitoring", PARTITIONS);
    let inputs = mixed_values(INPUTS);
    kafka
        .produce(&config.topology.input_topic, &inputs)
        .expect("preload the inputs");

    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let file = dir.path().join("processor.toml");
    std::fs::write(
        &file,
        config_file_text(&config)
            + &format!("[monitoring]\nmetrics_addr = \"{addr}\"\nstatistics_interval = \"300ms\"\nlevel = \"debug\"\n"),
    )
    .expect("config file");
    let log = dir.path().join("processor.log");
    let mut child = Command::new(processor_binary())
        .args(["run", "--log-format", "json", "--log", "info", "--config"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn the processor");

    let input = &config.topology.input_topic;
    let consumed = format!("ferrobeat_processor_records_consumed_total{{topic=\"{input}\"}}");
    let lag = |partition: i32| {
        format!(
            "ferrobeat_processor_consumer_lag_records{{topic=\"{input}\",partition=\"{partition}\"}}"
        )
    };
    // Everything processed, and the lag of both partitions reported as drained.
    let scrape = scrape_until(&mut child, addr, &log, "drained", |now| {
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
    // One worker thread: its process count is every record, its poll and commit counts grew.
    let thread = |name: &str| sum(&now, name, "thread=");
    assert_eq!(
        thread("ferrobeat_processor_process_latency_seconds_count"),
        INPUTS as f64
    );
    assert!(thread("ferrobeat_processor_poll_latency_seconds_count") >= INPUTS as f64);
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
    let (_, openmetrics) = get_accepting(addr, "/metrics", PROMETHEUS_ACCEPT).expect("scrape");
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(openmetrics.contains("# TYPE ferrobeat_processor_records_consumed counter"));

    let (status, health) = get(addr, "/health").expect("/health answers");
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).expect("JSON health");
    assert_eq!(health["state"], "RUNNING");
    assert_eq!(
        health["assigned_partitions"],
        serde_json::json!([format!("{input}-0"), format!("{input}-1")])
    );
    assert_eq!(get(addr, "/ready").map(|(status, _)| status), Some(200));

    if let Some(promtool) = promtool() {
        promtool_accepts(&promtool, "processor", &scrape);
    }
    stop_and_check_endpoint_gone(&mut child, addr, "processor");

    let messages = json_messages(&log);
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

#[test]
fn agent_endpoint_reports_sampling_and_shipping() {
    let kafka = TestKafka::start().expect("test broker");
    let topic = kafka.unique_topic("agent-monitoring");
    kafka.create_topic(&topic, 1).expect("topic");
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let log = dir.path().join("agent.log");
    let mut child = Command::new(workspace_binary("ferrobeat-agent"))
        .args([
            "--output",
            "kafka",
            "--period",
            "300ms",
            "--metricsets",
            "cpu,memory",
        ])
        .args([
            "--bootstrap-servers",
            kafka.bootstrap_servers(),
            "--topic",
            &topic,
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--metrics-addr", &addr.to_string(), "--log-format", "json"])
        .arg("run")
        .env("FERROBEAT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn the agent");

    let scrape = scrape_until(&mut child, addr, &log, "acknowledged", |now| {
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

    let (status, health) = get(addr, "/health").expect("/health answers");
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).expect("JSON health");
    assert_eq!(health["status"], "running");
    assert!(health["spool_depth"].is_i64(), "{health}");
    assert!(health["last_acknowledged"].is_string(), "{health}");
    assert_eq!(get(addr, "/ready").map(|(status, _)| status), Some(200));

    if let Some(promtool) = promtool() {
        promtool_accepts(&promtool, "agent", &scrape);
    }
    stop_and_check_endpoint_gone(&mut child, addr, "agent");
    assert!(
        json_messages(&log)
            .iter()
            .any(|message| message == "ferrobeat-agent started")
    );
}
