//! One worker thread (Kafka Streams' `StreamThread`): a group member with its own consumer and
//! idempotent producer, running the topology on every record of the partitions it is assigned.
//!
//! Offsets are committed only up to the first record whose outputs are not all acknowledged: every
//! commit interval, when partitions are revoked, and on shutdown. Fetching pauses while too many
//! records (or bytes) await acknowledgement.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{
    BorrowedMessage, DeliveryResult, Header as KafkaHeader, Headers, OwnedHeaders, OwnedMessage,
};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::{Message, Offset, TopicPartitionList};

use ferrobeat_schema::intercept::{
    Acknowledgement, Commit, CommittedOffset, HeaderView, Interceptors, RecordView,
};
use ferrobeat_schema::logging::librdkafka;

use super::Shared;
use super::offsets::{CommitScope, OffsetTracker, SourcePartition};
use super::policy::is_retriable;
use super::stats::Counter;
use crate::errors::{
    ErrorAction, ErrorPolicy, HEADER_EXCEPTION, HEADER_MESSAGE, HEADER_OFFSET, HEADER_PARTITION,
    HEADER_STACKTRACE, HEADER_TOPIC, LogRateLimiter,
};
use crate::monitor::metrics::WorkerMetrics;
use crate::record::{Header, InputRecord, SourcePosition};
use crate::topology::ProcessingError;

/// How long one consumer poll may block: bounds how fast a worker notices a shutdown request.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long a worker may hold back from polling its consumer while too much is in flight before
/// it pauses the partitions instead, so rebalances and `max.poll.interval.ms` are served again.
const HOLD_LIMIT: Duration = Duration::from_secs(10);
/// At most one line per this interval for each kind of repeated error.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Why a worker stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A Kafka client could not be created or subscribed.
    #[error("worker {worker}: {action}: {source}")]
    Kafka {
        /// Worker name.
        worker: String,
        /// What it was doing.
        action: &'static str,
        /// The client's error.
        source: Box<KafkaError>,
    },
    /// The topology failed on a record and the error policy is `fail`.
    #[error(
        "worker {worker}: record {topic}-{partition}@{offset} failed and the error policy is fail: {error}"
    )]
    Processing {
        /// Worker name.
        worker: String,
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
        /// What the topology reported.
        error: Box<ProcessingError>,
    },
    /// An output could not be delivered and the error policy is `fail`.
    #[error(
        "worker {worker}: output to {topic} could not be delivered and the error policy is fail: {error}"
    )]
    Delivery {
        /// Worker name.
        worker: String,
        /// Destination topic.
        topic: String,
        /// The producer's error.
        error: Box<KafkaError>,
    },
    /// A client hit a fatal error (e.g. the idempotent producer lost its sequence).
    #[error("worker {worker}: fatal {client} error {code:?}: {reason}")]
    Fatal {
        /// Worker name.
        worker: String,
        /// `consumer` or `producer`.
        client: &'static str,
        /// librdkafka's error code.
        code: RDKafkaErrorCode,
        /// librdkafka's explanation.
        reason: String,
    },
    /// The worker thread panicked.
    #[error("worker {worker} panicked: {message}")]
    Panicked {
        /// Worker name.
        worker: String,
        /// The panic message.
        message: String,
    },
}

/// Which output of which input record a delivery report is about.
#[derive(Debug, Clone, Copy)]
struct OutputTag {
    source: SourcePartition,
    offset: i64,
    attempt: u32,
}

/// A delivery report, moved from the producer's callback to the worker.
struct Delivery {
    tag: OutputTag,
    result: Result<(), (KafkaError, OwnedMessage)>,
}

/// The producer's context: hands every delivery report to the worker through a channel, after
/// the interceptors' `on_acknowledgement`.
struct DeliveryReports {
    worker: String,
    sender: Sender<Delivery>,
    interceptors: Interceptors,
}

impl ClientContext for DeliveryReports {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        librdkafka(
            &format!("{}-producer", self.worker),
            level,
            fac,
            log_message,
        );
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(worker = %self.worker, "producer error: {error}: {reason}");
    }
}

