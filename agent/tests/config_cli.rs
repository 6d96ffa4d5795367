//! The binary's command line: `--version`, `test config` on good and bad files, flags that
//! override the file, `once` as NDJSON.

use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrobeat-agent"))
        .args(args)
        .env("FERROBEAT_LOG", "warn")
        .output()
        .expect("run ferrobeat-agent")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_is_printed() {
    let out = agent(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("ferrobeat-agent {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn test_config_accepts_the_example_and_refuses_a_bad_file() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ferrobeat-agent.toml");
    let out = agent(&["test", "config", "-c", example]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Config OK"),
        "{}",
        text(&out.stdout)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[kafka]\ncompression = \"brotli\"\n").expect("write");
    let out = agent(&["test", "config", "-c", bad.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", bad.display()))
            && stderr.contains("key `kafka.compression`")
            && stderr.contains("brotli"),
        "{stderr}"
    );
}

#[test]
fn test_config_loads_the_tls_files_it_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tls.toml");
    let missing = dir.path().join("no-such-ca.pem");
    std::fs::write(
        &file,
        format!(
            "output = \"kafka\"\n[kafka]\ntopic = \"metric.all\"\n[kafka.properties]\n\
             \"security.protocol\" = \"ssl\"\n\"ssl.ca.location\" = {:?}\n",
            missing.display().to_string()
        ),
    )
    .expect("write");
    let out = agent(&["test", "config", "-c", file.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "a missing CA file passed");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("kafka.properties") && stderr.contains("ssl.ca.location"),
        "{stderr}"
    );
}

#[test]
fn a_bad_flag_is_refused_naming_the_flag() {
    let out = agent(&["test", "config", "--bootstrap-servers", "nohostport"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("flag --bootstrap-servers: key `kafka.bootstrap_servers`"),
        "{stderr}"
    );
    let out = agent(&["test", "config", "--period", "soon"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--period"),
        "{}",
        text(&out.stderr)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn once_prints_one_round_as_ndjson() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("utf-8");
    let out = agent(&[
        "once",
        "--metricsets",
        "cpu,memory,load",
        "--data-dir",
        data_dir,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    let names: Vec<String> = lines
        .iter()
        .map(|line| {
            ferrobeat_schema::from_slice(line.as_bytes())
                .expect("each line is an event")
                .metricset
                .name
        })
        .collect();
    assert_eq!(names, ["cpu", "memory", "load"]);
}

#[test]
fn event_beat_makes_the_envelope_metricbeats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("drop-in.toml");
    std::fs::write(
        &file,
        "[event]\nbeat = \"metricbeat\"\nbeat_version = \"8.17.1\"\n",
    )
    .expect("write");
    let data_dir = dir.path().to_str().expect("utf-8");
    let config = file.to_str().expect("utf-8");
    let out = agent(&[
        "once",
        "-c",
        config,
        "--metricsets",
        "memory",
        "--data-dir",
        data_dir,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let event: serde_json::Value = serde_json::from_slice(
        text(&out.stdout)
            .lines()
            .next()
            .expect("one event")
            .as_bytes(),
    )
    .expect("json");
    for (pointer, value) in [
        ("/@metadata/beat", "metricbeat"),
        ("/@metadata/version", "8.17.1"),
        ("/agent/type", "metricbeat"),
        ("/agent/version", "8.17.1"),
    ] {
        assert_eq!(
            event.pointer(pointer),
            Some(&value.into()),
            "{pointer} in {event}"
        );
    }

    std::fs::write(&file, "[event]\nbeat = \"metricbeat\"\n").expect("write");
    let out = agent(&["test", "config", "-c", config]);
    assert!(
        !out.status.success(),
        "metricbeat without its version passed"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("key `event.beat_version`") && stderr.contains("must be set"),
        "{stderr}"
    );
}

#[test]
fn leaving_out_normalised_cpu_is_warned_about_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("percentages.toml");
    std::fs::write(&file, "[collect]\ncpu_metrics = [\"percentages\"]\n").expect("write");
    let out = agent(&["test", "config", "-c", file.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "a warning, not a refusal: {}",
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("`collect.cpu_metrics` leaves out"),
        "{stderr}"
    );
    let out = agent(&["test", "config", "--metricsets", "memory"]);
    assert!(
        !text(&out.stderr).contains("cpu_metrics"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn x_flags_set_librdkafka_properties_over_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("props.toml");
    std::fs::write(
        &file,
        "[kafka.properties]\n\"socket.timeout.ms\" = \"soon\"\n",
    )
    .expect("write");
    let config = file.to_str().expect("utf-8");
    // The file's value alone is refused by librdkafka, naming the file and the key ...
    let out = agent(&["test", "config", "-c", config]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:1", file.display()))
            && stderr.contains("kafka.properties.\"socket.timeout.ms\""),
        "{stderr}"
    );
    // ... and -X wins over it (repeatable).
    let out = agent(&[
        "test",
        "config",
        "-c",
        config,
        "-X",
        "socket.timeout.ms=60000",
        "-X",
        "client.id=web-1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn x_flags_are_refused_naming_the_flag() {
    for (flag, reason) in [
        ("acks=0", "the agent always uses acks=all"),
        ("no.such.property=1", "No such configuration property"),
    ] {
        let out = agent(&["test", "config", "-X", flag]);
        assert!(!out.status.success(), "-X {flag} passed");
        let stderr = text(&out.stderr);
        let name = flag.split('=').next().unwrap_or_default();
        assert!(
            stderr.contains(&format!("flag -X: key `kafka.properties.\"{name}\"`"))
                && stderr.contains(reason),
            "{stderr}"
        );
    }
    let out = agent(&["test", "config", "-X", "linger.ms"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("\"linger.ms\" has no '='"), "{stderr}");
}
