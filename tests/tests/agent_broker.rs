//! The agent against the real test broker: what it produces is read back by an independent
//! consumer, parsed into the schema and checked; a broker outage loses nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ferrobeat_agent::config::AgentConfig;
use ferrobeat_agent::run::{self, RunReport};
use ferrobeat_schema::{Event, Metricset, System};
use ferrobeat_tests::{ReadRecord, TestKafka};
use tokio::sync::watch;

const PERIOD: Duration = Duration::from_secs(1);

fn agent_config(kafka: &TestKafka, topic: &str, data_dir: &Path) -> AgentConfig {
    let mut config = AgentConfig {
        data_dir: data_dir.to_path_buf(),
        ..AgentConfig::default()
    };
    config.collect.period = PERIOD;
    config.collect.metricsets = vec![Metricset::Cpu, Metricset::Memory];
    config.kafka.bootstrap_servers = kafka.bootstrap_servers().to_owned();
    config.kafka.topic = topic.to_owned();
    config.kafka.linger = Duration::from_millis(20);
    config
}

/// Runs the agent in this process for `duration` (during which `meanwhile` runs, on its own
/// thread), then stops it the way SIGTERM does.
fn run_agent_for(
    config: AgentConfig,
    duration: Duration,
    meanwhile: impl FnOnce() + Send + 'static,
) -> RunReport {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let (stop, shutdown) = watch::channel(false);
        let agent = tokio::spawn(run::run(config, shutdown));
        let side = tokio::task::spawn_blocking(meanwhile);
        tokio::time::sleep(duration).await;
        side.await.expect("side task");
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(30), agent)
            .await
            .expect("agent stops within its flush bound")
            .expect("agent task")
            .expect("agent run")
    })
}

fn parse_all(records: &[ReadRecord]) -> Vec<Event> {
    records
        .iter()
        .map(|r| {
            let value = r.value.as_deref().expect("every record has a value");
            assert!(r.key.is_none(), "records carry no key by default");
            ferrobeat_schema::from_slice(value).unwrap_or_else(|e| {
                panic!("record {}@{} is not an event: {e}", r.partition, r.offset)
            })
        })
        .collect()
}

fn mem_total_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kib * 1024
}

/// The invariants every event must meet.
fn check_event(event: &Event) {
    let metricset = event.metricset().expect("a known metricset");
    assert_eq!(event.event.dataset, metricset.dataset());
    assert_eq!(event.event.module, "system");
    assert_eq!(event.metricset.period, PERIOD.as_millis() as u64);
    match event
        .system
        .as_ref()
        .expect("cpu and memory events carry `system`")
    {
        System::Cpu(cpu) => {
            let norm_sum: f64 = cpu
                .states()
                .map(|(_, s)| s.norm.expect("norm.pct reported").pct)
                .sum();
            let states = cpu.states().count() as f64;
            assert!(
                (norm_sum - 1.0).abs() <= 0.00005 * states + 1e-9,
                "state norm.pct sum {norm_sum} is not 1 within rounding"
            );
            let usage = event.host.cpu.expect("host.cpu on cpu events").usage;
            assert_eq!(
                Some(usage),
                cpu.total_norm_pct(),
                "host.cpu.usage = total.norm.pct"
            );
        }
        System::Memory(memory) => {
            assert_eq!(memory.total, mem_total_bytes(), "memory.total = MemTotal");
        }
        other => panic!("unexpected metricset {:?}", other.metricset()),
    }
}

/// Every metricset's sample times in the order sampled, each once.
fn timestamps_by_metricset(events: &[Event]) -> BTreeMap<String, Vec<i64>> {
    let mut by_metricset: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for event in events {
        by_metricset
            .entry(event.metricset.name.clone())
            .or_default()
            .push(event.timestamp.timestamp_millis());
    }
    for times in by_metricset.values_mut() {
        times.sort_unstable();
        times.dedup();
    }
    by_metricset
}

/// Checks a metricset's sample times step by the period, with no sample missing.
fn assert_no_gap(metricset: &str, times: &[i64]) {
    for pair in times.windows(2) {
        let step = pair[1] - pair[0];
        assert!(
            (500..=1600).contains(&step),
            "{metricset}: {step} ms between samples at {} and {}: a sample is missing",
            pair[0],
            pair[1]
        );
    }
}

