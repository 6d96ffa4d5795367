//! The producing half of a worker: outputs handed to the idempotent producer, delivery reports
//! brought back to the worker's thread, retries, dead letters of outputs that cannot be written,
//! and waiting for what is in flight.

use std::sync::mpsc::Sender;
use std::time::Instant;

use ferrobeat_toolbox::intercept::{Acknowledgement, HeaderView, Interceptors, RecordView};
use ferrobeat_toolbox::kafka::librdkafka;
use rdkafka::Message;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{
    DeliveryResult, Header as KafkaHeader, Headers, OwnedHeaders, OwnedMessage,
};
use rdkafka::producer::{BaseRecord, ProducerContext};

use super::{POLL_INTERVAL, Pipeline, WorkerError};
use crate::errors::{
    HEADER_EXCEPTION, HEADER_MESSAGE, HEADER_OFFSET, HEADER_PARTITION, HEADER_STACKTRACE,
    HEADER_TOPIC, HEADER_TRUNCATED,
};
use crate::record::Header;
use crate::runtime::delivery::{DeliveryDecision, FailedDelivery, TRUNCATED_VALUE_BYTES, decide};
use crate::runtime::offsets::SourcePartition;
use crate::runtime::stats::Counter;

/// Which output of which input record a delivery report is about.
#[derive(Debug, Clone, Copy)]
pub(super) struct OutputTag {
    pub(super) source: SourcePartition,
    pub(super) offset: i64,
    pub(super) attempt: u32,
    /// For a changelog record: the local store it belongs to (its task is the source
    /// partition), whose checkpoint its acknowledgement moves.
    pub(super) store: Option<usize>,
    /// For an output of a wall-clock punctuation (no input record): its hold in the offset
    /// tracker, which its acknowledgement releases.
    pub(super) punctuation: Option<u64>,
}

/// A delivery report, moved from the producer's callback to the worker.
pub(super) struct Delivery {
    /// The output's slot in the worker's [`OutputTags`](super::tags::OutputTags).
    tag: usize,
    /// The written record's offset, or why it was not written (boxed: the channel moves every
    /// report, and nearly all are successes).
    result: Result<i64, Box<(KafkaError, OwnedMessage)>>,
}

/// The producer's context: hands every delivery report to the worker through a channel, after
/// the interceptors' `on_acknowledgement`.
pub(super) struct DeliveryReports {
    pub(super) worker: String,
    pub(super) sender: Sender<Delivery>,
    pub(super) interceptors: Interceptors,
}

// The ClientContext hooks, as for the consumer (consume.rs): each names its own client.
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
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: usize) {
        self.interceptors
            .on_acknowledgement(|| Acknowledgement::of_delivery(result));
        let result = match result {
            Ok(message) => Ok(message.offset()),
            Err((error, message)) => Err(Box::new((error.clone(), message.detach()))),
        };
        // The receiver lives as long as the producer; a send error means the worker is gone.
        let _ = self.sender.send(Delivery { tag, result });
    }
}

/// An output about to be handed to the producer.
pub(super) struct OutgoingRecord<'a> {
    pub(super) topic: &'a str,
    /// The partition, when the record must go to one (a changelog's task partition); else
    /// the producer's partitioner decides.
    pub(super) partition: Option<i32>,
    pub(super) key: Option<&'a [u8]>,
    pub(super) value: Option<&'a [u8]>,
    pub(super) timestamp: i64,
    pub(super) headers: Option<OwnedHeaders>,
}

impl<'a> OutgoingRecord<'a> {
    /// `message` (a returned or failed output) to send again, possibly elsewhere; to the same
    /// partition if `pinned` (a changelog record belongs to its task's partition), else where
    /// the partitioner decides anew.
    fn resend(message: &'a mut OwnedMessage, pinned: bool) -> Self {
        let headers = message.detach_headers();
        OutgoingRecord {
            topic: message.topic(),
            partition: (pinned && message.partition() >= 0).then(|| message.partition()),
            key: message.key(),
            value: message.payload(),
            timestamp: message.timestamp().to_millis().unwrap_or(-1),
            headers,
        }
    }
}

