//! One restore consumer reading many changelog partitions, each through its own queue, so that
//! a record or an error (an offset out of range) says which partition it belongs to:
//! rust-rdkafka's consumer errors do not carry their partition.

use std::ffi::CString;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, DefaultConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::StreamsConfig;

/// librdkafka's name for how long a broker may hold a Fetch request that finds too little.
const FETCH_WAIT: &str = "fetch.wait.max.ms";
/// The restore consumer's `fetch.wait.max.ms` unless `[kafka.properties]` sets one: 10 ms,
/// where librdkafka's default is 500 ms. A restore reads a changelog up to its end, which it
/// learns from a Fetch response; at the end (an empty changelog, a store whose checkpoint is
/// the end) the broker holds that fetch for the whole wait, since nothing new arrives, and
/// every assignment of a stateful task waited for it.
const RESTORE_FETCH_WAIT_MS: &str = "10";
/// How long the metadata lookup of one changelog topic may take before its restore.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// A changelog partition to read: topic, partition and where to start.
pub(super) type Start<'a> = (&'a str, i32, Offset);

/// A restore consumer and the queues of the partitions it is assigned, numbered in the order
/// of the last [`Reader::assign`].
pub(super) struct Reader {
    consumer: Arc<BaseConsumer>,
    queues: Vec<PartitionQueue<DefaultConsumerContext>>,
    wake: SyncSender<()>,
    woken: Receiver<()>,
}

impl Reader {
    /// A consumer with the restore consumer's settings. `from_checkpoints`: some partition
    /// starts from a store's checkpoint, so an offset outside a partition is an error to report,
    /// not a silent reset (a partition read from its beginning sees that error only if its
    /// beginning moves while it is read; its restore then starts again from the new beginning,
    /// which is what `earliest` does). It learns where a changelog ends without waiting
    /// ([`RESTORE_FETCH_WAIT_MS`]).
    pub(super) fn new(config: &StreamsConfig, from_checkpoints: bool) -> KafkaResult<Self> {
        let mut client = crate::runtime::clients::restore_consumer_config(
            config,
            &format!("{}-restore-consumer", config.kafka.application_id),
        );
        if from_checkpoints {
            client.set("auto.offset.reset", "error");
        }
        if !config.kafka.properties.contains_key(FETCH_WAIT) {
            client.set(FETCH_WAIT, RESTORE_FETCH_WAIT_MS);
        }
        let (wake, woken) = sync_channel(1);
        Ok(Reader {
            consumer: Arc::new(client.create()?),
            queues: Vec::new(),
            wake,
            woken,
        })
    }

    /// Assigns `partitions`, replacing the earlier assignment: partition `i` of the list is
    /// read with [`Reader::poll`]`(i)`.
    ///
    /// The partitions' leaders are looked up first ([`Reader::learn_leaders`]): a partition
    /// assigned at its beginning (a logical offset) whose leader librdkafka does not know yet
    /// has its offset query put off by 500 ms, which every restore of a new consumer paid.
    pub(super) fn assign(&mut self, partitions: &[Start<'_>]) -> KafkaResult<()> {
        self.queues.clear();
        self.learn_leaders(partitions);
        let mut list = TopicPartitionList::new();
        for (topic, partition, start) in partitions {
            list.add_partition_offset(topic, *partition, *start)?;
        }
        self.consumer.assign(&list)?;
        for (topic, partition, _) in partitions {
            let mut queue = self
                .consumer
                .split_partition_queue(topic, *partition)
                .ok_or_else(|| {
                    KafkaError::Subscription(format!("no queue for {topic}-{partition}"))
                })?;
            let wake = self.wake.clone();
            queue.set_nonempty_callback(move || {
                // Full: a wake-up is already pending.
                let _ = wake.try_send(());
            });
            self.queues.push(queue);
        }
        Ok(())
    }

    /// Asks for the metadata of the topics of `partitions`, so that the consumer knows their
    /// leaders before they are assigned. Only a delay depends on it: a failed lookup is logged
    /// and the assignment goes on (librdkafka looks the leaders up itself, later).
    fn learn_leaders(&self, partitions: &[Start<'_>]) {
        let mut topics: Vec<&str> = partitions.iter().map(|(topic, _, _)| *topic).collect();
        topics.sort_unstable();
        topics.dedup();
        for topic in topics {
            if let Err(error) = self.consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT) {
                tracing::debug!("metadata of {topic} not known before its restore: {error}");
            }
        }
    }

    /// The next record or error of partition `index` of the assignment, if one is there.
    pub(super) fn poll(&self, index: usize) -> Option<KafkaResult<BorrowedMessage<'_>>> {
        self.queues.get(index)?.poll(Duration::ZERO)
    }

    /// A record or error on the consumer's own queue: one fetched before its partition's queue
    /// was split off, or an error of no partition. Serves the consumer's callbacks too.
    pub(super) fn poll_consumer(&self) -> Option<KafkaResult<BorrowedMessage<'_>>> {
        self.consumer.poll(Duration::ZERO)
    }

    /// Waits until a partition's queue receives something, for `timeout` at most.
    pub(super) fn wait(&self, timeout: Duration) {
        // A timeout is as good as a wake-up: the caller looks at every queue either way.
        let _ = self.woken.recv_timeout(timeout);
    }

    /// The watermarks of `topic`-`partition` last seen in a Fetch response.
    pub(super) fn watermarks(&self, topic: &str, partition: i32) -> Option<(i64, i64)> {
        cached_watermarks(&self.consumer, topic, partition)
    }
}

/// The low and high watermarks librdkafka last received in a Fetch response for
/// `topic`-`partition`.
pub(crate) fn cached_watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1_i64, -1_i64);
    // SAFETY: the client pointer is valid for the consumer's lifetime, `topic` is a
    // NUL-terminated string that outlives the call, and `low`/`high` are valid out-pointers;
    // rd_kafka_get_watermark_offsets only reads librdkafka's cached partition state. rust-rdkafka
    // wraps only the ListOffsets query (`fetch_watermarks`), which some brokers answer wrongly.
    #[allow(unsafe_code)]
    let error = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low.max(0), high))
}
