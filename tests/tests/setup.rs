//! `ferrobeat-processor setup` against a real broker: it creates the pipeline's topics, a second
//! run changes nothing, an existing topic with the wrong partition count is reported, and a
//! replication factor above the broker count is refused before anything is created; and the
//! `ferrobeat-processor setup` command does the same from a configuration file, with exit codes.
//! A stateful topology's changelog topic is created compacted with its sources' partition count,
//! and one that differs (partitions, `cleanup.policy`) is reported.

mod processor_support;

use std::time::Duration;

use anyhow::Context as _;
use ferrobeat_processor::setup::{
    ClusterView, Difference, SetupError, SetupReport, SetupSpec, setup_topics,
};
use ferrobeat_schema::topics::PIPELINE;
use ferrobeat_streams::StreamsBuilder;
use ferrobeat_streams::serdes::Utf8;
use ferrobeat_tests::TestKafka;
use rdkafka::consumer::{BaseConsumer, Consumer};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The pipeline's topic names made unique to this run, so tests can share an external cluster.
fn unique_pipeline(kafka: &TestKafka) -> Vec<String> {
    PIPELINE
        .iter()
        .map(|topic| kafka.unique_topic(topic))
        .collect()
}

/// The cluster as an independent client (not the one `setup` uses) sees it.
fn cluster_view(kafka: &TestKafka) -> anyhow::Result<ClusterView> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .create()
        .context("creating a metadata client")?;
    let metadata = consumer
        .fetch_metadata(None, TIMEOUT)
        .context("fetching metadata")?;
    Ok(ClusterView::from_metadata(&metadata))
}

fn run_setup(kafka: &TestKafka, spec: &SetupSpec) -> Result<SetupReport, SetupError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(setup_topics(&kafka.client_config(), spec, TIMEOUT))
}

#[test]
fn creates_the_pipeline_topics_then_changes_nothing_on_a_second_run() -> anyhow::Result<()> {
    let kafka = TestKafka::start()?;
    let topics = unique_pipeline(&kafka);
    let spec = SetupSpec::new(topics.clone(), 3, 1)?;

    let first = run_setup(&kafka, &spec)?;
    assert_eq!(first.created, topics);
    assert!(first.existing.is_empty());
    assert!(first.is_consistent(), "{first}");

    let seen = cluster_view(&kafka)?;
    for topic in &topics {
        let layout = seen
            .topics
            .get(topic)
            .context("a created topic is missing")?;
        assert_eq!(
            (layout.partitions, layout.replication_factor),
            (3, 1),
            "{topic}"
        );
        assert_eq!(first.layouts.get(topic), Some(layout), "{topic}");
    }
    // The topics carry records on every partition.
    let value = br#"{"metricset":{"name":"cpu"}}"#.to_vec();
    kafka.produce(&topics[0], &vec![value; 30])?;
    let records = kafka.read_topic(&topics[0], 30, TIMEOUT)?;
    assert_eq!(records.len(), 30);

    let second = run_setup(&kafka, &spec)?;
    assert!(second.created.is_empty(), "{second}");
    assert_eq!(second.existing, topics);
    assert_eq!(second.layouts, first.layouts);
    assert!(second.is_consistent(), "{second}");
    Ok(())
}

#[test]
fn reports_an_existing_topic_with_the_wrong_partition_count() -> anyhow::Result<()> {
    let kafka = TestKafka::start()?;
    let topics = unique_pipeline(&kafka);
    kafka.create_topic(&topics[1], 1)?;
    let spec = SetupSpec::new(topics.clone(), 3, 1)?;

    let report = run_setup(&kafka, &spec)?;
    assert_eq!(report.existing, [topics[1].clone()]);
    assert_eq!(report.created.len(), topics.len() - 1);
    assert_eq!(
        report.differences,
        [Difference::PartitionCount {
            topic: topics[1].clone(),
            expected: 3,
            actual: 1,
        }]
    );
    assert!(
        report.to_string().contains(&format!(
            "DIFFERS {}: has 1 partition(s), expected 3",
            topics[1]
        )),
        "{report}"
    );
    // setup never alters an existing topic.
    assert_eq!(cluster_view(&kafka)?.topics[&topics[1]].partitions, 1);
    Ok(())
}

#[test]
fn refuses_a_replication_factor_above_the_broker_count_and_creates_nothing() -> anyhow::Result<()> {
    let kafka = TestKafka::start()?;
    let brokers = cluster_view(&kafka)?.brokers;
    let topics = unique_pipeline(&kafka);
    let too_many = i32::try_from(brokers + 1)?;
    let spec = SetupSpec::new(topics.clone(), 3, too_many)?;

    let error = run_setup(&kafka, &spec).expect_err("the replication factor is refused");
    assert!(
        matches!(
            &error,
            SetupError::ReplicationFactorTooHigh { replication_factor, brokers: seen, topics: refused }
                if *replication_factor == too_many && *seen == brokers && *refused == topics
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "replication factor {too_many} exceeds the {brokers} broker(s) of the cluster"
        )),
        "{error}"
    );
    let seen = cluster_view(&kafka)?;
    assert!(
        topics.iter().all(|topic| !seen.topics.contains_key(topic)),
        "nothing is created"
    );
    Ok(())
}

