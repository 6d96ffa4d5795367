//! One worker thread (Kafka Streams' `StreamThread`): a group member with its own consumer and
//! idempotent producer, running the topology on every record of the partitions it is assigned.
//!
//! * this module: the poll loop and the topology call, with the processing-error policy;
//! * [`batch`]: taking one poll's batch of records, the bookkeeping left to once per batch;
//! * [`consume`]: the consumer's context (rebalances, statistics) and input records;
//! * [`produce`]: sending outputs, delivery reports, retries and dead letters;
//! * [`commit`]: synchronous commits of what the offset tracker allows, and store checkpoints;
//! * [`error`]: why a worker stops;
//! * [`ordered`]: timestamp order across a stateful task's partitions ([`super::task_order`]).
//!
//! Offsets are committed only up to the first record whose outputs are not all acknowledged: every
//! commit interval, when partitions are revoked, and on shutdown. The decisions themselves are
//! pure and tested on their own: what to commit ([`super::offsets`]), when to hold or pause
//! ([`super::backpressure`]), what to do with a failed delivery ([`super::delivery`]).

mod batch;
mod commit;
pub(super) mod consume;
mod error;
mod ordered;
mod produce;
mod punctuate;
mod tags;

pub use error::WorkerError;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};

use self::consume::{WorkerContext, input_record};
use self::produce::{Delivery, DeliveryReports, OutgoingRecord, OutputTag, owned_headers};
use super::Shared;
use super::backpressure::{Backpressure, FlowAction, InFlightLimits};
use super::observer::{RecordClock, WorkerObserver};
use super::offsets::{CommitScope, OffsetTracker};
use super::stats::Counter;
use crate::errors::{ErrorAction, LogRateLimiter};
use crate::record::OutputRecord;
use crate::state::{StoreChange, TaskState};
use crate::topology::ProcessingError;

/// How long one consumer poll may block: bounds how fast a worker notices a shutdown request.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// At most one line per this interval for each kind of repeated error.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The part of a worker its rebalance callbacks need: producer, offsets, backpressure state.
struct Pipeline {
    shared: Arc<Shared>,
    worker: String,
    producer: BaseProducer<DeliveryReports>,
    deliveries: Receiver<Delivery>,
    /// Outputs the producer refused before queueing them, handled with the delivery reports.
    refused: Vec<Delivery>,
    /// The tags of the outputs handed to the producer, until their delivery report.
    tags: tags::OutputTags,
    tracker: OffsetTracker,
    backpressure: Backpressure,
    processing_errors: LogRateLimiter,
    delivery_errors: LogRateLimiter,
    /// An error met inside a rebalance callback, for the poll loop to raise.
    failure: Option<WorkerError>,
    observer: Box<dyn WorkerObserver>,
    /// The state of a stateless topology: no local store, the global stores.
    stateless: TaskState,
    /// The tasks of a stateful topology, by partition: each partition number of the source
    /// topics is one task, holding its stores.
    tasks: HashMap<i32, TaskState>,
    /// Records waiting for their task's timestamp order (`None`: processed as consumed).
    ordered: Option<ordered::Ordered>,
    /// Records processed since they were last reported ([`Pipeline::report_processed`]).
    processed: usize,
    /// The allocation of the last record's outputs, empty, for the next one's.
    spare_outputs: Vec<OutputRecord<'static>>,
}

/// `spare` emptied, as a vector of outputs borrowing for any lifetime: its allocation is reused
/// (collecting a vector's own `into_iter` of a same-sized type stays in place), so a record's
/// outputs cost no allocation.
fn recycled<'a>(mut spare: Vec<OutputRecord<'_>>) -> Vec<OutputRecord<'a>> {
    spare.clear();
    spare
        .into_iter()
        .map(|_| unreachable!("the vector was emptied"))
        .collect()
}

