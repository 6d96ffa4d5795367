//! The topics a topology needs besides those it reads and writes (Kafka Streams' internal
//! topics):
//! - the repartition topic a re-keyed grouping writes and reads back,
//!   `<application id>-<name>-repartition`, `cleanup.policy=delete`, with as many partitions as
//!   the largest of the topics read by the sub-topology that writes it;
//! - the changelog topic of each local store, `<application id>-<store>-changelog`, compacted,
//!   with as many partitions as the sources of its sub-topology (which must therefore all have
//!   the same count: they are co-partitioned), a repartition topic among them counting with its
//!   planned count.
//!
//! The list is pure: [`Topology::internal_topics`] names the topics and the sources whose
//! partition count each follows; [`planned_partitions`] (or [`InternalTopic::partitions`] for
//! one topic) resolves the counts against what a cluster shows (or what a setup tool is about to
//! create). The runtime creates the topics at start when missing; `setup` tools create them ahead
//! of time.

use std::collections::BTreeMap;

use super::{NodeRole, Topology};
use crate::state::changelog_topic;

/// The topic configuration a changelog topic is created with, and that it must keep: a
/// compacted log, so that the latest value of every key survives and a restore reads no more
/// than the store's content.
pub const CHANGELOG_CONFIG: [(&str, &str); 1] = [("cleanup.policy", "compact")];

/// The cleanup policy of a window store's changelog: compacted, so that the latest value of
/// every window survives, and deleted by retention, so that expired windows leave the log.
pub const WINDOW_CHANGELOG_CLEANUP_POLICY: &str = "compact,delete";

/// How much longer than its store's window retention a window store's changelog keeps records
/// (Kafka Streams' `windowstore.changelog.additional.retention.ms`, one day by default), so that
/// a restore finds every window the store still holds.
pub const WINDOW_CHANGELOG_EXTRA_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// The topic configuration a repartition topic is created with: records are read once, by the
/// next sub-topology, so the log is trimmed by retention.
pub const REPARTITION_CONFIG: [(&str, &str); 1] = [("cleanup.policy", "delete")];

/// What an internal topic is for, which decides its partition count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalTopicKind {
    /// Records re-keyed by one sub-topology for the next: as many partitions as the largest of
    /// its sources (the topics the writing sub-topology reads).
    Repartition,
    /// A store's changes: as many partitions as its sources, which must all have the same count.
    Changelog,
}

