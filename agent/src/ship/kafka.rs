//! The Kafka adapter: an idempotent, acks=all producer whose delivery reports come back on a
//! channel, each carrying what it was about.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ferrobeat_toolbox::intercept::{Acknowledgement, Interceptors, RecordView};
use ferrobeat_toolbox::kafka::librdkafka;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

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

/// Collects librdkafka's delivery reports, served by [`KafkaOutput::poll`] on the thread that
/// calls it, after the interceptors' `on_acknowledgement`.
#[derive(Debug)]
pub struct DeliveryForwarder {
    /// The reports served and not yet taken by [`KafkaOutput::poll`].
    reports: Mutex<Vec<Delivery>>,
    interceptors: Interceptors,
    /// Delivery reports handled so far, for a poll to see whether it served one.
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
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Delivery {
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

/// How many queued events [`KafkaOutput::metadata`] serves after a failed fetch (a fetch sees
/// a few connection attempts, each at most one error event).
const ERROR_EVENTS_SERVED: usize = 64;

/// How often the producer's events are served while it has work outstanding (records queued or
/// in flight whose reports have not come back). Polls never wait (`poll(0)`): rust-rdkafka's
/// blocking polls spin through the last fraction of a millisecond of every timeout, and a
/// thread of their own cost a wake-up per send and one per poll.
const DELIVERY_POLL_PERIOD: Duration = Duration::from_millis(100);

/// How often the producer's events are served while it has nothing outstanding (only events
/// that arrive unasked, a connection error or a log line, wait for it, so this bounds how late
/// they are logged), and the longest a send's reports wait for a poll of their own. A second
/// and a margin: a caller awake every second or sooner (a round per second) serves them with
/// its early poll before this comes, so the runtime thread is not woken for them. Waiting does
/// not delay delivery (librdkafka sends after the linger whoever polls), only acting on the
/// reports: a spool settlement and cursor up to a second later (a duplicate more after a
/// crash), a failure noticed up to a second later.
const IDLE_POLL_PERIOD: Duration = Duration::from_millis(1020);

/// Extra wait, past a linger longer than [`IDLE_POLL_PERIOD`], before the first poll after a
/// send: the reports of a batch cannot come before it was sent (after the linger), and on a near
/// broker they come within this much after, so one round's reports usually take one poll.
const FIRST_REPORT_MARGIN: Duration = Duration::from_millis(20);

/// When the producer's events are next due to be served: the pure schedule of
/// [`KafkaOutput::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PollSchedule {
    due: Instant,
    linger: Duration,
}

impl PollSchedule {
    /// A record was sent at `now`: its report is polled for [`IDLE_POLL_PERIOD`] later, unless
    /// an early poll comes first (after the linger and [`FIRST_REPORT_MARGIN`] when the linger
    /// is longer).
    fn sent(&mut self, now: Instant) {
        let wait = (self.linger + FIRST_REPORT_MARGIN).max(IDLE_POLL_PERIOD);
        self.due = self.due.min(now + wait);
    }

    /// The events were served at `now`, leaving records outstanding or not. With nothing
    /// outstanding there is no report to wait for: the idle poll comes [`IDLE_POLL_PERIOD`]
    /// after this one. With records outstanding, a poll that was due sets the next one
    /// [`DELIVERY_POLL_PERIOD`] later, and an early one (made because the caller was awake
    /// anyway) never postpones one that is due sooner.
    fn polled(&mut self, now: Instant, outstanding: bool) {
        self.due = if !outstanding {
            now + IDLE_POLL_PERIOD
        } else if self.due <= now {
            now + DELIVERY_POLL_PERIOD
        } else {
            self.due.min(now + DELIVERY_POLL_PERIOD)
        };
    }
}

/// The producer and where its records go.
pub struct KafkaOutput {
    producer: BaseProducer<DeliveryForwarder>,
    topic: String,
    key: Option<Vec<u8>>,
    interceptors: Interceptors,
    schedule: PollSchedule,
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
    /// Creates the producer (no connection is made yet). `key` is the record key, if any;
    /// `interceptors` see every send and delivery report.
    ///
    /// # Errors
    /// librdkafka refuses the settings (an unknown or invalid `[kafka.properties]` entry).
    pub fn new(
        config: &KafkaConfig,
        key: Option<Vec<u8>>,
        interceptors: Interceptors,
    ) -> Result<KafkaOutput, KafkaError> {
        let producer = client_config(config).create_with_context(DeliveryForwarder {
            reports: Mutex::new(Vec::new()),
            interceptors: interceptors.clone(),
            handled: AtomicU64::new(0),
        })?;
        Ok(KafkaOutput {
            producer,
            topic: config.topic.clone(),
            key,
            interceptors,
            schedule: PollSchedule {
                due: Instant::now() + IDLE_POLL_PERIOD,
                linger: config.linger,
            },
        })
    }

