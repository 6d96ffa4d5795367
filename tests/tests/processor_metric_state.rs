//! The metric pipeline's state on the broker, through the real `ferrobeat-processor` binary:
//!
//! * `[alerting] mode = "transitions"` with the host inventory: one `firing` per episode and
//!   one `resolved`, in order per host, the inventory member on the host that has one, exactly
//!   once across a `kill -9` (once the group committed everything) and a clean restart, a
//!   pending host firing after the kill as if nothing happened, a firing one not re-firing;
//! * `[summaries]`: one exact summary per host and minute, across a `kill -9` and a second
//!   instance joining, the last minute of every host closed by the wall clock without input.
//!
//! Event time is the record timestamp (= `@timestamp`), fixed in the past from
//! 2025-01-31T08:00:00Z; records are keyed by host, so the partitioner spreads the hosts over the
//! input's partitions and each host's samples stay in order.

mod processor_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_processor::metric_topology::alerting::AlertMode;
use ferrobeat_schema::numeric::{format_timestamp_millis, round4};
use ferrobeat_tests::TestKafka;
use processor_support::{
    broker_pipeline, committed_offsets, config_file_text, cpu_event_at, eventually,
    kill_9_and_wait_out_its_session, memory_event_at, processor_binary, spawn_processor_binary,
    terminate,
};
use serde_json::{Value, json};

const PARTITIONS: i32 = 3;
const TIMEOUT: Duration = Duration::from_secs(60);
/// 2025-01-31T08:00:00.000Z in milliseconds since the epoch.
const EIGHT_AM: i64 = 1_738_310_400_000;
const STEP: i64 = 10_000;
const MINUTE: i64 = 60_000;
const HOSTS: [&str; 6] = ["web-1", "web-2", "db-1", "db-2", "cache-1", "queue-1"];
const HOT: f64 = 0.9;
const COOL: f64 = 0.2;

/// An input record: key (the host), value, timestamp.
type Input = (String, Vec<u8>, i64);

/// `@timestamp` of `at`.
fn stamp(at: i64) -> String {
    format_timestamp_millis(at).expect("a time in range")
}

fn cpu(host: &str, at: i64, pct: f64) -> Input {
    let value = cpu_event_at(host, &stamp(at), pct).into_bytes();
    (host.to_owned(), value, at)
}

fn memory(host: &str, at: i64, pct: f64) -> Input {
    let value = memory_event_at(host, &stamp(at), pct).into_bytes();
    (host.to_owned(), value, at)
}

/// A processor instance, `kill -9`ed when dropped (a failed assertion leaves none running).
struct Instance {
    child: Child,
    log: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A broker, a processor configuration on fresh topics, its instances' logs, and what was
/// produced so far.
struct Rig {
    kafka: TestKafka,
    config: ProcessorConfig,
    binary: PathBuf,
    scratch: tempfile::TempDir,
    /// The repartition topic every produced record of interest goes through.
    repartition: String,
    produced: usize,
    repartitioned: usize,
}

impl Rig {
    /// A rig whose configuration `configure` completes; `repartition` names the repartition
    /// topic to watch (after `<application id>-`).
    fn new(configure: impl FnOnce(&TestKafka, &mut ProcessorConfig), repartition: &str) -> Rig {
        let kafka = TestKafka::start().expect("broker");
        let mut config = broker_pipeline(&kafka, "state", PARTITIONS);
        configure(&kafka, &mut config);
        config.validate().expect("a valid configuration");
        let scratch = tempfile::tempdir().expect("scratch dir");
        let file = scratch.path().join("processor.toml");
        let text = config_file_text(&config);
        let parsed = ProcessorConfig::parse(&text, &file).expect("the file parses");
        assert_eq!(parsed, config, "the file says what the test configured");
        std::fs::write(&file, text).expect("write config");
        Rig {
            repartition: format!("{}-{repartition}-repartition", config.kafka.application_id),
            kafka,
            config,
            binary: processor_binary(),
            scratch,
            produced: 0,
            repartitioned: 0,
        }
    }