impl Pipeline {
    /// Runs the topology on one record, applies the error policy, fires the stream-time
    /// punctuations due after it, and sends the outputs (the punctuations' count as the
    /// record's: its offset is committed once they are acknowledged too). `clock` is the wall
    /// clock of the record's batch, read once for all of them.
    fn process<M: Message>(&mut self, message: &M, clock: RecordClock) -> Result<(), WorkerError> {
        let source = self
            .shared
            .source_partition(message.topic(), message.partition());
        let input = input_record(message);
        let shared = Arc::clone(&self.shared);
        shared.interceptors().on_consume(|| input.intercept_view());
        let mut outputs = recycled(std::mem::take(&mut self.spare_outputs));
        let mut push = |output| outputs.push(output);
        let state = punctuate::task_of(
            &shared,
            &self.worker,
            &mut self.tasks,
            &mut self.stateless,
            message.partition(),
        )?;
        let late = state.dropped_late();
        let processed = if self.observer.observes_nodes() {
            let observer = &mut self.observer;
            shared
                .topology
                .process_observed(state, &input, &mut push, &mut |node| {
                    observer.node_entered(node)
                })
        } else {
            shared.topology.process_in(state, &input, &mut push)
        };
        let changes = state.take_changes();
        let late = state.dropped_late() - late;
        if late > 0 {
            shared.stats.add(Counter::RecordsDroppedLate, late);
        }
        if let Err(error) = processed {
            outputs.clear();
            outputs.extend(self.processing_failed(&shared, &input, error, None)?);
        }
        let punctuated = self.punctuate_stream_time(&shared, message.partition(), &mut outputs)?;
        self.processed += 1;
        self.observer
            .consumed(source.topic, source.partition, input.timestamp, clock);
        let bytes = message.payload().map_or(0, <[u8]>::len) + message.key().map_or(0, <[u8]>::len);
        self.tracker.record_consumed(
            source,
            message.offset(),
            outputs.len() + changes.len() + punctuated.changes.len(),
            bytes,
        );
        let tag = OutputTag {
            source,
            offset: message.offset(),
            attempt: 0,
            store: None,
            punctuation: None,
        };
        self.send_outputs(&mut outputs, tag, clock)?;
        self.spare_outputs = recycled(outputs);
        self.send_changes(&changes, message.partition(), input.timestamp, tag)?;
        self.send_changes(
            &punctuated.changes,
            message.partition(),
            punctuated.time,
            tag,
        )
    }

    /// Hands `outputs` to the producer as outputs of `tag`, leaving it empty.
    fn send_outputs(
        &mut self,
        outputs: &mut Vec<OutputRecord<'_>>,
        tag: OutputTag,
        clock: RecordClock,
    ) -> Result<(), WorkerError> {
        for output in outputs.drain(..) {
            self.observer
                .produced(&output.topic, output.timestamp, clock);
            let headers = (!output.headers.is_empty()).then(|| owned_headers(&output.headers));
            let record = OutgoingRecord {
                topic: &output.topic,
                partition: None,
                key: output.key.as_deref(),
                value: output.value.as_deref(),
                timestamp: output.timestamp,
                headers,
            };
            self.send(record, tag)?;
        }
        Ok(())
    }

