//! Grouping and aggregation: `KStream::group_by_key` and `KStream::group_by` give a
//! [`KGroupedStream`], whose `count`, `reduce` and `aggregate` build a [`KTable`] of the latest
//! aggregate per key, held in a task's store (and so in its changelog).
//!
//! As in Kafka Streams:
//! * a record whose key serialises to null is dropped and counted
//!   ([`TaskState::dropped_without_key`](crate::state::TaskState::dropped_without_key)); a
//!   record whose value is null (a [`Nullable`] `None`) is ignored;
//! * every update is forwarded as the key's new aggregate (never a tombstone);
//! * a grouping after the key changed (`group_by`, or `group_by_key` after `select_key` or
//!   `map`) first writes the records to a repartition topic keyed by the new key, and a second
//!   sub-topology reads that topic and aggregates: the topic is described as
//!   `<store>-repartition` and named `<application id>-<store>-repartition` on the broker
//!   ([`Topology::for_application`](super::Topology::for_application)).

use std::fmt;
use std::rc::Rc;

use super::builder::{KStream, StreamsBuilder, refused};
use super::node::{Downstream, OperatorFailure, RecordContext, operator};
use super::serdes::{IntoValue, Long, Nullable, Serde};
use super::table::{KTable, key_bytes};
use crate::state::{StoreSpec, TimeOf};

/// A stream grouped by key, ready to be aggregated (Kafka Streams' `KGroupedStream`).
pub struct KGroupedStream<K: Serde, V: Serde> {
    pub(super) stream: KStream<K, V>,
    /// Whether the key changed upstream, so that records must be repartitioned first.
    pub(super) repartition: bool,
}

impl<K: Serde, V: Serde> fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("stream", &self.stream)
            .field("repartition", &self.repartition)
            .finish()
    }
}

impl<K: Serde, V: Serde> KStream<K, V> {
    /// Groups the records by their key (`groupByKey()`). When the key was changed upstream
    /// (`select_key`, `map`), an aggregation first repartitions the records by the new key.
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        let repartition = self.graph.borrow().nodes[self.id].rekeyed_by.is_some();
        KGroupedStream {
            stream: self.clone(),
            repartition,
        }
    }

    /// Groups the records by `selector(key, value)` (`groupBy(selector)`: a
    /// `KSTREAM-KEY-SELECT-` node, then a repartition topic before the aggregation).
    pub fn group_by<KR, F>(&self, selector: F) -> KGroupedStream<KR::Serde, V>
    where
        KR: IntoValue,
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> KR + Send + Sync + 'static,
    {
        KGroupedStream {
            stream: self.select_key(selector),
            repartition: true,
        }
    }
}

/// `reduce`'s function: `reducer(aggregate, value)` is the new aggregate.
pub trait Reducer<V: Serde, VR>:
    for<'a, 't> Fn(V::Value<'t>, V::Value<'a>) -> VR + Send + Sync + 'static
{
}

impl<V: Serde, VR, F> Reducer<V, VR> for F where
    F: for<'a, 't> Fn(V::Value<'t>, V::Value<'a>) -> VR + Send + Sync + 'static
{
}

/// `aggregate`'s first aggregate of a key: `initializer()`.
pub trait Initializer<VR>: Fn() -> VR + Send + Sync + 'static {}

impl<VR, F> Initializer<VR> for F where F: Fn() -> VR + Send + Sync + 'static {}

/// `aggregate`'s function: `aggregator(key, value, aggregate)` is the new aggregate.
pub trait Aggregator<K: Serde, V: Serde, VR: IntoValue>:
    for<'a, 't> Fn(&K::Value<'a>, &V::Value<'a>, <VR::Serde as Serde>::Value<'t>) -> VR
    + Send
    + Sync
    + 'static
{
}

impl<K: Serde, V: Serde, VR: IntoValue, F> Aggregator<K, V, VR> for F where
    F: for<'a, 't> Fn(&K::Value<'a>, &V::Value<'a>, <VR::Serde as Serde>::Value<'t>) -> VR
        + Send
        + Sync
        + 'static
{
}

/// Kafka Streams' name prefixes of count/aggregate and of reduce nodes.
pub(super) const AGGREGATE: &str = "KSTREAM-AGGREGATE-";
pub(super) const REDUCE: &str = "KSTREAM-REDUCE-";

/// How an aggregation computes a key's new aggregate from a record and the stored aggregate.
pub(super) trait Step<K: Serde, V: Serde, VA: Serde>: Send + Sync + 'static {
    /// The new aggregate of `key` after `value`, given the stored one (`None`: the first).
    fn apply<'a>(
        &self,
        key: &K::Value<'a>,
        value: V::Value<'a>,
        stored: Option<&[u8]>,
    ) -> Result<VA::Value<'a>, OperatorFailure>;
}

