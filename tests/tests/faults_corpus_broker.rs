//! The malformed-input corpus (`processor/tests/corpus/`) through the real runtime on the test
//! broker: every case is produced to the input topic, and every output topic must then hold
//! exactly what the cases' `.expect` files say, dead letters carrying their reason. The
//! driver-side test is `processor/tests/malformed_corpus.rs`.

#[path = "../../processor/tests/corpus/mod.rs"]
mod corpus;
mod processor_support;

use std::collections::BTreeMap;
use std::time::Duration;

use corpus::{Route, load_corpus};
use ferrobeat_processor::metric_topology::metric_topology;
use ferrobeat_streams::errors::HEADER_MESSAGE;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use ferrobeat_tests::TestKafka;
use processor_support::{broker_pipeline, init_logging, output_topics};

const PARTITIONS: i32 = 3;
const WAIT: Duration = Duration::from_secs(30);

// Reads the outputs like the processor tests: each compares with its own expectation.
#[test]
fn corpus_cases_are_routed_by_the_runtime_as_expected() {
    init_logging();
    let kafka = TestKafka::start().expect("broker");
    let config = broker_pipeline(&kafka, "corpus", PARTITIONS);
    let topic_of = |route: Route| match route {
        Route::Cpu => config.topology.cpu_topic.clone(),
        Route::Memory => config.topology.memory_topic.clone(),
        Route::Alert => config.topology.alert_topic.clone(),
        Route::Dlq => config.errors.dead_letter_topic.clone(),
    };

    let cases = load_corpus();
    // Every case has its alert value stated, so the outputs are known exactly.
    let mut expected: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for case in &cases {
        let outputs = case
            .expected_outputs()
            .unwrap_or_else(|| panic!("{}: the alert value is not stated", case.name));
        for (route, value) in outputs {
            expected.entry(topic_of(route)).or_default().push(value);
        }
    }
    let values: Vec<Vec<u8>> = cases.iter().map(|case| case.value.clone()).collect();
    kafka
        .produce(&config.topology.input_topic, &values)
        .expect("produce the corpus");

    let runtime = StreamsRuntime::new(
        metric_topology(&config.topology),
        config.streams().expect("valid streams settings"),
    );
    runtime.start().expect("start");
    for topic in output_topics(&config) {
        let mut wanted = expected.remove(&topic).unwrap_or_default();
        let records = kafka
            .read_topic(&topic, wanted.len(), WAIT)
            .expect("read output");
        let mut got: Vec<Vec<u8>> = records
            .iter()
            .map(|record| record.value.clone().unwrap_or_default())
            .collect();
        got.sort();
        wanted.sort();
        assert_eq!(
            got.len(),
            wanted.len(),
            "{topic}: {} records, expected {}",
            got.len(),
            wanted.len()
        );
        assert!(got == wanted, "{topic}: other records than expected");
        if topic == config.errors.dead_letter_topic {
            for record in &records {
                let reason = record
                    .headers
                    .iter()
                    .find(|(key, _)| key == HEADER_MESSAGE)
                    .and_then(|(_, value)| value.clone())
                    .map(|value| String::from_utf8_lossy(&value).into_owned())
                    .unwrap_or_default();
                let case = cases
                    .iter()
                    .find(|case| Some(&case.value) == record.value.as_ref())
                    .expect("a dead letter of a corpus case");
                let wanted = case.expect.reason.as_deref().unwrap_or_default();
                assert!(
                    reason.contains(wanted),
                    "{}: dead letter reason {reason:?} lacks {wanted:?}",
                    case.name
                );
            }
        }
    }
    assert_eq!(runtime.close(WAIT), ClientState::NotRunning);
    println!(
        "{} corpus cases through the runtime on the test broker: routed as expected",
        cases.len()
    );
}
