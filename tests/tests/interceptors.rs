//! The `logging` interceptor, turned on in the configuration files of the real binaries on the
//! test broker: the processor logs one line per consumed record, sent output, delivery report
//! and commit; the agent one per sent record and delivery report; with no `[[interceptors]]`
//! neither logs any.

mod processor_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferrobeat_tests::TestKafka;
use processor_support::{
    committed_input_offsets, config_file_text, count_by_topic, eventually, expected_outputs,
    mixed_values, output_topics, processor_binary, read_topic_records, spawn_processor_binary,
    terminate, test_config, workspace_binary,
};

const INPUTS: usize = 30;
const PARTITIONS: i32 = 2;
const TIMEOUT: Duration = Duration::from_secs(30);
const LOGGING: &str = "\n[[interceptors]]\nname = \"logging\"\nlevel = \"info\"\n";

/// The interceptor lines of a log, by hook (`on_consume`, …), each a map of its fields.
type HookLines = BTreeMap<String, Vec<BTreeMap<String, String>>>;

/// Parses tracing's default format: `… INFO ferrobeat::interceptor: on_send seen=1 topic="t"`,
/// colours removed.
fn interceptor_lines(log: &str) -> HookLines {
    let mut hooks = HookLines::new();
    for line in without_colours(log).lines() {
        let Some((_, event)) = line.split_once("ferrobeat::interceptor: ") else {
            continue;
        };
        let mut words = event.split_whitespace();
        let hook = words.next().unwrap_or_default().to_owned();
        let fields = words
            .filter_map(|field| field.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.trim_matches('"').to_owned()))
            .collect();
        hooks.entry(hook).or_default().push(fields);
    }
    hooks
}