impl ProducerContext for DeliveryReports {
    type DeliveryOpaque = Box<OutputTag>;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: Box<OutputTag>) {
        self.interceptors
            .on_acknowledgement(|| Acknowledgement::of_delivery(result));
        let result = match result {
            Ok(_) => Ok(()),
            Err((error, message)) => Err((error.clone(), message.detach())),
        };
        // The receiver lives as long as the producer; a send error means the worker is gone.
        let _ = self.sender.send(Delivery { tag: *tag, result });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The part of a worker its rebalance callbacks need: producer, offsets, backpressure state.
struct Pipeline {
    shared: Arc<Shared>,
    worker: String,
    producer: BaseProducer<DeliveryReports>,
    deliveries: Receiver<Delivery>,
    tracker: OffsetTracker,
    backpressure: Backpressure,
    processing_errors: LogRateLimiter,
    delivery_errors: LogRateLimiter,
    /// An error met inside a rebalance callback, for the poll loop to raise.
    failure: Option<WorkerError>,
    metrics: WorkerMetrics,
}

impl Pipeline {
    fn source_partition(&self, topic: &str, partition: i32) -> SourcePartition {
        let topic = self
            .shared
            .source_topics
            .iter()
            .position(|source| source == topic)
            .unwrap_or(usize::MAX);
        SourcePartition { topic, partition }
    }

    /// Runs the topology on one record, applies the error policy, and sends the outputs.
    fn process(&mut self, message: &BorrowedMessage<'_>) -> Result<(), WorkerError> {
        let started = Instant::now();
        let source = self.source_partition(message.topic(), message.partition());
        let headers = message.headers().map_or_else(Vec::new, |headers| {
            headers
                .iter()
                .map(|header| Header {
                    key: header.key.to_owned(),
                    value: header.value.map(<[u8]>::to_vec),
                })
                .collect()
        });
        let input = InputRecord {
            source: SourcePosition {
                topic: message.topic(),
                partition: message.partition(),
                offset: message.offset(),
            },
            timestamp: message.timestamp().to_millis().unwrap_or(-1),
            key: message.key(),
            value: message.payload(),
            headers,
        };
        self.shared
            .interceptors
            .on_consume(|| input.intercept_view());
        let shared = Arc::clone(&self.shared);
        let mut outputs = Vec::new();
        let mut push = |output| outputs.push(output);
        let processed = if self.metrics.observes_nodes() {
            let metrics = &mut self.metrics;
            shared
                .topology
                .process_observed(&input, &mut push, &mut |node| metrics.node_entered(node))
        } else {
            shared.topology.process(&input, &mut push)
        };
        if let Err(error) = processed {
            outputs.clear();
            let counter = match shared.errors.action(&input, &error) {
                ErrorAction::DeadLetter(letter) => {
                    outputs.push(letter);
                    Counter::RecordsDeadLettered
                }
                ErrorAction::Skip => Counter::RecordsSkipped,
                ErrorAction::Fail => {
                    return Err(WorkerError::Processing {
                        worker: self.worker.clone(),
                        topic: input.source.topic.to_owned(),
                        partition: input.source.partition,
                        offset: input.source.offset,
                        error: Box::new(error),
                    });
                }
            };
            shared.stats.add(counter, 1);
            if let Some(held_back) = self.processing_errors.admit(Instant::now()) {
                tracing::warn!(
                    worker = %self.worker,
                    policy = ?shared.errors.policy,
                    "record {}-{}@{} failed: {error} ({held_back} similar messages held back)",
                    input.source.topic,
                    input.source.partition,
                    input.source.offset,
                );
            }
        }
        shared.stats.add(Counter::RecordsProcessed, 1);
        let clock = self
            .metrics
            .consumed(source.topic, source.partition, input.timestamp);
        let bytes = message.payload_len() + message.key_len();
        self.tracker
            .record_consumed(source, message.offset(), outputs.len(), bytes);
        let tag = OutputTag {
            source,
            offset: message.offset(),
            attempt: 0,
        };
        for output in outputs {
            self.metrics
                .produced(&output.topic, output.timestamp, clock);
            let headers = (!output.headers.is_empty()).then(|| owned_headers(&output.headers));
            let record = OutgoingRecord {
                topic: &output.topic,
                key: output.key.as_deref(),
                value: output.value.as_deref(),
                timestamp: output.timestamp,
                headers,
            };
            self.send(record, tag)?;
        }
        self.metrics.processed(started.elapsed());
        Ok(())
    }

    /// Hands one output to the producer, waiting (and serving delivery reports) while its
    /// queue is full.
    fn send(&mut self, record: OutgoingRecord<'_>, tag: OutputTag) -> Result<(), WorkerError> {
        self.shared.interceptors.on_send(|| RecordView {
            topic: record.topic,
            partition: None,
            offset: None,
            timestamp: Some(record.timestamp).filter(|timestamp| *timestamp >= 0),
            key: record.key,
            value: record.value,
            headers: record.headers.as_ref().map_or_else(Vec::new, |headers| {
                headers
                    .iter()
                    .map(|header| HeaderView {
                        key: header.key,
                        value: header.value,
                    })
                    .collect()
            }),
        });
        let mut base = BaseRecord::with_opaque_to(record.topic, Box::new(tag));
        if let Some(key) = record.key {
            base = base.key(key);
        }
        if let Some(value) = record.value {
            base = base.payload(value);
        }
        if record.timestamp >= 0 {
            base = base.timestamp(record.timestamp);
        }
        if let Some(headers) = record.headers {
            base = base.headers(headers);
        }
        loop {
            match self.producer.send(base) {
                Ok(()) => {
                    self.shared.stats.add(Counter::OutputsSent, 1);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    base = returned;
                    self.producer.poll(POLL_INTERVAL);
                }
                Err((error, returned)) => {
                    let message = OwnedMessage::new(
                        returned.payload.map(<[u8]>::to_vec),
                        returned.key.map(<[u8]>::to_vec),
                        returned.topic.to_owned(),
                        returned.timestamp.map_or(
                            rdkafka::Timestamp::NotAvailable,
                            rdkafka::Timestamp::CreateTime,
                        ),
                        -1,
                        -1,
                        returned.headers,
                    );
                    return self.delivery_failed(*returned.delivery_opaque, error, message);
                }
            }
        }
    }

    /// Applies every delivery report received so far.
    fn serve_deliveries(&mut self) -> Result<(), WorkerError> {
        self.producer.poll(Duration::ZERO);
        while let Ok(delivery) = self.deliveries.try_recv() {
            match delivery.result {
                Ok(()) => {
                    self.shared.stats.add(Counter::OutputsAcknowledged, 1);
                    self.acknowledge(delivery.tag);
                }
                Err((error, message)) => self.delivery_failed(delivery.tag, error, message)?,
            }
        }
        Ok(())
    }

    fn acknowledge(&mut self, tag: OutputTag) {
        if let Err(stale) = self.tracker.output_acknowledged(tag.source, tag.offset) {
            // Its partition was revoked before the acknowledgement came: the new owner redoes it.
            tracing::debug!(worker = %self.worker, "{stale}");
        }
    }

    /// Re-sends an output after a retriable error, else applies the error policy.
    fn delivery_failed(
        &mut self,
        tag: OutputTag,
        error: KafkaError,
        mut message: OwnedMessage,
    ) -> Result<(), WorkerError> {
        let retries = self.shared.runtime.production_retries;
        if is_retriable(&error) && tag.attempt < retries {
            self.shared.stats.add(Counter::ProductionRetries, 1);
            let headers = message.detach_headers();
            let record = OutgoingRecord {
                topic: message.topic(),
                key: message.key(),
                value: message.payload(),
                timestamp: message.timestamp().to_millis().unwrap_or(-1),
                headers,
            };
            let retry = OutputTag {
                attempt: tag.attempt + 1,
                ..tag
            };
            return self.send(record, retry);
        }
        let shared = Arc::clone(&self.shared);
        let dead_letter_topic = shared.errors.dead_letter_topic();
        if let Some(dead_letter_topic) = dead_letter_topic.filter(|dlq| *dlq != message.topic()) {
            self.shared.stats.add(Counter::OutputsDeadLettered, 1);
            if let Some(held_back) = self.delivery_errors.admit(Instant::now()) {
                tracing::error!(
                    worker = %self.worker,
                    "output to {} failed after {} attempts: {error}; sent to {dead_letter_topic} \
                     ({held_back} similar messages held back)",
                    message.topic(),
                    tag.attempt + 1,
                );
            }
            let source_topic = shared.source_topics.get(tag.source.topic);
            let headers = production_error_headers(
                message.detach_headers(),
                &error,
                message.topic(),
                source_topic.map_or("", String::as_str),
                tag,
            );
            let record = OutgoingRecord {
                topic: dead_letter_topic,
                key: message.key(),
                value: message.payload(),
                timestamp: message.timestamp().to_millis().unwrap_or(-1),
                headers: Some(headers),
            };
            // One attempt only: if the dead-letter topic fails too, the output is dropped.
            let last_attempt = OutputTag {
                attempt: retries,
                ..tag
            };
            return self.send(record, last_attempt);
        }
        if self.shared.errors.policy == ErrorPolicy::Fail {
            return Err(WorkerError::Delivery {
                worker: self.worker.clone(),
                topic: message.topic().to_owned(),
                error: Box::new(error),
            });
        }
        self.shared.stats.add(Counter::OutputsDropped, 1);
        if let Some(held_back) = self.delivery_errors.admit(Instant::now()) {
            tracing::error!(
                worker = %self.worker,
                "output to {} dropped after {} attempts: {error} ({held_back} similar messages held back)",
                message.topic(),
                tag.attempt + 1,
            );
        }
        self.acknowledge(tag);
        Ok(())
    }

    /// Serves delivery reports until nothing is in flight or `deadline` passes; returns whether
    /// everything was acknowledged.
    fn finish_in_flight(&mut self, deadline: Instant) -> Result<bool, WorkerError> {
        loop {
            self.serve_deliveries()?;
            if self.tracker.in_flight_records() == 0 {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(
                    worker = %self.worker,
                    in_flight = self.tracker.in_flight_records(),
                    "gave up waiting for acknowledgements; those records will be processed again"
                );
                return Ok(false);
            }
            self.producer.poll(POLL_INTERVAL.min(deadline - now));
        }
    }

    /// Commits the committable offsets of `scope`, synchronously as Kafka Streams does: librdkafka
    /// reports the outcome of an asynchronous manual commit to nobody (rust-rdkafka sets no
    /// commit callback), and a failure must be known so the offsets are committed again.
    /// Returns whether everything committable is committed (also when there was nothing).
    fn commit(&mut self, consumer: &BaseConsumer<WorkerContext>, scope: CommitScope) -> bool {
        let commits = self.tracker.take_commits(scope);
        if commits.is_empty() {
            return true;
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in &commits {
            let Some(topic) = self.shared.source_topics.get(partition.topic) else {
                continue;
            };
            if let Err(error) =
                offsets.add_partition_offset(topic, partition.partition, Offset::Offset(*offset))
            {
                tracing::warn!(worker = %self.worker, "cannot commit {topic}-{}: {error}", partition.partition);
            }
        }
        let commit_started = Instant::now();
        let result = consumer.commit(&offsets, CommitMode::Sync);
        self.metrics.committed(commit_started.elapsed());
        self.shared.interceptors.on_commit(|| Commit {
            offsets: commits
                .iter()
                .filter_map(|(partition, offset)| {
                    Some(CommittedOffset {
                        topic: self.shared.source_topics.get(partition.topic)?,
                        partition: partition.partition,
                        offset: *offset,
                    })
                })
                .collect(),
            error: result.as_ref().err().map(ToString::to_string),
        });
        match result {
            Ok(()) => {
                self.shared.stats.add(Counter::Commits, 1);
                true
            }
            Err(error) => {
                tracing::warn!(worker = %self.worker, "commit failed: {error}");
                self.commit_failed(&offsets);
                false
            }
        }
    }

    /// Offers the offsets of a failed commit again at the next periodic commit.
    fn commit_failed(&mut self, offsets: &TopicPartitionList) {
        for element in offsets.elements() {
            if let Offset::Offset(offset) = element.offset() {
                let partition = self.source_partition(element.topic(), element.partition());
                self.tracker.commit_failed(partition, offset);
            }
        }
    }

    /// Flow control while too much is in flight, until half of it drained: first the worker
    /// holds — stops polling its consumer and waits for acknowledgements, leaving what librdkafka
    /// prefetched in its queue (which it bounds by `queued.max.messages.kbytes`) — and after
    /// [`HOLD_LIMIT`] it pauses the partitions and polls again. `pause()` discards the prefetched
    /// records (they are fetched again on `resume()`), so it is kept for long stalls such as an
    /// unreachable output broker. Returns whether to hold.
    fn apply_backpressure(&mut self, consumer: &BaseConsumer<WorkerContext>) -> bool {
        let limits = &self.shared.runtime;
        let (records, bytes) = (
            self.tracker.in_flight_records(),
            self.tracker.in_flight_bytes(),
        );
        let over = records >= limits.max_in_flight_records || bytes >= limits.max_in_flight_bytes;
        let drained =
            records <= limits.max_in_flight_records / 2 && bytes <= limits.max_in_flight_bytes / 2;
        match self.backpressure {
            Backpressure::Flowing if over => {
                self.backpressure = Backpressure::Holding(Instant::now());
                self.shared.stats.add(Counter::FetchPauses, 1);
                tracing::debug!(worker = %self.worker, records, bytes, "holding: too much in flight");
                true
            }
            Backpressure::Holding(_) | Backpressure::Paused if drained => {
                if self.backpressure == Backpressure::Paused {
                    self.pause_or_resume(consumer, false);
                }
                self.backpressure = Backpressure::Flowing;
                false
            }
            Backpressure::Holding(since) if since.elapsed() >= HOLD_LIMIT => {
                self.pause_or_resume(consumer, true);
                self.backpressure = Backpressure::Paused;
                false
            }
            Backpressure::Holding(_) => true,
            Backpressure::Flowing | Backpressure::Paused => false,
        }
    }

    fn pause_or_resume(&self, consumer: &BaseConsumer<WorkerContext>, pause: bool) {
        let result = consumer.assignment().and_then(|assignment| {
            if pause {
                consumer.pause(&assignment)
            } else {
                consumer.resume(&assignment)
            }
        });
        match result {
            Ok(()) => tracing::debug!(worker = %self.worker, pause, "fetch paused or resumed"),
            Err(error) => {
                tracing::warn!(worker = %self.worker, "cannot pause/resume fetching: {error}")
            }
        }
    }
}

/// A worker's flow control state (see [`Pipeline::apply_backpressure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backpressure {
    /// Consuming normally.
    Flowing,
    /// Not polling the consumer since then, waiting for acknowledgements.
    Holding(Instant),
    /// The assignment is paused; the consumer is polled for rebalances only.
    Paused,
}

/// An output about to be handed to the producer.
struct OutgoingRecord<'a> {
    topic: &'a str,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    timestamp: i64,
    headers: Option<OwnedHeaders>,
}

