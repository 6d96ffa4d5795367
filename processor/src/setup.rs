// over 500 lines: about 360 are unit tests; creating and verifying topics (the pipeline's and the internal ones) share one plan type and its checks.
//! `ferrobeat-processor setup`: creates the pipeline's topics through Kafka's admin API and
//! verifies the ones that already exist.
//!
//! The pure core decides: [`SetupSpec`] says what the pipeline needs, [`ClusterView`] is what a
//! metadata request showed, [`plan`] says which topics to create (or refuses a replication factor
//! the cluster cannot hold) and [`verify`] lists every [`Difference`] between the two. The adapter,
//! [`setup_topics`], fetches metadata, creates what is missing, waits until it is visible and
//! verifies again, so running it twice changes nothing the second time.
//!
//! Existing topics are never altered: a wrong partition count or replication factor is reported,
//! because growing partitions moves where new records land and is the operator's call.
//!
//! A stateful topology also needs its internal topics, its repartition topics and the changelogs
//! of its stores ([`SetupSpec::with_internal_topics`], from [`Topology::internal_topics`]):
//! `setup` creates them as the runtime would at start, with the partition count their sources
//! give them, and verifies their partition count, replication factor and topic configuration
//! (`cleanup.policy`, read with DescribeConfigs).
//!
//! [`Topology::internal_topics`]: ferrobeat_streams::Topology::internal_topics

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::ErrorsConfig;
use crate::metric_topology::MetricPipeline;
use ferrobeat_streams::topology::{
    InternalTopic, InternalTopicError, InternalTopicKind, validate_topic_name,
};

/// Partitions of a topic `setup` creates unless told otherwise (the reference design's 3).
pub const DEFAULT_PARTITIONS: i32 = 3;
/// Replication factor of a topic `setup` creates unless told otherwise (the reference's 2).
pub const DEFAULT_REPLICATION_FACTOR: i32 = 2;
/// How long [`setup_topics`] waits by default for each request and for new topics to appear.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between two metadata requests while waiting for new topics to appear.
const VISIBILITY_POLL: Duration = Duration::from_millis(200);

/// The topics a processor with this configuration reads and writes, in the order `setup`
/// creates them: input, cpu, memory, alert, extra routes, the inventory and the summaries
/// (when set), dead letters (when the error policy writes any). Each name appears once. With the default configuration this is
/// [`ferrobeat_schema::topics::PIPELINE`].
pub fn pipeline_topics(pipeline: MetricPipeline<'_>, errors: &ErrorsConfig) -> Vec<String> {
    let topology = pipeline.topology;
    let mut topics: Vec<String> = Vec::new();
    let names = [
        &topology.input_topic,
        &topology.cpu_topic,
        &topology.memory_topic,
        &topology.alert_topic,
    ]
    .into_iter()
    .chain(topology.extra_routes.values())
    .chain(&topology.inventory_topic)
    .chain(&pipeline.summaries.topic)
    .map(String::as_str)
    .chain(errors.dead_letter_topic());
    for name in names {
        if !topics.iter().any(|known| known == name) {
            topics.push(name.to_owned());
        }
    }
    topics
}

/// A setup request that cannot work, naming the setting and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting}: {reason}")]
pub struct SpecError {
    /// The offending setting (`topics`, `partitions`, `replication factor`, `co-partitioned
    /// group`, `internal topics`).
    pub setting: &'static str,
    /// Why it is refused.
    pub reason: String,
}

impl SpecError {
    fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

/// What the pipeline needs from the cluster: its topics, their partition count and replication
/// factor, the groups of topics that must have equal partition counts (the co-partitioning
/// a join needs), and the internal topics of a stateful topology (the metric topology is
/// stateless and needs neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupSpec {
    topics: Vec<String>,
    partitions: i32,
    replication_factor: i32,
    co_partitioned: Vec<Vec<String>>,
    internal: Vec<InternalTopic>,
    /// The configuration some of `topics` are created with and checked for (the inventory's
    /// `cleanup.policy=compact`).
    configs: BTreeMap<String, Vec<(String, String)>>,
}

impl SetupSpec {
    /// A spec for `topics`, each with `partitions` partitions and `replication_factor` replicas.
    ///
    /// # Errors
    /// When the list is empty, a name is invalid or repeated, `partitions` is below 1, or
    /// `replication_factor` is outside `1..=32767`.
    pub fn new(
        topics: Vec<String>,
        partitions: i32,
        replication_factor: i32,
    ) -> Result<Self, SpecError> {
        if topics.is_empty() {
            return Err(SpecError::new("topics", "the list of topics is empty"));
        }
        for (index, topic) in topics.iter().enumerate() {
            validate_topic_name(topic).map_err(|reason| SpecError::new("topics", reason))?;
            if topics[..index].contains(topic) {
                return Err(SpecError::new(
                    "topics",
                    format!("{topic:?} is listed twice"),
                ));
            }
        }
        if partitions < 1 {
            return Err(SpecError::new(
                "partitions",
                format!("{partitions} is not a partition count; a topic needs at least 1"),
            ));
        }
        if !(1..=i32::from(i16::MAX)).contains(&replication_factor) {
            return Err(SpecError::new(
                "replication factor",
                format!("{replication_factor} is not between 1 and {}", i16::MAX),
            ));
        }
        Ok(Self {
            topics,
            partitions,
            replication_factor,
            co_partitioned: Vec::new(),
            internal: Vec::new(),
            configs: BTreeMap::new(),
        })
    }

