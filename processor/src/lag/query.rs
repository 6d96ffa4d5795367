//! The Kafka adapter of `lag`: committed offsets of the group, watermarks of its input
//! partitions (and of its stores' changelog partitions), and which member consumes which
//! partition.
//!
//! Only standard Kafka APIs through librdkafka: OffsetFetch (`committed_offsets`), ListOffsets
//! (`fetch_watermarks`), DescribeGroups (`fetch_group_list`). The member assignments travel as
//! the consumer protocol's bytes, decoded by the pure [`decode_assignment`].

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::groups::GroupInfo;
use rdkafka::{Offset, TopicPartitionList};

use super::status::Observation;
use ferrobeat_streams::config::KafkaConfig;
use ferrobeat_streams::topology::{InternalTopic, InternalTopicKind};

/// A member of the group, as `kafka-consumer-groups` shows it; `None` where the broker
/// answered with an empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member id the coordinator gave it.
    pub consumer_id: String,
    /// The host it connected from.
    pub host: Option<String>,
    /// Its `client.id`.
    pub client_id: Option<String>,
}

/// What one query saw: the group's size, every input partition and every changelog partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Members of the group.
    pub members: usize,
    /// Every partition of the input topics, in topic and partition order.
    pub partitions: Vec<PartitionSnapshot>,
    /// Every partition of the changelog topics that exist, in the order they were given.
    pub changelogs: Vec<ChangelogSnapshot>,
}

/// One partition of a store's changelog topic: the group commits no offset on it, its
/// watermarks bound what a restore from scratch reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogSnapshot {
    /// The changelog topic.
    pub topic: String,
    /// The store it logs.
    pub store: String,
    /// The partition (that of the task whose store it logs).
    pub partition: i32,
    /// Its first offset.
    pub log_start: i64,
    /// Its end offset.
    pub log_end: i64,
}

/// One partition as seen by one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSnapshot {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Offsets and whether the partition has a consumer.
    pub observation: Observation,
    /// The member assigned this partition, when the group's assignments tell.
    pub owner: Option<Member>,
}

/// A failed query, naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The client could not be created (a bad librdkafka property).
    #[error("cannot create the Kafka client: {0}")]
    Client(KafkaError),
    /// No broker answered.
    #[error("cannot reach bootstrap servers {servers} after {} s: {error}", timeout.as_secs())]
    Unreachable {
        /// The bootstrap list tried.
        servers: String,
        /// How long it waited.
        timeout: Duration,
        /// librdkafka's error.
        error: KafkaError,
    },
    /// An input topic does not exist.
    #[error("topic {0} does not exist")]
    NoTopic(String),
    /// A later request failed.
    #[error("cannot read {what}: {error}")]
    Request {
        /// What was being read.
        what: String,
        /// librdkafka's error.
        error: KafkaError,
    },
}

// A struct holding a client, alike in shape only to the agent's KafkaOutput.
/// Queries the lag of `kafka.application_id` over a set of input topics.
pub struct LagQuery {
    consumer: BaseConsumer,
    group: String,
    servers: String,
    topics: Vec<String>,
    /// The changelog topics, with their stores.
    changelogs: Vec<(String, String)>,
    timeout: Duration,
}

impl std::fmt::Debug for LagQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LagQuery")
            .field("group", &self.group)
            .field("servers", &self.servers)
            .field("topics", &self.topics)
            .field("changelogs", &self.changelogs)
            .finish_non_exhaustive()
    }
}

impl LagQuery {
    /// A query client for the group `kafka.application_id` over `topics`, with the user's
    /// `[kafka.properties]` (TLS, SASL...), each request bounded by `timeout`. It never joins
    /// the group: it only reads its offsets and description.
    ///
    /// # Errors
    /// [`QueryError::Client`] when librdkafka refuses the configuration.
    pub fn new(
        kafka: &KafkaConfig,
        topics: Vec<String>,
        timeout: Duration,
    ) -> Result<Self, QueryError> {
        let consumer = kafka
            .client_config(&format!("{}-lag", kafka.application_id))
            // The group's id, to read its committed offsets; this client never joins it.
            .set("group.id", &kafka.application_id)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(QueryError::Client)?;
        Ok(Self {
            consumer,
            group: kafka.application_id.clone(),
            servers: kafka.bootstrap_servers.clone(),
            topics,
            changelogs: Vec::new(),
            timeout,
        })
    }

    /// Also reads the watermarks of the stores' changelog topics (a stateful topology's
    /// [`InternalTopic`]s); a changelog that does not exist yet (the application never ran, or
    /// `setup` did not create it) has no rows. Repartition topics among them are left out.
    ///
    /// [`InternalTopic`]: ferrobeat_streams::topology::InternalTopic
    pub fn with_changelogs(mut self, changelogs: &[InternalTopic]) -> Self {
        self.changelogs = changelogs
            .iter()
            .filter(|topic| topic.kind == InternalTopicKind::Changelog)
            .map(|topic| (topic.name.clone(), topic.store.clone()))
            .collect();
        self
    }

