//! What the processor's broker and fault tests share: mixed input records, the expected outputs
//! computed by the topology itself, a processor configuration on unique topics, a state log.

#![allow(dead_code)] // each test crate uses a different part

pub(crate) mod endpoint;
pub(crate) mod mock;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_processor::metric_topology::alerting::{AlertMode, AlertingConfig};
use ferrobeat_processor::metric_topology::metric_topology;
use ferrobeat_processor::metric_topology::summary::SummariesConfig;
use ferrobeat_streams::config::{KafkaConfig, RuntimeConfig};
use ferrobeat_streams::errors::ErrorAction;
use ferrobeat_streams::record::{InputRecord, SourcePosition};
use ferrobeat_streams::runtime::{ClientState, StateListener};
use ferrobeat_tests::TestKafka;

/// Most outputs one input makes (a hot cpu event: the event and its alert; a dead-lettered
/// record: its dead letter).
pub(crate) const MAX_OUTPUTS_PER_INPUT: usize = 2;

/// Output records as a multiset: (topic, value) → how many times.
pub(crate) type Multiset = BTreeMap<(String, Vec<u8>), usize>;

/// Logs of the runtime on the test's output (`RUST_LOG` to change the level).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn cpu_event(index: usize, norm_pct: f64) -> String {
    cpu_event_at(
        &format!("host-{index}"),
        "2025-01-31T07:55:26.555Z",
        norm_pct,
    )
}

/// A Metricbeat cpu event of `host` at `timestamp` (`@timestamp`), its
/// `system.cpu.total.norm.pct` and `host.cpu.usage` `norm_pct` (4 decimals).
pub(crate) fn cpu_event_at(host: &str, timestamp: &str, norm_pct: f64) -> String {
    let total = norm_pct * 4.0;
    format!(
        r#"{{"@timestamp":"{timestamp}","@metadata":{{"beat":"metricbeat","type":"_doc","version":"8.17.1"}},"service":{{"type":"system"}},"system":{{"cpu":{{"idle":{{"pct":{idle:.4},"norm":{{"pct":{idle_norm:.4}}}}},"nice":{{"pct":0,"norm":{{"pct":0}}}},"cores":4,"total":{{"pct":{total:.4},"norm":{{"pct":{norm_pct:.4}}}}},"user":{{"norm":{{"pct":{norm_pct:.4}}},"pct":{total:.4}}},"system":{{"pct":0,"norm":{{"pct":0}}}}}}}},"host":{{"cpu":{{"usage":{norm_pct:.4}}},"name":"{host}"}},"event":{{"dataset":"system.cpu","module":"system","duration":2847417}},"ecs":{{"version":"8.0.0"}},"agent":{{"name":"{host}","type":"metricbeat","version":"8.17.1","ephemeral_id":"e-{host}","id":"a-{host}"}},"metricset":{{"period":10000,"name":"cpu"}}}}"#,
        idle = 4.0 - total,
        idle_norm = 1.0 - norm_pct,
    )
}

fn memory_event(index: usize) -> String {
    memory_event_at(&format!("host-{index}"), "2025-01-31T07:55:28.919Z", 0.9556)
}

/// A Metricbeat memory event of `host` at `timestamp` (`@timestamp`), its
/// `system.memory.actual.used.pct` `used_pct` (4 decimals).
pub(crate) fn memory_event_at(host: &str, timestamp: &str, used_pct: f64) -> String {
    format!(
        r#"{{"@timestamp":"{timestamp}","@metadata":{{"beat":"metricbeat","type":"_doc","version":"8.17.1"}},"event":{{"duration":1807750,"dataset":"system.memory","module":"system"}},"metricset":{{"name":"memory","period":10000}},"service":{{"type":"system"}},"system":{{"memory":{{"total":17179869184,"used":{{"pct":0.9976,"bytes":17138380800}},"free":41488384,"actual":{{"free":763154432,"used":{{"bytes":16416714752,"pct":{used_pct:.4}}}}},"swap":{{"used":{{"bytes":11371479040,"pct":0.8825}},"free":1513422848,"total":12884901888}}}}}},"ecs":{{"version":"8.0.0"}},"host":{{"name":"{host}"}},"agent":{{"name":"{host}","type":"metricbeat","version":"8.17.1","ephemeral_id":"e-{host}","id":"a-{host}"}}}}"#
    )
}

