//! The topics a topology needs besides those it reads and writes (Kafka Streams' internal
//! topics): today the changelog topic of each local store, `<application id>-<store>-changelog`,
//! compacted, with as many partitions as the sources of its sub-topology (which must therefore
//! all have the same count: they are co-partitioned).
//!
//! The list is pure: [`Topology::internal_topics`] names the topics and the sources whose
//! partition count each follows; [`InternalTopic::partitions`] resolves the count against what a
//! cluster shows (or what a setup tool is about to create). The runtime creates the topics at
//! start when missing; `setup` tools create them ahead of time.

use super::{NodeRole, Topology};
use crate::state::changelog_topic;

/// The topic configuration a changelog topic is created with, and that it must keep: a
/// compacted log, so that the latest value of every key survives and a restore reads no more
/// than the store's content.
pub const CHANGELOG_CONFIG: [(&str, &str); 1] = [("cleanup.policy", "compact")];

/// A topic a topology needs for its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// The topic's name.
    pub name: String,
    /// The store it logs.
    pub store: String,
    /// The source topics of the store's sub-topology, in the order of [`Topology::describe`]:
    /// the topic has as many partitions as they have, and they must all have the same count.
    pub sources: Vec<String>,
    /// The topic configuration it is created with and must keep (`cleanup.policy=compact`).
    pub config: Vec<(String, String)>,
}

/// Why the partition count of an internal topic cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternalTopicError {
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
}

impl InternalTopic {
    /// The partition count the topic needs: that of its sources, as `partitions_of` tells it
    /// (`None` for a topic that does not exist).
    ///
    /// # Errors
    /// [`InternalTopicError`] naming the source that is missing, or the two sources whose
    /// partition counts differ.
    pub fn partitions(
        &self,
        partitions_of: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<usize, InternalTopicError> {
        let mut counted: Option<(&str, usize)> = None;
        for topic in &self.sources {
            let partitions = partitions_of(topic)
                .ok_or_else(|| InternalTopicError::MissingSourceTopic(topic.clone()))?;
            match counted {
                Some((first, first_partitions)) if first_partitions != partitions => {
                    return Err(InternalTopicError::NotCoPartitioned {
                        first: first.to_owned(),
                        first_partitions,
                        second: topic.clone(),
                        second_partitions: partitions,
                    });
                }
                Some(_) => {}
                None => counted = Some((topic, partitions)),
            }
        }
        // `Topology::internal_topics` lists no topic without sources.
        Ok(counted.map_or(0, |(_, partitions)| partitions))
    }
}

impl Topology {
    /// The internal topics of application `application_id` running this topology: the
    /// changelog topic of every local store (global stores have none: their topic is their
    /// log), in the order of [`Topology::describe`]. Empty for a stateless topology.
    pub fn internal_topics(&self, application_id: &str) -> Vec<InternalTopic> {
        let mut topics = Vec::new();
        for subtopology in &self.description.subtopologies {
            if subtopology.global {
                continue;
            }
            let sources: Vec<String> = subtopology
                .nodes
                .iter()
                .filter_map(|node| match &node.role {
                    NodeRole::Source { topics } => Some(topics.iter().cloned()),
                    _ => None,
                })
                .flatten()
                .collect();
            if sources.is_empty() {
                continue;
            }
            for store in subtopology.nodes.iter().flat_map(|node| &node.stores) {
                if topics
                    .iter()
                    .any(|known: &InternalTopic| &known.store == store)
                {
                    continue;
                }
                topics.push(InternalTopic {
                    name: changelog_topic(application_id, store),
                    store: store.clone(),
                    sources: sources.clone(),
                    config: CHANGELOG_CONFIG
                        .iter()
                        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                        .collect(),
                });
            }
        }
        topics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamsBuilder;
    use crate::serdes::Utf8;

    /// `order` joined with the table `address`, and a global table `rates` joined after.
    fn stateful() -> Topology {
        let builder = StreamsBuilder::new();
        let table = builder.table::<Utf8, Utf8>("address");
        let global = builder.global_table::<Utf8, Utf8>("rates");
        builder
            .stream::<Utf8, Utf8>("order")
            .join(&table, |order, address| {
                format!("{order} send to {address}")
            })
            .join_global(
                &global,
                |key, _| key.to_string(),
                |joined, rate| format!("{joined} at {rate}"),
            )
            .to("order_join");
        builder.build().expect("a valid topology")
    }

    fn counts(topics: &[(&str, usize)]) -> impl Fn(&str) -> Option<usize> {
        let topics: Vec<(String, usize)> = topics
            .iter()
            .map(|(name, count)| ((*name).to_owned(), *count))
            .collect();
        move |topic| {
            topics
                .iter()
                .find(|(name, _)| name == topic)
                .map(|(_, count)| *count)
        }
    }

    #[test]
    fn a_table_store_gets_a_compacted_changelog_following_its_sub_topology() {
        let topology = stateful();
        let topics = topology.internal_topics("app");
        let local: Vec<&str> = topology
            .stores()
            .iter()
            .filter(|store| !store.global)
            .map(|store| store.name.as_str())
            .collect();
        assert_eq!(local.len(), 1, "{local:?}");
        assert_eq!(
            topics,
            [InternalTopic {
                name: format!("app-{}-changelog", local[0]),
                store: local[0].to_owned(),
                sources: vec!["order".to_owned(), "address".to_owned()],
                config: vec![("cleanup.policy".to_owned(), "compact".to_owned())],
            }]
        );
        assert_eq!(
            topics[0].partitions(&counts(&[("address", 3), ("order", 3), ("rates", 2)])),
            Ok(3),
            "the global table's topic does not count"
        );
    }

    #[test]
    fn partitions_refuse_a_missing_or_not_co_partitioned_source() {
        let topics = stateful().internal_topics("app");
        assert_eq!(
            topics[0].partitions(&counts(&[("order", 3)])),
            Err(InternalTopicError::MissingSourceTopic("address".to_owned()))
        );
        let error = topics[0]
            .partitions(&counts(&[("address", 2), ("order", 3)]))
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "topics \"order\" (3 partitions) and \"address\" (2 partitions) are not \
             co-partitioned: a join needs the same partition count on both"
        );
    }

    #[test]
    fn a_stateless_topology_needs_no_internal_topic() {
        let builder = StreamsBuilder::new();
        builder.stream::<Utf8, Utf8>("in").to("out");
        let topology = builder.build().expect("a valid topology");
        assert_eq!(topology.internal_topics("app"), []);
    }
}