    /// Every instance's log, for failure messages.
    fn logs(&self) -> String {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.scratch.path())
            .expect("scratch dir")
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                format!("--- {} ---\n{text}", path.display())
            })
            .collect()
    }

    /// Starts instance `name` and waits until it runs, with its tasks restored from their
    /// changelogs when `restores`.
    fn spawn(&self, name: &str, restores: bool) -> Instance {
        let log = self.scratch.path().join(format!("{name}.log"));
        let file = self.scratch.path().join("processor.toml");
        let child = spawn_processor_binary(&self.binary, &file, &log);
        let instance = Instance { child, log };
        let wanted: &[&str] = if restores {
            &["task restored", "running; topology"]
        } else {
            &["running; topology"]
        };
        let text = || std::fs::read_to_string(&instance.log).unwrap_or_default();
        assert!(
            eventually(TIMEOUT, || wanted.iter().all(|line| text().contains(line))),
            "{name} did not log {wanted:?}:\n{}",
            self.logs()
        );
        instance
    }

    /// Produces `records` keyed by host, then waits until the repartition topic holds
    /// `repartitioned` more records: whatever is produced next comes after them on every
    /// partition of it.
    fn produce(&mut self, records: &[Input], repartitioned: usize) {
        let keyed: Vec<_> = records
            .iter()
            .map(|(key, value, at)| ((Some(key.as_bytes()), Some(value.as_slice())), *at))
            .collect();
        let input = &self.config.topology.input_topic;
        self.kafka.produce_keyed_at(input, &keyed).expect("produce");
        self.produced += records.len();
        self.repartitioned += repartitioned;
        let read = self
            .kafka
            .read_topic(&self.repartition, self.repartitioned, TIMEOUT)
            .expect("read the repartition topic");
        assert_eq!(
            read.len(),
            self.repartitioned,
            "repartitioned once each\n{}",
            self.logs()
        );
    }

    /// Waits until the group committed every record produced on the input and every record
    /// of the repartition topic.
    fn wait_committed(&self) {
        let client = self.kafka.client_config();
        let group = &self.config.kafka.application_id;
        let total = |topic: &str| {
            let offsets = committed_offsets(&client, group, topic, PARTITIONS);
            usize::try_from(offsets.values().sum::<i64>()).expect("offsets are positive")
        };
        assert!(
            eventually(TIMEOUT, || {
                total(&self.config.topology.input_topic) == self.produced
                    && total(&self.repartition) == self.repartitioned
            }),
            "the group did not commit {} inputs and {} repartitioned records\n{}",
            self.produced,
            self.repartitioned,
            self.logs()
        );
    }

    /// `kill -9`.
    fn kill_9(&self, mut instance: Instance) {
        kill_9_and_wait_out_its_session(&mut instance.child);
    }

    /// SIGTERM; the instance must exit 0.
    fn stop(&self, mut instance: Instance) {
        let exit = terminate(&mut instance.child, TIMEOUT);
        assert!(
            exit.is_some_and(|exit| exit.success()),
            "no clean exit: {exit:?}\n{}",
            self.logs()
        );
    }

    /// The values of `topic` as JSON, by key in the order of their partition: at least
    /// `at_least` of them, all there are once the topic stayed quiet a moment.
    fn read_by_key(&self, topic: &str, at_least: usize) -> BTreeMap<String, Vec<Value>> {
        let mut by_key: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let records = self.kafka.read_topic(topic, at_least, TIMEOUT);
        for record in records.expect("read") {
            let key = String::from_utf8(record.key.expect("keyed")).expect("utf-8 key");
            let value = serde_json::from_slice(&record.value.expect("a value")).expect("JSON");
            by_key.entry(key).or_default().push(value);
        }
        by_key
    }
}

/// Per host of [`HOSTS`], its cpu over eleven samples 10 s apart from 08:00: `H` hot, `c`
/// cool. Steps 0-5 go before the `kill -9`, 6-7 before the clean restart, 8-10 after it: a
/// host whose state a restart lost would fire again three hot samples later.
const PATTERNS: [&str; 6] = [
    "HHHHHHccccc", // fires at 2, resolves at 6 (firing across the kill)
    "ccccHHHHHcc", // pending from 4 across the kill, fires at 6, resolves at 9
    "ccccccccccc", // never
    "HHHcHHHHHHH", // fires at 2, resolves at 3, fires at 6, firing across the clean restart
    "HcHcHcHcHcH", // pending, never long enough
    "HHHHHHHHHHH", // fires at 2, then firing throughout
];

/// The inventory entry of the first host.
fn inventory() -> Value {
    json!({"team": "web", "dc": "par-1"})
}