/// `text` without ANSI SGR sequences (`ESC [ … m`).
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('\x1b') {
        plain.push_str(&rest[..start]);
        rest = &rest[start..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    plain.push_str(rest);
    plain
}

fn count(hooks: &HookLines, hook: &str) -> usize {
    hooks.get(hook).map_or(0, Vec::len)
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn the_processor_logs_every_hook_when_on_and_nothing_when_off() {
    let kafka = TestKafka::start().expect("test broker");
    let client = kafka.client_config();
    let on = test_config(kafka.bootstrap_servers(), |name| kafka.unique_topic(name));
    let mut off = test_config(kafka.bootstrap_servers(), |name| kafka.unique_topic(name));
    off.topology
        .input_topic
        .clone_from(&on.topology.input_topic);
    kafka
        .create_topic(&on.topology.input_topic, PARTITIONS)
        .expect("input topic");
    for topic in output_topics(&on).iter().chain(&output_topics(&off)) {
        kafka.create_topic(topic, 1).expect("output topic");
    }
    let inputs = mixed_values(INPUTS);
    kafka
        .produce(&on.topology.input_topic, &inputs)
        .expect("inputs");
    let expected = expected_outputs(&on, &inputs);
    let outputs: usize = expected.values().sum();

    let binary = processor_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut runs = Vec::new();
    for (name, config, extra) in [("on", &on, LOGGING), ("off", &off, "")] {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, config_file_text(config) + extra).expect("config file");
        let log = dir.path().join(format!("{name}.log"));
        let child = spawn_processor_binary(&binary, &file, &log);
        runs.push((config, child, log));
    }
    let mut logs = Vec::new();
    for (config, mut child, log) in runs {
        let done = eventually(TIMEOUT, || {
            committed_input_offsets(&client, config, PARTITIONS)
                .values()
                .sum::<i64>()
                == INPUTS as i64
        });
        let exit = terminate(&mut child, TIMEOUT);
        let text = read_log(&log);
        assert!(done, "not every input committed; log:\n{text}");
        assert!(exit.is_some_and(|exit| exit.success()), "{exit:?}\n{text}");
        logs.push(text);
    }
    let (on_log, off_log) = (&logs[0], &logs[1]);

    let per_topic = count_by_topic(&expected);
    let produced: BTreeMap<String, usize> = output_topics(&on)
        .into_iter()
        .map(|topic| {
            let wanted = per_topic.get(&topic).copied().unwrap_or(0);
            let read = read_topic_records(&client, &topic, 1, wanted, Duration::from_secs(10));
            (topic, read.len())
        })
        .filter(|(_, read)| *read > 0)
        .collect();
    assert_eq!(produced, per_topic);

    let hooks = interceptor_lines(on_log);
    assert_eq!(count(&hooks, "on_consume"), INPUTS, "{on_log}");
    assert_eq!(count(&hooks, "on_send"), outputs, "{on_log}");
    assert_eq!(count(&hooks, "on_acknowledgement"), outputs, "{on_log}");
    for consumed in &hooks["on_consume"] {
        assert_eq!(consumed["topic"], on.topology.input_topic, "{consumed:?}");
        assert!(consumed.contains_key("offset"), "{consumed:?}");
    }
    let output_set = output_topics(&on);
    for acknowledged in &hooks["on_acknowledgement"] {
        assert!(
            output_set.contains(&acknowledged["topic"]),
            "{acknowledged:?}"
        );
        assert!(!acknowledged.contains_key("error"), "{acknowledged:?}");
        assert!(acknowledged.contains_key("offset"), "{acknowledged:?}");
    }
    // The commits reported reach the offsets the group committed.
    let committed = committed_input_offsets(&client, &on, PARTITIONS);
    let mut reported = BTreeMap::<String, i64>::new();
    for commit in hooks.get("on_commit").into_iter().flatten() {
        assert!(!commit.contains_key("error"), "{commit:?}");
        for position in commit["offsets"].split(',') {
            let (partition, offset) = position.rsplit_once('@').expect("topic-partition@offset");
            let offset: i64 = offset.parse().expect("offset");
            let highest = reported.entry(partition.to_owned()).or_default();
            *highest = (*highest).max(offset);
        }
    }
    let expected_commits: BTreeMap<String, i64> = committed
        .iter()
        .filter(|(_, offset)| **offset > 0)
        .map(|(partition, offset)| (format!("{}-{partition}", on.topology.input_topic), *offset))
        .collect();
    assert_eq!(reported, expected_commits, "{on_log}");

    assert!(
        interceptor_lines(off_log).is_empty(),
        "interceptor lines without [[interceptors]]:\n{off_log}"
    );
}

/// An agent configuration file shipping cpu and memory every 500 ms to `topic`.
fn agent_config_text(kafka: &TestKafka, topic: &str, data_dir: &Path) -> String {
    format!(
        "data_dir = {data_dir:?}\noutput = \"kafka\"\n[collect]\nperiod = \"500ms\"\n\
         metricsets = [\"cpu\", \"memory\"]\n[kafka]\nbootstrap_servers = {:?}\ntopic = {topic:?}\n\
         linger = \"20ms\"\n[kafka.properties]\n\"broker.address.family\" = \"v4\"\n",
        kafka.bootstrap_servers(),
    )
}

// Spawns a binary like processor_support does: separate test crates.
fn spawn_agent(binary: &Path, config_file: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(binary)
        .arg("--config")
        .arg(config_file)
        .arg("run")
        .env("FERROBEAT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn the agent")
}

#[test]
fn the_agent_logs_sends_and_acknowledgements_when_on_and_nothing_when_off() {
    let kafka = TestKafka::start().expect("test broker");
    let binary = workspace_binary("ferrobeat-agent");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut runs = Vec::new();
    for (name, extra) in [("on", LOGGING), ("off", "")] {
        let topic = kafka.unique_topic(&format!("agent-{name}"));
        kafka.create_topic(&topic, 1).expect("topic");
        let data_dir = dir.path().join(name);
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, agent_config_text(&kafka, &topic, &data_dir) + extra)
            .expect("config file");
        let log = dir.path().join(format!("{name}.log"));
        let child = spawn_agent(&binary, &file, &log);
        runs.push((topic, child, log));
    }
    // Until a few rounds are delivered (both agents run meanwhile).
    let delivered = eventually(TIMEOUT, || {
        count(
            &interceptor_lines(&read_log(&runs[0].2)),
            "on_acknowledgement",
        ) >= 6
    });
    let mut results = Vec::new();
    for (topic, mut child, log) in runs {
        let exit = terminate(&mut child, TIMEOUT);
        let text = read_log(&log);
        assert!(exit.is_some_and(|exit| exit.success()), "{exit:?}\n{text}");
        let records = kafka
            .read_topic(&topic, 1, Duration::from_secs(10))
            .expect("read the topic");
        results.push((text, records.len()));
    }
    let (on_log, on_records) = (&results[0].0, results[0].1);
    assert!(delivered, "the agent delivered nothing:\n{on_log}");
    let hooks = interceptor_lines(on_log);
    assert_eq!(count(&hooks, "on_send"), on_records, "{on_log}");
    assert_eq!(count(&hooks, "on_acknowledgement"), on_records, "{on_log}");
    assert_eq!(count(&hooks, "on_consume") + count(&hooks, "on_commit"), 0);
    for acknowledged in &hooks["on_acknowledgement"] {
        assert!(!acknowledged.contains_key("error"), "{acknowledged:?}");
        assert!(acknowledged.contains_key("offset"), "{acknowledged:?}");
    }

    let (off_log, off_records) = (&results[1].0, results[1].1);
    assert!(
        off_records > 0,
        "the agent without interceptors delivered nothing"
    );
    assert!(
        interceptor_lines(off_log).is_empty(),
        "interceptor lines without [[interceptors]]:\n{off_log}"
    );
}
