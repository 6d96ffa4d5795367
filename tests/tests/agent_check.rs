//! `ferrobeat-agent test output` against the real test broker: each step reports OK or FAIL
//! for the right reason, and the write step really lands events on the topic.

use std::time::Duration;

use ferrobeat_agent::config::{AgentConfig, RecordKey};
use ferrobeat_agent::run;
use ferrobeat_agent::ship::check::Step;
use ferrobeat_schema::Metricset;
use ferrobeat_tests::TestKafka;

fn config(bootstrap: &str, topic: &str, data_dir: &std::path::Path) -> AgentConfig {
    let mut config = AgentConfig {
        data_dir: data_dir.to_path_buf(),
        ..AgentConfig::default()
    };
    config.collect.metricsets = vec![Metricset::Memory];
    config.kafka.bootstrap_servers = bootstrap.to_owned();
    config.kafka.topic = topic.to_owned();
    config.kafka.delivery_timeout = Duration::from_secs(5);
    config
}

fn check(config: &AgentConfig) -> Vec<Step> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run::test_output(config))
}

fn outcome<'a>(steps: &'a [Step], name: &str) -> &'a Result<String, String> {
    &steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
        .outcome
}

#[test]
fn every_step_passes_and_the_write_lands() {
    let kafka = TestKafka::start().expect("broker");
    let topic = kafka.unique_topic("metric.all");
    kafka.create_topic(&topic, 3).expect("topic");
    let data_dir = tempfile::tempdir().expect("data dir");

    let mut config = config(kafka.bootstrap_servers(), &topic, data_dir.path());
    config.name = Some("check-host".to_owned());
    config.kafka.key = RecordKey::Hostname;
    let steps = check(&config);
    let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
    assert_eq!(names, ["settings", "connect", "topic", "write"]);
    assert!(steps.iter().all(|s| s.outcome.is_ok()), "{steps:#?}");
    let topic_detail = outcome(&steps, "topic").as_ref().expect("ok");
    assert!(topic_detail.contains("3 partition(s)"), "{topic_detail}");

    let records = kafka
        .read_topic(&topic, 1, Duration::from_secs(15))
        .expect("read back");
    assert_eq!(records.len(), 1, "one memory event written");
    let event = ferrobeat_schema::from_slice(records[0].value.as_deref().expect("value"))
        .expect("a Metricbeat event");
    assert_eq!(event.metricset.name, "memory");
    assert_eq!(event.host.name, "check-host");
    assert_eq!(
        records[0].key.as_deref(),
        Some(&b"check-host"[..]),
        "key = \"hostname\" keys records by host name"
    );
}

#[test]
fn a_missing_topic_fails_the_topic_step() {
    let kafka = TestKafka::start().expect("broker");
    let data_dir = tempfile::tempdir().expect("data dir");
    let topic = kafka.unique_topic("absent");
    let steps = check(&config(kafka.bootstrap_servers(), &topic, data_dir.path()));
    assert!(outcome(&steps, "connect").is_ok(), "{steps:#?}");
    let reason = outcome(&steps, "topic").as_ref().expect_err("topic fails");
    assert!(reason.contains("does not exist"), "{reason}");
    assert_eq!(steps.len(), 3, "the check stops at the first failure");
}

#[test]
fn an_unreachable_broker_fails_the_connect_step() {
    let data_dir = tempfile::tempdir().expect("data dir");
    // A port nothing listens on: bind one, learn it, free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let bootstrap = format!("127.0.0.1:{port}");
    let steps = check(&config(&bootstrap, "metric.all", data_dir.path()));
    assert!(outcome(&steps, "settings").is_ok(), "{steps:#?}");
    let reason = outcome(&steps, "connect")
        .as_ref()
        .expect_err("connect fails");
    assert!(reason.contains(&bootstrap), "{reason}");
    assert_eq!(steps.len(), 2);
}

#[test]
fn a_bad_librdkafka_property_fails_the_settings_step() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut config = config("127.0.0.1:9", "metric.all", data_dir.path());
    config
        .kafka
        .properties
        .insert("no.such.property".to_owned(), "1".to_owned());
    let steps = check(&config);
    let reason = outcome(&steps, "settings")
        .as_ref()
        .expect_err("settings fail");
    assert!(reason.contains("no.such.property"), "{reason}");
    assert_eq!(steps.len(), 1);
}