/// The headers of an output that could not be delivered, for the dead-letter topic: its own,
/// then KIP-1034's `__streams.errors.*` naming the production error, where it was going and the
/// input record it came from.
fn production_error_headers(
    headers: Option<OwnedHeaders>,
    error: &KafkaError,
    destination: &str,
    source_topic: &str,
    tag: OutputTag,
) -> OwnedHeaders {
    let added = [
        (HEADER_EXCEPTION, "production".to_owned()),
        (HEADER_MESSAGE, error.to_string()),
        (
            HEADER_STACKTRACE,
            format!("production error sending to {destination}: {error}"),
        ),
        (HEADER_TOPIC, source_topic.to_owned()),
        (HEADER_PARTITION, tag.source.partition.to_string()),
        (HEADER_OFFSET, tag.offset.to_string()),
    ];
    added.iter().fold(
        headers.unwrap_or_else(|| OwnedHeaders::new_with_capacity(added.len())),
        |owned, (key, value)| {
            owned.insert(KafkaHeader {
                key,
                value: Some(value.as_bytes()),
            })
        },
    )
}

fn owned_headers(headers: &[Header]) -> OwnedHeaders {
    headers.iter().fold(
        OwnedHeaders::new_with_capacity(headers.len()),
        |owned, header| {
            owned.insert(KafkaHeader {
                key: &header.key,
                value: header.value.as_ref(),
            })
        },
    )
}