/// Reads a stored aggregate with its serde.
fn stored<'t, VA: Serde>(bytes: &'t [u8]) -> Result<VA::Value<'t>, OperatorFailure> {
    VA::deserialize(Some(bytes)).map_err(|error| refused(format!("stored aggregate: {error}")))
}

/// `count()`: one more per record.
pub(super) struct Count;

impl<K: Serde, V: Serde> Step<K, V, Long> for Count {
    fn apply<'a>(
        &self,
        _key: &K::Value<'a>,
        _value: V::Value<'a>,
        stored_count: Option<&[u8]>,
    ) -> Result<<Long as Serde>::Value<'a>, OperatorFailure> {
        Ok(stored_count.map_or(Ok(0), stored::<Long>)? + 1)
    }
}

/// `reduce(reducer)`: the first value, then `reducer(aggregate, value)`.
pub(super) struct Reduce<F>(pub(super) F);

impl<K: Serde, V: Serde, VR, F> Step<K, V, V> for Reduce<F>
where
    VR: IntoValue<Serde = V>,
    F: for<'a, 't> Fn(V::Value<'t>, V::Value<'a>) -> VR + Send + Sync + 'static,
{
    fn apply<'a>(
        &self,
        _key: &K::Value<'a>,
        value: V::Value<'a>,
        aggregate: Option<&[u8]>,
    ) -> Result<V::Value<'a>, OperatorFailure> {
        Ok(match aggregate {
            Some(bytes) => (self.0)(stored::<V>(bytes)?, value).into_value(),
            None => value,
        })
    }
}

/// `aggregate(initializer, aggregator)`: `aggregator(key, value, aggregate)` from
/// `initializer()`.
pub(super) struct Aggregate<I, F>(pub(super) I, pub(super) F);

impl<K: Serde, V: Serde, VR, I, F> Step<K, V, VR::Serde> for Aggregate<I, F>
where
    VR: IntoValue,
    I: Fn() -> VR + Send + Sync + 'static,
    F: for<'a, 't> Fn(&K::Value<'a>, &V::Value<'a>, <VR::Serde as Serde>::Value<'t>) -> VR
        + Send
        + Sync
        + 'static,
{
    fn apply<'a>(
        &self,
        key: &K::Value<'a>,
        value: V::Value<'a>,
        aggregate: Option<&[u8]>,
    ) -> Result<<VR::Serde as Serde>::Value<'a>, OperatorFailure> {
        let aggregate = match aggregate {
            Some(bytes) => stored::<VR::Serde>(bytes)?,
            None => (self.0)().into_value(),
        };
        Ok((self.1)(key, &value, aggregate).into_value())
    }
}

impl<K: Serde, V: Serde> KGroupedStream<K, V> {
    /// The number of records per key (`count()`: a `KSTREAM-AGGREGATE-` node, store
    /// `KSTREAM-AGGREGATE-STATE-STORE-`), as 8-byte big-endian longs ([`Long`]).
    pub fn count(&self) -> KTable<K, Long> {
        self.aggregation(AGGREGATE, None, Count)
    }

    /// As [`KGroupedStream::count`], in a store called `store` (`count(Materialized.as(store))`):
    /// its changelog is `<application id>-<store>-changelog`.
    pub fn count_as(&self, store: &str) -> KTable<K, Long> {
        self.aggregation(AGGREGATE, Some(store), Count)
    }

    /// Per key, the first value, then `reducer(aggregate, value)` for each later one
    /// (`reduce(reducer)`: a `KSTREAM-REDUCE-` node, store `KSTREAM-REDUCE-STATE-STORE-`).
    pub fn reduce<VR: IntoValue<Serde = V>>(&self, reducer: impl Reducer<V, VR>) -> KTable<K, V> {
        self.aggregation(REDUCE, None, Reduce(reducer))
    }

    /// As [`KGroupedStream::reduce`], in a store called `store`.
    pub fn reduce_as<VR: IntoValue<Serde = V>>(
        &self,
        store: &str,
        reducer: impl Reducer<V, VR>,
    ) -> KTable<K, V> {
        self.aggregation(REDUCE, Some(store), Reduce(reducer))
    }

