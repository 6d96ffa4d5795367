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
use super::node::{Downstream, OperatorFailure, operator};
use super::serdes::{IntoValue, Long, Nullable, Serde};
use super::table::{KTable, key_bytes};
use crate::state::StoreSpec;

/// A stream grouped by key, ready to be aggregated (Kafka Streams' `KGroupedStream`).
pub struct KGroupedStream<K: Serde, V: Serde> {
    stream: KStream<K, V>,
    /// Whether the key changed upstream, so that records must be repartitioned first.
    repartition: bool,
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

/// Kafka Streams' name prefixes of count/aggregate and of reduce nodes.
const AGGREGATE: &str = "KSTREAM-AGGREGATE-";
const REDUCE: &str = "KSTREAM-REDUCE-";

/// How an aggregation computes a key's new aggregate from a record and the stored aggregate.
trait Step<K: Serde, V: Serde, VA: Serde>: Send + Sync + 'static {
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
struct Count;

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
struct Reduce<F>(F);

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
struct Aggregate<I, F>(I, F);

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
    pub fn reduce<VR, F>(&self, reducer: F) -> KTable<K, V>
    where
        VR: IntoValue<Serde = V>,
        F: for<'a, 't> Fn(V::Value<'t>, V::Value<'a>) -> VR + Send + Sync + 'static,
    {
        self.aggregation(REDUCE, None, Reduce(reducer))
    }

    /// As [`KGroupedStream::reduce`], in a store called `store`.
    pub fn reduce_as<VR, F>(&self, store: &str, reducer: F) -> KTable<K, V>
    where
        VR: IntoValue<Serde = V>,
        F: for<'a, 't> Fn(V::Value<'t>, V::Value<'a>) -> VR + Send + Sync + 'static,
    {
        self.aggregation(REDUCE, Some(store), Reduce(reducer))
    }

    /// Per key, `aggregator(key, value, aggregate)` for each record, starting from
    /// `initializer()` (`aggregate(initializer, aggregator)`: a `KSTREAM-AGGREGATE-` node, store
    /// `KSTREAM-AGGREGATE-STATE-STORE-`).
    pub fn aggregate<VR, I, F>(&self, initializer: I, aggregator: F) -> KTable<K, VR::Serde>
    where
        VR: IntoValue,
        I: Fn() -> VR + Send + Sync + 'static,
        F: for<'a, 't> Fn(&K::Value<'a>, &V::Value<'a>, <VR::Serde as Serde>::Value<'t>) -> VR
            + Send
            + Sync
            + 'static,
    {
        self.aggregation(AGGREGATE, None, Aggregate(initializer, aggregator))
    }

    /// As [`KGroupedStream::aggregate`], in a store called `store`.
    pub fn aggregate_as<VR, I, F>(
        &self,
        store: &str,
        initializer: I,
        aggregator: F,
    ) -> KTable<K, VR::Serde>
    where
        VR: IntoValue,
        I: Fn() -> VR + Send + Sync + 'static,
        F: for<'a, 't> Fn(&K::Value<'a>, &V::Value<'a>, <VR::Serde as Serde>::Value<'t>) -> VR
            + Send
            + Sync
            + 'static,
    {
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
            });
            (index, store_name)
        };
        let name = self.stream.generated_name(prefix);
        let input = if self.repartition {
            self.repartitioned(&store_name)
        } else {
            self.stream.clone()
        };
        let changes = input.add_processor(
            name,
            &[input.id],
            move |down: Downstream<K, Nullable<VA>>| {
                operator::<K, V, _>(move |ctx, key, value| {
                    let Some(stored_key) = key_bytes::<K>(&key)? else {
                        ctx.state.count_dropped_without_key();
                        return Ok(());
                    };
                    if V::is_null(&value) {
                        return Ok(());
                    }
                    let aggregate = step.apply(&key, value, ctx.state.get(index, &stored_key))?;
                    let bytes = VA::serialize(aggregate.clone())
                        .map_err(|error| refused(format!("aggregate: {error}")))?
                        .ok_or_else(|| refused("the aggregate serialised to null"))?;
                    ctx.state.apply(index, &stored_key, Some(&bytes));
                    Ok(down.forward(ctx, key, Some(aggregate))?)
                })
            },
        );
        KTable::materialized(changes, index, store_name)
    }

    /// Writes the stream to the repartition topic `<store>-repartition` (after a filter that
    /// drops and counts records without a key) and returns the stream read back from it, as
    /// Kafka Streams names the nodes: generated `KSTREAM-SINK-`, `KSTREAM-FILTER-` and
    /// `KSTREAM-SOURCE-` names when the store's name was generated, `<topic>-sink`,
    /// `<topic>-filter` and `<topic>-source` when it was given.
    fn repartitioned(&self, store_name: &str) -> KStream<K, V> {
        let topic = format!("{store_name}-repartition");
        let generated = [
            self.stream.generated_name("KSTREAM-SINK-"),
            self.stream.generated_name("KSTREAM-FILTER-"),
            self.stream.generated_name("KSTREAM-SOURCE-"),
        ];
        let [sink, filter, source] = if is_generated(store_name) {
            generated
        } else {
            ["sink", "filter", "source"].map(|role| format!("{topic}-{role}"))
        };
        let keyed =
            self.stream
                .add_processor(filter, &[self.stream.id], |down: Downstream<K, V>| {
                    operator::<K, V, _>(move |ctx, key, value| {
                        if key_bytes::<K>(&key)?.is_none() {
                            ctx.state.count_dropped_without_key();
                            return Ok(());
                        }
                        Ok(down.forward(ctx, key, value)?)
                    })
                });
        keyed.sink_named(sink, &topic);
        self.stream
            .graph
            .borrow_mut()
            .internal_topics
            .push(topic.clone());
        let builder = StreamsBuilder {
            graph: Rc::clone(&self.stream.graph),
        };
        builder.source_named(source, &topic, false)
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