/// The consumer's context: rebalance callbacks commit what is acknowledged and track membership.
struct WorkerContext {
    shared: Arc<Shared>,
    id: usize,
    worker: String,
    pipeline: Mutex<Pipeline>,
}

impl ClientContext for WorkerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        librdkafka(
            &format!("{}-consumer", self.worker),
            level,
            fac,
            log_message,
        );
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(worker = %self.worker, "consumer error: {error}: {reason}");
    }

    fn stats(&self, statistics: Statistics) {
        lock(&self.pipeline).metrics.update_lag(&statistics);
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        self.shared.set_assigned(self.id, false);
        tracing::info!(worker = %self.worker, partitions = revoked.count(), "partitions revoked");
        let mut pipeline = lock(&self.pipeline);
        pipeline.metrics.assigned(Vec::new(), false);
        let deadline = Instant::now() + self.shared.runtime.shutdown_timeout();
        if let Err(error) = pipeline.finish_in_flight(deadline) {
            pipeline.failure.get_or_insert(error);
        }
        pipeline.commit(consumer, CommitScope::All);
        for element in revoked.elements() {
            let partition = pipeline.source_partition(element.topic(), element.partition());
            pipeline.tracker.forget(partition);
        }
        // Revoked partitions take their pause with them; the next assignment starts flowing.
        pipeline.backpressure = Backpressure::Flowing;
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(assigned) => {
                let partitions: Vec<String> = assigned
                    .elements()
                    .iter()
                    .map(|element| format!("{}-{}", element.topic(), element.partition()))
                    .collect();
                tracing::info!(worker = %self.worker, ?partitions, "partitions assigned");
                lock(&self.pipeline).metrics.assigned(partitions, true);
                self.shared.set_assigned(self.id, true);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => {
                tracing::warn!(worker = %self.worker, "rebalance failed: {error}");
            }
        }
    }
}