    /// Creates `topic`, one of this spec's topics, with `config`, and reports a difference
    /// when it exists with other values.
    ///
    /// # Errors
    /// When `topic` is not one of the spec's topics.
    pub fn with_topic_config(
        mut self,
        topic: &str,
        config: Vec<(String, String)>,
    ) -> Result<Self, SpecError> {
        if !self.topics.iter().any(|known| known == topic) {
            return Err(SpecError::new(
                "topic config",
                format!("{topic:?} is not one of the topics to set up"),
            ));
        }
        self.configs.insert(topic.to_owned(), config);
        Ok(self)
    }

    /// Adds a group of this spec's topics that must all have the same partition count.
    ///
    /// # Errors
    /// When the group has fewer than two topics or names a topic the spec does not list.
    pub fn with_co_partitioned(mut self, group: Vec<String>) -> Result<Self, SpecError> {
        const SETTING: &str = "co-partitioned group";
        if group.len() < 2 {
            return Err(SpecError::new(SETTING, "a group needs at least two topics"));
        }
        if let Some(stranger) = group.iter().find(|topic| !self.topics.contains(topic)) {
            return Err(SpecError::new(
                SETTING,
                format!("{stranger:?} is not one of the topics to set up"),
            ));
        }
        self.co_partitioned.push(group);
        Ok(self)
    }

    /// Adds a topology's internal topics ([`Topology::internal_topics`]): each is created with
    /// its topic configuration, the spec's replication factor and the partition count its
    /// sources give it ([`InternalTopic::partitions`]); a changelog's sources must be
    /// co-partitioned (a group is added for those among the spec's topics).
    ///
    /// # Errors
    /// When an internal topic's name is invalid or already listed, or one of its sources is
    /// neither one of the spec's topics nor a repartition topic listed before it (`setup` must
    /// know its partition count).
    ///
    /// [`Topology::internal_topics`]: ferrobeat_streams::Topology::internal_topics
    pub fn with_internal_topics(mut self, internal: Vec<InternalTopic>) -> Result<Self, SpecError> {
        const SETTING: &str = "internal topics";
        for topic in internal {
            validate_topic_name(&topic.name).map_err(|reason| SpecError::new(SETTING, reason))?;
            if self.every_topic().any(|known| *known == topic.name) {
                return Err(SpecError::new(
                    SETTING,
                    format!("{:?} is listed twice", topic.name),
                ));
            }
            let known = |source: &String| {
                self.topics.contains(source)
                    || self.internal.iter().any(|earlier| {
                        earlier.kind == InternalTopicKind::Repartition && earlier.name == *source
                    })
            };
            if let Some(stranger) = topic.sources.iter().find(|source| !known(source)) {
                return Err(SpecError::new(
                    SETTING,
                    format!(
                        "{:?} follows the partition count of {stranger:?}, which is not one of \
                         the topics to set up",
                        topic.name
                    ),
                ));
            }
            let mut group: Vec<String> = Vec::new();
            for source in &topic.sources {
                if topic.kind == InternalTopicKind::Changelog
                    && self.topics.contains(source)
                    && !group.contains(source)
                {
                    group.push(source.clone());
                }
            }
            if group.len() >= 2 && !self.co_partitioned.contains(&group) {
                self.co_partitioned.push(group);
            }
            self.internal.push(topic);
        }
        Ok(self)
    }

    /// The topics, in creation order (without the internal topics).
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The internal topics, created after the others.
    pub fn internal_topics(&self) -> &[InternalTopic] {
        &self.internal
    }

    /// Every topic: the spec's, then the internal ones.
    fn every_topic(&self) -> impl Iterator<Item = &String> {
        self.topics
            .iter()
            .chain(self.internal.iter().map(|topic| &topic.name))
    }

    /// The partition count internal topic `topic` needs on `cluster`: that of its sources as
    /// they exist, or as `setup` creates them (with the spec's count) when `planned`; a source
    /// that is a repartition topic counts with the count it needs, as the runtime counts it.
    fn internal_partitions(
        &self,
        topic: &InternalTopic,
        cluster: &ClusterView,
        planned: bool,
    ) -> Result<usize, InternalTopicError> {
        let created = usize::try_from(self.partitions).unwrap_or(usize::MAX);
        topic.partitions(&|source: &str| {
            // `with_internal_topics` accepts only repartition topics listed before as sources.
            if let Some(repartition) = self.internal.iter().find(|t| t.name == source) {
                return self.internal_partitions(repartition, cluster, planned).ok();
            }
            match cluster.topics.get(source) {
                Some(layout) => Some(layout.partitions),
                None => (planned && self.topics.iter().any(|t| t == source)).then_some(created),
            }
        })
    }

    /// Partitions of each topic.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// Replicas of each partition.
    pub fn replication_factor(&self) -> i32 {
        self.replication_factor
    }
}

/// The layout of one existing topic, as metadata shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLayout {
    /// Number of partitions.
    pub partitions: usize,
    /// Replicas of its least replicated partition.
    pub replication_factor: usize,
}

/// What a metadata request (and DescribeConfigs, for the internal topics) showed of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Number of live brokers.
    pub brokers: usize,
    /// Existing topics by name.
    pub topics: BTreeMap<String, TopicLayout>,
    /// The topic configuration of the topics described, by topic then name; a topic absent here
    /// was not described and its configuration is not verified, a name absent from a described
    /// topic is not set on it (some brokers, Tansu among them, describe only what was set).
    pub configs: BTreeMap<String, BTreeMap<String, String>>,
}