// Broker, topic, data directory: the usual setup, as in agent_check.rs and monitoring.rs.
#[test]
fn agent_produces_valid_metricbeat_events() {
    let kafka = TestKafka::start().expect("broker");
    let topic = kafka.unique_topic("metric.all");
    kafka.create_topic(&topic, 3).expect("topic");
    let data_dir = tempfile::tempdir().expect("data dir");

    let report = run_agent_for(
        agent_config(&kafka, &topic, data_dir.path()),
        Duration::from_millis(5200),
        || {},
    );
    let shipped = report.shipped.expect("kafka output");
    assert_eq!(
        shipped.left_in_spool, 0,
        "a healthy broker acknowledges everything"
    );
    assert!(
        shipped.acknowledged >= 10,
        "5 s at 1 s, 2 metricsets: {shipped:?}"
    );

    let records = kafka
        .read_topic(
            &topic,
            shipped.acknowledged as usize,
            Duration::from_secs(20),
        )
        .expect("read back");
    assert_eq!(
        records.len() as u64,
        shipped.acknowledged,
        "each acknowledged event once"
    );
    let events = parse_all(&records);
    events.iter().for_each(check_event);

    // Per partition, each metricset's timestamps ascend (the producer keeps order).
    let mut last_seen: BTreeMap<(i32, String), i64> = BTreeMap::new();
    for (record, event) in records.iter().zip(&events) {
        let at = event.timestamp.timestamp_millis();
        if let Some(before) = last_seen.insert((record.partition, event.metricset.name.clone()), at)
        {
            assert!(
                before < at,
                "timestamps ascend per metricset within a partition"
            );
        }
    }
    let by_metricset = timestamps_by_metricset(&events);
    assert_eq!(
        by_metricset.len(),
        2,
        "cpu and memory: {:?}",
        by_metricset.keys()
    );
    for (metricset, times) in &by_metricset {
        assert!(
            times.len() >= 5,
            "{metricset}: {} samples in 5 s",
            times.len()
        );
        assert_no_gap(metricset, times);
    }
    let agent_ids: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e.agent.id.as_str()).collect();
    assert_eq!(agent_ids.len(), 1);
    let persisted = std::fs::read_to_string(data_dir.path().join("agent.id")).expect("agent.id");
    assert_eq!(persisted.trim(), *agent_ids.first().expect("an id"));
}

#[test]
fn broker_outage_loses_no_sample() {
    let db_dir = tempfile::tempdir().expect("db dir");
    let mut kafka = TestKafka::start_persistent(&db_dir.path().join("tansu.db")).expect("broker");
    if kafka.is_external() {
        eprintln!("skipped: an external cluster cannot be stopped");
        return;
    }
    let topic = kafka.unique_topic("metric.all");
    kafka.create_topic(&topic, 3).expect("topic");
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut config = agent_config(&kafka, &topic, data_dir.path());
    config.collect.metricsets = vec![Metricset::Cpu];
    // Short enough that deliveries fail during the outage and come back through the spool.
    config.kafka.delivery_timeout = Duration::from_secs(5);

    let (outage_tx, outage_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let kafka = &mut kafka;
        scope.spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            kafka.stop();
            std::thread::sleep(Duration::from_secs(21));
            kafka.restart().expect("restart broker");
            outage_tx.send(()).expect("signal");
        });
        let report = run_agent_for(config, Duration::from_secs(40), move || {
            outage_rx
                .recv_timeout(Duration::from_secs(35))
                .expect("outage finished");
        });
        let shipped = report.shipped.expect("kafka output");
        assert_eq!(
            shipped.left_in_spool, 0,
            "everything delivered after the outage: {shipped:?}"
        );
    });

    let records = kafka
        .read_topic(&topic, 38, Duration::from_secs(30))
        .expect("read back");
    let events = parse_all(&records);
    events.iter().for_each(check_event);
    let times = timestamps_by_metricset(&events)
        .remove("cpu")
        .expect("cpu samples");
    assert!(
        times.len() >= 38,
        "40 s at 1 s: {} distinct samples",
        times.len()
    );
    assert_no_gap("cpu", &times);
}
