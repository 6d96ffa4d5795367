//! The host inventory (`[topology] inventory_topic`) run by the test driver: alerts of a host
//! found there gain its object as their last member, updates and tombstones take effect for the
//! next alert, and a value that is not an object is counted, never the end of the alert.

mod mission;

use std::sync::Arc;

use ferrobeat_processor::metric_topology::{
    MetricPipeline, MetricTopologyConfig, TopologyCounts, metric_pipeline,
};
use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};
use mission::{MISSION_ALERT, driver, hot_cpu_event};

const HOST: &str = "Aaronui-MacBookPro.local";

fn config() -> MetricTopologyConfig {
    let config = MetricTopologyConfig {
        inventory_topic: Some("metric.hosts".to_owned()),
        ..MetricTopologyConfig::default()
    };
    config.validate().expect("valid config");
    config
}

/// Pipes one hot event and returns the alert it raised.
fn alert(driver: &TopologyTestDriver) -> String {
    driver
        .create_input_topic("metric.all")
        .pipe_value(hot_cpu_event());
    let alerts = driver
        .create_output_topic("metric.cpu.alert")
        .read_value_strings_to_list();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    alerts.into_iter().next().unwrap_or_default()
}

/// The mission's alert with `"inventory": object` as its last member.
fn with_inventory(object: &str) -> String {
    format!(
        "{},\"inventory\":{object}}}",
        MISSION_ALERT.strip_suffix('}').unwrap_or(MISSION_ALERT)
    )
}

#[test]
fn an_alert_gains_its_host_inventory_and_follows_updates_and_deletes() {
    let counts = Arc::new(TopologyCounts::default());
    let driver = driver(metric_pipeline(
        MetricPipeline::stateless(&config()),
        Arc::clone(&counts),
    ));
    assert_eq!(alert(&driver), MISSION_ALERT, "a host not found: no member");

    let hosts = driver.create_input_topic("metric.hosts");
    hosts.pipe_key_value("web-2", r#"{"owner":"bo"}"#);
    hosts.pipe_key_value(HOST, "{ \"owner\": \"ana\",\n \"dc\": \"par-1\" }");
    assert_eq!(
        alert(&driver),
        with_inventory(r#"{"owner":"ana","dc":"par-1"}"#)
    );

    hosts.pipe_key_value(HOST, r#"{"owner":"eve"}"#);
    assert_eq!(alert(&driver), with_inventory(r#"{"owner":"eve"}"#));

    hosts.pipe_record(TestRecord {
        key: Some(HOST.as_bytes().to_vec()),
        ..TestRecord::default()
    });
    assert_eq!(alert(&driver), MISSION_ALERT, "deleted: no member");
    assert_eq!(counts.inventory_invalid.get(), 0);
}

#[test]
fn a_value_that_is_not_an_object_is_counted_and_the_alert_goes_out() {
    let counts = Arc::new(TopologyCounts::default());
    let driver = driver(metric_pipeline(
        MetricPipeline::stateless(&config()),
        Arc::clone(&counts),
    ));
    let hosts = driver.create_input_topic("metric.hosts");
    hosts.pipe_key_value(HOST, "\"web team\"");
    assert_eq!(alert(&driver), MISSION_ALERT);
    hosts.pipe_key_value(HOST, "{broken");
    assert_eq!(alert(&driver), MISSION_ALERT);
    assert_eq!(counts.inventory_invalid.get(), 2);
    assert!(
        driver
            .create_output_topic("metric.dlq")
            .read_value_strings_to_list()
            .is_empty()
    );
}

#[test]
fn the_inventory_topic_needs_a_topic_of_its_own() {
    for taken in ["metric.all", "metric.cpu.alert"] {
        let config = MetricTopologyConfig {
            inventory_topic: Some(taken.to_owned()),
            ..MetricTopologyConfig::default()
        };
        let error = config.validate().expect_err("refused");
        assert_eq!(error.key, "inventory_topic", "{error}");
        assert!(error.reason.contains(taken), "{error}");
    }
    let config = MetricTopologyConfig {
        inventory_topic: Some("metric/hosts".to_owned()),
        ..MetricTopologyConfig::default()
    };
    assert_eq!(
        config.validate().expect_err("refused").key,
        "inventory_topic"
    );
}

#[test]
fn without_an_inventory_topic_the_topology_reads_no_table() {
    let topology = metric_pipeline(
        MetricPipeline::stateless(&MetricTopologyConfig::default()),
        Arc::default(),
    );
    assert_eq!(topology.source_topics(), ["metric.all"]);
    assert!(!topology.describe().to_string().contains("GlobalStore"));
    let with = metric_pipeline(MetricPipeline::stateless(&config()), Arc::default());
    assert!(with.describe().to_string().contains("metric.hosts"));
}
