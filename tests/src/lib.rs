// over 500 lines: the broker harness (start, topics, produce, consume, wait) is one public API used by every test crate.
//! The Kafka broker harness for ferrobeat's tests.
//!
//! [`TestKafka::start`] runs a real Kafka-protocol broker, Tansu 0.6.0, on a free loopback port
//! with memory storage (or SQLite storage that survives a restart), waits until it answers a
//! metadata request, and stops it when dropped — also when the test panics. Tansu is built once by
//! `tests/install-tansu.sh` and cached.
//!
//! With `FERROBEAT_TEST_BOOTSTRAP=host:port,…` the same tests run against that cluster instead
//! (for example a real Apache Kafka); topics then get unique names via [`TestKafka::unique_topic`]
//! and [`TestKafka::stop`]/[`TestKafka::restart`] are refused.
//!
//! [`TestKafka::start_tls`] puts a TLS listener (stunnel, installed by `tests/install-stunnel.sh`)
//! in front of its own Tansu, which advertises that listener, so that every connection a client
//! makes is TLS with a client certificate (Tansu 0.6.0's own TLS listener does not work, see
//! docs/security.md).
//!
//! Everything here reads results back with its own, independent clients: a plain producer and a
//! group-less consumer assigned to every partition.
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Environment variable naming an external cluster to test against instead of Tansu.
pub const BOOTSTRAP_ENV: &str = "FERROBEAT_TEST_BOOTSTRAP";

/// How long a starting broker may take to answer its first metadata request.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A record read back by [`TestKafka::read_topic`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// Key, `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Value, `None` for a null value.
    pub value: Option<Vec<u8>>,
    /// Timestamp in milliseconds, when the record has one.
    pub timestamp: Option<i64>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Where the broker's data lives.
#[derive(Debug, Clone)]
enum Storage {
    Memory,
    Sqlite(PathBuf),
}

/// The PEM files of a mutual-TLS listener in front of the test broker ([`TestKafka::start_tls`]).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate the listener shows (leaf first, then any intermediates).
    pub server_certificate: PathBuf,
    /// That certificate's private key.
    pub server_key: PathBuf,
    /// The CA a client's certificate must chain to: a client without one is refused.
    pub client_ca: PathBuf,
    /// A certificate signed by `client_ca`, presented by the harness's own clients.
    pub client_certificate: PathBuf,
    /// That certificate's private key.
    pub client_key: PathBuf,
}

/// A Tansu process this harness started, and the TLS listener in front of it, if any.
#[derive(Debug)]
struct Broker {
    binary: PathBuf,
    /// Where Tansu listens.
    port: u16,
    /// Where clients connect: `port`, or the TLS listener's port.
    advertised_port: u16,
    storage: Storage,
    /// Whether clients must authenticate (SASL).
    authentication: bool,
    log: PathBuf,
    child: Option<Child>,
    tls: Option<TlsListener>,
    _scratch: tempfile::TempDir,
}