fn network_event(index: usize) -> String {
    format!(
        r#"{{"@timestamp":"2025-01-31T07:55:28.919Z","metricset":{{"name":"network","period":10000}},"service":{{"type":"system"}},"system":{{"network":{{"name":"eth0","in":{{"bytes":{index},"packets":1,"errors":0,"dropped":0}},"out":{{"bytes":1,"packets":1,"errors":0,"dropped":0}}}}}},"host":{{"name":"host-{index}"}}}}"#
    )
}

/// Produces `values` to `topic` keyed `host-0`, `host-1`, …, so that every partition of a
/// small topic gets some whatever the timing: keyless records of a quick burst may all land on
/// one partition (librdkafka's sticky partitioner), and a partition without a committed offset
/// has no lag series for a test to wait for (`observability_assets` failed so in CI on 4
/// December). The keys' hashes are fixed, so the spread is the same on every run.
pub(crate) fn preload_on_every_partition(kafka: &TestKafka, topic: &str, values: &[Vec<u8>]) {
    let keys: Vec<String> = (0..values.len())
        .map(|index| format!("host-{index}"))
        .collect();
    let records: Vec<ferrobeat_tests::KeyedRecord<'_>> = keys
        .iter()
        .zip(values)
        .map(|(key, value)| (Some(key.as_bytes()), Some(value.as_slice())))
        .collect();
    kafka
        .produce_keyed(topic, &records)
        .expect("preload the inputs");
}

/// `count` distinct records: cpu events (about a third above a 0.5 alert threshold), memory
/// events, network events (no route: dropped) and, every 97th, a value that is not JSON
/// (dead-lettered).
pub(crate) fn mixed_values(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|index| {
            let value = if index % 97 == 0 {
                format!("not json {index}")
            } else {
                match index % 10 {
                    0..=4 => cpu_event(index, (index * 37 % 100) as f64 / 100.0),
                    5..=7 => memory_event(index),
                    _ => network_event(index),
                }
            };
            value.into_bytes()
        })
        .collect()
}

// Runs the topology as the fuzz target does: separate crates, each asserting its own property.
/// What the topology and the error policy make of `inputs`, run directly (no broker).
pub(crate) fn expected_outputs(config: &ProcessorConfig, inputs: &[Vec<u8>]) -> Multiset {
    let topology = metric_topology(&config.topology);
    let mut expected = Multiset::new();
    for (offset, value) in inputs.iter().enumerate() {
        let input = InputRecord {
            source: SourcePosition {
                topic: &config.topology.input_topic,
                partition: 0,
                offset: offset as i64,
            },
            timestamp: 0,
            key: None,
            value: Some(value),
            headers: Vec::new(),
        };
        let mut outputs = Vec::new();
        let result = topology.process(&input, &mut |output| {
            outputs.push((
                output.topic.into_owned(),
                output.value.unwrap_or_default().into_owned(),
            ));
        });
        if let Err(error) = result {
            outputs.clear();
            if let ErrorAction::DeadLetter(letter) = config.errors.handling().action(&input, &error)
            {
                outputs.push((
                    letter.topic.into_owned(),
                    letter.value.unwrap_or_default().into_owned(),
                ));
            }
        }
        for output in outputs {
            *expected.entry(output).or_default() += 1;
        }
    }
    expected
}

/// Records per topic of a multiset.
pub(crate) fn count_by_topic(records: &Multiset) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for ((topic, _), count) in records {
        *counts.entry(topic.clone()).or_default() += count;
    }
    counts
}

/// The records one multiset has more of than the other, both ways, for a failure message:
/// `(missing from actual, extra in actual)`, values cut to 80 bytes.
pub(crate) fn difference(actual: &Multiset, expected: &Multiset) -> (Vec<String>, Vec<String>) {
    let more = |a: &Multiset, b: &Multiset| {
        a.iter()
            .filter(|(key, count)| b.get(*key).copied().unwrap_or(0) < **count)
            .map(|((topic, value), _)| {
                let value = String::from_utf8_lossy(&value[..value.len().min(80)]).into_owned();
                format!("{topic}: {value}")
            })
            .collect::<Vec<_>>()
    };
    (more(expected, actual), more(actual, expected))
}

