//! `ferrobeat-processor lag` against a real broker (Tansu): a lag that grows while the processor
//! is stopped is flagged (STOP or WARN, exit 1), the same numbers come out as a table and as
//! JSON, `--watch` refreshes over a growing window, and once the restarted processor has
//! drained its input every partition shows lag 0 and OK (exit 0). A stateful topology's
//! changelog partitions come as changelog rows, a changelog not created yet as none.

mod processor_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_processor::lag::query::LagQuery;
use ferrobeat_processor::lag::render::HEADERS;
use ferrobeat_streams::topology::{InternalTopic, InternalTopicKind};
use ferrobeat_tests::TestKafka;
use processor_support::{
    broker_pipeline, committed_input_offsets, config_file_text, eventually, mixed_values,
    processor_binary, spawn_processor_binary, terminate, test_config,
};

const PARTITIONS: i32 = 2;
const PRELOADED: usize = 300;
/// Records produced while the processor is stopped, in several produce calls so that several
/// batches land (Tansu's ListOffsets(LATEST) answers with the last batch's base offset).
const PRODUCED_WHILE_STOPPED: [usize; 3] = [100, 100, 100];
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One table row: the ten columns of the lag table.
type Row = Vec<String>;

/// Runs `lag` on `config_file` with `args`, bounded by the command's own timeouts.
fn lag(binary: &Path, config_file: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .arg("lag")
        .arg("--config")
        .arg(config_file)
        .args(["--timeout", "10"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run ferrobeat-processor lag")
}

/// The standard output of a `lag` run, checking it exited with `code`.
fn stdout_of(output: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "lag exited with {}; stdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The table's partition rows and its group line's fields, checking the header.
fn parse_table(stdout: &str) -> (Vec<Row>, Vec<String>) {
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    assert_eq!(header, HEADERS);
    let rows: Vec<Row> = lines
        .by_ref()
        .take_while(|line| !line.is_empty())
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect();
    let group = lines
        .next()
        .expect("a group line")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (rows, group)
}

/// A numeric cell; `None` for `-` (unknown).
fn number(cell: &str) -> Option<i64> {
    (cell != "-").then(|| {
        cell.parse()
            .unwrap_or_else(|_| panic!("{cell:?} is neither a number nor -"))
    })
}

/// Records the group has yet to read on a row's partition: its lag, or every record of the
/// partition when the group never committed there (records start at offset 0 here).
fn backlog(row: &Row) -> i64 {
    number(&row[5]).unwrap_or_else(|| number(&row[4]).expect("a log end offset"))
}

/// Produces `count` more records in several calls and returns how many there are now.
fn produce(kafka: &TestKafka, config: &ProcessorConfig, counts: &[usize]) -> usize {
    for count in counts {
        kafka
            .produce(&config.topology.input_topic, &mixed_values(*count))
            .expect("produce");
    }
    counts.iter().sum()
}

/// Waits until the group committed `total` offsets over the input partitions.
fn wait_for_commits(kafka: &TestKafka, config: &ProcessorConfig, total: usize, log: &Path) {
    let client = kafka.client_config();
    let drained = eventually(DRAIN_TIMEOUT, || {
        let committed: i64 = committed_input_offsets(&client, config, PARTITIONS)
            .values()
            .sum();
        committed == total as i64
    });
    assert!(
        drained,
        "the processor did not commit {total} offsets within {DRAIN_TIMEOUT:?}; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn lag_flags_a_stopped_processor_and_clears_once_it_caught_up() {
    let kafka = TestKafka::start().expect("test broker");
    let config = broker_pipeline(&kafka, "lag", PARTITIONS);
    let scratch = tempfile::tempdir().expect("scratch directory");
    let config_file = scratch.path().join("processor.toml");
    std::fs::write(&config_file, config_file_text(&config)).expect("config file");
    let log = scratch.path().join("processor.log");
    let binary = processor_binary();

    // The processor consumes the preloaded records, commits them, and stops.
    let mut total = produce(&kafka, &config, &[PRELOADED]);
    let mut processor = spawn_processor_binary(&binary, &config_file, &log);
    wait_for_commits(&kafka, &config, total, &log);
    let exit = terminate(&mut processor, Duration::from_secs(20)).expect("processor stops");
    assert!(exit.success(), "the processor exited with {exit}");

    // More records arrive while nobody consumes: the lag grows and is flagged.
    total += produce(&kafka, &config, &PRODUCED_WHILE_STOPPED);
    let stopped = lag(
        &binary,
        &config_file,
        &["--samples", "3", "--interval", "1"],
    );
    let table = stdout_of(&stopped, 1);
    let (rows, group_line) = parse_table(&table);
    assert_eq!(rows.len(), PARTITIONS as usize, "{table}");
    let lagging: Vec<&Row> = rows.iter().filter(|row| backlog(row) > 0).collect();
    assert!(!lagging.is_empty(), "no partition shows lag:\n{table}");
    for row in &rows {
        assert_eq!(row[0], config.kafka.application_id, "{table}");
        assert_eq!(row[1], config.topology.input_topic, "{table}");
        assert_eq!(
            row[6..9],
            ["-", "-", "-"],
            "no member consumes while the processor is stopped:\n{table}"
        );
        let expected = if backlog(row) > 0 { "STOP" } else { "OK" };
        assert_eq!(row[9], expected, "{table}");
    }
    assert_eq!(
        group_line[..4],
        ["GROUP", &config.kafka.application_id, "STATUS", "ERR"]
    );
    assert_eq!(group_line[6..8], ["MEMBERS", "0"], "{table}");
    let committed: i64 = rows.iter().filter_map(|row| number(&row[3])).sum();
    assert_eq!(committed, PRELOADED as i64, "{table}");

    // The same numbers as JSON, one document.
    let json_run = lag(
        &binary,
        &config_file,
        &["--json", "--samples", "2", "--interval", "1"],
    );
    let document: serde_json::Value =
        serde_json::from_str(&stdout_of(&json_run, 1)).expect("lag --json prints JSON");
    assert_eq!(document["group"], config.kafka.application_id.as_str());
    assert_eq!(document["status"], "ERR");
    assert_eq!(document["observations"], 2);
    assert_eq!(document["members"], 0);
    let partitions = document["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), rows.len());
    let mut total_lag = 0;
    for (row, partition) in rows.iter().zip(partitions) {
        let json_number = |field: &str| partition[field].as_i64();
        assert_eq!(json_number("partition"), number(&row[2]), "{document}");
        assert_eq!(json_number("current_offset"), number(&row[3]), "{document}");
        assert_eq!(json_number("log_end_offset"), number(&row[4]), "{document}");
        assert_eq!(json_number("lag"), number(&row[5]), "{document}");
        assert_eq!(partition["consumer_id"], serde_json::Value::Null);
        assert_eq!(partition["status"], row[9].as_str(), "{document}");
        total_lag += number(&row[5]).unwrap_or(0);
    }
    assert_eq!(document["total_lag"], total_lag);
    assert_eq!(group_line[5], total_lag.to_string());

    // The processor comes back and drains its input: lag 0 everywhere, OK, exit 0.
    let mut processor = spawn_processor_binary(&binary, &config_file, &log);
    wait_for_commits(&kafka, &config, total, &log);
    let (watch_lines, watch_kept_running) = watch_two_refreshes(&binary, &config_file);
    let caught_up = lag(
        &binary,
        &config_file,
        &["--samples", "2", "--interval", "1"],
    );
    let exit = terminate(&mut processor, Duration::from_secs(20)).expect("processor stops");
    assert!(exit.success(), "the processor exited with {exit}");
    let table = stdout_of(&caught_up, 0);
    let (rows, group_line) = parse_table(&table);
    for row in &rows {
        assert_eq!((backlog(row), row[9].as_str()), (0, "OK"), "{table}");
    }
    let committed: i64 = rows.iter().filter_map(|row| number(&row[3])).sum();
    assert_eq!(committed, total as i64, "{table}");
    assert_eq!(
        group_line[..6],
        [
            "GROUP",
            &config.kafka.application_id,
            "STATUS",
            "OK",
            "TOTAL-LAG",
            "0"
        ]
    );
    assert_eq!(
        group_line[6..8],
        ["MEMBERS", "1"],
        "the running processor is the group's member:\n{table}"
    );

    // `--watch` printed one document per refresh over a growing window, and kept running.
    assert!(watch_kept_running, "lag --watch exited by itself");
    assert_eq!(
        watch_lines.len(),
        2,
        "lag --watch refreshed twice within 20 s"
    );
    for (refresh, line) in watch_lines.iter().enumerate() {
        let document: serde_json::Value = serde_json::from_str(line).expect("a JSON document");
        assert_eq!(document["observations"], refresh + 1, "{document}");
        assert_eq!(document["status"], "OK", "{document}");
        assert_eq!(document["members"], 1, "{document}");
    }
}

/// Runs `lag --watch 1 --json` until it printed two lines (at most 20 s), then stops it.
/// Returns the lines and whether it was still running when stopped.
fn watch_two_refreshes(binary: &Path, config_file: &Path) -> (Vec<String>, bool) {
    let mut child = Command::new(binary)
        .arg("lag")
        .arg("--config")
        .arg(config_file)
        .args(["--watch", "1", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lag --watch");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let lines: Vec<String> = (0..2)
        .map_while(|_| received.recv_timeout(Duration::from_secs(10)).ok())
        .collect();
    let still_running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    (lines, still_running)
}

#[test]
fn lag_exits_2_naming_what_failed() {
    let binary = processor_binary();
    let scratch = tempfile::tempdir().expect("scratch directory");
    let config_file = scratch.path().join("processor.toml");

    // Nobody listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let nowhere = format!("127.0.0.1:{port}");
    let config = test_config(&nowhere, |name| format!("lag-{name}"));
    std::fs::write(&config_file, config_file_text(&config)).expect("config file");
    let unreachable = Command::new(&binary)
        .args(["lag", "--timeout", "2", "--config"])
        .arg(&config_file)
        .output()
        .expect("run lag");
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(unreachable.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach bootstrap servers {nowhere} after 2 s"
        )),
        "{stderr}"
    );

    // A broker without the input topic.
    let kafka = TestKafka::start().expect("test broker");
    let config = test_config(kafka.bootstrap_servers(), |name| {
        kafka.unique_topic(&format!("lag-missing-{name}"))
    });
    std::fs::write(&config_file, config_file_text(&config)).expect("config file");
    let missing = lag(&binary, &config_file, &["--samples", "1"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "topic {} does not exist",
            config.topology.input_topic
        )),
        "{stderr}"
    );
}

#[test]
fn changelog_partitions_are_reported_and_a_missing_changelog_is_not() -> anyhow::Result<()> {
    let kafka = TestKafka::start()?;
    let config = broker_pipeline(&kafka, "lag-changelog", PARTITIONS);
    let changelog = |store: &str| InternalTopic {
        name: format!("{}-{store}-changelog", config.kafka.application_id),
        kind: InternalTopicKind::Changelog,
        store: store.to_owned(),
        sources: vec![config.topology.input_topic.clone()],
        config: Vec::new(),
    };
    let (present, absent) = (changelog("present"), changelog("absent"));
    kafka.create_topic(&present.name, PARTITIONS)?;
    for _ in 0..3 {
        kafka.produce(&present.name, &vec![b"v".to_vec(); 10])?;
    }
    let query = LagQuery::new(
        &config.kafka,
        vec![config.topology.input_topic.clone()],
        DRAIN_TIMEOUT,
    )?
    .with_changelogs(&[absent, present.clone()]);
    let snapshot = query.snapshot()?;
    let rows: Vec<(&str, &str, i32)> = snapshot
        .changelogs
        .iter()
        .map(|row| (row.topic.as_str(), row.store.as_str(), row.partition))
        .collect();
    assert_eq!(
        rows,
        [
            (present.name.as_str(), "present", 0),
            (present.name.as_str(), "present", 1)
        ]
    );
    // Tansu's ListOffsets(LATEST) answers a batch's base offset, so the ends may under-count
    // by a batch per partition; they never over-count and see some of the 30 records.
    let ends: i64 = snapshot.changelogs.iter().map(|row| row.log_end).sum();
    assert!((1..=30).contains(&ends), "{:?}", snapshot.changelogs);
    assert_eq!(
        snapshot.partitions.len(),
        PARTITIONS as usize,
        "the input rows stay"
    );
    Ok(())
}