impl Pipeline {
    /// Hands one output to the producer, waiting (and serving delivery reports) while its
    /// queue is full.
    pub(super) fn send(
        &mut self,
        record: OutgoingRecord<'_>,
        tag: OutputTag,
    ) -> Result<(), WorkerError> {
        self.shared.interceptors().on_send(|| RecordView {
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
        let mut base = BaseRecord::with_opaque_to(record.topic, self.tags.insert(tag));
        if let Some(key) = record.key {
            base = base.key(key);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
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
                        returned.partition.unwrap_or(-1),
                        -1,
                        returned.headers,
                    );
                    // Refused before it was queued: no delivery report will come. The failure
                    // is handled after this send returns, never from inside it.
                    self.refused.push(Delivery {
                        tag: returned.delivery_opaque,
                        result: Err(Box::new((error, message))),
                    });
                    return Ok(());
                }
            }
        }
    }

    /// Applies every delivery report the producer holds, and every output it refused. A poll
    /// that may not wait serves one delivery-report event (the acknowledgements of one produce
    /// request) at most, so the producer is polled until a poll brings nothing: served once per
    /// batch of records, a single event per call fell behind the acknowledgements, and the
    /// worker held back from consuming for want of them.
    pub(super) fn serve_deliveries(&mut self) -> Result<(), WorkerError> {
        loop {
            self.producer.poll(std::time::Duration::ZERO);
            if self.apply_deliveries()? == 0 {
                return Ok(());
            }
        }
    }

    /// Applies the delivery reports received so far and the refused outputs; returns how many.
    fn apply_deliveries(&mut self) -> Result<usize, WorkerError> {
        let mut applied = 0;
        loop {
            let delivery = match self.refused.pop() {
                Some(refused) => refused,
                None => match self.deliveries.try_recv() {
                    Ok(delivery) => delivery,
                    Err(_) => return Ok(applied),
                },
            };
            applied += 1;
            let Some(tag) = self.tags.take(delivery.tag) else {
                // Every output gets exactly one report, and only that report frees its slot.
                tracing::warn!(
                    worker = %self.worker,
                    slot = delivery.tag,
                    "delivery report for no output in flight"
                );
                continue;
            };
            match delivery.result {
                Ok(offset) => {
                    self.shared.stats.add(Counter::OutputsAcknowledged, 1);
                    if let Some(store) = tag.store
                        && let Some(task) = self.tasks.get_mut(&tag.source.partition)
                    {
                        task.changelog_position_reached(store, offset + 1);
                    }
                    self.acknowledge(tag);
                }
                Err(failed) => {
                    let (error, message) = *failed;
                    self.delivery_failed(tag, error, message)?;
                }
            }
        }
    }

    fn acknowledge(&mut self, tag: OutputTag) {
        let acknowledged = match tag.punctuation {
            Some(hold) => self
                .tracker
                .punctuation_acknowledged(hold)
                .map_err(|stale| stale.to_string()),
            None => self
                .tracker
                .output_acknowledged(tag.source, tag.offset)
                .map_err(|stale| stale.to_string()),
        };
        if let Err(stale) = acknowledged {
            // Its partition was revoked before the acknowledgement came: the new owner redoes it.
            tracing::debug!(worker = %self.worker, "{stale}");
        }
    }

    /// Retries, dead-letters or skips an output whose delivery failed, or fails the worker
    /// ([`decide`]); an output that was not written is never acknowledged, so no commit passes it.
    fn delivery_failed(
        &mut self,
        tag: OutputTag,
        error: KafkaError,
        mut message: OwnedMessage,
    ) -> Result<(), WorkerError> {
        let errors = &self.shared.config.errors;
        let dead_letter_topic = errors.dead_letter_topic().map(str::to_owned);
        let is_dead_letter = dead_letter_topic.as_deref() == Some(message.topic());
        let failure = FailedDelivery::of(&error, tag.attempt, is_dead_letter);
        let decision = decide(
            failure,
            self.shared.config.runtime.production_retries,
            errors.policy,
        );
        match (decision, dead_letter_topic) {
            (DeliveryDecision::Retry, _) => {
                self.shared.stats.add(Counter::ProductionRetries, 1);
                let retry = OutputTag {
                    attempt: tag.attempt + 1,
                    ..tag
                };
                let pinned = self
                    .shared
                    .changelogs
                    .iter()
                    .any(|log| log == message.topic());
                self.send(OutgoingRecord::resend(&mut message, pinned), retry)
            }
            (DeliveryDecision::DeadLetter { truncate }, Some(dead_letter_topic)) => {
                self.dead_letter_output(tag, &error, message, truncate, &dead_letter_topic)
            }
            (DeliveryDecision::Skip, _) => {
                self.shared.stats.add(Counter::OutputsDropped, 1);
                if let Some(held_back) = self.delivery_errors.admit(Instant::now()) {
                    tracing::error!(
                        worker = %self.worker,
                        "output to {} can never be written and the policy is log-and-continue: \
                         dropped: {error} ({held_back} similar messages held back)",
                        message.topic(),
                    );
                }
                self.acknowledge(tag);
                Ok(())
            }
            (DeliveryDecision::Fail | DeliveryDecision::DeadLetter { .. }, _) => {
                Err(WorkerError::Delivery {
                    worker: self.worker.clone(),
                    topic: message.topic().to_owned(),
                    record: format!(
                        "{}-{}@{}",
                        self.shared.source_topic(tag.source.topic),
                        tag.source.partition,
                        tag.offset
                    ),
                    error: Box::new(error),
                })
            }
        }
    }

    /// Sends an output whose delivery failed to the dead-letter topic, with headers naming the
    /// error, its value cut when `truncate` (it was too large to be written).
    fn dead_letter_output(
        &mut self,
        tag: OutputTag,
        error: &KafkaError,
        mut message: OwnedMessage,
        truncate: bool,
        dead_letter_topic: &str,
    ) -> Result<(), WorkerError> {
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
        let source_topic = self.shared.source_topic(tag.source.topic);
        let original_length = message.payload().map_or(0, <[u8]>::len);
        let mut record = OutgoingRecord::resend(&mut message, false);
        let headers = production_error_headers(
            record.headers.take(),
            error,
            record.topic,
            source_topic,
            tag,
        );
        record.headers = Some(if truncate {
            record.value = record
                .value
                .map(|value| &value[..value.len().min(TRUNCATED_VALUE_BYTES)]);
            headers.insert(KafkaHeader {
                key: HEADER_TRUNCATED,
                value: Some(original_length.to_string().as_bytes()),
            })
        } else {
            headers
        });
        record.topic = dead_letter_topic;
        record.partition = None;
        self.send(
            record,
            OutputTag {
                attempt: 0,
                store: None,
                ..tag
            },
        )
    }

    /// Serves delivery reports until nothing is in flight or `deadline` passes; returns whether
    /// everything was acknowledged.
    pub(super) fn finish_in_flight(&mut self, deadline: Instant) -> Result<bool, WorkerError> {
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
        headers.unwrap_or_else(|| OwnedHeaders::new_with_capacity(added.len() + 1)),
        |owned, (key, value)| {
            owned.insert(KafkaHeader {
                key,
                value: Some(value.as_bytes()),
            })
        },
    )
}

/// The headers of an output record, as the producer takes them (their only copy).
pub(super) fn owned_headers(headers: &[Header<'_>]) -> OwnedHeaders {
    headers.iter().fold(
        OwnedHeaders::new_with_capacity(headers.len()),
        |owned, header| {
            owned.insert(KafkaHeader {
                key: &header.key,
                value: header.value.as_deref(),
            })
        },
    )
}
