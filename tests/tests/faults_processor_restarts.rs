//! Fault suite, processor side, on the test broker with the real binary under a steady input
//! load (one record per batch, see `processor_broker.rs` on Tansu's mid-batch fetch):
//!
//! * `kill -9` at random moments (3 times here, 20 times in the long run of `tests/faults.sh`):
//!   at the end every input has its outputs, nothing unexpected appears, and the duplicates
//!   are counted and bounded by what was produced but not committed at each kill;
//! * rebalances: a second instance joins, one leaves with SIGTERM, one dies with `kill -9`:
//!   nothing lost.
//!
//! Each run prints its figures (`--nocapture`); set `FERROBEAT_FAULT_SEED` to replay the kill
//! moments of a run.

mod processor_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_tests::TestKafka;
use processor_support::{
    Multiset, committed_input_offsets, config_file_text, count_by_topic, eventually,
    expected_outputs, mixed_values, output_topics, processor_binary, read_topic_values,
    spawn_processor_binary, terminate, test_config,
};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};

const PARTITIONS: i32 = 3;
/// Input records per second of the steady load.
const RATE: usize = 200;
/// Most outputs one input makes (a hot cpu event: the event and its alert).
const MAX_OUTPUTS_PER_INPUT: usize = 2;
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(40);

/// The cluster a rig runs on.
enum Cluster {
    /// The test broker (Tansu).
    Tansu(TestKafka),
    /// librdkafka's mock cluster, whose group coordinator evicts a dead member correctly
    /// (Tansu 0.6.0 keeps it in the group after its session timeout, see the rebalance test).
    Mock(MockCluster<'static, DefaultProducerContext>),
}

impl Cluster {
    fn bootstrap_servers(&self) -> String {
        match self {
            Cluster::Tansu(kafka) => kafka.bootstrap_servers().to_owned(),
            Cluster::Mock(cluster) => cluster.bootstrap_servers(),
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap_servers());
        config
    }

    fn create_topic(&self, name: &str) {
        match self {
            Cluster::Tansu(kafka) => kafka.create_topic(name, PARTITIONS).expect("topic"),
            Cluster::Mock(cluster) => cluster.create_topic(name, PARTITIONS, 1).expect("topic"),
        }
    }

    fn unique_topic(&self, prefix: &str) -> String {
        match self {
            Cluster::Tansu(kafka) => kafka.unique_topic(prefix),
            Cluster::Mock(_) => format!("{prefix}-{}", std::process::id()),
        }
    }
}

/// A cluster, the processor's topics and configuration file, and its binary.
struct Rig {
    cluster: Cluster,
    config: ProcessorConfig,
    binary: PathBuf,
    scratch: tempfile::TempDir,
}

impl Rig {
    fn new(cluster: Cluster) -> Rig {
        let binary = processor_binary();
        let mut config = test_config(&cluster.bootstrap_servers(), |name| {
            cluster.unique_topic(&format!("fault-{name}"))
        });
        config.runtime.max_in_flight_records = 500;
        cluster.create_topic(&config.topology.input_topic);
        for topic in output_topics(&config) {
            cluster.create_topic(&topic);
        }
        let scratch = tempfile::tempdir().expect("scratch dir");
        std::fs::write(
            scratch.path().join("processor.toml"),
            config_file_text(&config),
        )
        .expect("write config");
        Rig {
            cluster,
            config,
            binary,
            scratch,
        }
    }

    fn on_tansu() -> Rig {
        Rig::new(Cluster::Tansu(TestKafka::start().expect("broker")))
    }

    fn on_mock_cluster() -> Rig {
        Rig::new(Cluster::Mock(MockCluster::new(3).expect("mock cluster")))
    }