    /// The group id queried.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The group's members and every partition of the input topics.
    ///
    /// # Errors
    /// When the brokers cannot be reached, a topic does not exist, or a request fails.
    pub fn snapshot(&self) -> Result<Snapshot, QueryError> {
        let mut wanted = TopicPartitionList::new();
        for topic in &self.topics {
            for partition in 0..self.partition_count(topic)? {
                wanted.add_partition(topic, partition);
            }
        }
        let committed = self
            .consumer
            .committed_offsets(wanted.clone(), self.timeout)
            .map_err(|source| self.request_error("the committed offsets", source))?;
        let members = self.members()?;
        let mut partitions = Vec::new();
        for element in wanted.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            let (log_start, log_end) = self.watermarks(topic, partition)?;
            let offset = committed
                .find_partition(topic, partition)
                .map(|found| found.offset());
            let (owner, has_consumer) = consumer_of(&members, topic, partition);
            partitions.push(PartitionSnapshot {
                topic: topic.to_owned(),
                partition,
                observation: Observation {
                    committed: match offset {
                        Some(Offset::Offset(offset)) => Some(offset),
                        _ => None,
                    },
                    log_start,
                    log_end,
                    has_consumer,
                },
                owner,
            });
        }
        Ok(Snapshot {
            members: members.len(),
            partitions,
            changelogs: self.changelog_snapshots()?,
        })
    }

    /// The watermarks of every partition of the changelog topics that exist.
    fn changelog_snapshots(&self) -> Result<Vec<ChangelogSnapshot>, QueryError> {
        let mut snapshots = Vec::new();
        for (topic, store) in &self.changelogs {
            let partitions = match self.partition_count(topic) {
                Ok(partitions) => partitions,
                Err(QueryError::NoTopic(_)) => continue,
                Err(error) => return Err(error),
            };
            for partition in 0..partitions {
                let (log_start, log_end) = self.watermarks(topic, partition)?;
                snapshots.push(ChangelogSnapshot {
                    topic: topic.clone(),
                    store: store.clone(),
                    partition,
                    log_start,
                    log_end,
                });
            }
        }
        Ok(snapshots)
    }

    /// The first and end offsets of `topic`/`partition` (ListOffsets).
    fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), QueryError> {
        self.consumer
            .fetch_watermarks(topic, partition, self.timeout)
            .map_err(|source| {
                self.request_error(&format!("the watermarks of {topic}/{partition}"), source)
            })
    }

    fn partition_count(&self, topic: &str) -> Result<i32, QueryError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), self.timeout)
            .map_err(|error| QueryError::Unreachable {
                servers: self.servers.clone(),
                timeout: self.timeout,
                error,
            })?;
        match metadata.topics().iter().find(|t| t.name() == topic) {
            Some(found) if found.error().is_none() && !found.partitions().is_empty() => {
                Ok(i32::try_from(found.partitions().len()).unwrap_or(i32::MAX))
            }
            _ => Err(QueryError::NoTopic(topic.to_owned())),
        }
    }

    /// The group's members with their decoded assignments (`None`: absent or unreadable).
    fn members(&self) -> Result<Vec<(Member, Option<Assignment>)>, QueryError> {
        let groups = self
            .consumer
            .fetch_group_list(Some(&self.group), self.timeout)
            .map_err(|source| self.request_error("the group description", source))?;
        Ok(groups
            .groups()
            .iter()
            .filter(|group| group.name() == self.group)
            .inspect(|group| {
                tracing::debug!(
                    group = group.name(),
                    state = group.state(),
                    protocol_type = group.protocol_type(),
                    protocol = group.protocol(),
                    members = group.members().len(),
                    "group description"
                );
            })
            .flat_map(GroupInfo::members)
            .map(|member| {
                tracing::debug!(
                    member = member.id(),
                    client_id = member.client_id(),
                    host = member.client_host(),
                    assignment_bytes = member.assignment().map(<[u8]>::len),
                    "group member"
                );
                let assignment = member
                    .assignment()
                    .and_then(|bytes| decode_assignment(bytes).ok());
                let known = |text: &str| (!text.is_empty()).then(|| text.to_owned());
                let member = Member {
                    consumer_id: member.id().to_owned(),
                    host: known(member.client_host()),
                    client_id: known(member.client_id()),
                };
                (member, assignment)
            })
            .collect())
    }

    fn request_error(&self, what: &str, error: KafkaError) -> QueryError {
        QueryError::Request {
            what: format!("{what} of group {}", self.group),
            error,
        }
    }
}

/// A member's assignment: partitions by topic.
pub type Assignment = Vec<(String, Vec<i32>)>;

/// The member assigned `topic`/`partition` among `members` (with their decoded assignments,
/// `None` when unreadable), and whether anyone may be consuming it: its owner, or any member
/// when some assignment could not be read.
fn consumer_of(
    members: &[(Member, Option<Assignment>)],
    topic: &str,
    partition: i32,
) -> (Option<Member>, bool) {
    let owner = members.iter().find_map(|(member, assigned)| {
        assigned
            .as_ref()?
            .iter()
            .any(|(t, partitions)| t == topic && partitions.contains(&partition))
            .then(|| member.clone())
    });
    let unreadable = members.iter().any(|(_, assigned)| assigned.is_none());
    let has_consumer = owner.is_some() || unreadable;
    (owner, has_consumer)
}

