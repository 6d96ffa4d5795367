//! The README's first command: the quickstart shows records on all four topics, and an alert
//! when asked for one.

use std::process::Command;

#[test]
fn quickstart_shows_records_on_every_topic() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferrobeat-quickstart"))
        .args([
            "--duration",
            "12s",
            "--period",
            "500ms",
            "--alert-threshold",
            "0.0001",
        ])
        .output()
        .expect("running the quickstart");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("alert trigger: lowered threshold 0.0001"),
        "{stdout}"
    );
    let summary = stdout
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}"));
    for topic in [
        "metric.all",
        "metric.cpu",
        "metric.memory",
        "metric.cpu.alert",
    ] {
        let count: u64 = summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{topic}=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{topic} missing in {summary}"));
        assert!(count > 0, "no records on {topic}: {summary}\n{stderr}");
    }
    assert!(
        summary.contains("NOT_RUNNING"),
        "processor shut down cleanly: {summary}"
    );
}

#[test]
fn quickstart_refuses_a_bad_threshold() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferrobeat-quickstart"))
        .args(["--duration", "1s", "--alert-threshold", "7"])
        .output()
        .expect("running the quickstart");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("alert_threshold"), "{stderr}");
}