/// A spec for `address` (table) joined with `order` into `order_join`, with the table's
/// changelog: the topology #16's stateful metric topology will be like.
fn stateful_spec(kafka: &TestKafka, partitions: i32) -> anyhow::Result<(SetupSpec, String)> {
    let [address, order, joined] =
        ["address", "order", "order_join"].map(|t| kafka.unique_topic(t));
    let builder = StreamsBuilder::new();
    let table = builder.table::<Utf8, Utf8>(&address);
    builder
        .stream::<Utf8, Utf8>(&order)
        .join(&table, |order, address| {
            format!("{order} send to {address}")
        })
        .to(&joined);
    let internal = builder.build()?.internal_topics(&kafka.unique_topic("app"));
    let changelog = internal[0].name.clone();
    let spec = SetupSpec::new(vec![address, order, joined], partitions, 1)?
        .with_internal_topics(internal)?;
    Ok((spec, changelog))
}

#[test]
fn creates_a_compacted_changelog_and_reports_one_that_differs() -> anyhow::Result<()> {
    let kafka = TestKafka::start()?;
    let (spec, changelog) = stateful_spec(&kafka, 2)?;
    let first = run_setup(&kafka, &spec)?;
    assert_eq!(first.created.last(), Some(&changelog), "{first}");
    assert!(first.is_consistent(), "{first}");
    assert_eq!(first.layouts[&changelog].partitions, 2);
    // The broker describes the created changelog as compacted: a second run finds it as asked.
    let second = run_setup(&kafka, &spec)?;
    assert!(second.created.is_empty(), "{second}");
    assert!(second.existing.contains(&changelog), "{second}");
    assert!(second.is_consistent(), "{second}");

    // A changelog an operator created by hand, with 1 partition and no cleanup.policy.
    let (spec, changelog) = stateful_spec(&kafka, 2)?;
    kafka.create_topic(&changelog, 1)?;
    let report = run_setup(&kafka, &spec)?;
    assert!(!report.created.contains(&changelog), "{report}");
    assert_eq!(report.differences.len(), 2, "{report}");
    assert_eq!(
        report.differences[0],
        Difference::PartitionCount {
            topic: changelog.clone(),
            expected: 2,
            actual: 1,
        }
    );
    // Apache Kafka describes its default, `delete`; Tansu only what was set, so nothing.
    let Difference::TopicConfig {
        topic,
        name,
        expected,
        actual,
    } = &report.differences[1]
    else {
        panic!("a cleanup.policy difference expected: {report}");
    };
    assert_eq!(
        (topic, name.as_str(), expected.as_str()),
        (&changelog, "cleanup.policy", "compact")
    );
    assert_ne!(actual.as_deref(), Some("compact"));
    Ok(())
}

/// Runs `ferrobeat-processor setup -c FILE ARGS`, returning (exit code, stdout, stderr).
fn setup_command(config_file: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(processor_support::processor_binary())
        .arg("setup")
        .arg("-c")
        .arg(config_file)
        .args(["--timeout", "20"])
        .args(args)
        .output()
        .expect("run ferrobeat-processor setup");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_setup_command_creates_verifies_and_reports_with_exit_codes() -> anyhow::Result<()> {
    let kafka = TestKafka::start()?;
    let config =
        processor_support::test_config(kafka.bootstrap_servers(), |name| kafka.unique_topic(name));
    let topics = ferrobeat_processor::setup::pipeline_topics(config.pipeline(), &config.errors);
    let directory = tempfile::tempdir()?;
    let file = directory.path().join("processor.toml");
    std::fs::write(&file, processor_support::config_file_text(&config))?;

    // One broker: the default replication factor of 2 is refused, nothing is created.
    let (code, stdout, stderr) = setup_command(&file, &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("replication factor 2 exceeds the 1 broker(s)"),
        "{stderr}"
    );
    assert!(
        cluster_view(&kafka)?
            .topics
            .keys()
            .all(|t| !topics.contains(t))
    );

    let (code, stdout, stderr) = setup_command(&file, &["--replication-factor", "1"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for topic in &topics {
        assert!(
            stdout.contains(&format!(
                "created {topic}: 3 partition(s), replication factor 1"
            )),
            "{topic} in {stdout}"
        );
    }

    // Again: nothing to do, still consistent.
    let (code, stdout, stderr) = setup_command(&file, &["--replication-factor", "1"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout.matches("exists ").count(), topics.len(), "{stdout}");
    assert!(!stdout.contains("created"), "{stdout}");

    // Asking for 4 partitions: the existing topics differ (they are not altered), exit 1.
    let (code, stdout, stderr) =
        setup_command(&file, &["--replication-factor", "1", "--partitions", "4"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(stdout.matches("DIFFERS").count(), topics.len(), "{stdout}");
    Ok(())
}