/// The alert records expected per host: `(step, status, since step)`.
fn expected_alerts(up_to_step: usize) -> BTreeMap<String, Vec<Value>> {
    let transitions: [&[(usize, &str, usize)]; 6] = [
        &[(2, "firing", 0), (6, "resolved", 0)],
        &[(6, "firing", 4), (9, "resolved", 4)],
        &[],
        &[(2, "firing", 0), (3, "resolved", 0), (6, "firing", 4)],
        &[],
        &[(2, "firing", 0)],
    ];
    let mut expected = BTreeMap::new();
    for (index, host) in HOSTS.iter().enumerate() {
        let records: Vec<Value> = transitions[index]
            .iter()
            .filter(|(step, _, _)| *step < up_to_step)
            .map(|&(step, status, since)| {
                let hot = PATTERNS[index].as_bytes()[step] == b'H';
                let at = |step: usize| stamp(EIGHT_AM + STEP * i64::try_from(step).expect("small"));
                let mut alert = json!({
                    "cpu": {"usage": if hot { HOT } else { COOL }},
                    "name": host,
                    "timestamp": at(step),
                    "status": status,
                    "since": at(since),
                });
                if index == 0 {
                    alert["inventory"] = inventory();
                }
                alert
            })
            .collect();
        if !records.is_empty() {
            expected.insert((*host).to_owned(), records);
        }
    }
    expected
}

/// The cpu samples of every host for `steps`.
fn pattern_samples(steps: std::ops::Range<usize>) -> Vec<Input> {
    let mut samples = Vec::new();
    for step in steps {
        let at = EIGHT_AM + STEP * i64::try_from(step).expect("small");
        for (host, pattern) in HOSTS.iter().zip(PATTERNS) {
            let hot = pattern.as_bytes()[step] == b'H';
            samples.push(cpu(host, at, if hot { HOT } else { COOL }));
        }
    }
    samples
}

#[test]
fn transitions_with_inventory_are_exact_across_kill_9_a_clean_restart_and_a_second_instance() {
    let mut rig = Rig::new(
        |kafka, config| {
            let hosts = kafka.unique_topic("state-hosts");
            kafka.create_topic(&hosts, 1).expect("inventory topic");
            let entry = inventory().to_string();
            let record = (Some(HOSTS[0].as_bytes()), Some(entry.as_bytes()));
            kafka.produce_keyed(&hosts, &[record]).expect("inventory");
            config.topology.inventory_topic = Some(hosts);
            config.alerting.mode = AlertMode::Transitions;
            config.alerting.fire_after = Duration::from_secs(20);
            // No `no_data` while the test stops and restarts instances.
            config.alerting.no_data_after = Duration::from_secs(3600);
        },
        "alert-hosts",
    );
    let alerts = rig.config.topology.alert_topic.clone();
    let first = rig.spawn("first", false);
    rig.produce(&pattern_samples(0..6), 36);
    rig.wait_committed();
    rig.kill_9(first);
    let before_kill = expected_alerts(6);
    let count = |alerts: &BTreeMap<String, Vec<Value>>| alerts.values().map(Vec::len).sum();
    assert_eq!(
        rig.read_by_key(&alerts, count(&before_kill)),
        before_kill,
        "each transition of steps 0-5 once\n{}",
        rig.logs()
    );

    let second = rig.spawn("second", true);
    rig.produce(&pattern_samples(6..8), 12);
    rig.wait_committed();
    rig.stop(second);
    let third = rig.spawn("third", true);
    // A second instance joins: the tasks it takes over continue from their restored states.
    let joining = rig.spawn("joining", true);
    rig.produce(&pattern_samples(8..11), 18);
    rig.wait_committed();
    let all = expected_alerts(11);
    assert_eq!(
        rig.read_by_key(&alerts, count(&all)),
        all,
        "one firing per episode and one resolved, in order, none repeated by the kill, the \
         restart or the second instance\n{}",
        rig.logs()
    );
    rig.stop(joining);
    rig.stop(third);
}

