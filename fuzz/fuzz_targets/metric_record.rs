//! Any bytes as a `metric.all` record value, through the metric topology and the dead-letter
//! policy exactly as the runtime applies them (without Kafka). Checks, besides "no panic",
//! the routing invariants: a record is either dead-lettered alone, unchanged, with a reason,
//! or routed to at most one of cpu/memory unchanged, with an alert only for cpu; and a record
//! the topology takes is JSON as serde_json reads it (so the fast scan of
//! `metric_topology/scan.rs` accepts nothing that serde_json refuses).
//!
//! (Not through the `TopologyTestDriver`: it keeps every handled error for `errors()`, which
//! grows without bound over millions of runs and ends in libFuzzer's out-of-memory stop.)
#![no_main]

use std::sync::LazyLock;

use ferrobeat_processor::metric_topology::{MetricTopologyConfig, metric_topology};
use ferrobeat_streams::errors::{ErrorAction, ErrorHandlingConfig, HEADER_MESSAGE};
use ferrobeat_streams::record::{InputRecord, SourcePosition};
use ferrobeat_streams::topology::Topology;
use libfuzzer_sys::fuzz_target;

static CONFIG: LazyLock<MetricTopologyConfig> = LazyLock::new(MetricTopologyConfig::default);
static TOPOLOGY: LazyLock<Topology> = LazyLock::new(|| metric_topology(&CONFIG));
static ERRORS: LazyLock<ErrorHandlingConfig> = LazyLock::new(ErrorHandlingConfig::default);

fuzz_target!(|value: &[u8]| {
    let input = InputRecord {
        source: SourcePosition {
            topic: &CONFIG.input_topic,
            partition: 0,
            offset: 0,
        },
        timestamp: 0,
        key: None,
        value: Some(value),
        headers: Vec::new(),
    };
    let mut outputs = Vec::new();
    let outcome = TOPOLOGY.process(&input, &mut |output| {
        outputs.push((
            output.topic.into_owned(),
            output.value.map(|v| v.into_owned()),
        ))
    });
    let unchanged = |bytes: &Option<Vec<u8>>| bytes.as_deref() == Some(value);
    match outcome {
        Err(error) => {
            let ErrorAction::DeadLetter(letter) = ERRORS.action(&input, &error) else {
                panic!("the default policy dead-letters");
            };
            assert_eq!(letter.value.as_deref(), Some(value), "dead letter changed");
            let reason = letter
                .headers
                .iter()
                .find(|header| header.key == HEADER_MESSAGE)
                .and_then(|header| header.value.as_deref())
                .unwrap_or_default();
            assert!(!reason.is_empty(), "a dead letter without its reason");
        }
        Ok(()) => {
            assert!(
                serde_json::from_slice::<serde::de::IgnoredAny>(value).is_ok(),
                "taken, but serde_json refuses it"
            );
            let count = |topic: &str| outputs.iter().filter(|(t, _)| t == topic).count();
            let (cpu, memory, alerts) = (
                count(&CONFIG.cpu_topic),
                count(&CONFIG.memory_topic),
                count(&CONFIG.alert_topic),
            );
            assert_eq!(cpu + memory + alerts, outputs.len(), "an unknown topic");
            assert!(cpu + memory <= 1, "routed twice");
            assert!(alerts <= cpu, "an alert without a cpu event");
            for (topic, bytes) in &outputs {
                if *topic == CONFIG.alert_topic {
                    let alert = bytes.as_deref().unwrap_or_default();
                    assert!(alert.starts_with(b"{") && alert.ends_with(b"}"));
                    let marker: &[u8] = b"\"timestamp\":\"";
                    assert!(alert.windows(marker.len()).any(|w| w == marker));
                    assert!(std::str::from_utf8(alert).is_ok(), "alert is not UTF-8");
                } else {
                    assert!(unchanged(bytes), "{topic}: the record was changed");
                }
            }
        }
    }
});
