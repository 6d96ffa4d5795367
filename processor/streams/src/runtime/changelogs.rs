//! Before a stateful topology runs: its source topics exist and are co-partitioned within each
//! sub-topology that holds stores, and every store has its changelog topic
//! (`<application id>-<store>-changelog`, compacted, as many partitions as its sources), created
//! when missing as Kafka Streams creates its internal topics, refused when it differs. The same
//! holds for repartition topics (`<application id>-<store>-repartition`, `cleanup.policy=delete`,
//! as many partitions as the topics of the sub-topology that writes them).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::StreamsConfig;
use crate::state::changelog_topic;
use crate::topology::{NodeRole, Topology};

/// How long the metadata and topic creation requests may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a stateful topology cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StateSetupError {
    /// The brokers could not be asked.
    #[error("cannot prepare the state stores' topics: {0}")]
    Kafka(#[from] KafkaError),
    /// A topic the topology reads does not exist.
    #[error("source topic {0:?} does not exist (create it first, e.g. with a setup command)")]
    MissingSourceTopic(String),
    /// Two topics a sub-topology joins have different partition counts.
    #[error(
        "topics {first:?} ({first_partitions} partitions) and {second:?} ({second_partitions} \
         partitions) are not co-partitioned: a join needs the same partition count on both"
    )]
    NotCoPartitioned {
        /// One topic.
        first: String,
        /// Its partitions.
        first_partitions: usize,
        /// The other topic.
        second: String,
        /// Its partitions.
        second_partitions: usize,
    },
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

