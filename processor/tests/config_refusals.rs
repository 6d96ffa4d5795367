//! Bad configurations are refused naming the file, the key and the reason; the example file is
//! valid and lists exactly the defaults; command-line overrides set only the keys they name.

use std::path::Path;

use ferrobeat_processor::config::{ConfigError, Overrides, ProcessorConfig, UncaughtErrorPolicy};

const FILE: &str = "/etc/ferrobeat/processor.toml";

fn refusal(text: &str) -> String {
    match ProcessorConfig::parse(text, Path::new(FILE)) {
        Ok(config) => panic!("accepted {text:?} as {config:?}"),
        Err(error) => error.to_string(),
    }
}

fn assert_refused(text: &str, key: &str, reason: &str) {
    let message = refusal(text);
    assert!(message.starts_with(FILE), "no file in {message:?}");
    assert!(
        message.contains(&format!("`{key}`")),
        "no key {key:?} in {message:?}"
    );
    assert!(
        message.contains(reason),
        "no reason {reason:?} in {message:?}"
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path_and_line() {
    assert_refused(
        "[kafka]\nbootstrap = \"x:1\"\n",
        "kafka.bootstrap",
        "unknown field `bootstrap`",
    );
    assert_refused(
        "\n\n[runtime]\nthread = 2\n",
        "runtime.thread",
        "unknown field `thread`",
    );
    assert_refused("[processor]\n", "processor", "unknown field `processor`");
    let located = refusal("\n\n[runtime]\nthread = 2\n");
    assert!(located.starts_with(&format!("{FILE}:4:1")), "{located}");
}

#[test]
fn values_of_the_wrong_type_are_refused() {
    assert_refused(
        "[runtime]\nthreads = \"four\"\n",
        "runtime.threads",
        "invalid type: string \"four\"",
    );
    assert_refused(
        "[runtime]\ncommit_interval = -1\n",
        "runtime.commit_interval",
        "invalid type: integer `-1`",
    );
    assert_refused(
        "[runtime]\nuncaught_error_policy = \"restart\"\n",
        "runtime.uncaught_error_policy",
        "unknown variant `restart`",
    );
    assert_refused(
        "[errors]\npolicy = \"explode\"\n",
        "errors.policy",
        "unknown variant `explode`",
    );
    assert_refused(
        "[kafka.properties]\n\"ssl.ca.location\" = [1]\n",
        "kafka.properties.ssl.ca.location",
        "a string, an integer, a float or a boolean",
    );
}

#[test]
fn values_out_of_range_are_refused() {
    assert_refused(
        "[runtime]\nthreads = 0\n",
        "runtime.threads",
        "greater than 0",
    );
    assert_refused(
        "[runtime]\nthreads = 100000\n",
        "runtime.threads",
        "at most 256",
    );
    assert_refused(
        "[runtime]\ncommit_interval = \"0s\"\n",
        "runtime.commit_interval",
        "greater than 0",
    );
    assert_refused(
        "[kafka]\napplication_id = \" \"\n",
        "kafka.application_id",
        "must not be empty",
    );
    assert_refused(
        "[kafka]\nbootstrap_servers = \"\"\n",
        "kafka.bootstrap_servers",
        "at least one broker",
    );
    assert_refused(
        "[topology]\nalert_threshold = 1.5\n",
        "topology.alert_threshold",
        "between 0 and 1",
    );
    assert_refused(
        "[topology]\ncpu_topic = \"metric.all\"\n",
        "topology.cpu_topic",
        "also the input topic",
    );
    assert_refused(
        "[errors]\ndead_letter_topic = \"\"\n",
        "errors.dead_letter_topic",
        "empty",
    );
}

#[test]
fn librdkafka_properties_are_checked_by_librdkafka() {
    assert_refused(
        "[kafka.properties]\n\"sesion.timeout.ms\" = 6000\n",
        "kafka.properties.\"sesion.timeout.ms\"",
        "No such configuration property",
    );
    assert_refused(
        "[kafka.properties]\n\"session.timeout.ms\" = \"soon\"\n",
        "kafka.properties.\"session.timeout.ms\"",
        "Invalid value",
    );
    assert_refused(
        "[kafka.properties]\n\"group.id\" = \"other\"\n",
        "kafka.properties.\"group.id\"",
        "set by the runtime",
    );
    let accepted = ProcessorConfig::parse(
        "[kafka.properties]\n\"session.timeout.ms\" = 6000\n\"enable.ssl.certificate.verification\" = false\n",
        Path::new(FILE),
    )
    .expect("valid properties");
    assert_eq!(accepted.kafka.properties["session.timeout.ms"], "6000");
    assert_eq!(
        accepted.kafka.properties["enable.ssl.certificate.verification"],
        "false"
    );
}

#[test]
fn syntax_errors_and_missing_files_name_the_file() {
    let message = refusal("[runtime]\nthreads = = 2\n");
    assert!(message.starts_with(&format!("{FILE}:2:")), "{message}");
    assert!(message.contains("invalid TOML"), "{message}");

    let missing =
        ProcessorConfig::load(Path::new("/nonexistent/ferrobeat.toml")).expect_err("no such file");
    assert!(matches!(missing, ConfigError::Read { .. }));
    assert!(
        missing.to_string().contains("/nonexistent/ferrobeat.toml"),
        "{missing}"
    );
}

#[test]
fn the_example_file_is_valid_and_lists_the_defaults() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("ferrobeat-processor.toml");
    let config = ProcessorConfig::load(&example).expect("the example configuration is valid");
    assert_eq!(config, ProcessorConfig::default());
    assert_eq!(
        config.runtime.uncaught_error_policy,
        UncaughtErrorPolicy::ShutdownClient
    );
    assert_eq!(
        ProcessorConfig::parse("", Path::new(FILE)).expect("empty is valid"),
        config
    );
}

#[test]
fn interceptors_are_chosen_by_registered_name() {
    let text = "[[interceptors]]\nname = \"logging\"\nlevel = \"warn\"\nsample_every = 10\n";
    let config = ProcessorConfig::parse(text, Path::new(FILE))
        .unwrap_or_else(|error| panic!("a logging interceptor is refused: {error}"));
    assert_eq!(config.interceptors.len(), 1);
    assert_eq!(config.interceptors[0].name, "logging");
    assert_eq!(config.interceptors[0].options.len(), 2);
    assert_refused(
        "[[interceptors]]\nname = \"audit\"\n",
        "interceptors[0].name",
        "unknown interceptor `audit`; known: logging",
    );
    assert_refused(
        "[[interceptors]]\nname = \"logging\"\nlevel = \"loud\"\n",
        "interceptors[0].level",
        "unknown variant `loud`",
    );
    assert_refused(
        "[[interceptors]]\nname = \"logging\"\nsample_every = 0\n",
        "interceptors[0].sample_every",
        "must be at least 1",
    );
    assert_refused(
        "[[interceptors]]\nlevel = \"info\"\n",
        "interceptors[0]",
        "missing field `name`",
    );
}

#[test]
fn overrides_set_only_the_keys_they_name() {
    let file = "[kafka]\nbootstrap_servers = \"file:9092\"\napplication_id = \"from-file\"\n\
                [runtime]\nthreads = 3\n";
    let from_file = ProcessorConfig::parse(file, Path::new(FILE)).expect("valid");

    let mut untouched = from_file.clone();
    Overrides::default().apply(&mut untouched);
    assert_eq!(untouched, from_file);

    let mut overridden = from_file.clone();
    Overrides {
        bootstrap_servers: Some("flag:9092".into()),
        threads: Some(8),
        metrics_addr: Some("127.0.0.1:9464".parse().expect("address")),
        ..Overrides::default()
    }
    .apply(&mut overridden);
    assert_eq!(overridden.kafka.bootstrap_servers, "flag:9092");
    assert_eq!(overridden.kafka.application_id, "from-file");
    assert_eq!(overridden.runtime.threads, 8);
    assert_eq!(
        overridden.monitoring.metrics_addr,
        Some("127.0.0.1:9464".parse().expect("address"))
    );
    assert_eq!(
        ProcessorConfig {
            kafka: from_file.kafka.clone(),
            runtime: from_file.runtime.clone(),
            monitoring: from_file.monitoring.clone(),
            ..overridden.clone()
        },
        from_file,
        "keys no flag names are unchanged"
    );
}

#[test]
fn a_dead_letter_topic_that_is_also_an_input_or_output_is_refused() {
    for (text, also) in [
        (
            "[errors]\ndead_letter_topic = \"metric.all\"\n",
            "topology.input_topic",
        ),
        (
            "[topology]\nalert_topic = \"alerts\"\n[errors]\ndead_letter_topic = \"alerts\"\n",
            "topology.alert_topic",
        ),
        (
            "[topology.extra_routes]\nnetwork = \"net\"\n[errors]\ndead_letter_topic = \"net\"\n",
            "topology.extra_routes.network",
        ),
    ] {
        assert_refused(text, "errors.dead_letter_topic", also);
    }
    // Without the dead-letter policy the topic is never written: nothing loops.
    ProcessorConfig::parse(
        "[errors]\npolicy = \"fail\"\ndead_letter_topic = \"metric.all\"\n",
        Path::new(FILE),
    )
    .expect("unused dead-letter topic");
}

#[test]
fn alerting_and_summaries_settings_that_cannot_work_are_refused() {
    assert_refused(
        "[alerting]\nmode = \"transitions\"\nno_data_after = \"10ms\"\n",
        "alerting.no_data_after",
        "too short",
    );
    assert_refused(
        "[alerting]\nmode = \"often\"\n",
        "alerting.mode",
        "unknown variant",
    );
    assert_refused(
        "[summaries]\nwindow = \"100ms\"\n",
        "summaries.window",
        "at least 1s",
    );
    assert_refused(
        "[summaries]\ntopic = \"metric.cpu\"\n",
        "summaries.topic",
        "is also topology.cpu_topic",
    );
    assert_refused(
        "[summaries]\ntopic = \"metric.cpu.1m\"\n[errors]\ndead_letter_topic = \"metric.cpu.1m\"\n",
        "errors.dead_letter_topic",
        "summaries.topic",
    );
    let config = ProcessorConfig::parse(
        "[alerting]\nmode = \"transitions\"\nfor = \"30s\"\n[summaries]\ntopic = \"metric.cpu.1m\"\n",
        Path::new(FILE),
    )
    .expect("valid");
    assert_eq!(
        config.alerting.fire_after,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(config.summaries.topic.as_deref(), Some("metric.cpu.1m"));
}