    /// Applies the error policy to `input`, which the topology failed on (or, for the
    /// punctuation of task `punctuation`, the input standing for no record): the dead letter
    /// to send, if any, or the worker's failure under `fail`.
    fn processing_failed<'a>(
        &mut self,
        shared: &'a Shared,
        input: &crate::record::InputRecord<'a>,
        error: ProcessingError,
        punctuation: Option<i32>,
    ) -> Result<Option<OutputRecord<'a>>, WorkerError> {
        let (counter, letter) = match shared.config.errors.action(input, &error) {
            ErrorAction::DeadLetter(letter) => (Counter::RecordsDeadLettered, Some(letter)),
            ErrorAction::Skip => (Counter::RecordsSkipped, None),
            ErrorAction::Fail => {
                let worker = self.worker.clone();
                let error = Box::new(error);
                return Err(match punctuation {
                    Some(partition) => WorkerError::Punctuation {
                        worker,
                        partition,
                        error,
                    },
                    None => WorkerError::Processing {
                        worker,
                        topic: input.source.topic.to_owned(),
                        partition: input.source.partition,
                        offset: input.source.offset,
                        error,
                    },
                });
            }
        };
        shared.stats.add(counter, 1);
        if let Some(held_back) = self.processing_errors.admit(Instant::now()) {
            let failed = match punctuation {
                Some(partition) => format!("punctuation of task {partition}"),
                None => format!(
                    "record {}-{}@{}",
                    input.source.topic, input.source.partition, input.source.offset
                ),
            };
            tracing::warn!(
                worker = %self.worker,
                policy = ?shared.config.errors.policy,
                "{failed} failed: {error} ({held_back} similar messages held back)",
            );
        }
        Ok(letter)
    }

    /// Sends a record's store changes to the same partition of their changelogs, as outputs
    /// of the record (`tag`): its offset is committed only once they are acknowledged too.
    fn send_changes(
        &mut self,
        changes: &[StoreChange],
        partition: i32,
        timestamp: i64,
        tag: OutputTag,
    ) -> Result<(), WorkerError> {
        let shared = Arc::clone(&self.shared);
        for change in changes {
            let record = OutgoingRecord {
                topic: &shared.changelogs[change.store],
                partition: Some(partition),
                key: Some(&change.key),
                value: change.value.as_deref(),
                timestamp,
                headers: None,
            };
            self.send(
                record,
                OutputTag {
                    store: Some(change.store),
                    ..tag
                },
            )?;
        }
        Ok(())
    }

    /// The in-flight limits of the runtime's configuration.
    fn in_flight_limits(&self) -> InFlightLimits {
        InFlightLimits {
            records: self.shared.config.runtime.max_in_flight_records,
            bytes: self.shared.config.runtime.max_in_flight_bytes,
        }
    }

    /// Moves the flow-control state on at `now` (see [`super::backpressure`]); returns whether
    /// to hold back from polling the consumer.
    fn apply_backpressure(&mut self, consumer: &BaseConsumer<WorkerContext>, now: Instant) -> bool {
        let limits = self.in_flight_limits();
        let (records, bytes) = (
            self.tracker.in_flight_records(),
            self.tracker.in_flight_bytes(),
        );
        let (next, action) = self.backpressure.next(records, bytes, limits, now);
        if self.backpressure == Backpressure::Flowing && next.holds() {
            self.shared.stats.add(Counter::FetchPauses, 1);
            tracing::debug!(worker = %self.worker, records, bytes, "holding: too much in flight");
        }
        self.backpressure = next;
        let result = match action {
            FlowAction::None => return next.holds(),
            FlowAction::Pause => consumer.assignment().and_then(|list| consumer.pause(&list)),
            FlowAction::Resume => self.resume_all(consumer),
        };
        match result {
            Ok(()) => tracing::debug!(worker = %self.worker, ?action, "fetch paused or resumed"),
            Err(error) => {
                tracing::warn!(worker = %self.worker, "cannot pause/resume fetching: {error}")
            }
        }
        next.holds()
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
        super::clients::producer_config(&shared.config, &format!("{worker}-producer"))
            .create_with_context(DeliveryReports {
                worker: worker.clone(),
                sender,
                interceptors: shared.interceptors().clone(),
            })
            .map_err(kafka_error("creating the producer"))?;
    let pipeline = Pipeline {
        shared: Arc::clone(&shared),
        worker: worker.clone(),
        producer,
        deliveries,
        refused: Vec::new(),
        tags: tags::OutputTags::default(),
        tracker: OffsetTracker::new(),
        backpressure: Backpressure::Flowing,
        processing_errors: LogRateLimiter::new(ERROR_LOG_INTERVAL),
        delivery_errors: LogRateLimiter::new(ERROR_LOG_INTERVAL),
        failure: None,
        observer: shared.observer.worker(
            &worker,
            &shared.source_topics,
            &shared.topology.sink_topics(),
        ),
        stateless: shared.topology.new_task_state(&shared.globals),
        tasks: HashMap::new(),
        ordered: ordered::Ordered::for_topology(&shared),
        processed: 0,
        spare_outputs: Vec::new(),
    };
    let context = WorkerContext {
        shared: Arc::clone(&shared),
        id,
        worker: worker.clone(),
        pipeline: Mutex::new(pipeline),
    };
    let consumer: BaseConsumer<WorkerContext> = super::clients::consumer_config(
        &shared.config,
        &format!("{worker}-consumer"),
        shared.has_tasks(),
    )
    .create_with_context(context)
    .map_err(kafka_error("creating the consumer"))?;
    let topics: Vec<&str> = shared.source_topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(kafka_error("subscribing"))?;
    tracing::info!(worker = %worker, ?topics, "worker started");
    poll_loop(&shared, &consumer, &worker)?;

    let deadline = Instant::now() + shared.config.runtime.shutdown_timeout;
    let mut pipeline = consumer.context().pipeline.lock();
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

/// Polls and processes a batch of records, then serves deliveries, applies backpressure and
/// commits, until shutdown.
fn poll_loop(
    shared: &Shared,
    consumer: &BaseConsumer<WorkerContext>,
    worker: &str,
) -> Result<(), WorkerError> {
    let commit_interval = shared.config.runtime.commit_interval;
    let mut next_commit = Instant::now() + commit_interval;
    let mut unassigned = AssignmentWatch::new(shared.config.runtime.assignment_warning);
    let mut consumer_errors = LogRateLimiter::new(ERROR_LOG_INTERVAL);
    // Whether the last round decided to hold back from the consumer (see `apply_backpressure`).
    let mut holding = false;
    // How long a poll may wait: less than POLL_INTERVAL when a wall-clock punctuation is due.
    let mut poll_timeout = POLL_INTERVAL;
    while !shared.shutdown.load(Ordering::Acquire) {
        if !holding {
            batch::poll_batch(consumer, poll_timeout, &mut consumer_errors, worker)?;
        }
        let mut pipeline = consumer.context().pipeline.lock();
        // A rebalance callback of a poll that returned no record may have failed.
        if let Some(failure) = pipeline.failure.take() {
            return Err(failure);
        }
        pipeline.process_ready(consumer)?;
        pipeline.punctuate_wall_clock()?;
        if holding {
            // Wait for acknowledgements instead of records.
            pipeline.producer.poll(POLL_INTERVAL);
        }
        pipeline.serve_deliveries()?;
        let now = Instant::now();
        holding = pipeline.apply_backpressure(consumer, now);
        if now >= next_commit {
            pipeline.commit(consumer, CommitScope::Changed);
            next_commit = now + commit_interval;
        }
        poll_timeout = pipeline.poll_timeout();
        fatal_error(consumer, &pipeline.producer, worker)?;
        unassigned.observe(
            shared,
            worker,
            shared.is_assigned(consumer.context().id),
            now,
        );
    }
    Ok(())
}

/// A fatal error of either client (e.g. the idempotent producer lost its sequence).
fn fatal_error(
    consumer: &BaseConsumer<WorkerContext>,
    producer: &BaseProducer<DeliveryReports>,
    worker: &str,
) -> Result<(), WorkerError> {
    let clients = [
        ("consumer", consumer.client().fatal_error()),
        ("producer", producer.client().fatal_error()),
    ];
    match clients.into_iter().find(|(_, fatal)| fatal.is_some()) {
        Some((client, Some((code, reason)))) => Err(WorkerError::Fatal {
            worker: worker.to_owned(),
            client,
            code,
            reason,
        }),
        _ => Ok(()),
    }
}

/// Warns, every `delay`, while a worker has no partition assignment.
struct AssignmentWatch {
    delay: Duration,
    /// Since when the worker has been without an assignment, and when to warn next.
    unassigned: Option<(Instant, Instant)>,
}

impl AssignmentWatch {
    fn new(delay: Duration) -> Self {
        let now = Instant::now();
        AssignmentWatch {
            delay,
            unassigned: Some((now, now + delay)),
        }
    }

    fn observe(&mut self, shared: &Shared, worker: &str, assigned: bool, now: Instant) {
        self.unassigned = match (assigned, self.unassigned) {
            (true, _) => None,
            (false, None) => Some((now, now + self.delay)),
            (false, Some((since, warn_at))) if now >= warn_at => {
                tracing::warn!(
                    worker,
                    bootstrap_servers = %shared.config.kafka.bootstrap_servers,
                    "no partition assignment for {:.0} s: are the brokers reachable and do the \
                     topics {:?} exist?",
                    (now - since).as_secs_f64(),
                    shared.source_topics,
                );
                Some((since, now + self.delay))
            }
            (false, waiting) => waiting,
        };
    }
}