/// The changelog topics of a topology's local stores, each with the partition count it needs.
pub(crate) fn changelog_partitions(
    config: &StreamsConfig,
    topology: &Topology,
    partitions_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<BTreeMap<String, usize>, StateSetupError> {
    let mut changelogs = BTreeMap::new();
    for subtopology in &topology.describe().subtopologies {
        if subtopology.global {
            continue;
        }
        let stores: Vec<&String> = subtopology
            .nodes
            .iter()
            .flat_map(|node| &node.stores)
            .collect();
        if stores.is_empty() {
            continue;
        }
        let mut counted: Option<(String, usize)> = None;
        for node in &subtopology.nodes {
            let NodeRole::Source { topics } = &node.role else {
                continue;
            };
            for topic in topics {
                let partitions = partitions_of(topic)
                    .ok_or_else(|| StateSetupError::MissingSourceTopic(topic.clone()))?;
                match &counted {
                    Some((first, first_partitions)) if *first_partitions != partitions => {
                        return Err(StateSetupError::NotCoPartitioned {
                            first: first.clone(),
                            first_partitions: *first_partitions,
                            second: topic.clone(),
                            second_partitions: partitions,
                        });
                    }
                    Some(_) => {}
                    None => counted = Some((topic.clone(), partitions)),
                }
            }
        }
        if let Some((_, partitions)) = counted {
            for store in stores {
                changelogs.insert(
                    changelog_topic(&config.kafka.application_id, store),
                    partitions,
                );
            }
        }
    }
    Ok(changelogs)
}

/// The repartition topics of a topology, each with the partition count Kafka Streams gives it:
/// the largest of the topics read by the sub-topology that writes it (a repartition topic read
/// there counts with its own planned count).
fn repartition_partitions(
    topology: &Topology,
    partitions_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<BTreeMap<String, usize>, StateSetupError> {
    let repartition_topics = topology.repartition_topics();
    let mut planned = BTreeMap::new();
    for subtopology in &topology.describe().subtopologies {
        let written: Vec<&str> = subtopology
            .nodes
            .iter()
            .filter_map(|node| match &node.role {
                NodeRole::Sink { topic } => Some(topology.topic_name(topic)),
                _ => None,
            })
            .filter(|topic| repartition_topics.contains(topic))
            .collect();
        if written.is_empty() {
            continue;
        }
        let partitions =
            max_source_partitions(topology, &subtopology.nodes, &planned, partitions_of)?;
        for topic in written {
            planned.insert(topic.to_owned(), partitions);
        }
    }
    Ok(planned)
}

/// The largest partition count of the topics `nodes` read.
fn max_source_partitions(
    topology: &Topology,
    nodes: &[crate::topology::NodeDescription],
    planned: &BTreeMap<String, usize>,
    partitions_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<usize, StateSetupError> {
    let mut most = 0;
    for node in nodes {
        let NodeRole::Source { topics } = &node.role else {
            continue;
        };
        for topic in topics {
            let topic = topology.topic_name(topic);
            let partitions = planned
                .get(topic)
                .copied()
                .or_else(|| partitions_of(topic))
                .ok_or_else(|| StateSetupError::MissingSourceTopic(topic.to_owned()))?;
            most = most.max(partitions);
        }
    }
    Ok(most)
}

/// What an internal topic is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InternalTopic {
    /// Records re-keyed by one sub-topology for the next (`cleanup.policy=delete`).
    Repartition,
    /// A store's changes (`cleanup.policy=compact`).
    Changelog,
}

impl InternalTopic {
    fn cleanup_policy(self) -> &'static str {
        match self {
            Self::Repartition => "delete",
            Self::Changelog => "compact",
        }
    }

    /// The refusal of an existing topic with `actual` partitions instead of `expected`.
    fn differs(self, topic: String, actual: usize, expected: usize) -> StateSetupError {
        match self {
            Self::Repartition => StateSetupError::RepartitionPartitions {
                topic,
                actual,
                expected,
            },
            Self::Changelog => StateSetupError::ChangelogPartitions {
                topic,
                actual,
                expected,
            },
        }
    }
}

/// The internal topics `topology` needs, repartition topics first, each with its partition
/// count, given the partition counts of the topics that exist.
pub(crate) fn internal_topics(
    config: &StreamsConfig,
    topology: &Topology,
    partitions_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<(String, usize, InternalTopic)>, StateSetupError> {
    let repartitions = repartition_partitions(topology, partitions_of)?;
    // The sources as described: a repartition topic under its application-id name, with the
    // partition count planned for it.
    let planned_or_existing = |topic: &str| {
        let topic = topology.topic_name(topic);
        repartitions
            .get(topic)
            .copied()
            .or_else(|| partitions_of(topic))
    };
    let changelogs = changelog_partitions(config, topology, &planned_or_existing)?;
    let tagged = |topics: BTreeMap<String, usize>, kind| {
        topics
            .into_iter()
            .map(move |(topic, partitions)| (topic, partitions, kind))
    };
    Ok(tagged(repartitions, InternalTopic::Repartition)
        .chain(tagged(changelogs, InternalTopic::Changelog))
        .collect())
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
            .ok_or_else(|| StateSetupError::MissingSourceTopic(topic.to_owned()))?;
    }
    let mut missing = Vec::new();
    for (topic, expected, kind) in internal_topics(config, topology, &partitions_of)? {
        match partitions_of(&topic) {
            Some(actual) if actual != expected => return Err(kind.differs(topic, actual, expected)),
            Some(_) => {}
            None => missing.push((topic, expected, kind.cleanup_policy())),
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

/// Creates `topics`, each with its partition count and `cleanup.policy`.
fn create(config: &StreamsConfig, topics: &[(String, usize, &str)]) -> Result<(), StateSetupError> {
    let admin: AdminClient<DefaultClientContext> = super::clients::restore_consumer_config(
        config,
        &format!("{}-admin", config.kafka.application_id),
    )
    .create()?;
    let replication = config.runtime.replication_factor.unwrap_or(-1);
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(topic, partitions, cleanup_policy)| {
            NewTopic::new(
                topic,
                i32::try_from(*partitions).unwrap_or(i32::MAX),
                TopicReplication::Fixed(replication),
            )
            .set("cleanup.policy", cleanup_policy)
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
    use crate::StreamsBuilder;
    use crate::serdes::Utf8;

    #[test]
    fn a_repartition_topic_has_its_writers_partitions_and_its_store_a_changelog() {
        let builder = StreamsBuilder::new();
        builder
            .stream::<Utf8, Utf8>("words")
            .group_by(|_, word| word.to_string())
            .count_as("counts");
        let topology = builder
            .build()
            .expect("valid topology")
            .for_application("app");
        let config = StreamsConfig::new("localhost:9092", "app");
        let partitions_of = |topic: &str| (topic == "words").then_some(3);
        assert_eq!(
            internal_topics(&config, &topology, &partitions_of).expect("planned"),
            [
                (
                    "app-counts-repartition".to_owned(),
                    3,
                    InternalTopic::Repartition
                ),
                (
                    "app-counts-changelog".to_owned(),
                    3,
                    InternalTopic::Changelog
                ),
            ]
        );
        let missing = internal_topics(&config, &topology, &|_: &str| None::<usize>)
            .expect_err("the source is missing");
        assert_eq!(
            missing.to_string(),
            "source topic \"words\" does not exist (create it first, e.g. with a setup command)"
        );
    }

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
