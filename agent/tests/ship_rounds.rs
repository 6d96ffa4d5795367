//! The Kafka shipper as the sampler's sink on librdkafka's mock cluster: every record is in a
//! spool segment on disk when the producer is handed it, every round is delivered, and a
//! finished shipper leaves its spool settled, its cursor durable and no zero-filled room.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferrobeat_agent::collect::{CollectConfig, EventConfig, Identity};
use ferrobeat_agent::config::KafkaConfig;
use ferrobeat_agent::monitor::{AgentMetrics, Count};
use ferrobeat_agent::sample::{Collector, RoundSink, collect_once};
use ferrobeat_agent::ship::KafkaShipper;
use ferrobeat_agent::spool::{Spool, SpoolLimits};
use ferrobeat_schema::Metricset;
use ferrobeat_toolbox::intercept::{Interceptor, Interceptors, RecordView};
use rdkafka::mocking::MockCluster;

const TOPIC: &str = "metric.all";
const ROUNDS: usize = 5;
const LIMITS: SpoolLimits = SpoolLimits {
    max_bytes: 64 << 20,
    segment_bytes: 16 << 20,
};

/// Checks, for every record handed to the producer, that its bytes are in a segment file;
/// its clones share what they found.
#[derive(Debug, Clone)]
struct OnDiskCheck {
    dir: PathBuf,
    sent: Arc<AtomicUsize>,
    missing: Arc<Mutex<Vec<String>>>,
}

impl Interceptor for OnDiskCheck {
    fn on_send(&self, record: &RecordView<'_>) {
        self.sent.fetch_add(1, Ordering::SeqCst);
        let value = record.value.expect("records have a value");
        let on_disk = segments(&self.dir).iter().any(|path| {
            let bytes = std::fs::read(path).expect("read a segment");
            bytes.windows(value.len()).any(|window| window == value)
        });
        if !on_disk {
            self.missing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(String::from_utf8_lossy(value).into_owned());
        }
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("list the spool")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "seg"))
        .collect()
}

#[test]
fn records_are_on_disk_before_the_producer_has_them_and_a_finished_spool_is_settled() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 3, 1).expect("topic");
    let dir = tempfile::tempdir().expect("tempdir");
    let (spool, _) = Spool::open(dir.path(), LIMITS).expect("open spool");
    let check = OnDiskCheck {
        dir: dir.path().to_path_buf(),
        sent: Arc::default(),
        missing: Arc::default(),
    };
    let interceptors =
        Interceptors::new(vec![("on-disk-check".to_owned(), Box::new(check.clone()))]);
    let config = KafkaConfig {
        bootstrap_servers: cluster.bootstrap_servers(),
        topic: TOPIC.to_owned(),
        linger: Duration::from_millis(5),
        ..KafkaConfig::default()
    };
    let metrics = AgentMetrics::new();
    let mut shipper =
        KafkaShipper::new(&config, None, interceptors, spool, metrics.clone()).expect("shipper");
    let mut collector = Collector::new(
        CollectConfig {
            metricsets: vec![Metricset::Memory],
            ..CollectConfig::default()
        },
        Identity {
            host_name: "ship-host".into(),
            agent_name: "ship-agent".into(),
            agent_id: "id".into(),
            ephemeral_id: "eph".into(),
            shipper: EventConfig::default(),
        },
    );
    let mut events = 0;
    for _ in 0..ROUNDS {
        let round = collect_once(&mut collector).expect("this host can be read");
        events += round.len();
        assert!(shipper.take(round), "the shipper takes every round");
    }
    let summary = shipper.finish();

    let missing = check.missing.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(missing.is_empty(), "sent before spooled: {missing:?}");
    assert!(check.sent.load(Ordering::SeqCst) >= events);
    assert_eq!(metrics.get(Count::Spooled), events as u64);
    assert_eq!(summary.acknowledged, events as u64);
    assert_eq!(summary.left_in_spool, 0);
    for path in segments(dir.path()) {
        let bytes = std::fs::read(&path).expect("read a segment");
        assert_ne!(
            bytes.last(),
            Some(&0),
            "{} ends in zero-filled room",
            path.display()
        );
    }
    let (_, recovery) = Spool::open(dir.path(), LIMITS).expect("reopen");
    assert_eq!(recovery.replay, 0, "the settled cursor reached the file");
    assert_eq!(recovery.torn_bytes, 0);
    assert!(!recovery.cursor_lost);
}
