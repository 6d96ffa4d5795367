//! Configuration loading: the example file, flag overrides, and every refusal naming the
//! origin, the key and the reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrobeat_agent::config::{
    self, AgentConfig, Compression, ConfigError, Origin, OutputKind, Overrides, RecordKey,
};
use ferrobeat_schema::Metricset;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ferrobeat-agent.toml")
}

/// Writes `text` as a configuration file and loads it with `overrides`.
fn load_text(text: &str, overrides: &Overrides) -> (Result<AgentConfig, ConfigError>, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, text).expect("write config");
    let result = config::load(Some(&path), overrides);
    (result, path)
}

/// Loads `text` expecting a refusal about `key` whose message contains `reason`; returns it.
fn refused(text: &str, key: &str, reason: &str) -> ConfigError {
    let (result, path) = load_text(text, &Overrides::default());
    let err = result.expect_err("configuration should be refused");
    let message = err.to_string();
    assert_eq!(err.key(), Some(key), "{message}");
    assert!(message.contains(reason), "{message:?} lacks {reason:?}");
    assert!(
        message.contains(&*path.to_string_lossy()),
        "{message:?} lacks the file"
    );
    err
}

fn position(err: &ConfigError) -> Option<(usize, usize)> {
    match err {
        ConfigError::Value {
            origin: Origin::File { position, .. },
            ..
        }
        | ConfigError::Syntax {
            origin: Origin::File { position, .. },
            ..
        } => *position,
        _ => None,
    }
}

#[cfg(target_os = "linux")]
#[test]
fn example_file_lists_the_defaults() {
    let config = config::load(Some(&example_path()), &Overrides::default()).expect("example loads");
    assert_eq!(config, AgentConfig::default());
}

#[test]
fn example_file_is_valid_everywhere() {
    config::load(Some(&example_path()), &Overrides::default()).expect("example loads");
}

#[test]
fn empty_file_means_defaults() {
    let (config, _) = load_text("", &Overrides::default());
    let config = config.expect("empty config loads");
    assert_eq!(config, AgentConfig::default());
    assert_eq!(config.kafka.topic, "metric.all");
    assert_eq!(config.kafka.key, RecordKey::None);
    assert_eq!(config.kafka.compression, Compression::Zstd);
    assert_eq!(config.collect.period, Duration::from_secs(10));
}

#[test]
fn values_are_read_and_flags_win() {
    let text = r#"
        data_dir = "/tmp/from-file"
        [collect]
        period = "5s"
        metricsets = ["cpu"]
        [kafka]
        bootstrap_servers = "file:9092"
        topic = "from.file"
        key = "hostname"
        compression = "lz4"
        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        "socket.keepalive.enable" = true
        "queue.buffering.max.kbytes" = 65536
    "#;
    let (config, _) = load_text(text, &Overrides::default());
    let config = config.expect("loads");
    assert_eq!(config.kafka.key, RecordKey::Hostname);
    assert_eq!(config.kafka.compression, Compression::Lz4);
    assert_eq!(config.kafka.properties["security.protocol"], "SASL_SSL");
    assert_eq!(config.kafka.properties["socket.keepalive.enable"], "true");
    assert_eq!(
        config.kafka.properties["queue.buffering.max.kbytes"],
        "65536"
    );

    let flags = Overrides {
        bootstrap_servers: Some("flag:9093".to_owned()),
        topic: Some("from.flag".to_owned()),
        period: Some(Duration::from_secs(1)),
        metricsets: Some(vec![Metricset::Memory, Metricset::Load]),
        data_dir: Some(PathBuf::from("/tmp/from-flag")),
        output: Some(OutputKind::Stdout),
        metrics_addr: Some("127.0.0.1:9464".parse().expect("addr")),
        properties: vec![("security.protocol".to_owned(), "ssl".to_owned())],
    };
    let (config, _) = load_text(text, &flags);
    let config = config.expect("loads");
    assert_eq!(config.kafka.bootstrap_servers, "flag:9093");
    assert_eq!(config.kafka.topic, "from.flag");
    assert_eq!(config.collect.period, Duration::from_secs(1));
    assert_eq!(
        config.collect.metricsets,
        [Metricset::Memory, Metricset::Load]
    );
    assert_eq!(config.data_dir, PathBuf::from("/tmp/from-flag"));
    assert_eq!(config.output, OutputKind::Stdout);
    assert_eq!(
        config.monitoring.metrics_addr,
        Some("127.0.0.1:9464".parse().expect("addr"))
    );
    assert_eq!(
        config.kafka.key,
        RecordKey::Hostname,
        "unflagged keys keep the file's value"
    );
    assert_eq!(config.kafka.properties["security.protocol"], "ssl");
    assert_eq!(config.kafka.properties["socket.keepalive.enable"], "true");
}