/// The cpu and memory samples of `host` (index `index`) in minute `minute` after 08:00: six
/// of each, 10 s apart, memory 5 s after cpu.
fn minute_samples(index: usize, minute: i64) -> Vec<Input> {
    let host = HOSTS[index];
    let index = i64::try_from(index).expect("small");
    (0..6)
        .flat_map(|step| {
            let at = EIGHT_AM + minute * MINUTE + step * STEP;
            // Two decimals, at most six per window: no average falls on a rounding tie.
            let cpu_pct = ((index * 7 + minute * 3 + step * 11) % 90 + 5) as f64 / 100.0;
            let memory_pct = ((index * 5 + minute * 13 + step * 3) % 90 + 5) as f64 / 100.0;
            [cpu(host, at, cpu_pct), memory(host, at + 5_000, memory_pct)]
        })
        .collect()
}

/// `{"avg":…,"min":…,"max":…}` of `values`, rounded as the summaries are.
fn stats(values: &[f64]) -> Value {
    let sum: f64 = values.iter().sum();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    json!({"avg": round4(sum / values.len() as f64), "min": round4(min), "max": round4(max)})
}

/// The summary record of `host` (index `index`) for minute `minute`, from its samples.
fn expected_summary(index: usize, minute: i64) -> Value {
    let mut cpu = Vec::new();
    let mut memory = Vec::new();
    for (_, value, _) in minute_samples(index, minute) {
        let event: Value = serde_json::from_slice(&value).expect("JSON");
        let system = &event["system"];
        match system["cpu"]["total"]["norm"]["pct"].as_f64() {
            Some(pct) => cpu.push(pct),
            None => memory.push(
                system["memory"]["actual"]["used"]["pct"]
                    .as_f64()
                    .expect("pct"),
            ),
        }
    }
    let start = EIGHT_AM + minute * MINUTE;
    json!({
        "host": {"name": HOSTS[index]},
        "window": {"start": stamp(start), "end": stamp(start + MINUTE)},
        "cpu": {"norm": stats(&cpu)},
        "memory": {"actual": {"used": {"pct": stats(&memory)}}},
        "samples": cpu.len(),
    })
}

/// Produces every host's samples of `minute`, then waits until they are repartitioned.
fn produce_minute(rig: &mut Rig, minute: i64) {
    let samples: Vec<Input> = (0..HOSTS.len())
        .flat_map(|index| minute_samples(index, minute))
        .collect();
    let count = samples.len();
    rig.produce(&samples, count);
}

#[test]
fn summaries_are_exact_across_kill_9_and_a_second_instance_and_close_by_the_wall_clock() {
    let mut rig = Rig::new(
        |kafka, config| {
            let topic = kafka.unique_topic("state-1m");
            kafka
                .create_topic(&topic, PARTITIONS)
                .expect("summaries topic");
            config.summaries.topic = Some(topic);
            config.summaries.close_idle = Duration::from_secs(3);
        },
        "summaries",
    );
    let topic = rig.config.summaries.topic.clone().expect("set");
    let first = rig.spawn("first", false);
    produce_minute(&mut rig, 0);
    produce_minute(&mut rig, 1);
    rig.wait_committed();
    rig.kill_9(first);
    // Minute 0 was closed by minute 1's samples, once; minute 1 by the clock at most.
    let early = rig.read_by_key(&topic, HOSTS.len());
    for (index, host) in HOSTS.iter().enumerate() {
        let closable: Vec<Value> = (0..2)
            .map(|minute| expected_summary(index, minute))
            .collect();
        let written = early.get(*host).map(Vec::as_slice).unwrap_or_default();
        assert!(
            !written.is_empty() && closable.starts_with(written),
            "{host} before the kill: {written:?}\n{}",
            rig.logs()
        );
    }

    let second = rig.spawn("second", true);
    for minute in 2..5 {
        produce_minute(&mut rig, minute);
    }
    rig.wait_committed();
    // A second instance takes tasks over, restoring their open last minutes; no more input:
    // the last minute of every host closes by the wall clock alone, on either instance.
    let joining = rig.spawn("joining", true);
    let expected: BTreeMap<String, Vec<Value>> = (0..HOSTS.len())
        .map(|index| {
            let minutes = (0..5)
                .map(|minute| expected_summary(index, minute))
                .collect();
            (HOSTS[index].to_owned(), minutes)
        })
        .collect();
    let count = HOSTS.len() * 5;
    assert_eq!(
        rig.read_by_key(&topic, count),
        expected,
        "one exact summary per host and minute, in order, none lost or repeated\n{}",
        rig.logs()
    );
    rig.stop(joining);
    rig.stop(second);
}
