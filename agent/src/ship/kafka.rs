//! The Kafka adapter: an idempotent, acks=all producer whose delivery reports come back on a
//! channel, each carrying what it was about.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrobeat_toolbox::intercept::{Acknowledgement, Interceptors, RecordView};
use ferrobeat_toolbox::kafka::librdkafka;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use tokio::sync::mpsc;

use crate::config::KafkaConfig;

/// What a record sent to Kafka was, so its delivery report can be acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// A spooled record: settle this sequence number once delivered.
    Spooled(u64),
    /// A record kept only in memory (the spool could not be written): its bytes, to send
    /// again if delivery fails.
    InMemory(Vec<u8>),
}

/// Where a delivered record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landed {
    /// The partition.
    pub partition: i32,
    /// The offset in the partition.
    pub offset: i64,
}

/// One delivery report.
#[derive(Debug)]
pub struct Delivery {
    /// What was sent.
    pub pending: Pending,
    /// Where it landed, or why it did not.
    pub result: Result<Landed, KafkaError>,
}

/// Forwards librdkafka's delivery reports (on its polling thread) to the shipper, after the
/// interceptors' `on_acknowledgement`.
#[derive(Debug)]
pub struct DeliveryForwarder {
    reports: mpsc::UnboundedSender<Delivery>,
    interceptors: Interceptors,
    /// Delivery reports handled so far, for the polling thread to see whether a poll served one.
    handled: AtomicU64,
}

impl ClientContext for DeliveryForwarder {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        librdkafka("ferrobeat-agent", level, fac, log_message);
    }
}

impl ProducerContext for DeliveryForwarder {
    type DeliveryOpaque = Box<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Box<Pending>) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        self.interceptors
            .on_acknowledgement(|| Acknowledgement::of_delivery(result));
        let result = match result {
            Ok(message) => Ok(Landed {
                partition: message.partition(),
                offset: message.offset(),
            }),
            Err((error, _)) => Err(error.clone()),
        };
        // The receiver is gone only while the agent shuts down: the record stays spooled.
        let _ = self.reports.send(Delivery {
            pending: *pending,
            result,
        });
    }
}

/// librdkafka settings for `config`: the agent's delivery guarantees first, then the
/// pass-through `[kafka.properties]`.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("client.id", "ferrobeat-agent")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", config.compression.librdkafka_name())
        .set("linger.ms", config.linger.as_millis().to_string())
        .set(
            "message.timeout.ms",
            config.delivery_timeout.as_millis().to_string(),
        )
        // Room for everything the shipper may have in flight, and some.
        .set(
            "queue.buffering.max.messages",
            (config.max_in_flight.saturating_mul(2))
                .max(1000)
                .to_string(),
        );
    for (name, value) in &config.properties {
        client.set(name, value);
    }
    client
}

/// Checks that librdkafka accepts `config`'s settings by creating a producer, which also loads
/// the TLS files (CA, certificate, key) they name, without connecting anywhere.
///
/// # Errors
/// An unknown or invalid `[kafka.properties]` entry, or a TLS file that cannot be read or
/// parsed, named in librdkafka's message.
pub fn check_settings(config: &KafkaConfig) -> Result<(), KafkaError> {
    client_config(config).create::<BaseProducer>().map(drop)
}

/// How often the polling thread serves delivery reports while the producer has work
/// outstanding. rust-rdkafka's own blocking polls (`ThreadedProducer`, `poll(timeout)`) spin
/// through the last fraction of a millisecond of every timeout (its `Timeout::as_millis` rounds
/// it down to 0, so librdkafka returns at once), which cost an idle agent 7–8 ms of CPU per
/// second; polling without waiting, then sleeping, delays a report by at most this much, which
/// only moves the spool's cursor a little later.
const DELIVERY_POLL_PERIOD: Duration = Duration::from_millis(100);

/// How long the polling thread sleeps while the producer has nothing outstanding (no record
/// queued or in flight, no report, error or log event waiting): a send wakes it at once, so
/// this only bounds how late an event that arrives unasked (a connection error) is logged.
const IDLE_POLL_PERIOD: Duration = Duration::from_secs(1);

/// Extra wait, past the linger, before the first poll after a send woke the polling thread: the
/// reports of a batch cannot come before it was sent (after the linger), and on a near broker
/// they come within this much after, so one round's reports usually take one poll, not two.
const FIRST_REPORT_MARGIN: Duration = Duration::from_millis(20);