/// The topics the metric topology writes (dead-letter topic included).
pub(crate) fn output_topics(config: &ProcessorConfig) -> Vec<String> {
    let topology = &config.topology;
    vec![
        topology.cpu_topic.clone(),
        topology.memory_topic.clone(),
        topology.alert_topic.clone(),
        config.errors.dead_letter_topic.clone(),
    ]
}

/// The session timeout of every test group (`quick_group`, the examples' `-X`), in ms.
const SESSION_TIMEOUT_MS: u64 = 6000;

/// `kill -9`s `child`, reaps it, and waits until its group session has expired, so that the
/// next member's join evicts it.
///
/// Tansu 0.6.0 drops a member whose session expired only when a later request of its group
/// finds it so (it has no timer): a member that joins within the session timeout of a
/// `kill -9` shares a generation with the dead one and can be handed an empty assignment that
/// no later rebalance corrects (the restarted processor of `processor_metric_state` ran
/// without a partition in 1 of 9 stress rounds). The dead member's last contact was at the
/// latest the kill, so the wait ends once that is a session timeout (and a margin) ago. Apache
/// Kafka evicts by its own timer and holds a join meanwhile: production needs no such wait.
pub(crate) fn kill_9_and_wait_out_its_session(child: &mut Child) {
    child.kill().expect("kill -9");
    let killed = Instant::now();
    child.wait().expect("reap");
    let expired = killed + Duration::from_millis(SESSION_TIMEOUT_MS + 500);
    if let Some(left) = expired.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

/// Settings that keep a test's consumer group quick on Tansu: a short session (a new group's
/// join waits half of it), frequent commits and a bounded shutdown.
pub(crate) fn quick_group(kafka: &mut KafkaConfig, runtime: &mut RuntimeConfig) {
    let session_timeout = SESSION_TIMEOUT_MS.to_string();
    for (name, value) in [
        ("session.timeout.ms", session_timeout.as_str()),
        ("heartbeat.interval.ms", "500"),
        ("broker.address.family", "v4"),
    ] {
        kafka.properties.insert(name.to_owned(), value.to_owned());
    }
    runtime.commit_interval = Duration::from_millis(200);
    runtime.shutdown_timeout = Duration::from_secs(10);
}

/// A processor configuration on topics named by `unique` (one call per topic), talking to
/// `bootstrap_servers` with group timings fit for a test broker.
pub(crate) fn test_config(
    bootstrap_servers: &str,
    unique: impl Fn(&str) -> String,
) -> ProcessorConfig {
    let mut config = ProcessorConfig::default();
    config.kafka.bootstrap_servers = bootstrap_servers.to_owned();
    config.kafka.application_id = unique("app");
    quick_group(&mut config.kafka, &mut config.runtime);
    config.topology.input_topic = unique("all");
    config.topology.cpu_topic = unique("cpu");
    config.topology.memory_topic = unique("memory");
    config.topology.alert_topic = unique("alert");
    config.errors.dead_letter_topic = unique("dlq");
    config.validate().expect("the test configuration is valid");
    config
}

/// A processor configuration on fresh topics of `kafka` (names starting with `prefix`), its
/// input and output topics created with `partitions` partitions each.
pub(crate) fn broker_pipeline(kafka: &TestKafka, prefix: &str, partitions: i32) -> ProcessorConfig {
    let config = test_config(kafka.bootstrap_servers(), |name| {
        kafka.unique_topic(&format!("{prefix}-{name}"))
    });
    let topics = std::iter::once(config.topology.input_topic.clone()).chain(output_topics(&config));
    for topic in topics {
        kafka
            .create_topic(&topic, partitions)
            .unwrap_or_else(|error| panic!("create topic {topic}: {error}"));
    }
    config
}

/// Every state transition a client went through.
#[derive(Debug, Clone, Default)]
pub(crate) struct TransitionLog(Arc<Mutex<Vec<(ClientState, ClientState)>>>);

impl TransitionLog {
    /// A listener appending to this log.
    pub(crate) fn listener(&self) -> StateListener {
        let log = Arc::clone(&self.0);
        Box::new(move |old, new| log.lock().expect("transition log").push((old, new)))
    }

    /// The transitions so far.
    pub(crate) fn transitions(&self) -> Vec<(ClientState, ClientState)> {
        self.0.lock().expect("transition log").clone()
    }

    /// The states visited, starting with the first `old` state.
    pub(crate) fn states(&self) -> Vec<ClientState> {
        let transitions = self.transitions();
        transitions
            .first()
            .map(|(first, _)| *first)
            .into_iter()
            .chain(transitions.iter().map(|(_, new)| *new))
            .collect()
    }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes; returns whether it held.
pub(crate) fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The processor binary of this workspace, built (by cargo, incrementally) before use.
pub(crate) fn processor_binary() -> PathBuf {
    workspace_binary("ferrobeat-processor")
}

/// The binary `package` of this workspace (named as its package), built (by cargo,
/// incrementally) before use.
pub(crate) fn workspace_binary(package: &str) -> PathBuf {
    built(&["-p", package, "--bin", package], Path::new(package))
}

/// The example `name` of the streams library, built (by cargo, incrementally) before use.
pub(crate) fn streams_example(name: &str) -> PathBuf {
    built(
        &["-p", "ferrobeat-streams", "--example", name],
        &Path::new("examples").join(name),
    )
}

/// Runs `cargo build` with `selection` and returns `target/<profile>/<path>`.
fn built(selection: &[&str], path: &Path) -> PathBuf {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let status = Command::new(cargo)
        .args(["build", "--quiet"])
        .args(selection)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build {selection:?} failed");
    // This test runs from target/<profile>/deps/.
    let profile_dir = std::env::current_exe()
        .expect("test executable path")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .to_owned();
    let binary = profile_dir.join(path);
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// Sends SIGTERM to `child` and waits up to `timeout` for it to exit; `None` if it did not.
pub(crate) fn terminate(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {} failed", child.id());
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(exit) = child.try_wait().expect("wait for the child") {
            return Some(exit);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The configuration file of the processor binary for `config`.
pub(crate) fn config_file_text(config: &ProcessorConfig) -> String {
    let properties: String = config
        .kafka
        .properties
        .iter()
        .map(|(name, value)| format!("{name:?} = {:?}\n", value))
        .collect();
    let inventory = config
        .topology
        .inventory_topic
        .as_ref()
        .map(|topic| format!("inventory_topic = {topic:?}\n"))
        .unwrap_or_default();
    format!(
        "[kafka]\nbootstrap_servers = {:?}\napplication_id = {:?}\n[kafka.properties]\n{properties}\
         [runtime]\ncommit_interval = \"{}ms\"\nmax_in_flight_records = {}\nshutdown_timeout = \"{}ms\"\n\
         [topology]\ninput_topic = {:?}\ncpu_topic = {:?}\nmemory_topic = {:?}\nalert_topic = {:?}\n\
         {inventory}{}{}[errors]\ndead_letter_topic = {:?}\n",
        config.kafka.bootstrap_servers,
        config.kafka.application_id,
        config.runtime.commit_interval.as_millis(),
        config.runtime.max_in_flight_records,
        config.runtime.shutdown_timeout.as_millis(),
        config.topology.input_topic,
        config.topology.cpu_topic,
        config.topology.memory_topic,
        config.topology.alert_topic,
        alerting_section(&config.alerting),
        summaries_section(&config.summaries),
        config.errors.dead_letter_topic,
    )
}

/// The `[alerting]` section of a configuration file for `alerting`.
fn alerting_section(alerting: &AlertingConfig) -> String {
    let mode = match alerting.mode {
        AlertMode::EverySample => "every-sample",
        AlertMode::Transitions => "transitions",
    };
    format!(
        "[alerting]\nmode = {mode:?}\nfor = \"{}ms\"\nkeep_firing_for = \"{}ms\"\n\
         no_data_after = \"{}ms\"\n",
        alerting.fire_after.as_millis(),
        alerting.keep_firing_for.as_millis(),
        alerting.no_data_after.as_millis(),
    )
}

/// The `[summaries]` section of a configuration file for `summaries`.
fn summaries_section(summaries: &SummariesConfig) -> String {
    let topic = summaries
        .topic
        .as_ref()
        .map(|topic| format!("topic = {topic:?}\n"))
        .unwrap_or_default();
    format!(
        "[summaries]\n{topic}window = \"{}ms\"\ngrace = \"{}ms\"\nclose_idle = \"{}ms\"\n",
        summaries.window.as_millis(),
        summaries.grace.as_millis(),
        summaries.close_idle.as_millis(),
    )
}

/// Starts the processor binary on `config_file`, its log appended to `log`.
pub(crate) fn spawn_processor_binary(binary: &Path, config_file: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(binary)
        .arg("run")
        .arg("--config")
        .arg(config_file)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn the processor")
}

/// Offsets the processor's group committed on its input topic's `partitions` partitions, by
/// partition, read through a client made from `client` (bootstrap servers set).
pub(crate) fn committed_input_offsets(
    client: &rdkafka::ClientConfig,
    config: &ProcessorConfig,
    partitions: i32,
) -> BTreeMap<i32, i64> {
    committed_offsets(
        client,
        &config.kafka.application_id,
        &config.topology.input_topic,
        partitions,
    )
}

/// Offsets `group` committed on `topic`'s `partitions` partitions, by partition (those it
/// committed nothing on are left out), read through a client made from `client`.
pub(crate) fn committed_offsets(
    client: &rdkafka::ClientConfig,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", group)
        .create()
        .expect("offset reader");
    let mut wanted = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        wanted.add_partition(topic, partition);
    }
    consumer
        .committed_offsets(wanted, Duration::from_secs(10))
        .expect("committed offsets")
        .elements()
        .iter()
        .filter_map(|element| match element.offset() {
            rdkafka::Offset::Offset(offset) => Some((element.partition(), offset)),
            _ => None,
        })
        .collect()
}

/// The values of every record of `topic` (`partitions` partitions), read from the beginning
/// without a group through a client made from `client`, until at least `at_least` are read
/// and the topic has been quiet for half a second, or `timeout` passes.
pub(crate) fn read_topic_values(
    client: &rdkafka::ClientConfig,
    topic: &str,
    partitions: i32,
    at_least: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    read_topic_records(client, topic, partitions, at_least, timeout)
        .into_iter()
        .map(|(_, _, value)| value)
        .collect()
}

/// As [`read_topic_values`], with each value's partition and offset: `(partition, offset, value)`.
pub(crate) fn read_topic_records(
    client: &rdkafka::ClientConfig,
    topic: &str,
    partitions: i32,
    at_least: usize,
    timeout: Duration,
) -> Vec<(i32, i64, Vec<u8>)> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", "ferrobeat-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let mut assignment = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut records = Vec::new();
    let mut idle_polls = 0;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline && (records.len() < at_least || idle_polls < 5) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                idle_polls = 0;
                records.push((
                    message.partition(),
                    message.offset(),
                    message.payload().unwrap_or_default().to_vec(),
                ));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => idle_polls += 1,
            Some(Err(error)) => panic!("reading {topic}: {error}"),
        }
    }
    records
}

/// A running example, killed when dropped: a failed assertion does not leave it running.
pub(crate) struct Example(pub(crate) Child);

impl Drop for Example {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts example `name` of the streams library on `kafka` with `extra` arguments (e.g.
/// `--state-dir DIR`), group timings fit for a test broker, its standard error to `log` (at the
/// `info` level, or the filter in `EXAMPLE_LOG`, e.g. `EXAMPLE_LOG=info,ferrobeat_streams=debug`).
pub(crate) fn spawn_example_with(
    name: &str,
    kafka: &TestKafka,
    log: &Path,
    extra: &[&str],
) -> Example {
    let child = Command::new(streams_example(name))
        .args(["--bootstrap-servers", kafka.bootstrap_servers()])
        .args(extra)
        .args([
            "-X",
            &format!("session.timeout.ms={SESSION_TIMEOUT_MS}"),
            "-X",
            "heartbeat.interval.ms=500",
        ])
        .args(["-X", "broker.address.family=v4"])
        .env(
            "RUST_LOG",
            std::env::var("EXAMPLE_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn the example");
    Example(child)
}
