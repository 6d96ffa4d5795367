//! Fault suite, broker side, on librdkafka's mock cluster with the processor's runtime: the
//! consumer side's requests fail (Fetch, OffsetCommit, Heartbeat, JoinGroup errors), every
//! round trip takes 400 ms, the input partitions' broker goes down and comes back. Each time
//! every input gets its outputs and the committed offsets reach the end of the input.
//! (Produce-side faults are in `processor_faults.rs`, agent outages in `agent/tests/`.)

mod processor_support;

use std::time::{Duration, Instant};

use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_processor::metric_topology::metric_topology;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use processor_support::mock::{self, BROKERS, Cluster, INPUT_BROKER, PARTITIONS, client_config};
use processor_support::{
    MAX_OUTPUTS_PER_INPUT, Multiset, committed_input_offsets, count_by_topic, eventually,
    expected_outputs, init_logging, mixed_values, output_topics, read_topic_values,
};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const RECORDS: usize = 1_000;
const WAIT: Duration = Duration::from_secs(40);

/// The cluster with [`RECORDS`] mixed inputs preloaded and the outputs they must give.
fn cluster_with_input() -> (Cluster, ProcessorConfig, Multiset) {
    let inputs = mixed_values(RECORDS);
    let (cluster, config) = mock::cluster_with_input("mock-fault", &inputs, None);
    let expected = expected_outputs(&config, &inputs);
    (cluster, config, expected)
}

fn committed_total(cluster: &Cluster, config: &ProcessorConfig) -> i64 {
    committed_input_offsets(&client_config(cluster), config, PARTITIONS)
        .values()
        .sum()
}

/// Every output record so far, as a multiset.
fn read_outputs(cluster: &Cluster, config: &ProcessorConfig, expected: &Multiset) -> Multiset {
    let wanted = count_by_topic(expected);
    let mut outputs = Multiset::new();
    for topic in output_topics(config) {
        let at_least = wanted.get(&topic).copied().unwrap_or(0);
        let values = read_topic_values(
            &client_config(cluster),
            &topic,
            PARTITIONS,
            at_least,
            Duration::from_secs(5),
        );
        for value in values {
            *outputs.entry((topic.clone(), value)).or_default() += 1;
        }
    }
    outputs
}

/// How many expected outputs are missing from `outputs`.
fn missing(outputs: &Multiset, expected: &Multiset) -> usize {
    expected
        .iter()
        .filter(|(record, count)| outputs.get(*record).copied().unwrap_or(0) < **count)
        .count()
}

/// Starts the processor, runs `fault` on the cluster, lets the processor run until every
/// expected output is there and every input is committed (or [`WAIT`] passes), stops it, and
/// checks that nothing is missing, nothing unexpected appeared, every input stays committed
/// and every duplicate output comes from an input the processor processed again (the
/// idempotent producer adds none); returns the duplicates.
///
/// The commits are awaited while the processor runs, as the at-least-once contract states them:
/// a fault may cost the member its group membership (a session timeout while the coordinator is
/// unreachable), and then its last commits are refused (UNKNOWN_MEMBER_ID) until it rejoins and
/// re-processes from the committed offsets, as a Kafka Streams task migrated away does.
fn run_to_the_end(
    cluster: &Cluster,
    config: &ProcessorConfig,
    expected: &Multiset,
    fault: impl FnOnce(&Cluster),
) -> usize {
    let started = Instant::now();
    let runtime = StreamsRuntime::new(
        metric_topology(&config.topology),
        config.streams().expect("valid streams settings"),
    );
    runtime.start().expect("start");
    fault(cluster);
    // Injected errors hit every client of the cluster: read only once the processor has
    // consumed every input (the Fetch errors are used up by then).
    eventually(WAIT, || runtime.stats().records_processed >= RECORDS as u64);
    let outputs_complete = eventually(WAIT, || {
        missing(&read_outputs(cluster, config, expected), expected) == 0
    });
    let mut committed = 0;
    let committed_while_running = eventually(WAIT, || {
        committed = committed_total(cluster, config);
        committed == RECORDS as i64
    });
    assert_eq!(runtime.close(WAIT), ClientState::NotRunning);
    // Read again after the close: re-processing after a lost membership adds duplicates late.
    let outputs = read_outputs(cluster, config, expected);
    assert!(
        outputs_complete && missing(&outputs, expected) == 0,
        "lost outputs: by topic {:?}, expected {:?}",
        count_by_topic(&outputs),
        count_by_topic(expected)
    );
    assert!(
        outputs.keys().all(|record| expected.contains_key(record)),
        "outputs the topology would not make"
    );
    assert!(
        committed_while_running,
        "{committed} of {RECORDS} inputs committed {} s after the outputs were complete",
        WAIT.as_secs()
    );
    assert_eq!(
        committed_total(cluster, config),
        RECORDS as i64,
        "the close took back committed offsets"
    );
    let duplicates: usize = outputs
        .iter()
        .map(|(record, count)| count - expected[record])
        .sum();
    // Inputs processed more than once: re-delivered after a lost membership or a failed commit.
    let reprocessed = (runtime.stats().records_processed as usize).saturating_sub(RECORDS);
    let bound = reprocessed * MAX_OUTPUTS_PER_INPUT;
    println!(
        "{RECORDS} inputs, {} outputs, 0 lost, {duplicates} duplicates (bound {bound}: \
         {reprocessed} inputs processed again), {:.1} s",
        expected.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicate outputs, more than the {bound} of the {reprocessed} inputs \
         processed again"
    );
    duplicates
}