#[test]
fn unknown_top_level_key() {
    let err = refused(
        "output = \"kafka\"\ncolour = \"blue\"\n",
        "colour",
        "unknown field",
    );
    assert_eq!(position(&err), Some((2, 1)));
}

#[test]
fn unknown_nested_key() {
    let err = refused(
        "[kafka]\ntopik = \"x\"\n",
        "kafka.topik",
        "unknown field `topik`",
    );
    assert_eq!(position(&err), Some((2, 1)));
    refused(
        "[collect]\nperoid = \"1s\"\n",
        "collect.peroid",
        "unknown field",
    );
}

// Refusal tests alike in shape: each checks another key and reason through `refused`.
#[test]
fn bad_enum_value() {
    let err = refused(
        "[kafka]\ncompression = \"brotli\"\n",
        "kafka.compression",
        "brotli",
    );
    assert_eq!(position(&err).map(|p| p.0), Some(2));
    refused("output = \"file\"\n", "output", "unknown variant");
    refused("[kafka]\nkey = \"random\"\n", "kafka.key", "random");
}

#[test]
fn bad_duration() {
    let err = refused(
        "[kafka]\n\nlinger = \"5 parsecs\"\n",
        "kafka.linger",
        "invalid duration \"5 parsecs\"",
    );
    assert_eq!(position(&err).map(|p| p.0), Some(3));
    refused(
        "[collect]\nperiod = \"10\"\n",
        "collect.period",
        "invalid duration",
    );
    refused(
        "[monitoring]\nlog_interval = 30\n",
        "monitoring.log_interval",
        "string",
    );
    let err = refused(
        "[monitoring]\nunhealthy_after = \"one minute\"\n",
        "monitoring.unhealthy_after",
        "invalid duration \"one minute\"",
    );
    assert_eq!(position(&err).map(|p| p.0), Some(2));
    refused(
        "[monitoring]\nunhealthy_after = \"500ms\"\n",
        "monitoring.unhealthy_after",
        "must be at least 1s",
    );
}

#[test]
fn wrong_type() {
    refused(
        "[spool]\nmax_bytes = \"big\"\n",
        "spool.max_bytes",
        "invalid type",
    );
    refused(
        "[kafka.properties]\n\"ssl.ca.location\" = [\"a\"]\n",
        "kafka.properties.ssl.ca.location",
        "expected a string, an integer, a float or a boolean",
    );
    refused(
        "[monitoring]\nmetrics_addr = \"localhost\"\n",
        "monitoring.metrics_addr",
        "",
    );
}

#[test]
fn empty_or_malformed_bootstrap() {
    let err = refused(
        "[kafka]\nbootstrap_servers = \"\"\n",
        "kafka.bootstrap_servers",
        "at least one broker",
    );
    assert_eq!(
        position(&err),
        Some((2, 1)),
        "validation errors point at the key"
    );
    refused(
        "[kafka]\nbootstrap_servers = \"a:9092,localhost\"\n",
        "kafka.bootstrap_servers",
        "\"localhost\" is not host:port",
    );
    // Stdout output needs no broker.
    let (config, _) = load_text(
        "output = \"stdout\"\n[kafka]\nbootstrap_servers = \"\"\n",
        &Overrides::default(),
    );
    config.expect("stdout output ignores kafka settings");
}

