//! librdkafka's mock cluster laid out for the processor's fault tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrobeat_processor::config::ProcessorConfig;
use rdkafka::ClientConfig;
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};

use super::{output_topics, test_config};

/// A mock cluster, as the fault tests hold it.
pub(crate) type Cluster = MockCluster<'static, DefaultProducerContext>;

/// Brokers of every mock cluster.
pub(crate) const BROKERS: i32 = 3;
/// Partitions of every topic.
pub(crate) const PARTITIONS: i32 = 3;
/// Broker leading the input partitions and coordinating the group.
pub(crate) const INPUT_BROKER: i32 = 1;

/// A [`BROKERS`]-broker mock cluster with the processor's topics on names starting with
/// `prefix`: the input led by [`INPUT_BROKER`], which also coordinates the group, every output
/// partition led by `output_broker` (spread by librdkafka when `None`), and `inputs` preloaded
/// with `acks=all`.
pub(crate) fn cluster_with_input(
    prefix: &str,
    inputs: &[Vec<u8>],
    output_broker: Option<i32>,
) -> (Cluster, ProcessorConfig) {
    let cluster = MockCluster::new(BROKERS).expect("mock cluster");
    let counter = AtomicUsize::new(0);
    let config = test_config(&cluster.bootstrap_servers(), |name| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{name}-{n}")
    });
    let place = |topic: &str, broker: Option<i32>| {
        cluster.create_topic(topic, PARTITIONS, 1).expect("topic");
        if let Some(broker) = broker {
            for partition in 0..PARTITIONS {
                cluster
                    .partition_leader(topic, partition, Some(broker))
                    .expect("leader");
            }
        }
    };
    place(&config.topology.input_topic, Some(INPUT_BROKER));
    for topic in output_topics(&config) {
        place(&topic, output_broker);
    }
    cluster
        .coordinator(
            MockCoordinator::Group(config.kafka.application_id.clone()),
            INPUT_BROKER,
        )
        .expect("coordinator");

    let producer: BaseProducer = client_config(&cluster)
        .set("acks", "all")
        .create()
        .expect("preload producer");
    for value in inputs {
        producer
            .send(BaseRecord::<(), [u8]>::to(&config.topology.input_topic).payload(value))
            .expect("queue a preload record");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("preload acknowledged");
    (cluster, config)
}

/// A client configuration that reaches `cluster`.
pub(crate) fn client_config(cluster: &Cluster) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", cluster.bootstrap_servers());
    config
}
