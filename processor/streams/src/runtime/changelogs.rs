//! Before a stateful topology runs: its source topics exist and are co-partitioned within each
//! sub-topology that holds stores, and every internal topic ([`Topology::internal_topics`]: the
//! repartition topics and the stores' changelog topics, with the partition counts
//! [`planned_partitions`] gives them) is created when missing as Kafka Streams creates its
//! internal topics, refused when its partition count differs. The planning is the topology's;
//! this module only fetches metadata, checks and creates.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::StreamsConfig;
use crate::topology::{
    InternalTopic, InternalTopicError, InternalTopicKind, Topology, planned_partitions,
};

/// How long the metadata and topic creation requests may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a stateful topology cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StateSetupError {
    /// The brokers could not be asked.
    #[error("cannot prepare the state stores' topics: {0}")]
    Kafka(#[from] KafkaError),
    /// A source topic is missing, or the topics a sub-topology joins are not co-partitioned.
    #[error(transparent)]
    Sources(#[from] InternalTopicError),
    /// A changelog topic exists with another partition count than its sources.
    #[error(
        "changelog topic {topic:?} has {actual} partitions but its store's sources have \
         {expected}: delete it or recreate it with {expected} partitions"
    )]
    ChangelogPartitions {
        /// The changelog topic.
        topic: String,
        /// Its partitions.
        actual: usize,
        /// Its sources' partitions.
        expected: usize,
    },
    /// A repartition topic exists with another partition count than the topics it repartitions.
    #[error(
        "repartition topic {topic:?} has {actual} partitions but the topics it repartitions have \
         {expected}: delete it or recreate it with {expected} partitions"
    )]
    RepartitionPartitions {
        /// The repartition topic.
        topic: String,
        /// Its partitions.
        actual: usize,
        /// Its writers' source partitions.
        expected: usize,
    },
    /// The configured partition assignor may split a task between members.
    #[error(
        "partition.assignment.strategy = {0:?} cannot keep a task's partitions together (partition \
         N of every topic a stateful sub-topology reads): a stateful topology needs \"range\" \
         (its default)"
    )]
    AssignmentStrategy(String),
    /// A changelog or repartition topic could not be created.
    #[error("cannot create internal topic {topic:?}: {reason}")]
    Create {
        /// The changelog or repartition topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
}

impl StateSetupError {
    /// The refusal of `topic`, which exists with `actual` partitions instead of `expected`.
    fn differs(topic: &InternalTopic, actual: usize, expected: usize) -> Self {
        let topic_name = topic.name.clone();
        match topic.kind {
            InternalTopicKind::Repartition => Self::RepartitionPartitions {
                topic: topic_name,
                actual,
                expected,
            },
            InternalTopicKind::Changelog => Self::ChangelogPartitions {
                topic: topic_name,
                actual,
                expected,
            },
        }
    }
}

/// Checks the sources and creates or verifies the repartition and changelog topics of
/// `topology`.
///
/// # Errors
/// [`StateSetupError`] naming the topic that is missing, not co-partitioned or different.
pub(crate) fn prepare(config: &StreamsConfig, topology: &Topology) -> Result<(), StateSetupError> {
    check_assignment_strategy(config)?;
    let client: BaseConsumer = super::clients::restore_consumer_config(
        config,
        &format!("{}-admin", config.kafka.application_id),
    )
    .create()?;
    let metadata = client.fetch_metadata(None, ADMIN_TIMEOUT)?;
    let partitions_of = |topic: &str| {
        metadata
            .topics()
            .iter()
            .find(|known| known.name() == topic && known.error().is_none())
            .map(|known| known.partitions().len())
    };
    for topic in topology.global_topics() {
        partitions_of(topic)
            .ok_or_else(|| InternalTopicError::MissingSourceTopic(topic.to_owned()))?;
    }
    let wanted = topology.internal_topics(&config.kafka.application_id);
    let planned = planned_partitions(&wanted, &partitions_of)?;
    let mut missing = Vec::new();
    for (internal, expected) in wanted.iter().zip(planned) {
        match partitions_of(&internal.name) {
            Some(actual) if actual != expected => {
                return Err(StateSetupError::differs(internal, actual, expected));
            }
            Some(_) => {}
            None => missing.push((internal, expected)),
        }
    }
    if !missing.is_empty() {
        create(config, &missing)?;
    }
    Ok(())
}

/// Refuses an assignor other than `range` for a stateful topology: `roundrobin` and
/// `cooperative-sticky` assign each topic's partitions independently, so a member could hold a
/// stream partition without its table partition. (Kafka Streams has its own assignor for this;
/// librdkafka's `range` gives the same partition numbers of co-partitioned topics to one member.)
fn check_assignment_strategy(config: &StreamsConfig) -> Result<(), StateSetupError> {
    match config
        .kafka
        .properties
        .get(super::clients::ASSIGNMENT_STRATEGY)
    {
        Some(strategy) if strategy.trim() != "range" => {
            Err(StateSetupError::AssignmentStrategy(strategy.clone()))
        }
        _ => Ok(()),
    }
}

/// Creates `topics`, each with its partition count and topic configuration.
fn create(
    config: &StreamsConfig,
    topics: &[(&InternalTopic, usize)],
) -> Result<(), StateSetupError> {
    let admin: AdminClient<DefaultClientContext> = super::clients::restore_consumer_config(
        config,
        &format!("{}-admin", config.kafka.application_id),
    )
    .create()?;
    let replication = config.runtime.replication_factor.unwrap_or(-1);
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(topic, partitions)| {
            let new_topic = NewTopic::new(
                &topic.name,
                i32::try_from(*partitions).unwrap_or(i32::MAX),
                TopicReplication::Fixed(replication),
            );
            topic
                .config
                .iter()
                .fold(new_topic, |new_topic, (name, value)| {
                    new_topic.set(name, value)
                })
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = futures_executor::block_on(admin.create_topics(&new_topics, &options))?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, "created internal topic"),
            // Another instance created it meanwhile.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(StateSetupError::Create {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stateful_topology_accepts_only_the_range_assignor() {
        let mut config = StreamsConfig::new("localhost:9092", "app");
        assert!(check_assignment_strategy(&config).is_ok());
        config.kafka.properties.insert(
            "partition.assignment.strategy".to_owned(),
            "range".to_owned(),
        );
        assert!(check_assignment_strategy(&config).is_ok());
        for refused in ["cooperative-sticky", "roundrobin", "range,roundrobin"] {
            config.kafka.properties.insert(
                "partition.assignment.strategy".to_owned(),
                refused.to_owned(),
            );
            let error = check_assignment_strategy(&config).expect_err(refused);
            assert!(error.to_string().contains(refused), "{error}");
        }
    }
}