/// An stunnel process terminating mutual TLS on a loopback port and forwarding to Tansu.
#[derive(Debug)]
struct TlsListener {
    binary: PathBuf,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// librdkafka settings the harness's own clients add, by name.
type ClientProperties = Vec<(&'static str, String)>;

/// A Kafka cluster for one test: a Tansu broker of its own, or the external cluster named by
/// A record to produce: its key and its value, either may be null.
pub type KeyedRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// [`BOOTSTRAP_ENV`].
#[derive(Debug)]
pub struct TestKafka {
    bootstrap: String,
    /// Settings the harness's own clients add (TLS for a broker behind [`TestKafka::start_tls`]).
    client_properties: ClientProperties,
    broker: Option<Box<Broker>>,
}

impl TestKafka {
    /// Starts a broker with memory storage (or connects to [`BOOTSTRAP_ENV`]).
    ///
    /// # Errors
    /// When Tansu cannot be installed or started, or does not answer within 30 s.
    pub fn start() -> anyhow::Result<TestKafka> {
        Self::launch(Storage::Memory)
    }

    /// Starts a broker whose topics and records survive [`TestKafka::restart`] (SQLite at `db`).
    ///
    /// # Errors
    /// As [`TestKafka::start`].
    pub fn start_persistent(db: &Path) -> anyhow::Result<TestKafka> {
        let db = std::path::absolute(db).context("making the SQLite path absolute")?;
        Self::launch(Storage::Sqlite(db))
    }

    /// Starts a broker with memory storage behind a mutual-TLS listener on a free loopback port:
    /// clients must speak TLS and present a certificate chaining to `files.client_ca`, and the
    /// broker advertises the listener (`127.0.0.1:PORT`), so every connection goes through it.
    /// Always a broker of its own, also when [`BOOTSTRAP_ENV`] is set (an external cluster's
    /// certificates are not the test's).
    ///
    /// The harness's own clients (topic creation, [`TestKafka::read_topic`], …) present
    /// `files.client_certificate` and do not verify the broker's certificate, so a test can give
    /// the listener a certificate that the programs under test must refuse.
    ///
    /// # Errors
    /// When Tansu or stunnel cannot be installed or started, or the broker does not answer
    /// through the listener within 30 s.
    pub fn start_tls(files: &TlsFiles) -> anyhow::Result<TestKafka> {
        let scratch = tempfile::tempdir().context("creating the broker's scratch directory")?;
        let (port, tls, client_properties) = tls_listener(files, &scratch)?;
        let advertised_port = tls.port;
        Self::run_broker(
            Storage::Memory,
            scratch,
            port,
            advertised_port,
            Some(tls),
            client_properties,
        )
    }

    /// As [`TestKafka::start_tls`], and the broker also requires SASL authentication with
    /// SCRAM-SHA-512 (`SASL_SSL`) from the `users` (name, password) it knows, the harness's own
    /// clients logging in as the first one. Tansu 0.6.0 offers no PLAIN, and its `tansu user
    /// create` cannot reach a broker that requires authentication: the users are created on
    /// SQLite storage first, then the broker restarts with `--authentication`.
    ///
    /// # Errors
    /// As [`TestKafka::start_tls`], or when a user cannot be created.
    pub fn start_tls_scram(files: &TlsFiles, users: &[(&str, &str)]) -> anyhow::Result<TestKafka> {
        let (login, password) = *users.first().context("SCRAM needs at least one user")?;
        let scratch = tempfile::tempdir().context("creating the broker's scratch directory")?;
        let db = scratch.path().join("tansu.db");
        let (port, tls, mut client_properties) = tls_listener(files, &scratch)?;
        let advertised_port = tls.port;
        let mut kafka = Self::run_broker(
            Storage::Sqlite(db),
            scratch,
            port,
            advertised_port,
            Some(tls),
            client_properties.clone(),
        )?;
        let broker = kafka.broker.as_mut().context("a broker of the harness")?;
        for (name, secret) in users {
            let output = Command::new(&broker.binary)
                .args(["user", "create", name, secret, "--mechanism", "scram512"])
                .args(["--broker", &format!("tcp://127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("running tansu user create {name}"))?;
            if !output.status.success() {
                bail!(
                    "tansu user create {name} failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        broker.authentication = true;
        client_properties[0].1 = "SASL_SSL".to_owned();
        client_properties.extend([
            ("sasl.mechanisms", "SCRAM-SHA-512".to_owned()),
            ("sasl.username", login.to_owned()),
            ("sasl.password", password.to_owned()),
        ]);
        kafka.client_properties = client_properties;
        kafka.restart()?;
        Ok(kafka)
    }

    fn launch(storage: Storage) -> anyhow::Result<TestKafka> {
        if let Ok(bootstrap) = std::env::var(BOOTSTRAP_ENV)
            && !bootstrap.trim().is_empty()
        {
            let mut kafka = TestKafka {
                bootstrap,
                client_properties: Vec::new(),
                broker: None,
            };
            kafka.wait_until_answering()?;
            return Ok(kafka);
        }
        let scratch = tempfile::tempdir().context("creating the broker's scratch directory")?;
        let port = free_port()?;
        Self::run_broker(storage, scratch, port, port, None, Vec::new())
    }

    fn run_broker(
        storage: Storage,
        scratch: tempfile::TempDir,
        port: u16,
        advertised_port: u16,
        tls: Option<TlsListener>,
        client_properties: ClientProperties,
    ) -> anyhow::Result<TestKafka> {
        let mut broker = Box::new(Broker {
            binary: installed_binary("install-tansu.sh")?,
            port,
            advertised_port,
            storage,
            authentication: false,
            log: scratch.path().join("tansu.log"),
            child: None,
            tls,
            _scratch: scratch,
        });
        broker.spawn()?;
        let mut kafka = TestKafka {
            bootstrap: format!("127.0.0.1:{advertised_port}"),
            client_properties,
            broker: Some(broker),
        };
        kafka.wait_until_answering()?;
        Ok(kafka)
    }

    /// The `bootstrap.servers` list of this cluster.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// What the TLS listener of [`TestKafka::start_tls`] logged so far (stunnel's log: each
    /// connection, and why a handshake failed, including the alert a client sent when it
    /// refused the listener's certificate); `None` without a TLS listener.
    pub fn tls_listener_log(&self) -> Option<String> {
        let tls = self.broker.as_ref()?.tls.as_ref()?;
        Some(std::fs::read_to_string(&tls.log).unwrap_or_default())
    }

    /// Whether the cluster is external ([`BOOTSTRAP_ENV`]) rather than a broker of this harness.
    pub fn is_external(&self) -> bool {
        self.broker.is_none()
    }

    /// A client configuration with `bootstrap.servers` set, to add settings to.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("broker.address.family", "v4")
            .set("log_level", "3");
        for (name, value) in &self.client_properties {
            config.set(*name, value);
        }
        config
    }

    /// A topic name unique to this run: `prefix` and a suffix of time and a counter.
    pub fn unique_topic(&self, prefix: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{nanos:x}-{n}", std::process::id())
    }

    /// Creates `name` with `partitions` partitions (replication factor 1) and waits until its
    /// metadata shows every partition.
    ///
    /// # Errors
    /// When the broker refuses the topic (an existing topic is not an error) or it does not appear.
    pub fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = self
            .client_config()
            .create()
            .context("creating the admin client")?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = block_on(admin.create_topics([&topic], &options))
            .with_context(|| format!("creating topic {name}"))?;
        for result in results {
            match result {
                Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => bail!("creating topic {topic}: {code}"),
            }
        }
        let consumer = self.plain_consumer()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if partition_count(&consumer, name)? == partitions as usize {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("topic {name} did not show {partitions} partitions within 10 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Produces `values` without keys to `topic` and waits until every one is acknowledged.
    ///
    /// # Errors
    /// When any record is not acknowledged within 30 s, naming the first failure.
    pub fn produce(&self, topic: &str, values: &[Vec<u8>]) -> anyhow::Result<()> {
        let records: Vec<KeyedRecord<'_>> = values
            .iter()
            .map(|value| (None, Some(value.as_slice())))
            .collect();
        self.produce_keyed(topic, &records)
    }

    /// Produces `(key, value)` records (either may be null) to `topic`, keyed records on the
    /// partition librdkafka's default partitioner picks for their key, and waits until every
    /// one is acknowledged.
    ///
    /// # Errors
    /// When any record is not acknowledged within 30 s, naming the first failure.
    pub fn produce_keyed(&self, topic: &str, records: &[KeyedRecord<'_>]) -> anyhow::Result<()> {
        self.produce_records(topic, records.iter().map(|&record| (record, None)))
    }

    /// As [`TestKafka::produce_keyed`], each record with its own timestamp (milliseconds since
    /// the epoch) instead of the time it is sent.
    ///
    /// # Errors
    /// When any record is not acknowledged within 30 s, naming the first failure.
    pub fn produce_keyed_at(
        &self,
        topic: &str,
        records: &[(KeyedRecord<'_>, i64)],
    ) -> anyhow::Result<()> {
        self.produce_records(
            topic,
            records
                .iter()
                .map(|&(record, timestamp)| (record, Some(timestamp))),
        )
    }

    /// Produces `(record, timestamp)` pairs, a record without a timestamp stamped when sent.
    fn produce_records<'a>(
        &self,
        topic: &str,
        records: impl Iterator<Item = (KeyedRecord<'a>, Option<i64>)>,
    ) -> anyhow::Result<()> {
        let context = FailureLog::default();
        let producer: BaseProducer<FailureLog> = self
            .client_config()
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000")
            .create_with_context(context)
            .context("creating the test producer")?;
        for ((key, value), timestamp) in records {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic);
            if let Some(timestamp) = timestamp {
                record = record.timestamp(timestamp);
            }
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(value) = value {
                record = record.payload(value);
            }
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((
                        KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        back,
                    )) => {
                        producer.poll(Duration::from_millis(50));
                        record = back;
                    }
                    Err((e, _)) => bail!("producing to {topic}: {e}"),
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(30))
            .with_context(|| format!("flushing records to {topic}"))?;
        if let Some(failure) = producer.context().first_failure() {
            bail!("a record to {topic} was not acknowledged: {failure}");
        }
        Ok(())
    }

    /// Reads `topic` from the beginning of every partition with a consumer of its own (no group,
    /// no commits) until at least `at_least` records arrived and the topic stayed quiet for a
    /// moment, or `timeout` passed. Returns what was read, sorted by partition and offset.
    ///
    /// # Errors
    /// When the topic does not exist or the consumer fails.
    pub fn read_topic(
        &self,
        topic: &str,
        at_least: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<ReadRecord>> {
        const QUIET: Duration = Duration::from_millis(750);
        let consumer = self.plain_consumer()?;
        let partitions = partition_count(&consumer, topic)?;
        if partitions == 0 {
            bail!("topic {topic} does not exist");
        }
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment.add_partition_offset(topic, partition as i32, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + timeout;
        let mut last_arrival = Instant::now();
        let mut records = Vec::new();
        while Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    last_arrival = Instant::now();
                    records.push(ReadRecord {
                        partition: message.partition(),
                        offset: message.offset(),
                        key: message.key().map(<[u8]>::to_vec),
                        value: message.payload().map(<[u8]>::to_vec),
                        timestamp: message.timestamp().to_millis(),
                        headers: message
                            .headers()
                            .map(|headers| {
                                headers
                                    .iter()
                                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    });
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(anyhow!("reading {topic}: {e}")),
                None => {}
            }
            if records.len() >= at_least && last_arrival.elapsed() >= QUIET {
                break;
            }
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        Ok(records)
    }

    /// Stops the broker (SIGKILL, like a crash). Clients see it unreachable until
    /// [`TestKafka::restart`].
    ///
    /// # Panics
    /// On an external cluster, which this harness cannot stop.
    pub fn stop(&mut self) {
        let broker = self
            .broker
            .as_mut()
            .expect("an external cluster (FERROBEAT_TEST_BOOTSTRAP) cannot be stopped by a test");
        broker.kill();
    }

    /// Starts the stopped broker again on the same port (with SQLite storage, with its data).
    ///
    /// # Errors
    /// On an external cluster, or when the broker does not come back within 30 s.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let broker = self
            .broker
            .as_mut()
            .ok_or_else(|| anyhow!("an external cluster cannot be restarted by a test"))?;
        broker.kill();
        broker.spawn()?;
        self.wait_until_answering()
    }

    fn plain_consumer(&self) -> anyhow::Result<BaseConsumer> {
        self.client_config()
            .set("group.id", self.unique_topic("ferrobeat-test-reader"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .context("creating the test consumer")
    }

    fn wait_until_answering(&mut self) -> anyhow::Result<()> {
        let consumer = self.plain_consumer()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(broker) = &mut self.broker {
                broker.ensure_alive()?;
            }
            match consumer.fetch_metadata(None, Duration::from_secs(1)) {
                Ok(metadata) if !metadata.brokers().is_empty() => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Ok(_) => bail!("{} answers with no brokers", self.bootstrap),
                Err(e) => bail!(
                    "{} did not answer a metadata request within {START_TIMEOUT:?}: {e}{}",
                    self.bootstrap,
                    self.broker
                        .as_ref()
                        .map(|broker| broker.log_tail())
                        .unwrap_or_default()
                ),
            }
        }
    }
}

impl Broker {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised_port);
        let storage = match &self.storage {
            Storage::Memory => "memory://tansu/".to_owned(),
            // Tansu strips one slash after `sqlite://` and resolves the rest against its cwd:
            // an absolute path needs four slashes in all (see shared/test-broker.md).
            Storage::Sqlite(path) => format!("sqlite:///{}", path.display()),
        };
        let mut command = Command::new(&self.binary);
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", &storage])
            .args(self.authentication.then_some("--authentication"))
            .env("RUST_LOG", "warn");
        self.child = Some(spawn_logging_to(&mut command, &self.log)?);
        if let Some(tls) = &mut self.tls {
            tls.spawn()?;
        }
        Ok(())
    }

    fn ensure_alive(&mut self) -> anyhow::Result<()> {
        let exited = |child: &mut Option<Child>| match child {
            None => Ok(Some("stopped".to_owned())),
            Some(child) => child
                .try_wait()
                .map(|status| status.map(|status| format!("exited at start-up ({status})"))),
        };
        if let Some(how) = exited(&mut self.child)? {
            bail!("the broker {how}{}", self.log_tail());
        }
        if let Some(tls) = &mut self.tls
            && let Some(how) = exited(&mut tls.child)?
        {
            bail!("the TLS listener (stunnel) {how}{}", self.log_tail());
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(tls) = &mut self.tls {
            kill(&mut tls.child);
        }
        kill(&mut self.child);
    }

    fn log_tail(&self) -> String {
        let mut tail = log_tail("broker", &self.log);
        if let Some(tls) = &self.tls {
            tail.push_str(&log_tail("TLS listener (stunnel)", &tls.log));
        }
        tail
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TlsListener {
    fn spawn(&mut self) -> anyhow::Result<()> {
        // stunnel writes its own log (`output`); what it prints before reading the configuration
        // goes to the same file.
        let mut command = Command::new(&self.binary);
        command.arg(&self.config);
        self.child = Some(spawn_logging_to(&mut command, &self.log)?);
        Ok(())
    }
}

/// An stunnel listener for `files` on a free port (not started) in `scratch`, a free port for
/// Tansu behind it, and the settings of the harness's own TLS clients.
fn tls_listener(
    files: &TlsFiles,
    scratch: &tempfile::TempDir,
) -> anyhow::Result<(u16, TlsListener, ClientProperties)> {
    let (port, tls_port) = (free_port()?, free_port()?);
    let config = scratch.path().join("stunnel.conf");
    let log = scratch.path().join("stunnel.log");
    std::fs::write(&config, stunnel_config(files, tls_port, port, &log))
        .with_context(|| format!("writing {}", config.display()))?;
    let tls = TlsListener {
        binary: installed_binary("install-stunnel.sh")?,
        port: tls_port,
        config,
        log,
        child: None,
    };
    let client_properties = vec![
        ("security.protocol", "SSL".to_owned()),
        (
            "ssl.certificate.location",
            path_text(&files.client_certificate)?,
        ),
        ("ssl.key.location", path_text(&files.client_key)?),
        ("enable.ssl.certificate.verification", "false".to_owned()),
        ("ssl.endpoint.identification.algorithm", "none".to_owned()),
    ];
    Ok((port, tls, client_properties))
}

/// Starts `command` with no input and its output appended to `log`: never to an inherited pipe,
/// so an orphaned child cannot hold a test runner's or CI's output open.
fn spawn_logging_to(command: &mut Command, log: &Path) -> anyhow::Result<Child> {
    let file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("starting {}", Path::new(command.get_program()).display()))
}

/// stunnel's configuration: in the foreground, mutual TLS on `tls_port`, forwarding to `port`.
fn stunnel_config(files: &TlsFiles, tls_port: u16, port: u16, log: &Path) -> String {
    format!(
        "foreground = yes\npid =\noutput = {log}\ndebug = 5\n\n[kafka]\n\
         accept = 127.0.0.1:{tls_port}\nconnect = 127.0.0.1:{port}\n\
         cert = {cert}\nkey = {key}\nCAfile = {ca}\nrequireCert = yes\nverifyChain = yes\n",
        log = log.display(),
        cert = files.server_certificate.display(),
        key = files.server_key.display(),
        ca = files.client_ca.display(),
    )
}

fn path_text(path: &Path) -> anyhow::Result<String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The last 20 lines of the log of `what` at `path`, for an error message.
fn log_tail(what: &str, path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(
        "\n--- {what} log ({}) ---\n{}",
        path.display(),
        tail.join("\n")
    )
}

/// Delivery reports of the test producer: the first failure, if any.
#[derive(Debug, Default, Clone)]
struct FailureLog(Arc<Mutex<Option<String>>>);

impl FailureLog {
    fn first_failure(&self) -> Option<String> {
        self.0.lock().ok().and_then(|f| f.clone())
    }
}

impl ClientContext for FailureLog {}

impl ProducerContext for FailureLog {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result
            && let Ok(mut first) = self.0.lock()
        {
            first.get_or_insert_with(|| error.to_string());
        }
    }
}

fn partition_count(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<usize> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .with_context(|| format!("fetching metadata of {topic}"))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len()))
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// The binary that `tests/<script>` makes sure is installed (Tansu 0.6.0, stunnel) and prints,
/// run once per test process and script.
fn installed_binary(script: &'static str) -> anyhow::Result<PathBuf> {
    static FOUND: Mutex<BTreeMap<&str, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut found = FOUND
        .lock()
        .map_err(|_| anyhow!("binary lookup poisoned"))?;
    if let Some(path) = found.get(script) {
        return Ok(path.clone());
    }
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let output = Command::new("bash")
        .arg(&script_path)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script_path.display()))?;
    if !output.status.success() {
        bail!("{} failed ({})", script_path.display(), output.status);
    }
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    found.insert(script, path.clone());
    Ok(path)
}

/// Runs an admin future to completion on a small runtime of its own.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime for an admin call")
        .block_on(future)
}