    /// Per key, `aggregator(key, value, aggregate)` for each record, starting from
    /// `initializer()` (`aggregate(initializer, aggregator)`: a `KSTREAM-AGGREGATE-` node, store
    /// `KSTREAM-AGGREGATE-STATE-STORE-`).
    pub fn aggregate<VR: IntoValue>(
        &self,
        initializer: impl Initializer<VR>,
        aggregator: impl Aggregator<K, V, VR>,
    ) -> KTable<K, VR::Serde> {
        self.aggregation(AGGREGATE, None, Aggregate(initializer, aggregator))
    }

    /// As [`KGroupedStream::aggregate`], in a store called `store`.
    pub fn aggregate_as<VR: IntoValue>(
        &self,
        store: &str,
        initializer: impl Initializer<VR>,
        aggregator: impl Aggregator<K, V, VR>,
    ) -> KTable<K, VR::Serde> {
        self.aggregation(AGGREGATE, Some(store), Aggregate(initializer, aggregator))
    }

    /// Adds the aggregation node (and the repartition topic before it when the key changed):
    /// for each record with a key and a value, `step` gives the new aggregate from the stored
    /// one, which is stored and forwarded.
    fn aggregation<VA: Serde>(
        &self,
        prefix: &str,
        store: Option<&str>,
        step: impl Step<K, V, VA>,
    ) -> KTable<K, VA> {
        let (index, store_name, name, input) = self.aggregation_input(prefix, store, None);
        let changes = input.add_processor(
            name,
            &[input.id],
            move |down: Downstream<K, Nullable<VA>>| {
                operator::<K, V, _>(move |ctx, key, value| {
                    let Some(entry) = aggregation_key::<K, V>(ctx, &key, &value)? else {
                        return Ok(());
                    };
                    let (aggregate, _) = update(ctx, &step, index, &entry, None, &key, value)?;
                    Ok(down.forward(ctx, key, Some(aggregate))?)
                })
            },
        );
        KTable::materialized(changes, index, store_name)
    }

    /// What every aggregation of this stream starts with: its store (called `store`, or a
    /// generated `<prefix>STATE-STORE-` name; a window store when `window_retention_ms` is
    /// given), the aggregation node's generated name, and the stream it reads (through the
    /// repartition topic when the key changed). Returns (store index, store name, node name,
    /// input).
    pub(super) fn aggregation_input(
        &self,
        prefix: &str,
        store: Option<&str>,
        window_retention_ms: Option<i64>,
    ) -> (usize, String, String, KStream<K, V>) {
        let (index, store_name) = {
            let mut graph = self.stream.graph.borrow_mut();
            let store_name = match store {
                Some(name) => name.to_owned(),
                None => graph.generated_name(&format!("{prefix}STATE-STORE-")),
            };
            let index = graph.add_store(StoreSpec {
                name: store_name.clone(),
                global: false,
                source_topic: None,
                window_retention_ms,
            });
            (index, store_name)
        };
        let name = self.stream.generated_name(prefix);
        let input = if self.repartition {
            self.stream.repartitioned(&store_name)
        } else {
            self.stream.clone()
        };
        (index, store_name, name, input)
    }
}

impl<K: Serde, V: Serde> KStream<K, V> {
    /// Writes the stream to the repartition topic `<application id>-<name>-repartition` and
    /// reads it back (Kafka Streams' `repartition(Repartitioned.as(name))`): after a change of
    /// key, so that every record of a key reaches the same task (a custom processor's stores
    /// see all of a key's records). The topic is created at start with as many partitions as
    /// the sources of the records; records without a key are dropped and counted.
    pub fn repartition_as(&self, name: &str) -> KStream<K, V> {
        self.repartitioned(name)
    }

    /// Writes the stream to the repartition topic `<store>-repartition` (after a filter that
    /// drops and counts records without a key) and returns the stream read back from it, as
    /// Kafka Streams names the nodes: generated `KSTREAM-SINK-`, `KSTREAM-FILTER-` and
    /// `KSTREAM-SOURCE-` names when the store's name was generated, `<topic>-sink`,
    /// `<topic>-filter` and `<topic>-source` when it was given.
    pub(super) fn repartitioned(&self, store_name: &str) -> KStream<K, V> {
        let topic = format!("{store_name}-repartition");
        let generated = [
            self.generated_name("KSTREAM-SINK-"),
            self.generated_name("KSTREAM-FILTER-"),
            self.generated_name("KSTREAM-SOURCE-"),
        ];
        let [sink, filter, source] = if is_generated(store_name) {
            generated
        } else {
            ["sink", "filter", "source"].map(|role| format!("{topic}-{role}"))
        };
        let keyed = self.add_processor(filter, &[self.id], |down: Downstream<K, V>| {
            operator::<K, V, _>(move |ctx, key, value| {
                if key_bytes::<K>(&key)?.is_none() {
                    ctx.state.count_dropped_without_key();
                    return Ok(());
                }
                Ok(down.forward(ctx, key, value)?)
            })
        });
        keyed.sink_named(sink, &topic);
        self.graph.borrow_mut().internal_topics.push(topic.clone());
        let builder = StreamsBuilder {
            graph: Rc::clone(&self.graph),
        };
        builder.source_named(source, &topic, false)
    }
}