impl ClusterView {
    /// Reads the brokers and topics out of a metadata response; topics the response marks as
    /// failed (for instance unknown) are left out.
    pub fn from_metadata(metadata: &Metadata) -> Self {
        let topics = metadata
            .topics()
            .iter()
            .filter(|topic| topic.error().is_none())
            .map(|topic| {
                let layout = TopicLayout {
                    partitions: topic.partitions().len(),
                    replication_factor: topic
                        .partitions()
                        .iter()
                        .map(|partition| partition.replicas().len())
                        .min()
                        .unwrap_or(0),
                };
                (topic.name().to_owned(), layout)
            })
            .collect();
        Self {
            brokers: metadata.brokers().len(),
            topics,
            configs: BTreeMap::new(),
        }
    }
}

/// A topic `setup` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopicPlan {
    /// The topic.
    pub name: String,
    /// Its partitions: the spec's, or for an internal topic those of its sources.
    pub partitions: usize,
    /// The topic configuration it is created with (empty but for internal topics).
    pub config: Vec<(String, String)>,
}

/// Which of the spec's topics exist and which `setup` must create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupPlan {
    /// Topics to create, in the spec's order, internal topics last.
    pub create: Vec<NewTopicPlan>,
    /// Topics that exist already, to verify only.
    pub existing: Vec<String>,
    /// Internal topics that cannot be created because their sources are not co-partitioned
    /// (reported by [`verify`]).
    pub blocked: Vec<String>,
}

impl SetupPlan {
    /// The names of the topics to create.
    pub fn create_names(&self) -> Vec<String> {
        self.create.iter().map(|topic| topic.name.clone()).collect()
    }
}

/// Decides what to create. An internal topic follows the partition count its sources have, or
/// will have once created; when they differ it is not created (`blocked`), and [`verify`]
/// reports why.
///
/// # Errors
/// [`SetupError::ReplicationFactorTooHigh`] when a topic must be created with more replicas
/// than the cluster has brokers.
pub fn plan(spec: &SetupSpec, cluster: &ClusterView) -> Result<SetupPlan, SetupError> {
    let mut setup_plan = SetupPlan {
        create: Vec::new(),
        existing: Vec::new(),
        blocked: Vec::new(),
    };
    let partitions = usize::try_from(spec.partitions).unwrap_or(usize::MAX);
    for topic in &spec.topics {
        if cluster.topics.contains_key(topic) {
            setup_plan.existing.push(topic.clone());
        } else {
            setup_plan.create.push(NewTopicPlan {
                name: topic.clone(),
                partitions,
                config: spec.configs.get(topic).cloned().unwrap_or_default(),
            });
        }
    }
    for topic in &spec.internal {
        if cluster.topics.contains_key(&topic.name) {
            setup_plan.existing.push(topic.name.clone());
            continue;
        }
        match spec.internal_partitions(topic, cluster, true) {
            Ok(partitions) => setup_plan.create.push(NewTopicPlan {
                name: topic.name.clone(),
                partitions,
                config: topic.config.clone(),
            }),
            Err(_) => setup_plan.blocked.push(topic.name.clone()),
        }
    }
    let replicas = usize::try_from(spec.replication_factor).unwrap_or(usize::MAX);
    if !setup_plan.create.is_empty() && replicas > cluster.brokers {
        return Err(SetupError::ReplicationFactorTooHigh {
            replication_factor: spec.replication_factor,
            brokers: cluster.brokers,
            topics: setup_plan.create_names(),
        });
    }
    Ok(setup_plan)
}

/// One way the cluster differs from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The topic does not exist.
    Missing {
        /// The topic.
        topic: String,
    },
    /// The topic has another partition count.
    PartitionCount {
        /// The topic.
        topic: String,
        /// Partitions the spec asks for.
        expected: usize,
        /// Partitions it has.
        actual: usize,
    },
    /// The topic has another replication factor.
    ReplicationFactor {
        /// The topic.
        topic: String,
        /// Replicas the spec asks for.
        expected: usize,
        /// Replicas of its least replicated partition.
        actual: usize,
    },
    /// Topics that must be co-partitioned have different partition counts.
    NotCoPartitioned {
        /// Each topic of the group with its partition count.
        partitions: Vec<(String, usize)>,
    },
    /// A topic's configuration differs from what `setup` creates it with (an internal topic's
    /// or the inventory's `cleanup.policy`).
    TopicConfig {
        /// The topic.
        topic: String,
        /// The configuration name.
        name: String,
        /// The value the spec asks for.
        expected: String,
        /// The value it has, `None` when not set (the broker's default applies).
        actual: Option<String>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing { topic } => write!(f, "{topic}: does not exist"),
            Difference::PartitionCount {
                topic,
                expected,
                actual,
            } => write!(
                f,
                "{topic}: has {actual} partition(s), expected {expected} \
                 (partitions can be added with kafka-topics --alter, never removed)"
            ),
            Difference::ReplicationFactor {
                topic,
                expected,
                actual,
            } => write!(
                f,
                "{topic}: has replication factor {actual}, expected {expected} \
                 (change it with a partition reassignment)"
            ),
            Difference::NotCoPartitioned { partitions } => {
                write!(f, "not co-partitioned, partition counts differ:")?;
                for (topic, count) in partitions {
                    write!(f, " {topic}={count}")?;
                }
                Ok(())
            }
            Difference::TopicConfig {
                topic,
                name,
                expected,
                actual,
            } => {
                match actual {
                    Some(actual) => write!(f, "{topic}: has {name}={actual}")?,
                    None => write!(
                        f,
                        "{topic}: {name} is not set (the broker's default applies)"
                    )?,
                }
                write!(
                    f,
                    ", expected {name}={expected} (change it with kafka-configs --alter \
                     --add-config {name}={expected})"
                )
            }
        }
    }
}

