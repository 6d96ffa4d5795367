//! `[alerting] mode = "transitions"` run by the test driver with scripted samples: `for`,
//! a dip, `keep_firing_for`, `no_data` by the wall clock, the record's format, hosts kept
//! apart, the inventory, and the state's changelog.

mod mission;

use std::sync::Arc;
use std::time::Duration;

use ferrobeat_processor::metric_topology::alerting::{AlertMode, AlertingConfig};
use ferrobeat_processor::metric_topology::summary::SummariesConfig;
use ferrobeat_processor::metric_topology::{
    MetricPipeline, MetricTopologyConfig, TopologyCounts, metric_pipeline,
};
use ferrobeat_streams::driver::TopologyTestDriver;
use mission::{EIGHT_AM, cpu_sample, driver, format_at};

const SECOND: i64 = 1000;

fn alerting(fire_after: u64, keep_firing_for: u64) -> AlertingConfig {
    AlertingConfig {
        mode: AlertMode::Transitions,
        fire_after: Duration::from_secs(fire_after),
        keep_firing_for: Duration::from_secs(keep_firing_for),
        no_data_after: Duration::from_secs(30),
    }
}

/// A driver of the metric topology in transitions mode, its wall clock at 09:00.
fn transitions(
    topology: &MetricTopologyConfig,
    alerting: &AlertingConfig,
    counts: &Arc<TopologyCounts>,
) -> TopologyTestDriver {
    let pipeline = MetricPipeline {
        topology,
        alerting,
        summaries: &SummariesConfig::DEFAULT,
    };
    driver(metric_pipeline(pipeline, Arc::clone(counts)))
        .with_application_id("proc")
        .with_wall_clock(EIGHT_AM + 3600 * SECOND)
}

/// Pipes a sample of `host` every 10 s from 08:00 (`hot`: 0.9, else 0.2) and returns, per
/// sample, the alert records it caused as `(key, status, since)`.
fn samples(
    driver: &TopologyTestDriver,
    host: &str,
    hot: &[bool],
) -> Vec<Vec<(String, String, String)>> {
    let input = driver.create_input_topic("metric.all");
    hot.iter()
        .enumerate()
        .map(|(index, &hot)| {
            let at = EIGHT_AM + index as i64 * 10 * SECOND;
            input.pipe_record(cpu_sample(host, at, if hot { 0.9 } else { 0.2 }));
            read_alerts(driver)
        })
        .collect()
}

fn read_alerts(driver: &TopologyTestDriver) -> Vec<(String, String, String)> {
    driver
        .create_output_topic("metric.cpu.alert")
        .read_key_values_to_list()
        .into_iter()
        .map(|(key, value)| {
            let key = String::from_utf8(key.expect("keyed by host")).expect("utf-8");
            let value: serde_json::Value =
                serde_json::from_slice(&value.expect("a value")).expect("JSON");
            let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
            (key, field("status"), field("since"))
        })
        .collect()
}

fn at(index: i64) -> String {
    format_at(EIGHT_AM + index * 10 * SECOND)
}

fn record(status: &str, since: i64) -> Vec<(String, String, String)> {
    vec![("web-1".to_owned(), status.to_owned(), at(since))]
}

#[test]
fn for_30s_at_a_10s_period_fires_on_the_fourth_hot_sample_once() {
    let counts = Arc::new(TopologyCounts::default());
    let driver = transitions(&MetricTopologyConfig::default(), &alerting(30, 0), &counts);
    let alerts = samples(&driver, "web-1", &[true, true, true, true, true, false]);
    assert_eq!(
        alerts,
        [
            vec![],
            vec![],
            vec![],
            record("firing", 0),
            vec![],
            record("resolved", 0),
        ]
    );
    assert_eq!(
        counts.transitions.snapshot(),
        [("firing", 1), ("resolved", 1), ("no_data", 0)]
    );
}

#[test]
fn a_dip_resets_pending() {
    let driver = transitions(
        &MetricTopologyConfig::default(),
        &alerting(30, 0),
        &Arc::default(),
    );
    let alerts = samples(
        &driver,
        "web-1",
        &[true, true, true, false, true, true, true, true],
    );
    let fired: Vec<usize> = (0..alerts.len())
        .filter(|i| !alerts[*i].is_empty())
        .collect();
    assert_eq!(fired, [7], "{alerts:?}");
    assert_eq!(
        alerts[7],
        record("firing", 4),
        "the episode starts after the dip"
    );
}