/// The serialised key a record is aggregated under; `None` for a record aggregations ignore:
/// one whose key serialises to null (dropped and counted, as Kafka Streams does) or whose value
/// is null.
pub(super) fn aggregation_key<'a, K: Serde, V: Serde>(
    ctx: &mut RecordContext<'a, '_>,
    key: &K::Value<'a>,
    value: &V::Value<'a>,
) -> Result<Option<Vec<u8>>, OperatorFailure> {
    let Some(bytes) = key_bytes::<K>(key)? else {
        ctx.state.count_dropped_without_key();
        return Ok(None);
    };
    Ok((!V::is_null(value)).then_some(bytes))
}

/// Aggregates a record into entry `entry` of store `store` with `step`, stores the new
/// aggregate and returns it with its timestamp.
///
/// A window store's entry (`window: Some(time_of)`, indexed by window start with `time_of`)
/// holds the aggregate after the largest timestamp of the records aggregated, 8 bytes
/// big-endian (Kafka Streams' `ValueAndTimestamp`), which is the result's timestamp; a plain
/// entry holds the aggregate alone, and the result has the record's timestamp.
pub(super) fn update<'a, K: Serde, V: Serde, VA: Serde>(
    ctx: &mut RecordContext<'a, '_>,
    step: &impl Step<K, V, VA>,
    store: usize,
    entry: &[u8],
    window: Option<TimeOf>,
    key: &K::Value<'a>,
    value: V::Value<'a>,
) -> Result<(VA::Value<'a>, i64), OperatorFailure> {
    let (timestamp, aggregate) = {
        let stored = ctx.state.get(store, entry);
        let (stored_time, stored) = match (window, stored) {
            (Some(_), Some(bytes)) => {
                let (time, aggregate) = split_timestamp(bytes)?;
                (Some(time), Some(aggregate))
            }
            (_, stored) => (None, stored),
        };
        let timestamp = stored_time.map_or(ctx.timestamp, |time| time.max(ctx.timestamp));
        (timestamp, step.apply(key, value, stored)?)
    };
    let bytes = VA::serialize(aggregate.clone())
        .map_err(|error| refused(format!("aggregate: {error}")))?
        .ok_or_else(|| refused("the aggregate serialised to null"))?;
    match window {
        Some(time_of) => {
            let mut stamped = Vec::with_capacity(8 + bytes.len());
            stamped.extend_from_slice(&timestamp.to_be_bytes());
            stamped.extend_from_slice(&bytes);
            ctx.state.put_timed(store, entry, &stamped, time_of);
        }
        None => ctx.state.apply(store, entry, Some(&bytes)),
    }
    Ok((aggregate, timestamp))
}

/// A stored value with its timestamp, split into the timestamp and the value.
pub(super) fn split_timestamp(bytes: &[u8]) -> Result<(i64, &[u8]), OperatorFailure> {
    match bytes.split_first_chunk::<8>() {
        Some((time, value)) => Ok((i64::from_be_bytes(*time), value)),
        None => Err(refused(format!(
            "a stored value with its timestamp has at least 8 bytes, this one {}",
            bytes.len()
        ))),
    }
}

/// Whether `name` was generated (`KSTREAM-...-0000000002`), as Kafka Streams tells them apart.
fn is_generated(name: &str) -> bool {
    name.starts_with("KSTREAM")
        && name.len() > 11
        && name.as_bytes()[name.len() - 11] == b'-'
        && name[name.len() - 10..]
            .bytes()
            .all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::is_generated;

    #[test]
    fn generated_names_are_told_from_given_ones() {
        assert!(is_generated("KSTREAM-AGGREGATE-STATE-STORE-0000000002"));
        assert!(!is_generated("counts"));
        assert!(!is_generated("KSTREAM-0000000002x"));
        assert!(!is_generated("KSTREAM-AGGREGATE-STATE-STORE-000000002"));
    }
}