/// A topic a topology needs for its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// The topic's name.
    pub name: String,
    /// A repartition topic or a changelog.
    pub kind: InternalTopicKind,
    /// The store it logs (a changelog) or whose aggregation it feeds (a repartition topic).
    pub store: String,
    /// The topics whose partition counts give its own, in the order of [`Topology::describe`]:
    /// a changelog's are the sources of its store's sub-topology, a repartition topic's the
    /// sources of the sub-topology that writes it (see [`InternalTopicKind`]).
    pub sources: Vec<String>,
    /// The topic configuration it is created with and must keep ([`CHANGELOG_CONFIG`] or
    /// [`REPARTITION_CONFIG`]).
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
    /// The partition count the topic needs given its sources' counts, as `partitions_of` tells
    /// them (`None` for a topic that does not exist): the same as all of them for a changelog,
    /// the largest for a repartition topic. A source that is itself a repartition topic must be
    /// given its planned count: [`planned_partitions`] does that for a whole list.
    ///
    /// # Errors
    /// [`InternalTopicError`] naming the source that is missing, or (for a changelog) the two
    /// sources whose partition counts differ.
    pub fn partitions(
        &self,
        partitions_of: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<usize, InternalTopicError> {
        let mut counted: Option<(&str, usize)> = None;
        for topic in &self.sources {
            let partitions = partitions_of(topic)
                .ok_or_else(|| InternalTopicError::MissingSourceTopic(topic.clone()))?;
            match counted {
                Some((_, most)) if self.kind == InternalTopicKind::Repartition => {
                    counted = Some((topic, most.max(partitions)));
                }
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

/// The partition count of each of `topics`, listed as [`Topology::internal_topics`] lists them
/// (repartition topics first), given the counts of the topics that exist: a source that is one
/// of the repartition topics listed before counts with its planned count, whatever exists.
///
/// # Errors
/// The first topic whose count cannot be decided ([`InternalTopic::partitions`]).
pub fn planned_partitions(
    topics: &[InternalTopic],
    partitions_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<usize>, InternalTopicError> {
    let mut planned: BTreeMap<&str, usize> = BTreeMap::new();
    let mut counts = Vec::with_capacity(topics.len());
    for topic in topics {
        let partitions = topic.partitions(&|source: &str| {
            planned
                .get(source)
                .copied()
                .or_else(|| partitions_of(source))
        })?;
        if topic.kind == InternalTopicKind::Repartition {
            planned.insert(&topic.name, partitions);
        }
        counts.push(partitions);
    }
    Ok(counts)
}

impl Topology {
    /// The internal topics of application `application_id` running this topology: first the
    /// repartition topics, then the changelog topic of every local store (global stores have
    /// none: their topic is their log), each in the order of [`Topology::describe`]. A
    /// repartition topic is named `<application id>-<name>-repartition` here and among the
    /// sources, whether or not [`Topology::for_application`] named it. Empty for a stateless
    /// topology.
    pub fn internal_topics(&self, application_id: &str) -> Vec<InternalTopic> {
        let mut topics = self.repartition_internal_topics(application_id);
        for subtopology in &self.description.subtopologies {
            if subtopology.global {
                continue;
            }
            let sources = self.sources_of(&subtopology.nodes, application_id);
            if sources.is_empty() {
                continue;
            }
            for store in subtopology.nodes.iter().flat_map(|node| &node.stores) {
                if topics.iter().any(|known: &InternalTopic| {
                    known.kind == InternalTopicKind::Changelog && &known.store == store
                }) {
                    continue;
                }
                topics.push(InternalTopic {
                    name: changelog_topic(application_id, store),
                    kind: InternalTopicKind::Changelog,
                    store: store.clone(),
                    sources: sources.clone(),
                    config: self.changelog_config(store),
                });
            }
        }
        topics
    }

    /// The configuration of store `store`'s changelog: [`CHANGELOG_CONFIG`], or for a window
    /// store [`WINDOW_CHANGELOG_CLEANUP_POLICY`] with a `retention.ms` of the window retention
    /// plus [`WINDOW_CHANGELOG_EXTRA_RETENTION_MS`].
    fn changelog_config(&self, store: &str) -> Vec<(String, String)> {
        let retention = self
            .stores()
            .iter()
            .find(|spec| spec.name == store)
            .and_then(|spec| spec.window_retention_ms);
        match retention {
            Some(retention) => vec![
                (
                    "cleanup.policy".to_owned(),
                    WINDOW_CHANGELOG_CLEANUP_POLICY.to_owned(),
                ),
                (
                    "retention.ms".to_owned(),
                    retention
                        .saturating_add(WINDOW_CHANGELOG_EXTRA_RETENTION_MS)
                        .to_string(),
                ),
            ],
            None => owned_config(&CHANGELOG_CONFIG),
        }
    }

    /// The repartition topics, each once, in the order of the sub-topologies that write them.
    fn repartition_internal_topics(&self, application_id: &str) -> Vec<InternalTopic> {
        let mut topics: Vec<InternalTopic> = Vec::new();
        for subtopology in &self.description.subtopologies {
            for node in &subtopology.nodes {
                let NodeRole::Sink { topic: described } = &node.role else {
                    continue;
                };
                let Some(name) = self.repartition_name(described, application_id) else {
                    continue;
                };
                if topics.iter().any(|known| known.name == name) {
                    continue;
                }
                topics.push(InternalTopic {
                    name,
                    kind: InternalTopicKind::Repartition,
                    store: described
                        .strip_suffix("-repartition")
                        .unwrap_or(described)
                        .to_owned(),
                    sources: self.sources_of(&subtopology.nodes, application_id),
                    config: owned_config(&REPARTITION_CONFIG),
                });
            }
        }
        topics
    }

    /// The topics `nodes` read, a repartition topic under its application's name.
    fn sources_of(&self, nodes: &[super::NodeDescription], application_id: &str) -> Vec<String> {
        nodes
            .iter()
            .filter_map(|node| match &node.role {
                NodeRole::Source { topics } => Some(topics.iter()),
                _ => None,
            })
            .flatten()
            .map(|described| {
                self.repartition_name(described, application_id)
                    .unwrap_or_else(|| described.clone())
            })
            .collect()
    }
}

/// A topic configuration as owned pairs.
fn owned_config(config: &[(&str, &str)]) -> Vec<(String, String)> {
    config
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
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
                kind: InternalTopicKind::Changelog,
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

    /// A count of `words` re-keyed by the word, in store `counts`.
    fn regrouped() -> Topology {
        let builder = StreamsBuilder::new();
        builder
            .stream::<Utf8, Utf8>("words")
            .group_by(|_, word| word.to_string())
            .count_as("counts");
        builder.build().expect("a valid topology")
    }

    #[test]
    fn a_repartition_topic_has_its_writers_partitions_and_its_store_a_changelog() {
        let topology = regrouped();
        let topics = topology.internal_topics("app");
        assert_eq!(
            topics,
            [
                InternalTopic {
                    name: "app-counts-repartition".to_owned(),
                    kind: InternalTopicKind::Repartition,
                    store: "counts".to_owned(),
                    sources: vec!["words".to_owned()],
                    config: vec![("cleanup.policy".to_owned(), "delete".to_owned())],
                },
                InternalTopic {
                    name: "app-counts-changelog".to_owned(),
                    kind: InternalTopicKind::Changelog,
                    store: "counts".to_owned(),
                    sources: vec!["app-counts-repartition".to_owned()],
                    config: vec![("cleanup.policy".to_owned(), "compact".to_owned())],
                },
            ]
        );
        assert_eq!(
            topology.for_application("other").internal_topics("app"),
            topics,
            "named after the given application id, whatever the topology was named for"
        );
        assert_eq!(
            planned_partitions(&topics, &counts(&[("words", 3)])),
            Ok(vec![3, 3])
        );
        assert_eq!(
            planned_partitions(
                &topics,
                &counts(&[("words", 3), ("app-counts-repartition", 5)])
            ),
            Ok(vec![3, 3]),
            "the changelog follows the repartition topic's planned count, not an existing one"
        );
        let missing = planned_partitions(&topics, &counts(&[])).expect_err("no source");
        assert_eq!(
            missing.to_string(),
            "source topic \"words\" does not exist (create it first, e.g. with a setup command)"
        );
    }

    #[test]
    fn a_repartition_topic_takes_the_largest_count_of_its_writers_sources() {
        let topic = InternalTopic {
            name: "app-s-repartition".to_owned(),
            kind: InternalTopicKind::Repartition,
            store: "s".to_owned(),
            sources: vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
            config: owned_config(&REPARTITION_CONFIG),
        };
        assert_eq!(
            topic.partitions(&counts(&[("a", 2), ("b", 6), ("c", 4)])),
            Ok(6),
            "not co-partitioned, and need not be"
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