    fn log(&self) -> PathBuf {
        self.scratch.path().join("processor.log")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn spawn(&self) -> Child {
        spawn_processor_binary(
            &self.binary,
            &self.scratch.path().join("processor.toml"),
            &self.log(),
        )
    }

    /// Input records committed by the group, all partitions together.
    fn committed(&self) -> usize {
        committed_input_offsets(&self.cluster.client_config(), &self.config, PARTITIONS)
            .values()
            .sum::<i64>() as usize
    }

    /// Waits until the group has committed more than `than`; returns the new total.
    fn wait_for_progress(&self, than: usize) -> usize {
        let mut now = than;
        let moved = eventually(PROGRESS_TIMEOUT, || {
            now = self.committed();
            now > than
        });
        assert!(
            moved,
            "no commit past {than} within {PROGRESS_TIMEOUT:?}\n{}",
            self.log_text()
        );
        now
    }

    /// `kill -9`s `child` and returns how many inputs it may have left uncommitted: those
    /// sent so far minus those committed just before the kill (a commit racing the kill only
    /// makes this larger).
    fn kill_9(&self, child: &mut Child, load: &Load) -> usize {
        let committed = self.committed();
        let sent = load.sent();
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        sent.saturating_sub(committed)
    }

    fn sigterm(&self, child: &mut Child) {
        let exit = terminate(child, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("no exit within 30 s of SIGTERM\n{}", self.log_text()));
        assert!(
            exit.success(),
            "exit {exit:?} after SIGTERM\n{}",
            self.log_text()
        );
    }

    /// Every output record so far, reading each topic until it holds at least `wanted` (or
    /// 5 s pass).
    fn read_outputs(&self, wanted: &BTreeMap<String, usize>) -> Multiset {
        let mut outputs = Multiset::new();
        for topic in output_topics(&self.config) {
            let at_least = wanted.get(&topic).copied().unwrap_or(0);
            for value in read_topic_values(
                &self.cluster.client_config(),
                &topic,
                PARTITIONS,
                at_least,
                Duration::from_secs(5),
            ) {
                *outputs.entry((topic.clone(), value)).or_default() += 1;
            }
        }
        outputs
    }

    /// Reads the outputs until they hold at least `expected`, then checks that every input
    /// has its outputs and nothing else appeared; returns the number of duplicate outputs.
    fn check_outputs(&self, expected: &Multiset) -> usize {
        let wanted = count_by_topic(expected);
        let missing_from = |outputs: &Multiset| {
            expected
                .iter()
                .filter(|(record, count)| outputs.get(*record).copied().unwrap_or(0) < **count)
                .count()
        };
        // Read again until complete: a read can stop early on duplicates while the last
        // instance is still rejoining.
        let mut outputs = Multiset::new();
        eventually(Duration::from_secs(90), || {
            outputs = self.read_outputs(&wanted);
            missing_from(&outputs) == 0
        });
        let missing = missing_from(&outputs);
        assert_eq!(
            missing,
            0,
            "lost outputs; by topic {:?}, expected {wanted:?}\n{}",
            count_by_topic(&outputs),
            self.log_text()
        );
        let unexpected = outputs
            .keys()
            .filter(|r| !expected.contains_key(*r))
            .count();
        assert_eq!(unexpected, 0, "outputs the topology would not make");
        outputs
            .iter()
            .map(|(record, count)| count - expected[record])
            .sum()
    }
}

/// A steady stream of distinct input records, one record per batch, at [`RATE`] per second
/// until stopped or out of records.
struct Load {
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Load {
    fn start(rig: &Rig, values: Vec<Vec<u8>>) -> Load {
        let producer: BaseProducer = rig
            .cluster
            .client_config()
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("batch.num.messages", "1")
            .create()
            .expect("load producer");
        let topic = rig.config.topology.input_topic.clone();
        let sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (sent_by_thread, stop_seen) = (Arc::clone(&sent), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            for (index, value) in values.iter().enumerate() {
                if stop_seen.load(Ordering::Relaxed) {
                    break;
                }
                let due = started + Duration::from_secs_f64(index as f64 / RATE as f64);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let mut record = BaseRecord::<(), [u8]>::to(&topic).payload(value.as_slice());
                while let Err((error, returned)) = producer.send(record) {
                    assert!(
                        matches!(
                            error,
                            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
                        ),
                        "producing the load: {error}"
                    );
                    record = returned;
                    producer.poll(Duration::from_millis(10));
                }
                sent_by_thread.fetch_add(1, Ordering::Relaxed);
                producer.poll(Duration::ZERO);
            }
            producer
                .flush(Duration::from_secs(60))
                .expect("every load record acknowledged");
            sent_by_thread.load(Ordering::Relaxed)
        });
        Load {
            sent,
            stop,
            thread: Some(thread),
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops the load; returns how many records were produced (all acknowledged).
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("load thread")
            .join()
            .expect("load thread panicked")
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A small xorshift generator: kill moments that can be replayed from the printed seed.
struct Moments(u64);

impl Moments {
    fn from_env_or_clock() -> Moments {
        let seed = std::env::var("FERROBEAT_FAULT_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |since| since.as_nanos() as u64)
                    | 1
            });
        println!("kill moments seed: FERROBEAT_FAULT_SEED={seed}");
        Moments(seed)
    }

    /// A duration in `0..max`, millisecond-grained.
    fn next(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(self.0 % max.as_millis().max(1) as u64)
    }
}

/// Kills the processor `kills` times at random moments after it made progress, under the
/// load, then lets a last instance finish and checks the outputs.
fn kill_9_repeatedly(kills: usize) {
    let rig = Rig::on_tansu();
    let started = Instant::now();
    // Enough records for the whole run: about 12 s per kill cycle (the dead member's
    // 6 s session timeout, the rejoin, the random wait).
    let inputs = mixed_values(RATE * 12 * (kills + 2));
    let load = Load::start(&rig, inputs.clone());
    let mut moments = Moments::from_env_or_clock();
    let mut committed = 0;
    let mut uncommitted_at_kills = 0;
    for kill in 1..=kills {
        let mut victim = rig.spawn();
        rig.wait_for_progress(committed);
        std::thread::sleep(moments.next(Duration::from_secs(3)));
        let uncommitted = rig.kill_9(&mut victim, &load);
        println!(
            "kill {kill}/{kills} at {:.1} s: {uncommitted} inputs sent but not committed",
            started.elapsed().as_secs_f64()
        );
        uncommitted_at_kills += uncommitted;
        committed = rig.committed();
    }
    let mut survivor = rig.spawn();
    rig.wait_for_progress(committed);
    let produced = load.finish();
    let expected = expected_outputs(&rig.config, &inputs[..produced]);
    let duplicates = rig.check_outputs(&expected);
    rig.sigterm(&mut survivor);
    let bound = uncommitted_at_kills * MAX_OUTPUTS_PER_INPUT;
    println!(
        "{kills} kill -9 under {RATE} records/s: {produced} inputs, {} outputs expected, 0 lost, \
         {duplicates} duplicates (bound {bound}), {:.0} s",
        expected.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates, more than the {bound} outputs of inputs uncommitted at the kills"
    );
}

#[test]
fn kill_9_at_random_moments_under_load_loses_nothing() {
    kill_9_repeatedly(3);
}

#[test]
#[ignore = "long (about 4 min): run by tests/faults.sh"]
fn twenty_kill_9_at_random_moments_under_load_lose_nothing() {
    kill_9_repeatedly(20);
}

#[test]
fn join_leave_and_death_under_load_lose_nothing() {
    join_leave_and_death(Rig::on_mock_cluster());
}

/// Measured: after the `kill -9` the group rebalances at the dead member's session timeout,
/// yet the survivor is assigned only its own partition: the broker still lists the dead member
/// in JoinGroup, and librdkafka's (client-side) assignor gives it the rest, so they are never
/// consumed. The same run on the mock cluster passes.
#[test]
#[ignore = "Tansu 0.6.0 keeps a kill -9'd member in the group after its session timeout"]
fn join_leave_and_death_under_load_lose_nothing_on_tansu() {
    join_leave_and_death(Rig::on_tansu());
}

/// A second instance joins the first; the first leaves with SIGTERM; a third joins; the
/// second dies with `kill -9`; the third finishes alone.
fn join_leave_and_death(rig: Rig) {
    let started = Instant::now();
    let inputs = mixed_values(RATE * 80);
    let load = Load::start(&rig, inputs.clone());
    let mut first = rig.spawn();
    let committed = rig.wait_for_progress(0);
    let mut second = rig.spawn();
    std::thread::sleep(Duration::from_secs(4));
    let committed = rig.wait_for_progress(committed);
    rig.sigterm(&mut first);
    let mut third = rig.spawn();
    let committed = rig.wait_for_progress(committed);
    std::thread::sleep(Duration::from_secs(4));
    let uncommitted = rig.kill_9(&mut second, &load);
    rig.wait_for_progress(committed);
    let produced = load.finish();
    let expected = expected_outputs(&rig.config, &inputs[..produced]);
    let duplicates = rig.check_outputs(&expected);
    rig.sigterm(&mut third);
    // Counted, not bounded: besides the kill's in-flight records, a rebalance under load
    // can re-deliver what was consumed since the last successful commit (measured once in
    // six runs: 1 531 duplicates with 178 outputs in flight at the kill; see the ignored
    // failed-commit test in faults_mock_cluster.rs).
    println!(
        "join + SIGTERM leave + kill -9 under {RATE} records/s: {produced} inputs, 0 lost, \
         {duplicates} duplicates ({} outputs in flight at the kill), {:.0} s",
        uncommitted * MAX_OUTPUTS_PER_INPUT,
        started.elapsed().as_secs_f64()
    );
}