/// Bytes that are not a consumer protocol assignment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed consumer protocol assignment: {0}")]
pub struct AssignmentError(&'static str);

/// Decodes Kafka's `ConsumerProtocolAssignment` (every version: int16 version, then an array
/// of topic name and int32 partitions; the user data and later fields are ignored).
///
/// # Errors
/// When the bytes end early or hold a negative length or an invalid topic name.
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, AssignmentError> {
    let mut reader = Reader(bytes);
    let version = reader.i16()?;
    if version < 0 {
        return Err(AssignmentError("negative version"));
    }
    let mut topics = Vec::new();
    for _ in 0..reader.count()? {
        let length = usize::try_from(reader.i16()?).map_err(|_| AssignmentError("null topic"))?;
        let name = std::str::from_utf8(reader.take(length)?)
            .map_err(|_| AssignmentError("topic name is not UTF-8"))?
            .to_owned();
        let partitions = (0..reader.count()?)
            .map(|_| reader.i32())
            .collect::<Result<Vec<_>, _>>()?;
        topics.push((name, partitions));
    }
    Ok(topics)
}

/// A big-endian cursor over the assignment bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], AssignmentError> {
        if self.0.len() < length {
            return Err(AssignmentError("truncated"));
        }
        let (head, rest) = self.0.split_at(length);
        self.0 = rest;
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16, AssignmentError> {
        let bytes = self.take(2)?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn i32(&mut self) -> Result<i32, AssignmentError> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// An array length; a null array (-1) is empty.
    fn count(&mut self) -> Result<usize, AssignmentError> {
        match self.i32()? {
            -1 => Ok(0),
            n => usize::try_from(n).map_err(|_| AssignmentError("negative array length")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes an assignment as the Java and librdkafka consumers do (version 1, no user data).
    fn encode(version: i16, topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut bytes = version.to_be_bytes().to_vec();
        bytes.extend((topics.len() as i32).to_be_bytes());
        for (name, partitions) in topics {
            bytes.extend((name.len() as i16).to_be_bytes());
            bytes.extend(name.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for partition in *partitions {
                bytes.extend(partition.to_be_bytes());
            }
        }
        bytes.extend((-1i32).to_be_bytes()); // null user data
        bytes
    }

    fn member(id: &str) -> Member {
        Member {
            consumer_id: id.to_owned(),
            host: Some("/10.0.0.1".to_owned()),
            client_id: Some("app-0".to_owned()),
        }
    }

    #[test]
    fn a_partition_belongs_to_the_member_whose_assignment_lists_it() {
        let members = vec![
            (member("a"), Some(vec![("in".to_owned(), vec![0, 2])])),
            (
                member("b"),
                Some(vec![
                    ("in".to_owned(), vec![1]),
                    ("other".to_owned(), vec![3]),
                ]),
            ),
        ];
        assert_eq!(consumer_of(&members, "in", 2), (Some(member("a")), true));
        assert_eq!(consumer_of(&members, "in", 1), (Some(member("b")), true));
        assert_eq!(
            consumer_of(&members, "in", 3),
            (None, false),
            "nobody owns it"
        );
        assert_eq!(consumer_of(&[], "in", 0), (None, false), "an empty group");
    }

    #[test]
    fn an_unreadable_assignment_may_cover_any_partition() {
        let members = vec![
            (member("a"), Some(vec![("in".to_owned(), vec![0])])),
            (member("b"), None),
        ];
        assert_eq!(consumer_of(&members, "in", 0), (Some(member("a")), true));
        assert_eq!(consumer_of(&members, "in", 1), (None, true));
    }

    #[test]
    fn decodes_topics_and_partitions() {
        let bytes = encode(1, &[("metric.all", &[0, 2]), ("other", &[1])]);
        assert_eq!(
            decode_assignment(&bytes),
            Ok(vec![
                ("metric.all".to_owned(), vec![0, 2]),
                ("other".to_owned(), vec![1]),
            ])
        );
    }

    #[test]
    fn an_empty_assignment_has_no_topics() {
        assert_eq!(decode_assignment(&encode(0, &[])), Ok(vec![]));
        assert_eq!(decode_assignment(&[0, 3, 255, 255, 255, 255]), Ok(vec![]));
    }

    #[test]
    fn refuses_truncated_or_negative_input() {
        let bytes = encode(1, &[("metric.all", &[0, 1, 2])]);
        for end in [0, 1, 5, 8, 17, bytes.len() - 6] {
            assert_eq!(
                decode_assignment(&bytes[..end]),
                Err(AssignmentError("truncated")),
                "cut at {end}"
            );
        }
        assert!(decode_assignment(&[255, 255, 0, 0, 0, 0]).is_err());
        assert!(decode_assignment(&[0, 1, 0, 0, 0, 1, 255, 255]).is_err());
        assert!(decode_assignment(&[0, 1, 128, 0, 0, 0]).is_err());
    }
}
