//! `[summaries]` run by the test driver: one record per host and closed one-minute window,
//! exact, after the window closes (stream time past end + grace), or by the wall clock when
//! the hosts stopped; nothing while a window is open; samples past the grace are late.

mod mission;

use std::sync::Arc;
use std::time::Duration;

use ferrobeat_processor::metric_topology::alerting::AlertingConfig;
use ferrobeat_processor::metric_topology::summary::SummariesConfig;
use ferrobeat_processor::metric_topology::{MetricPipeline, MetricTopologyConfig, metric_pipeline};
use ferrobeat_streams::Topology;
use ferrobeat_streams::driver::TopologyTestDriver;
use mission::{EIGHT_AM, cpu_sample, driver, memory_sample};

const SECOND: i64 = 1000;

/// The metric topology with summaries to `metric.cpu.1m` (default windows).
fn summaries_topology() -> Topology {
    let summaries = SummariesConfig {
        topic: Some("metric.cpu.1m".to_owned()),
        ..SummariesConfig::default()
    };
    let pipeline = MetricPipeline {
        topology: &MetricTopologyConfig::default(),
        alerting: &AlertingConfig::DEFAULT,
        summaries: &summaries,
    };
    metric_pipeline(pipeline, Arc::default())
}

fn summaries_driver() -> TopologyTestDriver {
    driver(summaries_topology())
        .with_application_id("proc")
        .with_wall_clock(EIGHT_AM + 3600 * SECOND)
}

fn read(driver: &TopologyTestDriver) -> Vec<(String, String)> {
    driver
        .create_output_topic("metric.cpu.1m")
        .read_key_values_to_list()
        .into_iter()
        .map(|(key, value)| {
            (
                String::from_utf8(key.expect("keyed by host")).expect("utf-8"),
                String::from_utf8(value.expect("a summary")).expect("utf-8"),
            )
        })
        .collect()
}

/// The cpu samples of the issue's example, every 10 s from 08:00:05, and two memory samples.
fn pipe_first_minute(driver: &TopologyTestDriver, host: &str) {
    let input = driver.create_input_topic("metric.all");
    for (index, pct) in [0.4011, 0.8586, 0.6, 0.55, 0.7, 0.5641]
        .into_iter()
        .enumerate()
    {
        let at = EIGHT_AM + 5 * SECOND + index as i64 * 10 * SECOND;
        input.pipe_record(cpu_sample(host, at, pct));
    }
    input.pipe_record(memory_sample(host, EIGHT_AM + 7 * SECOND, 0.9556));
    input.pipe_record(memory_sample(host, EIGHT_AM + 17 * SECOND, 0.9));
}

const WEB_1_FIRST_MINUTE: &str = r#"{"host":{"name":"web-1"},"window":{"start":"2025-01-31T08:00:00.000Z","end":"2025-01-31T08:01:00.000Z"},"cpu":{"norm":{"avg":0.6123,"min":0.4011,"max":0.8586}},"memory":{"actual":{"used":{"pct":{"avg":0.9278,"min":0.9,"max":0.9556}}}},"samples":6}"#;

#[test]
fn a_closed_window_gives_one_exact_summary_per_host_and_nothing_before() {
    let driver = summaries_driver();
    pipe_first_minute(&driver, "web-1");
    let input = driver.create_input_topic("metric.all");
    input.pipe_record(cpu_sample("web-2", EIGHT_AM + 69 * SECOND, 0.3));
    assert_eq!(read(&driver), [], "stream time 69 s: within the grace");
    input.pipe_record(cpu_sample("web-2", EIGHT_AM + 70 * SECOND, 0.3));
    assert_eq!(
        read(&driver),
        [("web-1".to_owned(), WEB_1_FIRST_MINUTE.to_owned())]
    );
    input.pipe_record(cpu_sample("web-1", EIGHT_AM + 59 * SECOND, 0.99));
    input.pipe_record(cpu_sample("web-2", EIGHT_AM + 200 * SECOND, 0.3));
    let later = read(&driver);
    assert_eq!(later.len(), 1, "web-2's minute only: {later:?}");
    assert!(later[0].1.contains(r#""samples":2"#), "{later:?}");
    assert_eq!(
        driver.dropped_late(),
        1,
        "the 08:00:59 sample came after its window closed"
    );
}

#[test]
fn the_last_minute_of_a_host_that_stopped_closes_by_the_wall_clock() {
    let driver = summaries_driver();
    pipe_first_minute(&driver, "web-1");
    driver.advance_wall_clock(Duration::from_secs(29));
    assert_eq!(read(&driver), [], "quiet for less than close_idle");
    driver.advance_wall_clock(Duration::from_secs(60));
    assert_eq!(
        read(&driver),
        [("web-1".to_owned(), WEB_1_FIRST_MINUTE.to_owned())]
    );
    driver.advance_wall_clock(Duration::from_secs(600));
    assert_eq!(read(&driver), [], "once");
}

#[test]
fn summaries_use_a_window_store_and_a_repartition_topic_of_their_own() {
    let driver = summaries_driver();
    pipe_first_minute(&driver, "web-1");
    let topics = driver.produced_topic_names();
    for topic in [
        "proc-summaries-repartition",
        "proc-summaries-changelog",
        "proc-summaries-final-store-changelog",
    ] {
        assert!(
            topics.iter().any(|known| known == topic),
            "{topic} in {topics:?}"
        );
    }
    let description = summaries_topology().describe().to_string();
    assert!(description.contains("summaries"), "{description}");
}
