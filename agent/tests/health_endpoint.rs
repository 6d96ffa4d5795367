//! `/health` through the agent's real HTTP endpoint while librdkafka's mock cluster goes down
//! and comes back: 200 while deliveries succeed, 503 with the reason once events have waited
//! in the spool longer than `monitoring.unhealthy_after` without a delivery, 200 again after
//! the next delivery.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ferrobeat_agent::collect::CollectConfig;
use ferrobeat_agent::config::{AgentConfig, KafkaConfig, MonitoringConfig};
use ferrobeat_schema::Metricset;
use rdkafka::mocking::MockCluster;

const TOPIC: &str = "metric.all";
const BROKER: i32 = 1;
const WAIT: Duration = Duration::from_secs(30);

// A minimal HTTP GET; the workspace tests have their own (separate test crates).
/// `GET path` on `addr`: the status code and the body parsed as JSON.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, serde_json::Value)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1;
    Some((status, serde_json::from_str(body).ok()?))
}

/// Polls `/health` until `done` holds for its answer; panics with the last one after [`WAIT`].
fn wait_for_health(
    addr: SocketAddr,
    what: &str,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some((status, body)) = get(addr, "/health") {
            if done(status, &body) {
                return body;
            }
            last = Some((status, body));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("/health never showed {what}; last answer: {last:?}");
}

#[test]
fn health_degrades_while_kafka_is_unreachable_and_recovers_after_a_delivery() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = AgentConfig {
        data_dir: dir.path().to_path_buf(),
        collect: CollectConfig {
            period: Duration::from_secs(1),
            metricsets: vec![Metricset::Memory],
            ..CollectConfig::default()
        },
        kafka: KafkaConfig {
            bootstrap_servers: cluster.bootstrap_servers(),
            topic: TOPIC.to_owned(),
            linger: Duration::from_millis(5),
            delivery_timeout: Duration::from_secs(2),
            flush_timeout: Duration::from_secs(1),
            ..KafkaConfig::default()
        },
        monitoring: MonitoringConfig {
            metrics_addr: Some(addr),
            unhealthy_after: Duration::from_secs(1),
            ..MonitoringConfig::default()
        },
        ..AgentConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let agent = runtime.spawn(ferrobeat_agent::run::run(config, shutdown));

    wait_for_health(addr, "a delivery", |status, body| {
        status == 200 && body["last_acknowledged"].is_string()
    });

    cluster.broker_down(BROKER).expect("broker down");
    let stalled = wait_for_health(addr, "503 stalled", |status, body| {
        status == 503 && body["status"] == "stalled"
    });
    let reason = stalled["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("no delivery to Kafka succeeded for ")
            && reason.ends_with(" events wait in the spool"),
        "{reason}"
    );
    assert!(stalled["spool_depth"].as_i64() > Some(0), "{stalled}");

    cluster.broker_up(BROKER).expect("broker up");
    let before = stalled["last_acknowledged"].clone();
    wait_for_health(addr, "200 after a new delivery", |status, body| {
        status == 200 && body["status"] == "running" && body["last_acknowledged"] != before
    });

    stop.send(true).expect("the agent listens");
    runtime
        .block_on(async { tokio::time::timeout(WAIT, agent).await })
        .expect("the agent stops")
        .expect("the agent task")
        .expect("the agent ran");
}