/// Runs worker `id` until shutdown is requested or it fails.
pub(super) fn run(shared: Arc<Shared>, id: usize) -> Result<(), WorkerError> {
    let worker = shared.worker_name(id);
    let kafka_error = |action| {
        let worker = worker.clone();
        move |source| WorkerError::Kafka {
            worker,
            action,
            source: Box::new(source),
        }
    };
    let (sender, deliveries) = mpsc::channel();
    let producer: BaseProducer<DeliveryReports> =
        super::clients::producer_config(&shared.kafka, &format!("{worker}-producer"))
            .create_with_context(DeliveryReports {
                worker: worker.clone(),
                sender,
                interceptors: shared.interceptors.clone(),
            })
            .map_err(kafka_error("creating the producer"))?;
    let pipeline = Pipeline {
        shared: Arc::clone(&shared),
        worker: worker.clone(),
        producer,
        deliveries,
        tracker: OffsetTracker::new(),
        backpressure: Backpressure::Flowing,
        processing_errors: LogRateLimiter::new(ERROR_LOG_INTERVAL),
        delivery_errors: LogRateLimiter::new(ERROR_LOG_INTERVAL),
        failure: None,
        metrics: shared.metrics.worker(
            &worker,
            &shared.source_topics,
            &shared.topology.sink_topics(),
        ),
    };
    let context = WorkerContext {
        shared: Arc::clone(&shared),
        id,
        worker: worker.clone(),
        pipeline: Mutex::new(pipeline),
    };
    let consumer: BaseConsumer<WorkerContext> = super::clients::consumer_config(
        &shared.kafka,
        &format!("{worker}-consumer"),
        shared.monitoring.statistics_interval_ms,
    )
    .create_with_context(context)
    .map_err(kafka_error("creating the consumer"))?;
    let topics: Vec<&str> = shared.source_topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(kafka_error("subscribing"))?;
    tracing::info!(worker = %worker, ?topics, "worker started");
    poll_loop(&shared, &consumer, &worker)?;

    let deadline = Instant::now() + shared.runtime.shutdown_timeout();
    let mut pipeline = lock(&consumer.context().pipeline);
    let complete = pipeline.finish_in_flight(deadline)?;
    // A member that lost its group membership cannot commit; the group's next owner of these
    // partitions re-processes from the committed offsets (at least once).
    let committed = pipeline.commit(&consumer, CommitScope::All);
    drop(pipeline);
    // Dropping the consumer closes it: its partitions are revoked (committing again, with nothing
    // new) and it leaves the group.
    drop(consumer);
    tracing::info!(worker = %worker, complete, committed, "worker stopped");
    Ok(())
}