/// Every difference between the spec and the cluster, topic by topic in the spec's order, then
/// the internal topics, then the co-partitioned groups. Empty when the cluster is as the spec
/// asks. An internal topic's partition count is checked against its sources' (unless they are
/// missing or not co-partitioned, which is reported for them), its configuration when the
/// cluster view holds it.
pub fn verify(spec: &SetupSpec, cluster: &ClusterView) -> Vec<Difference> {
    let expected_partitions = usize::try_from(spec.partitions).unwrap_or(usize::MAX);
    let expected_replicas = usize::try_from(spec.replication_factor).unwrap_or(usize::MAX);
    let mut differences = Vec::new();
    let wanted = spec
        .topics
        .iter()
        .map(|topic| (topic, Some(expected_partitions), spec.configs.get(topic)))
        .chain(spec.internal.iter().map(|internal| {
            let partitions = spec.internal_partitions(internal, cluster, false).ok();
            (&internal.name, partitions, Some(&internal.config))
        }));
    for (topic, expected_partitions, config) in wanted {
        let Some(layout) = cluster.topics.get(topic) else {
            differences.push(Difference::Missing {
                topic: topic.clone(),
            });
            continue;
        };
        if let Some(expected) = expected_partitions
            && layout.partitions != expected
        {
            differences.push(Difference::PartitionCount {
                topic: topic.clone(),
                expected,
                actual: layout.partitions,
            });
        }
        if layout.replication_factor != expected_replicas {
            differences.push(Difference::ReplicationFactor {
                topic: topic.clone(),
                expected: expected_replicas,
                actual: layout.replication_factor,
            });
        }
        if let (Some(config), Some(described)) = (config, cluster.configs.get(topic)) {
            for (name, expected) in config {
                let actual = described.get(name);
                if actual != Some(expected) {
                    differences.push(Difference::TopicConfig {
                        topic: topic.clone(),
                        name: name.clone(),
                        expected: expected.clone(),
                        actual: actual.cloned(),
                    });
                }
            }
        }
    }
    for group in &spec.co_partitioned {
        let partitions: Vec<(String, usize)> = group
            .iter()
            .filter_map(|topic| {
                let layout = cluster.topics.get(topic)?;
                Some((topic.clone(), layout.partitions))
            })
            .collect();
        if partitions.windows(2).any(|pair| pair[0].1 != pair[1].1) {
            differences.push(Difference::NotCoPartitioned { partitions });
        }
    }
    differences
}

/// What [`setup_topics`] did and found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    /// Topics this run created.
    pub created: Vec<String>,
    /// Topics that existed before this run.
    pub existing: Vec<String>,
    /// The spec's topics as the cluster shows them after this run.
    pub layouts: BTreeMap<String, TopicLayout>,
    /// How the cluster still differs from the spec; empty when all is as asked.
    pub differences: Vec<Difference>,
}

impl SetupReport {
    /// Whether every topic is as the spec asks.
    pub fn is_consistent(&self) -> bool {
        self.differences.is_empty()
    }
}

impl fmt::Display for SetupReport {
    /// One line per topic (`created` or `exists`, with its layout), then one per difference.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self
            .created
            .iter()
            .map(|topic| ("created", topic))
            .chain(self.existing.iter().map(|topic| ("exists ", topic)));
        for (what, topic) in lines {
            match self.layouts.get(topic) {
                Some(layout) => writeln!(
                    f,
                    "{what} {topic}: {} partition(s), replication factor {}",
                    layout.partitions, layout.replication_factor
                )?,
                None => writeln!(f, "{what} {topic}")?,
            }
        }
        for difference in &self.differences {
            writeln!(f, "DIFFERS {difference}")?;
        }
        Ok(())
    }
}

/// Why [`setup_topics`] could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The admin client could not be created from the configuration.
    #[error("creating the Kafka admin client: {0}")]
    Client(#[source] KafkaError),
    /// The cluster did not answer a metadata request.
    #[error("reading the metadata of the cluster at {bootstrap}: {source}")]
    Metadata {
        /// The `bootstrap.servers` asked.
        bootstrap: String,
        /// What librdkafka reported.
        #[source]
        source: KafkaError,
    },
    /// Topics must be created with more replicas than there are brokers.
    #[error(
        "replication factor {replication_factor} exceeds the {brokers} broker(s) of the cluster, \
         so {topics:?} cannot be created; lower the replication factor or add brokers"
    )]
    ReplicationFactorTooHigh {
        /// The replication factor asked for.
        replication_factor: i32,
        /// Live brokers of the cluster.
        brokers: usize,
        /// The topics that could not be created.
        topics: Vec<String>,
    },
    /// The CreateTopics request failed as a whole.
    #[error("creating topics {topics:?}: {source}")]
    CreateRequest {
        /// The topics of the request.
        topics: Vec<String>,
        /// What librdkafka reported.
        #[source]
        source: KafkaError,
    },
    /// The broker refused to create one topic.
    #[error("creating topic {topic}: the broker answered {code} ({code:?})")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// The DescribeConfigs request for the internal topics failed.
    #[error("reading the configuration of topics {topics:?}: {source}")]
    DescribeConfigs {
        /// The topics asked about.
        topics: Vec<String>,
        /// What librdkafka reported.
        #[source]
        source: KafkaError,
    },
    /// The broker refused to describe one topic's configuration.
    #[error("reading the configuration of topic {topic}: the broker answered {code} ({code:?})")]
    DescribeTopicConfig {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// Created topics did not show in the metadata in time.
    #[error("topics {topics:?} were created but did not appear in the metadata within {timeout:?}")]
    NotVisible {
        /// The topics still missing.
        topics: Vec<String>,
        /// How long it waited.
        timeout: Duration,
    },
}