/// The thread serving the producer's events (delivery reports, errors, logs); stopped and joined
/// on drop. It polls every [`DELIVERY_POLL_PERIOD`] only while the producer has something
/// outstanding (librdkafka's `rd_kafka_outq_len`: queued and in-flight records and events
/// waiting to be served), and otherwise parks until [`DeliveryPoller::wake`] or
/// [`IDLE_POLL_PERIOD`]: an agent that sends one round per period wakes a few times per round,
/// not ten times a second. Woken by a send, it first waits for the linger and
/// [`FIRST_REPORT_MARGIN`].
struct DeliveryPoller {
    stop: Arc<AtomicBool>,
    /// Whether the thread is parked (or about to): only then does a send unpark it, so the
    /// sends of one round wake it once.
    parked: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DeliveryPoller {
    fn start(
        producer: Arc<BaseProducer<DeliveryForwarder>>,
        linger: Duration,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let parked = Arc::new(AtomicBool::new(false));
        let (stopped, parking) = (Arc::clone(&stop), Arc::clone(&parked));
        let thread = std::thread::Builder::new()
            .name("kafka-deliveries".to_owned())
            .spawn(move || {
                let mut woken = false;
                while !stopped.load(Ordering::Acquire) {
                    // One event per `poll(ZERO)`: go on while they are delivery reports.
                    loop {
                        let before = producer.context().handled.load(Ordering::Relaxed);
                        producer.poll(Duration::ZERO);
                        if producer.context().handled.load(Ordering::Relaxed) == before {
                            break;
                        }
                    }
                    if std::mem::take(&mut woken) && producer.in_flight_count() > 0 {
                        std::thread::sleep(linger + FIRST_REPORT_MARGIN);
                        continue;
                    }
                    // Announced before the check, so a send after it sees the flag and
                    // unparks; a send before it is counted by the check.
                    parking.store(true, Ordering::SeqCst);
                    if producer.in_flight_count() > 0 {
                        parking.store(false, Ordering::SeqCst);
                        std::thread::sleep(DELIVERY_POLL_PERIOD);
                    } else {
                        std::thread::park_timeout(IDLE_POLL_PERIOD);
                        // Whether a send unparked it (it cleared the flag) or the timeout.
                        woken = !parking.swap(false, Ordering::SeqCst);
                    }
                }
            })?;
        Ok(DeliveryPoller {
            stop,
            parked,
            thread: Some(thread),
        })
    }

    /// Wakes the thread if it is parked (a record was just sent); once per parking.
    fn wake(&self) {
        if self.parked.swap(false, Ordering::SeqCst)
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
    }
}

impl Drop for DeliveryPoller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // It only polls; a panic there has been printed already.
            let _ = thread.join();
        }
    }
}

/// The producer and where its records go.
pub struct KafkaOutput {
    // Declared first so the poller stops before the producer is dropped.
    poller: DeliveryPoller,
    producer: Arc<BaseProducer<DeliveryForwarder>>,
    topic: String,
    key: Option<Vec<u8>>,
    interceptors: Interceptors,
}

// Debug by hand: only the telling fields (others hold clients, threads or closures).
impl std::fmt::Debug for KafkaOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaOutput")
            .field("topic", &self.topic)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl KafkaOutput {
    /// Creates the producer (no connection is made yet) and the channel its delivery
    /// reports arrive on. `key` is the record key, if any; `interceptors` see every send and
    /// delivery report.
    ///
    /// # Errors
    /// librdkafka refuses the settings (an unknown or invalid `[kafka.properties]` entry).
    pub fn new(
        config: &KafkaConfig,
        key: Option<Vec<u8>>,
        interceptors: Interceptors,
    ) -> Result<(KafkaOutput, mpsc::UnboundedReceiver<Delivery>), KafkaError> {
        let (reports, deliveries) = mpsc::unbounded_channel();
        let producer = Arc::new(
            client_config(config).create_with_context(DeliveryForwarder {
                reports,
                interceptors: interceptors.clone(),
                handled: AtomicU64::new(0),
            })?,
        );
        let poller = DeliveryPoller::start(Arc::clone(&producer), config.linger)
            .map_err(|error| KafkaError::ClientCreation(format!("delivery thread: {error}")))?;
        let output = KafkaOutput {
            poller,
            producer,
            topic: config.topic.clone(),
            key,
            interceptors,
        };
        Ok((output, deliveries))
    }

    /// Hands one record to the producer; its report arrives on the deliveries channel.
    ///
    /// # Errors
    /// The producer refused it at once (its queue is full, …): the error and the record's
    /// [`Pending`] are given back.
    pub fn send(&self, pending: Pending, payload: &[u8]) -> Result<(), (KafkaError, Pending)> {
        self.interceptors.on_send(|| RecordView {
            topic: &self.topic,
            partition: None,
            offset: None,
            timestamp: None,
            key: self.key.as_deref(),
            value: Some(payload),
            headers: Vec::new(),
        });
        let mut record =
            BaseRecord::<[u8], [u8], Box<Pending>>::with_opaque_to(&self.topic, Box::new(pending))
                .payload(payload);
        if let Some(key) = &self.key {
            record = record.key(key);
        }
        let sent = self
            .producer
            .send(record)
            .map_err(|(error, record)| (error, *record.delivery_opaque));
        self.poller.wake();
        sent
    }

    /// The cluster's metadata, for `test output`.
    ///
    /// # Errors
    /// No broker answered within `timeout`.
    pub fn metadata(&self, timeout: Duration) -> Result<rdkafka::metadata::Metadata, KafkaError> {
        self.producer.client().fetch_metadata(None, timeout)
    }

    /// The topic records go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}
