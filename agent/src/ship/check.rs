//! `ferrobeat-agent test output`: checks, step by step, that the Kafka output works: the
//! settings are accepted, a broker answers, the topic exists with led partitions, and it
//! accepts a write of real events with acks=all.

use std::fmt;
use std::time::Duration;

use ferrobeat_schema::Event;
use ferrobeat_toolbox::intercept::Interceptors;
use rdkafka::metadata::Metadata;

use super::kafka::{KafkaOutput, Pending};
use crate::config::KafkaConfig;

/// How long the metadata step waits for a broker.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// One step of the check and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What was checked.
    pub name: &'static str,
    /// What was found (`Ok`) or what is wrong (`Err`).
    pub outcome: Result<String, String>,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Ok(detail) => write!(f, "{:<10} OK    {detail}", self.name),
            Err(reason) => write!(f, "{:<10} FAIL  {reason}", self.name),
        }
    }
}

/// Runs the steps in order, stopping at the first failure; `events` are produced by the
/// write step. All steps passed when every outcome is `Ok`.
pub async fn check_output(
    config: &KafkaConfig,
    key: Option<Vec<u8>>,
    events: &[Event],
) -> Vec<Step> {
    let mut steps = Vec::new();
    let _ = run_steps(config, key, events, &mut steps).await;
    steps
}

/// Records a step's outcome; `Err(())` stops the check.
fn record<T>(
    steps: &mut Vec<Step>,
    name: &'static str,
    outcome: Result<(String, T), String>,
) -> Result<T, ()> {
    match outcome {
        Ok((detail, value)) => {
            steps.push(Step {
                name,
                outcome: Ok(detail),
            });
            Ok(value)
        }
        Err(reason) => {
            steps.push(Step {
                name,
                outcome: Err(reason),
            });
            Err(())
        }
    }
}

async fn run_steps(
    config: &KafkaConfig,
    key: Option<Vec<u8>>,
    events: &[Event],
    steps: &mut Vec<Step>,
) -> Result<(), ()> {
    let mut output = record(
        steps,
        "settings",
        KafkaOutput::new(config, key, Interceptors::default())
            .map(|created| {
                (
                    "producer created (acks=all, idempotent)".to_owned(),
                    created,
                )
            })
            .map_err(|e| format!("librdkafka refused the settings: {e}")),
    )?;

    let metadata = record(
        steps,
        "connect",
        output
            .metadata(METADATA_TIMEOUT)
            .map(|m| {
                let list: Vec<String> = m
                    .brokers()
                    .iter()
                    .map(|b| format!("{}={}:{}", b.id(), b.host(), b.port()))
                    .collect();
                (format!("{} broker(s): {}", list.len(), list.join(", ")), m)
            })
            .map_err(|e| {
                format!(
                    "no broker of {} answered within {METADATA_TIMEOUT:?}: {e}",
                    config.bootstrap_servers
                )
            }),
    )?;

    record(
        steps,
        "topic",
        describe_topic(&metadata, output.topic()).map(|d| (d, ())),
    )?;

    let wait = config.delivery_timeout + Duration::from_secs(5);
    record(
        steps,
        "write",
        write_events(&mut output, events, wait).await,
    )
}

/// Sends `events` and waits up to `wait` for every delivery report: where each landed.
async fn write_events(
    output: &mut KafkaOutput,
    events: &[Event],
    wait: Duration,
) -> Result<(String, ()), String> {
    for event in events {
        output
            .send(
                Pending::InMemory(Vec::new()),
                &ferrobeat_schema::to_vec(event),
            )
            .map_err(|(e, _)| format!("producer refused the record: {e}"))?;
    }
    let deadline = std::time::Instant::now() + wait;
    let mut landed = Vec::new();
    while landed.len() < events.len() {
        if std::time::Instant::now() >= deadline {
            return Err(format!("no delivery report within {wait:?}"));
        }
        let next = output.poll_due().min(deadline);
        tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
        for delivery in output.poll() {
            let at = delivery
                .result
                .map_err(|e| format!("delivery failed: {e}"))?;
            landed.push(format!("{}@{}", at.partition, at.offset));
        }
    }
    Ok((
        format!(
            "{} event(s) acknowledged at partition@offset {}",
            landed.len(),
            landed.join(", ")
        ),
        (),
    ))
}

/// Whether `topic` exists, without error, every partition led.
fn describe_topic(metadata: &Metadata, topic: &str) -> Result<String, String> {
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| format!("topic {topic:?} does not exist"))?;
    if let Some(error) = found.error() {
        return Err(format!("topic {topic:?}: {error:?}"));
    }
    let partitions = found.partitions().len();
    let leaderless = found.partitions().iter().filter(|p| p.leader() < 0).count();
    if leaderless > 0 {
        return Err(format!(
            "topic {topic:?}: {leaderless} of {partitions} partitions have no leader"
        ));
    }
    Ok(format!("{topic:?} has {partitions} partition(s)"))
}