/// Creates the spec's missing topics through the admin API of the cluster `client` points to
/// (`bootstrap.servers` and any TLS/SASL settings), waits until they show in the metadata, then
/// verifies every topic of the spec, reading the internal topics' configuration with
/// DescribeConfigs. Existing topics are left as they are; run it as often as you like.
/// `timeout` bounds each request and the wait for new topics.
///
/// # Errors
/// See [`SetupError`]: no client, no metadata, a replication factor above the broker count,
/// a refused topic, new topics not visible in time, or configurations that cannot be read.
/// Differences of existing topics are not errors; they are in the report.
pub async fn setup_topics(
    client: &ClientConfig,
    spec: &SetupSpec,
    timeout: Duration,
) -> Result<SetupReport, SetupError> {
    let admin: Arc<AdminClient<DefaultClientContext>> =
        Arc::new(client.create().map_err(SetupError::Client)?);
    let bootstrap = client
        .get("bootstrap.servers")
        .unwrap_or_default()
        .to_owned();
    let metadata = MetadataReader {
        admin: Arc::clone(&admin),
        bootstrap,
        timeout,
    };
    let before = metadata.fetch().await?;
    let plan = plan(spec, &before)?;
    if !plan.create.is_empty() {
        create(&admin, spec, &plan.create, before.brokers, timeout).await?;
    }
    let created = plan.create_names();
    let expected: Vec<String> = created.iter().chain(&plan.existing).cloned().collect();
    let mut after = metadata.wait_for_topics(&expected, timeout).await?;
    let configured: Vec<&str> = spec
        .internal
        .iter()
        .map(|topic| topic.name.as_str())
        .chain(spec.configs.keys().map(String::as_str))
        .filter(|topic| after.topics.contains_key(*topic))
        .collect();
    after.configs = describe_configs(&admin, &configured, timeout).await?;
    Ok(SetupReport {
        differences: verify(spec, &after),
        layouts: spec
            .every_topic()
            .filter_map(|topic| Some((topic.clone(), *after.topics.get(topic)?)))
            .collect(),
        created,
        existing: plan.existing,
    })
}

/// The configuration of `topics`, by topic then name (values the broker hides, the sensitive
/// ones, left out).
async fn describe_configs(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[&str],
    timeout: Duration,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, SetupError> {
    if topics.is_empty() {
        return Ok(BTreeMap::new());
    }
    let resources: Vec<ResourceSpecifier<'_>> = topics
        .iter()
        .map(|topic| ResourceSpecifier::Topic(topic))
        .collect();
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = admin
        .describe_configs(&resources, &options)
        .await
        .map_err(|source| SetupError::DescribeConfigs {
            topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
            source,
        })?;
    let mut configs = BTreeMap::new();
    for (topic, result) in topics.iter().zip(results) {
        let resource = result.map_err(|code| SetupError::DescribeTopicConfig {
            topic: (*topic).to_owned(),
            code,
        })?;
        let entries = resource
            .entries
            .into_iter()
            .filter_map(|entry| Some((entry.name, entry.value?)))
            .collect();
        configs.insert((*topic).to_owned(), entries);
    }
    Ok(configs)
}

/// Sends one CreateTopics request; a topic that appeared meanwhile (another `setup` racing this
/// one) is not an error, it is verified like the others. The broker's own refusal of the
/// replication factor (when metadata listed more brokers than are alive) reads as ours.
async fn create(
    admin: &AdminClient<DefaultClientContext>,
    spec: &SetupSpec,
    topics: &[NewTopicPlan],
    brokers: usize,
    timeout: Duration,
) -> Result<(), SetupError> {
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| {
            let new_topic = NewTopic::new(
                &topic.name,
                i32::try_from(topic.partitions).unwrap_or(i32::MAX),
                TopicReplication::Fixed(spec.replication_factor),
            );
            topic
                .config
                .iter()
                .fold(new_topic, |new_topic, (name, value)| {
                    new_topic.set(name, value)
                })
        })
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| SetupError::CreateRequest {
            topics: topics.iter().map(|topic| topic.name.clone()).collect(),
            source,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, RDKafkaErrorCode::InvalidReplicationFactor)) => {
                return Err(SetupError::ReplicationFactorTooHigh {
                    replication_factor: spec.replication_factor,
                    brokers,
                    topics: vec![topic],
                });
            }
            Err((topic, code)) => return Err(SetupError::CreateTopic { topic, code }),
        }
    }
    Ok(())
}

/// Fetches cluster metadata without blocking the async executor.
struct MetadataReader {
    admin: Arc<AdminClient<DefaultClientContext>>,
    bootstrap: String,
    timeout: Duration,
}

