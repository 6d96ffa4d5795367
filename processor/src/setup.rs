// over 500 lines: about 190 are unit tests; creating and verifying topics share one plan type and its checks.
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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::ErrorsConfig;
use crate::metric_topology::MetricTopologyConfig;
use ferrobeat_streams::topology::validate_topic_name;

/// Partitions of a topic `setup` creates unless told otherwise (the reference design's 3).
pub const DEFAULT_PARTITIONS: i32 = 3;
/// Replication factor of a topic `setup` creates unless told otherwise (the reference's 2).
pub const DEFAULT_REPLICATION_FACTOR: i32 = 2;
/// How long [`setup_topics`] waits by default for each request and for new topics to appear.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between two metadata requests while waiting for new topics to appear.
const VISIBILITY_POLL: Duration = Duration::from_millis(200);

/// The topics a processor with this configuration reads and writes, in the order `setup`
/// creates them: input, cpu, memory, alert, extra routes, dead letters (when the error policy
/// writes any). Each name appears once. With the default configuration this is
/// [`ferrobeat_schema::topics::PIPELINE`].
pub fn pipeline_topics(topology: &MetricTopologyConfig, errors: &ErrorsConfig) -> Vec<String> {
    let mut topics: Vec<String> = Vec::new();
    let names = [
        &topology.input_topic,
        &topology.cpu_topic,
        &topology.memory_topic,
        &topology.alert_topic,
    ]
    .into_iter()
    .chain(topology.extra_routes.values())
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
    /// The offending setting (`topics`, `partitions`, `replication factor`, `co-partitioned group`).
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
/// factor, and the groups of topics that must have equal partition counts (the co-partitioning
/// a join needs; the metric topology is stateless and needs none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupSpec {
    topics: Vec<String>,
    partitions: i32,
    replication_factor: i32,
    co_partitioned: Vec<Vec<String>>,
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
        })
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

    /// The topics, in creation order.
    pub fn topics(&self) -> &[String] {
        &self.topics
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

/// What a metadata request showed of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Number of live brokers.
    pub brokers: usize,
    /// Existing topics by name.
    pub topics: BTreeMap<String, TopicLayout>,
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
        }
    }
}

/// Which of the spec's topics exist and which `setup` must create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupPlan {
    /// Topics to create, in the spec's order.
    pub create: Vec<String>,
    /// Topics that exist already, to verify only.
    pub existing: Vec<String>,
}

/// Decides what to create.
///
/// # Errors
/// [`SetupError::ReplicationFactorTooHigh`] when a topic must be created with more replicas
/// than the cluster has brokers.
pub fn plan(spec: &SetupSpec, cluster: &ClusterView) -> Result<SetupPlan, SetupError> {
    let (existing, create): (Vec<String>, Vec<String>) = spec
        .topics
        .iter()
        .cloned()
        .partition(|topic| cluster.topics.contains_key(topic));
    let replicas = usize::try_from(spec.replication_factor).unwrap_or(usize::MAX);
    if !create.is_empty() && replicas > cluster.brokers {
        return Err(SetupError::ReplicationFactorTooHigh {
            replication_factor: spec.replication_factor,
            brokers: cluster.brokers,
            topics: create,
        });
    }
    Ok(SetupPlan { create, existing })
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
        }
    }
}

/// Every difference between the spec and the cluster, topic by topic in the spec's order, then
/// the co-partitioned groups. Empty when the cluster is as the spec asks.
pub fn verify(spec: &SetupSpec, cluster: &ClusterView) -> Vec<Difference> {
    let expected_partitions = usize::try_from(spec.partitions).unwrap_or(usize::MAX);
    let expected_replicas = usize::try_from(spec.replication_factor).unwrap_or(usize::MAX);
    let mut differences = Vec::new();
    for topic in &spec.topics {
        let Some(layout) = cluster.topics.get(topic) else {
            differences.push(Difference::Missing {
                topic: topic.clone(),
            });
            continue;
        };
        if layout.partitions != expected_partitions {
            differences.push(Difference::PartitionCount {
                topic: topic.clone(),
                expected: expected_partitions,
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
/// verifies every topic of the spec. Existing topics are left as they are; run it as often as
/// you like. `timeout` bounds each request and the wait for new topics.
///
/// # Errors
/// See [`SetupError`]: no client, no metadata, a replication factor above the broker count,
/// a refused topic, or new topics not visible in time. Differences of existing topics are not
/// errors; they are in the report.
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
    let after = metadata.wait_for_topics(spec, timeout).await?;
    Ok(SetupReport {
        differences: verify(spec, &after),
        layouts: spec
            .topics
            .iter()
            .filter_map(|topic| Some((topic.clone(), *after.topics.get(topic)?)))
            .collect(),
        created: plan.create,
        existing: plan.existing,
    })
}

/// Sends one CreateTopics request; a topic that appeared meanwhile (another `setup` racing this
/// one) is not an error, it is verified like the others. The broker's own refusal of the
/// replication factor (when metadata listed more brokers than are alive) reads as ours.
async fn create(
    admin: &AdminClient<DefaultClientContext>,
    spec: &SetupSpec,
    topics: &[String],
    brokers: usize,
    timeout: Duration,
) -> Result<(), SetupError> {
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| {
            NewTopic::new(
                topic,
                spec.partitions,
                TopicReplication::Fixed(spec.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| SetupError::CreateRequest {
            topics: topics.to_vec(),
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

    /// Fetches until every topic of the spec shows with at least one partition, or `timeout`.
    async fn wait_for_topics(
        &self,
        spec: &SetupSpec,
        timeout: Duration,
    ) -> Result<ClusterView, SetupError> {
        let deadline = Instant::now() + timeout;
        loop {
            let view = self.fetch().await?;
            let missing: Vec<String> = spec
                .topics
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
        }
    }

    #[test]
    fn default_configuration_needs_exactly_the_pipeline_topics() {
        let topics = pipeline_topics(&MetricTopologyConfig::default(), &ErrorsConfig::default());
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
            pipeline_topics(&topology, &errors),
            names(&["in", "shared-out", "hot", "net"])
        );
        let dead_letters = ErrorsConfig {
            dead_letter_topic: "hot".to_owned(),
            ..ErrorsConfig::default()
        };
        assert_eq!(
            pipeline_topics(&topology, &dead_letters),
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
        assert_eq!(plan.create, names(&["a", "c"]));
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
}