#[test]
fn keep_firing_for_keeps_a_flapping_host_firing() {
    let driver = transitions(
        &MetricTopologyConfig::default(),
        &alerting(0, 20),
        &Arc::default(),
    );
    let flapping = [true, false, true, false, true, false, false, false];
    let alerts = samples(&driver, "web-1", &flapping);
    assert_eq!(alerts[0], record("firing", 0));
    assert!(alerts[1..7].iter().all(Vec::is_empty), "{alerts:?}");
    assert_eq!(alerts[7], record("resolved", 0));
}

#[test]
fn a_firing_host_goes_no_data_once_the_wall_clock_passes_no_data_after() {
    let counts = Arc::new(TopologyCounts::default());
    let driver = transitions(&MetricTopologyConfig::default(), &alerting(0, 0), &counts);
    assert_eq!(samples(&driver, "web-1", &[true])[0], record("firing", 0));
    driver.advance_wall_clock(Duration::from_secs(20));
    assert_eq!(read_alerts(&driver), [], "20 s of silence");
    driver.advance_wall_clock(Duration::from_secs(30));
    assert_eq!(read_alerts(&driver), record("no_data", 0));
    driver.advance_wall_clock(Duration::from_secs(120));
    assert_eq!(read_alerts(&driver), [], "once");
    assert_eq!(counts.transitions.snapshot()[2], ("no_data", 1));
}

#[test]
fn a_transition_record_is_the_reference_alert_then_status_and_since() {
    let driver = transitions(
        &MetricTopologyConfig::default(),
        &alerting(10, 0),
        &Arc::default(),
    );
    let input = driver.create_input_topic("metric.all");
    input.pipe_record(cpu_sample("web-1", EIGHT_AM, 0.8586));
    input.pipe_record(cpu_sample("web-1", EIGHT_AM + 10 * SECOND, 0.8586));
    let values = driver
        .create_output_topic("metric.cpu.alert")
        .read_value_strings_to_list();
    assert_eq!(
        values,
        [format!(
            r#"{{"cpu":{{"usage":0.8586}},"name":"web-1","timestamp":"{}","status":"firing","since":"{}"}}"#,
            at(1),
            at(0)
        )]
    );
}

#[test]
fn hosts_are_kept_apart_and_the_inventory_is_the_last_member() {
    let topology = MetricTopologyConfig {
        inventory_topic: Some("metric.hosts".to_owned()),
        ..MetricTopologyConfig::default()
    };
    let driver = transitions(&topology, &alerting(10, 0), &Arc::default());
    driver
        .create_input_topic("metric.hosts")
        .pipe_key_value("db-1", r#"{"team":"data"}"#);
    let input = driver.create_input_topic("metric.all");
    for index in 0..2 {
        let at = EIGHT_AM + index * 10 * SECOND;
        input.pipe_record(cpu_sample("web-1", at, 0.9));
        input.pipe_record(cpu_sample("db-1", at, if index == 0 { 0.2 } else { 0.9 }));
    }
    let values = driver
        .create_output_topic("metric.cpu.alert")
        .read_value_strings_to_list();
    assert_eq!(
        values.len(),
        1,
        "web-1 fires, db-1 is only pending: {values:?}"
    );
    assert!(values[0].contains(r#""name":"web-1""#), "{values:?}");
    input.pipe_record(cpu_sample("db-1", EIGHT_AM + 20 * SECOND, 0.9));
    let values = driver
        .create_output_topic("metric.cpu.alert")
        .read_value_strings_to_list();
    assert_eq!(values.len(), 1, "{values:?}");
    assert!(
        values[0].ends_with(&format!(
            r#""status":"firing","since":"{}","inventory":{{"team":"data"}}}}"#,
            at(1)
        )),
        "{values:?}"
    );
}

#[test]
fn the_state_goes_through_its_repartition_topic_and_changelog() {
    let driver = transitions(
        &MetricTopologyConfig::default(),
        &alerting(30, 0),
        &Arc::default(),
    );
    samples(&driver, "web-1", &[true]);
    let topics = driver.produced_topic_names();
    for topic in ["proc-alert-hosts-repartition", "proc-alert-state-changelog"] {
        assert!(
            topics.iter().any(|known| known == topic),
            "{topic} in {topics:?}"
        );
    }
    let state = driver.key_value_store("alert-state").expect("the store");
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].0, b"web-1");
    let state = String::from_utf8(state[0].1.clone()).expect("utf-8");
    assert!(state.starts_with(r#"{"status":"pending","#), "{state}");
}