impl MetadataReader {
    /// All brokers and topics (never a topic by name, which could auto-create it).
    async fn fetch(&self) -> Result<ClusterView, SetupError> {
        let admin = Arc::clone(&self.admin);
        let timeout = self.timeout;
        let fetched = tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(None, timeout)
                .map(|metadata| ClusterView::from_metadata(&metadata))
        })
        .await
        .unwrap_or_else(|join_error| std::panic::resume_unwind(join_error.into_panic()));
        fetched.map_err(|source| SetupError::Metadata {
            bootstrap: self.bootstrap.clone(),
            source,
        })
    }

    /// Fetches until every topic of `topics` shows with at least one partition, or `timeout`.
    async fn wait_for_topics(
        &self,
        topics: &[String],
        timeout: Duration,
    ) -> Result<ClusterView, SetupError> {
        let deadline = Instant::now() + timeout;
        loop {
            let view = self.fetch().await?;
            let missing: Vec<String> = topics
                .iter()
                .filter(|topic| view.topics.get(*topic).is_none_or(|t| t.partitions == 0))
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok(view);
            }
            if Instant::now() >= deadline {
                return Err(SetupError::NotVisible {
                    topics: missing,
                    timeout,
                });
            }
            tokio::time::sleep(VISIBILITY_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric_topology::MetricTopologyConfig;

    fn names(topics: &[&str]) -> Vec<String> {
        topics.iter().map(|t| (*t).to_owned()).collect()
    }

    fn spec(topics: &[&str]) -> SetupSpec {
        SetupSpec::new(names(topics), 3, 2).expect("a valid spec")
    }

    fn cluster(brokers: usize, topics: &[(&str, usize, usize)]) -> ClusterView {
        ClusterView {
            brokers,
            topics: topics
                .iter()
                .map(|(name, partitions, replication_factor)| {
                    (
                        (*name).to_owned(),
                        TopicLayout {
                            partitions: *partitions,
                            replication_factor: *replication_factor,
                        },
                    )
                })
                .collect(),
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn default_configuration_needs_exactly_the_pipeline_topics() {
        let topology = MetricTopologyConfig::default();
        let topics = pipeline_topics(
            MetricPipeline::stateless(&topology),
            &ErrorsConfig::default(),
        );
        assert_eq!(topics, names(&ferrobeat_schema::topics::PIPELINE));
    }

    #[test]
    fn configured_names_extra_routes_and_policy_shape_the_topic_list() {
        let topology = MetricTopologyConfig {
            input_topic: "in".to_owned(),
            cpu_topic: "shared-out".to_owned(),
            memory_topic: "shared-out".to_owned(),
            alert_topic: "hot".to_owned(),
            extra_routes: [("network".to_owned(), "net".to_owned())].into(),
            ..MetricTopologyConfig::default()
        };
        let errors = ErrorsConfig {
            policy: ferrobeat_streams::errors::ErrorPolicy::LogAndContinue,
            ..ErrorsConfig::default()
        };
        assert_eq!(
            pipeline_topics(MetricPipeline::stateless(&topology), &errors),
            names(&["in", "shared-out", "hot", "net"])
        );
        let dead_letters = ErrorsConfig {
            dead_letter_topic: "hot".to_owned(),
            ..ErrorsConfig::default()
        };
        assert_eq!(
            pipeline_topics(MetricPipeline::stateless(&topology), &dead_letters),
            names(&["in", "shared-out", "hot", "net"]),
            "a dead-letter topic equal to another is listed once"
        );
    }

    #[test]
    fn spec_refuses_what_cannot_work_naming_the_setting() {
        let refused = |result: Result<SetupSpec, SpecError>| result.expect_err("refused");
        let error = refused(SetupSpec::new(Vec::new(), 3, 2));
        assert_eq!(error.setting, "topics");
        let error = refused(SetupSpec::new(names(&["a", "b", "a"]), 3, 2));
        assert_eq!(error.to_string(), "invalid topics: \"a\" is listed twice");
        let error = refused(SetupSpec::new(names(&["bad topic"]), 3, 2));
        assert!(error.reason.contains("' '"), "{error}");
        let error = refused(SetupSpec::new(names(&["a"]), 0, 2));
        assert_eq!(error.setting, "partitions");
        let error = refused(SetupSpec::new(names(&["a"]), 3, 0));
        assert_eq!(error.setting, "replication factor");
        let error = refused(SetupSpec::new(names(&["a"]), 3, 40_000));
        assert_eq!(error.setting, "replication factor");
        let error = refused(spec(&["a", "b"]).with_co_partitioned(names(&["a", "c"])));
        assert_eq!(
            error.to_string(),
            "invalid co-partitioned group: \"c\" is not one of the topics to set up"
        );
        let error = refused(spec(&["a", "b"]).with_co_partitioned(names(&["a"])));
        assert_eq!(error.setting, "co-partitioned group");
    }

    #[test]
    fn plan_creates_only_what_is_missing() {
        let plan = plan(&spec(&["a", "b", "c"]), &cluster(3, &[("b", 3, 2)])).expect("plan");
        assert_eq!(plan.create_names(), names(&["a", "c"]));
        assert!(plan.create.iter().all(|topic| topic.partitions == 3));
        assert_eq!(plan.existing, names(&["b"]));
    }

    #[test]
    fn plan_refuses_more_replicas_than_brokers_for_new_topics_only() {
        let error = plan(&spec(&["a", "b"]), &cluster(1, &[("b", 3, 1)])).expect_err("refused");
        assert!(
            matches!(
                &error,
                SetupError::ReplicationFactorTooHigh { replication_factor: 2, brokers: 1, topics }
                    if *topics == names(&["a"])
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "replication factor 2 exceeds the 1 broker(s) of the cluster, so [\"a\"] cannot be \
             created; lower the replication factor or add brokers"
        );
        let nothing_to_create = plan(&spec(&["b"]), &cluster(1, &[("b", 3, 1)])).expect("plan");
        assert!(nothing_to_create.create.is_empty());
    }

    #[test]
    fn verify_finds_nothing_when_all_is_as_asked() {
        let spec = spec(&["a", "b"])
            .with_co_partitioned(names(&["a", "b"]))
            .expect("group");
        assert_eq!(
            verify(
                &spec,
                &cluster(3, &[("a", 3, 2), ("b", 3, 2), ("other", 1, 1)])
            ),
            []
        );
    }

    #[test]
    fn verify_reports_every_difference_in_order() {
        let spec = SetupSpec::new(names(&["a", "b", "c"]), 3, 2)
            .and_then(|spec| spec.with_co_partitioned(names(&["a", "b"])))
            .expect("spec");
        let differences = verify(&spec, &cluster(3, &[("a", 3, 2), ("b", 6, 1)]));
        assert_eq!(
            differences,
            [
                Difference::PartitionCount {
                    topic: "b".to_owned(),
                    expected: 3,
                    actual: 6
                },
                Difference::ReplicationFactor {
                    topic: "b".to_owned(),
                    expected: 2,
                    actual: 1
                },
                Difference::Missing {
                    topic: "c".to_owned()
                },
                Difference::NotCoPartitioned {
                    partitions: vec![("a".to_owned(), 3), ("b".to_owned(), 6)]
                },
            ]
        );
        let text: Vec<String> = differences.iter().map(ToString::to_string).collect();
        assert_eq!(
            text[0],
            "b: has 6 partition(s), expected 3 (partitions can be added with kafka-topics \
             --alter, never removed)"
        );
        assert_eq!(
            text[3],
            "not co-partitioned, partition counts differ: a=3 b=6"
        );
    }

    #[test]
    fn report_lists_topics_then_differences() {
        let report = SetupReport {
            created: names(&["a"]),
            existing: names(&["b"]),
            layouts: cluster(1, &[("a", 3, 1), ("b", 1, 1)]).topics,
            differences: vec![Difference::PartitionCount {
                topic: "b".to_owned(),
                expected: 3,
                actual: 1,
            }],
        };
        assert!(!report.is_consistent());
        assert_eq!(
            report.to_string(),
            "created a: 3 partition(s), replication factor 1\n\
             exists  b: 1 partition(s), replication factor 1\n\
             DIFFERS b: has 1 partition(s), expected 3 (partitions can be added with \
             kafka-topics --alter, never removed)\n"
        );
    }

    /// `order` joined with the table `address` (one store, so one changelog), as #16's
    /// stateful metric topology will be.
    fn stateful_spec() -> SetupSpec {
        use ferrobeat_streams::StreamsBuilder;
        use ferrobeat_streams::serdes::Utf8;
        let builder = StreamsBuilder::new();
        let address = builder.table::<Utf8, Utf8>("address");
        builder
            .stream::<Utf8, Utf8>("order")
            .join(&address, |order, address| format!("{order} to {address}"))
            .to("order_join");
        let topology = builder.build().expect("a valid topology");
        spec(&["address", "order", "order_join"])
            .with_internal_topics(topology.internal_topics("app"))
            .expect("internal topics")
    }

    fn changelog(spec: &SetupSpec) -> String {
        spec.internal_topics()[0].name.clone()
    }

    fn compact() -> BTreeMap<String, String> {
        [("cleanup.policy".to_owned(), "compact".to_owned())].into()
    }

    #[test]
    fn internal_topics_are_created_last_compacted_with_their_sources_partitions() {
        let spec = stateful_spec();
        let changelog = changelog(&spec);
        assert!(changelog.starts_with("app-") && changelog.ends_with("-changelog"));
        // Nothing exists: sources are created with the spec's 3, so is the changelog.
        let fresh = plan(&spec, &cluster(3, &[])).expect("plan");
        assert_eq!(
            fresh.create_names(),
            names(&["address", "order", "order_join", &changelog])
        );
        assert_eq!(
            fresh.create[3],
            NewTopicPlan {
                name: changelog.clone(),
                partitions: 3,
                config: vec![("cleanup.policy".to_owned(), "compact".to_owned())],
            }
        );
        assert!(
            fresh.create[..3]
                .iter()
                .all(|topic| topic.config.is_empty())
        );
        // Sources created by the operator with 6 partitions: the changelog follows them.
        let existing = cluster(3, &[("address", 6, 2), ("order", 6, 2)]);
        let planned = plan(&spec, &existing).expect("plan");
        assert_eq!(planned.create_names(), names(&["order_join", &changelog]));
        assert_eq!(planned.create[1].partitions, 6);
        // Sources not co-partitioned: the changelog cannot be created; verify says why.
        let skewed = cluster(3, &[("address", 2, 2), ("order", 3, 2)]);
        let blocked = plan(&spec, &skewed).expect("plan");
        assert_eq!(blocked.blocked, names(&[&changelog]));
        assert_eq!(blocked.create_names(), names(&["order_join"]));
        let differences = verify(&spec, &skewed);
        assert!(
            differences.iter().any(|difference| matches!(
                difference,
                Difference::NotCoPartitioned { partitions }
                    if partitions.contains(&("address".to_owned(), 2))
                        && partitions.contains(&("order".to_owned(), 3))
            )),
            "{differences:?}"
        );
        assert!(
            differences.contains(&Difference::Missing { topic: changelog }),
            "{differences:?}"
        );
    }

    #[test]
    fn a_topic_with_a_config_is_created_and_verified_with_it() {
        let spec = spec(&["metric.all", "metric.hosts"])
            .with_topic_config("metric.hosts", compact().into_iter().collect())
            .expect("a topic of the spec");
        let fresh = plan(&spec, &cluster(3, &[])).expect("plan");
        assert_eq!(fresh.create[0].config, []);
        assert_eq!(
            fresh.create[1].config,
            [("cleanup.policy".to_owned(), "compact".to_owned())]
        );
        let mut existing = cluster(3, &[("metric.all", 3, 2), ("metric.hosts", 3, 2)]);
        existing.configs.insert(
            "metric.hosts".to_owned(),
            [("cleanup.policy".to_owned(), "delete".to_owned())].into(),
        );
        assert_eq!(
            verify(&spec, &existing),
            [Difference::TopicConfig {
                topic: "metric.hosts".to_owned(),
                name: "cleanup.policy".to_owned(),
                expected: "compact".to_owned(),
                actual: Some("delete".to_owned()),
            }]
        );
        existing
            .configs
            .insert("metric.hosts".to_owned(), compact());
        assert_eq!(verify(&spec, &existing), []);
        let stranger = spec.with_topic_config("metric.other", Vec::new());
        assert_eq!(
            stranger.map(drop).map_err(|error| error.setting),
            Err("topic config")
        );
    }

    #[test]
    fn verify_reports_a_changelog_with_the_wrong_partitions_or_cleanup_policy() {
        let spec = stateful_spec();
        let changelog = changelog(&spec);
        let mut view = cluster(
            3,
            &[
                ("address", 3, 2),
                ("order", 3, 2),
                ("order_join", 3, 2),
                (&changelog, 3, 2),
            ],
        );
        view.configs.insert(changelog.clone(), compact());
        assert_eq!(verify(&spec, &view), []);

        view.topics.get_mut(&changelog).expect("listed").partitions = 1;
        view.configs.insert(
            changelog.clone(),
            [("cleanup.policy".to_owned(), "delete".to_owned())].into(),
        );
        let differences = verify(&spec, &view);
        assert_eq!(
            differences,
            [
                Difference::PartitionCount {
                    topic: changelog.clone(),
                    expected: 3,
                    actual: 1
                },
                Difference::TopicConfig {
                    topic: changelog.clone(),
                    name: "cleanup.policy".to_owned(),
                    expected: "compact".to_owned(),
                    actual: Some("delete".to_owned()),
                },
            ]
        );
        assert_eq!(
            differences[1].to_string(),
            format!(
                "{changelog}: has cleanup.policy=delete, expected cleanup.policy=compact \
                 (change it with kafka-configs --alter --add-config cleanup.policy=compact)"
            )
        );
        // A broker that describes only what was set (Tansu): not set is a difference too.
        view.configs.insert(changelog.clone(), BTreeMap::new());
        let unset = Difference::TopicConfig {
            topic: changelog.clone(),
            name: "cleanup.policy".to_owned(),
            expected: "compact".to_owned(),
            actual: None,
        };
        assert!(verify(&spec, &view).contains(&unset));
        assert!(
            unset.to_string().contains("cleanup.policy is not set"),
            "{unset}"
        );
        // A topic not described is not judged on its configuration.
        view.configs.clear();
        assert_eq!(verify(&spec, &view).len(), 1, "the partition count only");
    }

    #[test]
    fn a_repartition_topic_is_created_before_the_changelog_it_feeds_with_its_writers_count() {
        use ferrobeat_streams::StreamsBuilder;
        use ferrobeat_streams::serdes::Utf8;
        let builder = StreamsBuilder::new();
        builder
            .stream::<Utf8, Utf8>("words")
            .group_by(|_, word| word.to_string())
            .count_as("counts");
        let topology = builder.build().expect("a valid topology");
        let spec = spec(&["words"])
            .with_internal_topics(topology.internal_topics("app"))
            .expect("internal topics");
        let delete = vec![("cleanup.policy".to_owned(), "delete".to_owned())];
        let compact = vec![("cleanup.policy".to_owned(), "compact".to_owned())];
        let created = |partitions| {
            vec![
                NewTopicPlan {
                    name: "app-counts-repartition".to_owned(),
                    partitions,
                    config: delete.clone(),
                },
                NewTopicPlan {
                    name: "app-counts-changelog".to_owned(),
                    partitions,
                    config: compact.clone(),
                },
            ]
        };
        let fresh = plan(&spec, &cluster(3, &[])).expect("plan");
        assert_eq!(fresh.create_names()[0], "words");
        assert_eq!(fresh.create[1..], created(3));
        let six = cluster(3, &[("words", 6, 2)]);
        assert_eq!(plan(&spec, &six).expect("plan").create, created(6));
        // A hand-made repartition topic with 2 partitions is reported; the changelog still
        // follows the 3 the repartition topic needs.
        let hand_made = cluster(
            3,
            &[
                ("words", 3, 2),
                ("app-counts-repartition", 2, 2),
                ("app-counts-changelog", 3, 2),
            ],
        );
        assert_eq!(
            verify(&spec, &hand_made),
            [Difference::PartitionCount {
                topic: "app-counts-repartition".to_owned(),
                expected: 3,
                actual: 2,
            }]
        );
    }

    #[test]
    fn internal_topics_must_follow_topics_to_set_up_and_be_new_names() {
        use ferrobeat_streams::topology::InternalTopic;
        let internal = |name: &str, sources: &[&str]| InternalTopic {
            name: name.to_owned(),
            kind: InternalTopicKind::Changelog,
            store: "s".to_owned(),
            sources: names(sources),
            config: Vec::new(),
        };
        let error = spec(&["a"])
            .with_internal_topics(vec![internal("app-s-changelog", &["elsewhere"])])
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "invalid internal topics: \"app-s-changelog\" follows the partition count of \
             \"elsewhere\", which is not one of the topics to set up"
        );
        let error = spec(&["a"])
            .with_internal_topics(vec![internal("a", &["a"])])
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "invalid internal topics: \"a\" is listed twice"
        );
        let error = spec(&["a"])
            .with_internal_topics(vec![internal("bad name", &["a"])])
            .expect_err("refused");
        assert_eq!(error.setting, "internal topics");
        let stateless = spec(&["a"]).with_internal_topics(Vec::new()).expect("none");
        assert_eq!(stateless, spec(&["a"]));
    }
}
