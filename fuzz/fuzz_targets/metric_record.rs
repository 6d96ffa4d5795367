//! Any bytes as a `metric.all` record value, through the metric topology on the test driver
//! (the runtime's processing and error policy, without Kafka). Checks, besides "no panic",
//! the routing invariants: a record is either dead-lettered alone, unchanged, with a reason,
//! or routed to at most one of cpu/memory unchanged, with an alert only for cpu.
#![no_main]

use ferrobeat_processor::driver::{TestRecord, TopologyTestDriver};
use ferrobeat_processor::errors::HEADER_MESSAGE;
use ferrobeat_processor::metric_topology::{MetricTopologyConfig, metric_topology};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static DRIVER: TopologyTestDriver =
        TopologyTestDriver::new(metric_topology(&MetricTopologyConfig::default()));
}

fn read(driver: &TopologyTestDriver, topic: &str) -> Vec<TestRecord> {
    driver.create_output_topic(topic).read_records_to_list()
}

fuzz_target!(|value: &[u8]| {
    DRIVER.with(|driver| {
        driver
            .create_input_topic("metric.all")
            .pipe_record(TestRecord::from_value(value));
        let cpu = read(driver, "metric.cpu");
        let memory = read(driver, "metric.memory");
        let alert = read(driver, "metric.cpu.alert");
        let dead = read(driver, "metric.dlq");
        let unchanged = |records: &[TestRecord]| {
            records
                .iter()
                .all(|record| record.value.as_deref() == Some(value))
        };
        assert!(unchanged(&cpu) && unchanged(&memory) && unchanged(&dead));
        if let [letter] = dead.as_slice() {
            assert!(cpu.is_empty() && memory.is_empty() && alert.is_empty());
            let reason = letter.header_string(HEADER_MESSAGE).unwrap_or_default();
            assert!(!reason.is_empty(), "a dead letter without its reason");
        } else {
            assert!(dead.is_empty(), "{} dead letters for one record", dead.len());
            assert!(cpu.len() + memory.len() <= 1, "routed twice");
            assert!(alert.len() <= cpu.len(), "an alert without a cpu event");
            for record in &alert {
                let alert = record.value.as_deref().unwrap_or_default();
                assert!(alert.starts_with(b"{") && alert.ends_with(b"}"));
                let marker: &[u8] = b"\"timestamp\":\"";
                assert!(alert.windows(marker.len()).any(|w| w == marker));
                assert!(std::str::from_utf8(alert).is_ok(), "alert is not UTF-8");
            }
        }
    });
});