fn poll_loop(
    shared: &Shared,
    consumer: &BaseConsumer<WorkerContext>,
    worker: &str,
) -> Result<(), WorkerError> {
    let commit_interval = shared.runtime.commit_interval();
    let mut next_commit = Instant::now() + commit_interval;
    let warning_delay = shared.runtime.assignment_warning();
    // Since when the worker has been without an assignment, and when to warn about it next.
    let mut unassigned = Some((Instant::now(), Instant::now() + warning_delay));
    let mut consumer_errors = LogRateLimiter::new(ERROR_LOG_INTERVAL);
    // Whether the last round decided to hold back from the consumer (see `apply_backpressure`).
    let mut holding = false;
    while !shared.shutdown.load(Ordering::Acquire) {
        let poll_started = (!holding).then(Instant::now);
        let polled = if holding {
            None
        } else {
            consumer.poll(POLL_INTERVAL)
        };
        let mut pipeline = lock(&consumer.context().pipeline);
        if let Some(started) = poll_started {
            pipeline.metrics.polled(started.elapsed());
        }
        if let Some(failure) = pipeline.failure.take() {
            return Err(failure);
        }
        match polled {
            Some(Ok(message)) => pipeline.process(&message)?,
            Some(Err(error)) => {
                if let Some(held_back) = consumer_errors.admit(Instant::now()) {
                    tracing::warn!(
                        worker,
                        "consumer error: {error} ({held_back} similar held back)"
                    );
                }
            }
            None => {}
        }
        if holding {
            // Wait for acknowledgements instead of records.
            pipeline.producer.poll(POLL_INTERVAL);
        }
        pipeline.serve_deliveries()?;
        holding = pipeline.apply_backpressure(consumer);
        let now = Instant::now();
        if now >= next_commit {
            pipeline.commit(consumer, CommitScope::Changed);
            next_commit = now + commit_interval;
        }
        let clients = [
            ("consumer", consumer.client().fatal_error()),
            ("producer", pipeline.producer.client().fatal_error()),
        ];
        if let Some((client, Some((code, reason)))) =
            clients.into_iter().find(|(_, fatal)| fatal.is_some())
        {
            return Err(WorkerError::Fatal {
                worker: worker.to_owned(),
                client,
                code,
                reason,
            });
        }
        unassigned = match (shared.is_assigned(consumer.context().id), unassigned) {
            (true, _) => None,
            (false, None) => Some((now, now + warning_delay)),
            (false, Some((since, warn_at))) if now >= warn_at => {
                tracing::warn!(
                    worker,
                    bootstrap_servers = %shared.kafka.bootstrap_servers,
                    "no partition assignment for {:.0} s: are the brokers reachable and do the \
                     topics {:?} exist?",
                    (now - since).as_secs_f64(),
                    shared.source_topics,
                );
                Some((since, now + warning_delay))
            }
            (false, waiting) => waiting,
        };
    }
    Ok(())
}
