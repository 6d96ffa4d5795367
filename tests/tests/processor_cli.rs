//! The `ferrobeat-processor` binary's command line: `--version`, `describe` in three formats
//! without a broker, refusal of a bad configuration, the default configuration file and `-X`
//! properties for every subcommand, and an unreachable broker that is reported rather than
//! waited for silently.

mod processor_support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use processor_support::{processor_binary, terminate};

/// Runs the processor with `args`; its default configuration file is looked for at
/// `default_config` (never /etc, so the tests do not depend on the machine).
fn run_with_default(args: &[&str], default_config: &std::path::Path) -> Output {
    Command::new(processor_binary())
        .args(args)
        .env_remove("FERROBEAT_PROCESSOR_CONFIG")
        .env("FERROBEAT_PROCESSOR_DEFAULT_CONFIG", default_config)
        .output()
        .expect("run the processor")
}

fn run(args: &[&str]) -> Output {
    run_with_default(
        args,
        std::path::Path::new("/nonexistent/ferrobeat-processor.toml"),
    )
}

/// Every subcommand that loads the configuration, with the flags it needs to stop before
/// reaching a broker when the configuration is refused.
const SUBCOMMANDS: [&[&str]; 4] = [&["run"], &["describe"], &["lag"], &["setup"]];

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn version_names_the_program_and_its_version() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("ferrobeat-processor {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn describe_prints_the_topology_in_each_format_without_a_broker() {
    let text = run(&["describe"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.starts_with("Topologies:"), "{text}");
    for topic in [
        "metric.all",
        "metric.cpu",
        "metric.memory",
        "metric.cpu.alert",
    ] {
        assert!(text.contains(topic), "{topic} missing from\n{text}");
    }
    let dot = stdout(&run(&["describe", "--format", "dot"]));
    assert!(dot.starts_with("digraph"), "{dot}");
    let mermaid = stdout(&run(&["describe", "--format", "mermaid"]));
    assert!(mermaid.starts_with("flowchart"), "{mermaid}");

    let scratch = tempfile::tempdir().expect("scratch");
    let config = scratch.path().join("processor.toml");
    std::fs::write(&config, "[topology]\ncpu_topic = \"hot.cpu\"\n").expect("write config");
    let custom = stdout(&run(&["describe", "--config", &config.to_string_lossy()]));
    assert!(
        custom.contains("hot.cpu"),
        "the configured topic is described:\n{custom}"
    );
}

#[test]
fn a_bad_configuration_is_refused_naming_file_key_and_reason() {
    let scratch = tempfile::tempdir().expect("scratch");
    let config = scratch.path().join("processor.toml");
    std::fs::write(&config, "[runtime]\ncommit_interval = \"soon\"\n").expect("write config");
    let output = run(&["run", "--config", &config.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("{}:2:", config.display())),
        "{message}"
    );
    assert!(message.contains("`runtime.commit_interval`"), "{message}");
    assert!(
        message.contains("invalid value: string \"soon\", expected a duration"),
        "{message}"
    );

    let flags = run(&["--threads", "0"]);
    assert_eq!(flags.status.code(), Some(2));
    assert!(stderr(&flags).contains("--threads"), "{}", stderr(&flags));
}

// Takes a free port as the agent's outage test does: separate test crates.
#[test]
fn an_unreachable_broker_is_reported_and_sigterm_still_stops_promptly() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let scratch = tempfile::tempdir().expect("scratch");
    let config = scratch.path().join("processor.toml");
    std::fs::write(&config, "[runtime]\nassignment_warning = \"1s\"\n").expect("write config");
    let log = scratch.path().join("stderr.log");
    let mut child = Command::new(processor_binary())
        .args(["--config", &config.to_string_lossy()])
        .args(["--bootstrap-servers", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn the processor");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !read_log().contains("no partition assignment for") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let warned = read_log();
    let stopping = Instant::now();
    let exit = terminate(&mut child, Duration::from_secs(15));
    let took = stopping.elapsed();
    if exit.is_none() {
        let _ = child.kill();
    }
    assert!(warned.contains("no partition assignment for"), "{warned}");
    assert!(
        warned.contains("Connection refused"),
        "the cause is logged:\n{warned}"
    );
    let exit = exit.unwrap_or_else(|| panic!("no exit within 15 s of SIGTERM\n{}", read_log()));
    assert!(exit.success(), "{exit:?}\n{}", read_log());
    assert!(read_log().contains("NOT_RUNNING"), "{}", read_log());
    println!("stopped {took:?} after SIGTERM without ever reaching the broker");
}

#[test]
fn the_default_configuration_file_is_read_by_every_subcommand_when_it_exists() {
    let scratch = tempfile::tempdir().expect("scratch");
    let default = scratch.path().join("ferrobeat-processor.toml");
    // Absent: the built-in defaults.
    let describe = run_with_default(&["describe"], &default);
    assert!(describe.status.success(), "{}", stderr(&describe));
    assert!(stdout(&describe).contains("metric.cpu"));
    // Present: read, so a bad value in it stops every subcommand naming the file.
    std::fs::write(&default, "[kafka]\napplication_id = \"\"\n").expect("write config");
    for args in SUBCOMMANDS {
        let output = run_with_default(args, &default);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        let message = stderr(&output);
        assert!(
            message.contains(&format!(
                "{}:2:1: key `kafka.application_id`",
                default.display()
            )),
            "{args:?}: {message}"
        );
    }
    std::fs::write(&default, "[topology]\ncpu_topic = \"hot.cpu\"\n").expect("write config");
    assert!(stdout(&run_with_default(&["describe"], &default)).contains("hot.cpu"));
    // --config wins over the default file.
    let explicit = scratch.path().join("explicit.toml");
    std::fs::write(&explicit, "[topology]\ncpu_topic = \"cool.cpu\"\n").expect("write config");
    let described = stdout(&run_with_default(
        &["describe", "-c", &explicit.to_string_lossy()],
        &default,
    ));
    assert!(
        described.contains("cool.cpu") && !described.contains("hot.cpu"),
        "{described}"
    );
}

#[test]
fn x_flags_set_librdkafka_properties_over_the_file_for_every_subcommand() {
    let scratch = tempfile::tempdir().expect("scratch");
    let config = scratch.path().join("processor.toml");
    std::fs::write(
        &config,
        "[kafka.properties]\n\"socket.timeout.ms\" = \"soon\"\n",
    )
    .expect("write config");
    let config = config.to_string_lossy().into_owned();
    let refused = run(&["describe", "-c", &config]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains(&format!(
            "{config}:2:1: key `kafka.properties.\"socket.timeout.ms\"`"
        )),
        "{}",
        stderr(&refused)
    );
    let overridden = run(&[
        "describe",
        "-c",
        &config,
        "-X",
        "socket.timeout.ms=60000",
        "-X",
        "client.id=proc-1",
    ]);
    assert!(
        overridden.status.success(),
        "the flag wins: {}",
        stderr(&overridden)
    );

    for args in SUBCOMMANDS {
        for (flag, reason) in [
            ("acks=0", "cannot be overridden"),
            ("no.such.property=1", "No such configuration property"),
        ] {
            let output = run(&[args, &["-X", flag]].concat());
            assert_eq!(output.status.code(), Some(2), "{args:?} -X {flag}");
            let message = stderr(&output);
            let name = flag.split('=').next().unwrap_or_default();
            assert!(
                message.contains(&format!("flag -X: key `kafka.properties.\"{name}\"`"))
                    && message.contains(reason),
                "{args:?} -X {flag}: {message}"
            );
        }
    }
    let missing = run(&["describe", "-X", "linger.ms"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("\"linger.ms\" has no '='"),
        "{}",
        stderr(&missing)
    );
}