    /// Serves the producer's waiting events (delivery reports, errors, logs) without waiting,
    /// on the calling thread, and returns the delivery reports among them. Call it when
    /// [`KafkaOutput::poll_due`] comes, and whenever convenient besides: an early poll costs
    /// little and never delays the next one.
    pub fn poll(&mut self) -> Vec<Delivery> {
        let context = self.producer.context();
        // One event per `poll(ZERO)`: go on while they are delivery reports.
        loop {
            let before = context.handled.load(Ordering::Relaxed);
            self.producer.poll(Duration::ZERO);
            if context.handled.load(Ordering::Relaxed) == before {
                break;
            }
        }
        self.schedule
            .polled(Instant::now(), self.producer.in_flight_count() > 0);
        std::mem::take(
            &mut *context
                .reports
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// When [`KafkaOutput::poll`] is next due: 100 ms after the last one while records are
    /// outstanding, 1.02 s after the last one or after a send otherwise.
    pub fn poll_due(&self) -> Instant {
        self.schedule.due
    }

    /// Hands one record to the producer; its report comes back from a later
    /// [`KafkaOutput::poll`].
    ///
    /// # Errors
    /// The producer refused it at once (its queue is full, …): the error and the record's
    /// [`Pending`] are given back.
    pub fn send(&mut self, pending: Pending, payload: &[u8]) -> Result<(), (KafkaError, Pending)> {
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
        self.producer
            .send(record)
            .map_err(|(error, record)| (error, *record.delivery_opaque))?;
        self.schedule.sent(Instant::now());
        Ok(())
    }

    /// The cluster's metadata, for `test output`. When no broker answered, the error events
    /// librdkafka queued meanwhile are served, so that their reason (a refused TLS handshake,
    /// a failed authentication) is logged: nothing else polls the producer during the fetch.
    ///
    /// # Errors
    /// No broker answered within `timeout`.
    pub fn metadata(&self, timeout: Duration) -> Result<rdkafka::metadata::Metadata, KafkaError> {
        let metadata = self.producer.client().fetch_metadata(None, timeout);
        if metadata.is_err() {
            // One event per poll; a failed fetch leaves one per connection attempt at most.
            for _ in 0..ERROR_EVENTS_SERVED {
                self.producer.poll(Duration::ZERO);
            }
        }
        metadata
    }

    /// The topic records go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINGER: Duration = Duration::from_millis(100);

    fn schedule(due: Instant) -> PollSchedule {
        PollSchedule {
            due,
            linger: LINGER,
        }
    }

    #[test]
    fn a_send_is_polled_for_within_the_idle_period_or_after_a_longer_linger() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let mut waiting = schedule(later);
        waiting.sent(now);
        assert_eq!(waiting.due, now + IDLE_POLL_PERIOD);
        // A later send does not postpone the first one's poll.
        waiting.sent(now + Duration::from_millis(50));
        assert_eq!(waiting.due, now + IDLE_POLL_PERIOD);
        let linger = Duration::from_secs(2);
        let mut lingering = PollSchedule { due: later, linger };
        lingering.sent(now);
        assert_eq!(lingering.due, now + linger + FIRST_REPORT_MARGIN);
    }

    #[test]
    fn a_due_poll_sets_the_next_by_what_is_outstanding() {
        let now = Instant::now();
        let mut due = schedule(now);
        due.polled(now, true);
        assert_eq!(due.due, now + DELIVERY_POLL_PERIOD);
        let later = now + DELIVERY_POLL_PERIOD;
        due.polled(later, false);
        assert_eq!(due.due, later + IDLE_POLL_PERIOD);
    }

    #[test]
    fn an_early_poll_with_records_outstanding_never_postpones_the_due_one() {
        let now = Instant::now();
        let soon = now + Duration::from_millis(30);
        let mut waiting = schedule(soon);
        waiting.polled(now, true);
        assert_eq!(waiting.due, soon);
        // Due later than the outstanding pace: brought forward to it.
        let mut waiting = schedule(now + IDLE_POLL_PERIOD);
        waiting.polled(now, true);
        assert_eq!(waiting.due, now + DELIVERY_POLL_PERIOD);
    }

    #[test]
    fn a_poll_that_finds_nothing_outstanding_sets_the_idle_poll_from_itself() {
        // A round per second polls early every second, so the idle poll never comes: the
        // runtime thread wakes for the rounds alone.
        let now = Instant::now();
        let mut idle = schedule(now + Duration::from_millis(30));
        idle.polled(now, false);
        assert_eq!(idle.due, now + IDLE_POLL_PERIOD);
        let next_round = now + Duration::from_secs(1);
        idle.polled(next_round, false);
        assert_eq!(idle.due, next_round + IDLE_POLL_PERIOD);
    }
}