#[test]
fn bad_flag_is_named() {
    let flags = Overrides {
        bootstrap_servers: Some(" ".to_owned()),
        ..Overrides::default()
    };
    let (result, _) = load_text("", &flags);
    let err = result.expect_err("refused");
    assert!(
        matches!(
            &err,
            ConfigError::Value {
                origin: Origin::Flag("--bootstrap-servers"),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("flag --bootstrap-servers: key `kafka.bootstrap_servers`")
    );
}

#[test]
fn bad_topic_name() {
    refused("[kafka]\ntopic = \"metric all\"\n", "kafka.topic", "' '");
    refused("[kafka]\ntopic = \"\"\n", "kafka.topic", "1 to 249");
}

#[test]
fn reserved_librdkafka_property() {
    let err = refused(
        "[kafka.properties]\n\"acks\" = \"1\"\n",
        "kafka.properties.\"acks\"",
        "acks=all",
    );
    assert_eq!(position(&err), Some((2, 1)));
    refused(
        "[kafka.properties]\n\"bootstrap.servers\" = \"x:1\"\n",
        "kafka.properties.\"bootstrap.servers\"",
        "kafka.bootstrap_servers",
    );
}

#[test]
fn out_of_range_values() {
    refused(
        "[collect]\nperiod = \"10ms\"\n",
        "collect.period",
        "shorter than the minimum",
    );
    refused(
        "[collect]\nmetricsets = []\n",
        "collect.metricsets",
        "at least one",
    );
    refused(
        "[collect]\nmetricsets = [\"gpu\"]\n",
        "collect.metricsets[0]",
        "gpu",
    );
    refused(
        "[spool]\nsegment_bytes = 100\n",
        "spool.segment_bytes",
        "minimum",
    );
    refused(
        "[spool]\nmax_bytes = 10000\nsegment_bytes = 8192\n",
        "spool.max_bytes",
        "twice",
    );
    refused(
        "[kafka]\nmax_in_flight = 0\n",
        "kafka.max_in_flight",
        "at least 1",
    );
    refused(
        "[kafka]\ndelivery_timeout = \"10ms\"\n",
        "kafka.delivery_timeout",
        "at least 1s",
    );
    refused("name = \" \"\n", "name", "empty");
}

#[test]
fn invalid_toml() {
    let (result, path) = load_text("[kafka\ntopic = 1\n", &Overrides::default());
    let err = result.expect_err("refused");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert_eq!(position(&err).map(|p| p.0), Some(1));
    assert!(err.to_string().contains(&*path.to_string_lossy()));
}

#[test]
fn missing_file_is_named() {
    let err = config::load(
        Some(Path::new("/nonexistent/agent.toml")),
        &Overrides::default(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("/nonexistent/agent.toml"), "{err}");
}

#[test]
fn interceptors_are_chosen_by_registered_name() {
    let text = "[[interceptors]]\nname = \"logging\"\nlevel = \"debug\"\nsample_every = 5\n";
    let (result, _) = load_text(text, &Overrides::default());
    let loaded = result.expect("a logging interceptor is accepted");
    assert_eq!(loaded.interceptors.len(), 1);
    assert_eq!(loaded.interceptors[0].name, "logging");
    refused(
        "[[interceptors]]\nname = \"logging\"\n[[interceptors]]\nname = \"audit\"\n",
        "interceptors[1].name",
        "unknown interceptor `audit`; known: logging",
    );
    refused(
        "[[interceptors]]\nname = \"logging\"\nsample_every = 0\n",
        "interceptors[0].sample_every",
        "must be at least 1",
    );
    refused(
        "[[interceptors]]\nname = \"logging\"\nlevle = \"info\"\n",
        "interceptors[0].levle",
        "unknown field `levle`",
    );
    refused(
        "[[interceptors]]\nlevel = \"info\"\n",
        "interceptors[0]",
        "missing field `name`",
    );
}

#[test]
fn event_beat_must_fit_an_index_name() {
    let err = refused(
        "\n[event]\nbeat = \"Metric Beat\"\nbeat_version = \"8.17.1\"\n",
        "event.beat",
        "index name",
    );
    assert_eq!(position(&err), Some((3, 1)));
}