/// A failed asynchronous commit is offered again at the next interval, also while the input
/// is idle: otherwise the group's committed offsets (and the lag operators see) stay behind and
/// a crash re-processes those records. (Before the fix: with 20 injected OffsetCommit errors
/// nothing was committed 20 s after draining, every time.)
#[test]
fn failed_commits_are_retried_while_idle() {
    init_logging();
    let (cluster, config, expected) = cluster_with_input();
    let runtime = StreamsRuntime::new(
        metric_topology(&config.topology),
        config.streams().expect("valid streams settings"),
    );
    runtime.start().expect("start");
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT; 20],
    );
    let outputs_complete = eventually(WAIT, || {
        missing(&read_outputs(&cluster, &config, &expected), &expected) == 0
    });
    let committed_while_running = eventually(Duration::from_secs(20), || {
        committed_total(&cluster, &config) == RECORDS as i64
    });
    let seen = committed_total(&cluster, &config);
    assert_eq!(runtime.close(WAIT), ClientState::NotRunning);
    assert!(outputs_complete, "outputs incomplete");
    assert!(
        committed_while_running,
        "{seen} of {RECORDS} inputs committed 20 s after the input was drained"
    );
}

#[test]
fn consumer_side_request_errors_lose_nothing() {
    init_logging();
    let (cluster, config, expected) = cluster_with_input();
    use RDKafkaRespErr::*;
    let injected: [(RDKafkaApiKey, &[RDKafkaRespErr]); 5] = [
        (
            RDKafkaApiKey::Fetch,
            &[
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            ],
        ),
        (
            RDKafkaApiKey::OffsetCommit,
            &[
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            ],
        ),
        (
            RDKafkaApiKey::OffsetFetch,
            &[RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS],
        ),
        (
            RDKafkaApiKey::Heartbeat,
            &[RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT],
        ),
        (
            RDKafkaApiKey::JoinGroup,
            &[RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE],
        ),
    ];
    run_to_the_end(&cluster, &config, &expected, |cluster| {
        for (api, errors) in injected {
            cluster.request_errors(api, errors);
        }
    });
}

#[test]
fn slow_round_trips_lose_nothing() {
    init_logging();
    let (cluster, config, expected) = cluster_with_input();
    run_to_the_end(&cluster, &config, &expected, |cluster| {
        for broker in 1..=BROKERS {
            cluster
                .broker_round_trip_time(broker, Duration::from_millis(400))
                .expect("round-trip time");
        }
    });
}

#[test]
fn input_broker_down_and_back_loses_nothing() {
    init_logging();
    let (cluster, config, expected) = cluster_with_input();
    run_to_the_end(&cluster, &config, &expected, |cluster| {
        std::thread::sleep(Duration::from_millis(1500));
        cluster.broker_down(INPUT_BROKER).expect("broker down");
        std::thread::sleep(Duration::from_secs(4));
        cluster.broker_up(INPUT_BROKER).expect("broker up");
    });
}
