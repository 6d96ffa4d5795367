//! Tables and the joins of a stream with them: [`KTable`] (a changelog stream materialised in a
//! task's store: the latest value per key, a null value deletes the key), [`GlobalKTable`] (every
//! partition of its topic in every instance), `KStream::join`/`left_join` with a table,
//! `join_global`/`left_join_global` with a global table, and `KStream::select_key`.
//!
//! As in Kafka Streams, only stream records trigger a join; table records only update the table.
//! A stream record whose key serialises to null is dropped and counted
//! ([`TaskState::dropped_without_key`](crate::state::TaskState::dropped_without_key)). Stores
//! hold the serialised key and value, so a lookup serialises the stream's key with the table's
//! key serde: a stream and a table joined must use the same key serde.

use std::fmt;
use std::marker::PhantomData;

use super::builder::{KStream, StreamsBuilder, refused};
use super::node::{Downstream, OperatorFailure, RecordContext, operator};
use super::serdes::{IntoValue, Nullable, Serde};
use super::window::WindowOrigin;
use crate::state::StoreSpec;

/// A table: the latest value per key of a changelog stream, materialised in a state store
/// (Kafka Streams' `KTable`). Its record stream carries `Nullable<V>` values: `None` is a
/// deletion.
pub struct KTable<K: Serde, V: Serde> {
    pub(super) changes: KStream<K, Nullable<V>>,
    store: usize,
    store_name: String,
    /// The windows of the windowed aggregation this table comes from (through filters and
    /// mappings), for its suppression.
    pub(super) windows: Option<WindowOrigin>,
    /// Whether its store holds its values, so that a join can look them up (not a window
    /// store, whose values carry their timestamp, nor a suppression's buffer).
    pub(super) lookup: bool,
}

impl<K: Serde, V: Serde> fmt::Debug for KTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KTable")
            .field("store", &self.store_name)
            .finish_non_exhaustive()
    }
}

/// A table every instance holds whole, fully loaded before any record is processed (Kafka
/// Streams' `GlobalKTable`).
pub struct GlobalKTable<K: Serde, V: Serde> {
    store: usize,
    store_name: String,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serde, V: Serde> fmt::Debug for GlobalKTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalKTable")
            .field("store", &self.store_name)
            .finish()
    }
}

/// Where a table writes its changes: a task's store, or a global store.
#[derive(Debug, Clone, Copy)]
enum StoreRef {
    Local(usize),
    Global(usize),
}

/// Serialises `key` with `K`; `None` when it serialises to null.
pub(super) fn key_bytes<'a, K: Serde>(
    key: &K::Value<'a>,
) -> Result<Option<Vec<u8>>, OperatorFailure> {
    K::serialize(key.clone())
        .map(|bytes| bytes.map(|bytes| bytes.into_owned()))
        .map_err(|error| refused(format!("key: {error}")))
}

/// Writes one table change to its store: `value` set, or the key deleted when `None`.
fn materialize<'a, K: Serde, V: Serde>(
    ctx: &mut RecordContext<'a, '_>,
    store: StoreRef,
    key: &K::Value<'a>,
    value: &Option<V::Value<'a>>,
) -> Result<bool, OperatorFailure> {
    let Some(key) = key_bytes::<K>(key)? else {
        ctx.state.count_dropped_without_key();
        return Ok(false);
    };
    let value = match value {
        Some(value) => {
            V::serialize(value.clone()).map_err(|error| refused(format!("value: {error}")))?
        }
        None => None,
    };
    match store {
        StoreRef::Local(store) => ctx.state.apply(store, &key, value.as_deref()),
        StoreRef::Global(store) => ctx.state.globals().apply(store, &key, value.as_deref()),
    }
    Ok(true)
}

impl StreamsBuilder {
    /// A table of the records of `topic`: key serde `K`, value serde `V`, a null value deletes
    /// the key (`builder.table(topic)`; nodes `KSTREAM-SOURCE-` and `KTABLE-SOURCE-`, store
    /// `<topic>-STATE-STORE-`).
    pub fn table<K: Serde, V: Serde>(&self, topic: &str) -> KTable<K, V> {
        let (store, store_name, changes) = self.materialized_source::<K, V>(topic, false);
        KTable {
            changes,
            store,
            store_name,
            windows: None,
            lookup: true,
        }
    }

    /// A global table of every partition of `topic` (`builder.globalTable(topic)`): its own
    /// sub-topology, fed to a global store that every task reads.
    pub fn global_table<K: Serde, V: Serde>(&self, topic: &str) -> GlobalKTable<K, V> {
        let (store, store_name, _) = self.materialized_source::<K, V>(topic, true);
        GlobalKTable {
            store,
            store_name,
            types: PhantomData,
        }
    }

    fn materialized_source<K: Serde, V: Serde>(
        &self,
        topic: &str,
        global: bool,
    ) -> (usize, String, KStream<K, Nullable<V>>) {
        let (store, store_name) = {
            let mut graph = self.graph.borrow_mut();
            let name = graph.generated_name(&format!("{topic}-STATE-STORE-"));
            let store = graph.add_store(StoreSpec {
                name: name.clone(),
                global,
                source_topic: Some(topic.to_owned()),
                window_retention_ms: None,
            });
            (store, name)
        };
        let source = self.source::<K, Nullable<V>>(topic, global);
        let target = if global {
            StoreRef::Global(store)
        } else {
            StoreRef::Local(store)
        };
        let name = source.generated_name("KTABLE-SOURCE-");
        let changes = source
            .add_processor(
                name,
                &[source.id],
                move |down: Downstream<K, Nullable<V>>| {
                    operator::<K, Nullable<V>, _>(move |ctx, key, value| {
                        if materialize::<K, V>(ctx, target, &key, &value)? {
                            down.forward(ctx, key, value)?;
                        }
                        Ok(())
                    })
                },
            )
            .with_store(&store_name, global);
        (store, store_name, changes)
    }
}

impl<K: Serde, V: Serde> KStream<K, V> {
    /// Lists `store` among the stores of this stream's node (for `describe`).
    pub(super) fn with_store(self, store: &str, global: bool) -> Self {
        {
            let mut graph = self.graph.borrow_mut();
            let description = &mut graph.nodes[self.id].description;
            description.stores.push(store.to_owned());
            description.global = global;
        }
        self
    }

    /// Records that a join node reads this stream, refusing it at build if the stream was
    /// re-keyed.
    fn check_partitioning(&self, join: &KStream<impl Serde, impl Serde>) {
        let mut graph = self.graph.borrow_mut();
        if let Some(rekeyed) = graph.nodes[self.id].rekeyed_by {
            graph.unpartitioned_joins.push((join.id, rekeyed));
        }
    }

    /// Replaces each record's key by `mapper(key, value)` (`KSTREAM-KEY-SELECT-`). Records keep
    /// their partition: join the result only after writing it to a topic partitioned by the
    /// new key (a join of it is refused at build).
    pub fn select_key<KR, F>(&self, mapper: F) -> KStream<KR::Serde, V>
    where
        KR: IntoValue,
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> KR + Send + Sync + 'static,
    {
        let name = self.generated_name("KSTREAM-KEY-SELECT-");
        self.add_processor(name, &[self.id], move |down: Downstream<KR::Serde, V>| {
            operator::<K, V, _>(move |ctx, key, value| {
                let key = mapper(&key, &value).into_value();
                Ok(down.forward(ctx, key, value)?)
            })
        })
        .rekeyed()
    }

    /// Joins each record with the value of its key in `table`, writing
    /// `joiner(value, table value)`; a record whose key the table lacks is dropped
    /// (`KSTREAM-JOIN-`, an inner join).
    pub fn join<VT, VR, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR::Serde>
    where
        VT: Serde,
        VR: IntoValue,
        F: for<'a, 't> Fn(&V::Value<'a>, &VT::Value<'t>) -> VR + Send + Sync + 'static,
    {
        self.join_table(table, "KSTREAM-JOIN-", move |value, found| {
            found.map(|found| joiner(value, found))
        })
    }

    /// As [`KStream::join`], but a record whose key the table lacks is joined with `None`
    /// (`KSTREAM-LEFTJOIN-`).
    pub fn left_join<VT, VR, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR::Serde>
    where
        VT: Serde,
        VR: IntoValue,
        F: for<'a, 't> Fn(&V::Value<'a>, Option<&VT::Value<'t>>) -> VR + Send + Sync + 'static,
    {
        self.join_table(table, "KSTREAM-LEFTJOIN-", move |value, found| {
            Some(joiner(value, found))
        })
    }

    fn join_table<VT, VR, F>(
        &self,
        table: &KTable<K, VT>,
        prefix: &str,
        joiner: F,
    ) -> KStream<K, VR::Serde>
    where
        VT: Serde,
        VR: IntoValue,
        F: for<'a, 't> Fn(&V::Value<'a>, Option<&VT::Value<'t>>) -> Option<VR>
            + Send
            + Sync
            + 'static,
    {
        let store = table.store;
        let name = self.generated_name(prefix);
        if !table.lookup {
            self.refuse(format!(
                "a join with table {} is not supported: a windowed or suppressed table's store \
                 cannot be looked up by key",
                table.store_name
            ));
        }
        let joined = self
            .add_processor(name, &[self.id], move |down: Downstream<K, VR::Serde>| {
                operator::<K, V, _>(move |ctx, key, value| {
                    let Some(lookup) = key_bytes::<K>(&key)? else {
                        ctx.state.count_dropped_without_key();
                        return Ok(());
                    };
                    let joined = {
                        let found = match ctx.state.get(store, &lookup) {
                            Some(bytes) => Some(
                                VT::deserialize(Some(bytes))
                                    .map_err(|error| refused(format!("table value: {error}")))?,
                            ),
                            None => None,
                        };
                        joiner(&value, found.as_ref())
                    };
                    let Some(joined) = joined else {
                        return Ok(());
                    };
                    Ok(down.forward(ctx, key, joined.into_value())?)
                })
            })
            .with_store(&table.store_name, false);
        self.check_partitioning(&joined);
        joined
    }

    /// Joins each record with the value that `key_mapper(key, value)` has in the global
    /// `table`, writing `joiner(value, table value)`; a record whose lookup key the table lacks
    /// is dropped (`KSTREAM-JOIN-`). The stream need not be co-partitioned with the table.
    pub fn join_global<GK, GV, KL, VR, M, F>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR::Serde>
    where
        GK: Serde,
        GV: Serde,
        KL: IntoValue<Serde = GK>,
        VR: IntoValue,
        M: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> KL + Send + Sync + 'static,
        F: for<'a, 't> Fn(&V::Value<'a>, &GV::Value<'t>) -> VR + Send + Sync + 'static,
    {
        self.join_global_table(table, "KSTREAM-JOIN-", key_mapper, move |value, found| {
            found.map(|found| joiner(value, found))
        })
    }

    /// As [`KStream::join_global`], but a record whose lookup key the table lacks is joined with
    /// `None` (`KSTREAM-LEFTJOIN-`).
    pub fn left_join_global<GK, GV, KL, VR, M, F>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR::Serde>
    where
        GK: Serde,
        GV: Serde,
        KL: IntoValue<Serde = GK>,
        VR: IntoValue,
        M: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> KL + Send + Sync + 'static,
        F: for<'a, 't> Fn(&V::Value<'a>, Option<&GV::Value<'t>>) -> VR + Send + Sync + 'static,
    {
        self.join_global_table(
            table,
            "KSTREAM-LEFTJOIN-",
            key_mapper,
            move |value, found| Some(joiner(value, found)),
        )
    }

    fn join_global_table<GK, GV, KL, VR, M, F>(
        &self,
        table: &GlobalKTable<GK, GV>,
        prefix: &str,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR::Serde>
    where
        GK: Serde,
        GV: Serde,
        KL: IntoValue<Serde = GK>,
        VR: IntoValue,
        M: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> KL + Send + Sync + 'static,
        F: for<'a, 't> Fn(&V::Value<'a>, Option<&GV::Value<'t>>) -> Option<VR>
            + Send
            + Sync
            + 'static,
    {
        let store = table.store;
        let name = self.generated_name(prefix);
        self.add_processor(name, &[self.id], move |down: Downstream<K, VR::Serde>| {
            operator::<K, V, _>(move |ctx, key, value| {
                let lookup = key_mapper(&key, &value).into_value();
                let Some(lookup) = key_bytes::<GK>(&lookup)? else {
                    ctx.state.count_dropped_without_key();
                    return Ok(());
                };
                let bytes = ctx.state.globals().get(store, &lookup);
                let found = match &bytes {
                    Some(bytes) => Some(
                        GV::deserialize(Some(bytes))
                            .map_err(|error| refused(format!("global table value: {error}")))?,
                    ),
                    None => None,
                };
                let Some(joined) = joiner(&value, found.as_ref()) else {
                    return Ok(());
                };
                Ok(down.forward(ctx, key, joined.into_value())?)
            })
        })
    }
}

impl<K: Serde, V: Serde> KTable<K, V> {
    /// A table whose changes are `changes`, materialised in local store `store` called
    /// `store_name` (listed on the node producing `changes`).
    pub(super) fn materialized(
        changes: KStream<K, Nullable<V>>,
        store: usize,
        store_name: String,
    ) -> Self {
        KTable {
            changes: changes.with_store(&store_name, false),
            store,
            store_name,
            windows: None,
            lookup: true,
        }
    }

    /// A table derived from this one by a filter or a mapping: over the same windows.
    fn derived<VR: Serde>(&self, table: KTable<K, VR>) -> KTable<K, VR> {
        KTable {
            windows: self.windows,
            ..table
        }
    }

    /// The name of the store holding this table (for [`crate::driver::TopologyTestDriver`]'s
    /// `key_value_store`, and its changelog `<application id>-<store>-changelog`).
    pub fn store_name(&self) -> &str {
        &self.store_name
    }

    /// The table's changes as a stream: each update with its new value, each deletion with
    /// `None` (`KTABLE-TOSTREAM-`).
    pub fn to_stream(&self) -> KStream<K, Nullable<V>> {
        let name = self.changes.generated_name("KTABLE-TOSTREAM-");
        self.changes.add_processor(
            name,
            &[self.changes.id],
            |down: Downstream<K, Nullable<V>>| {
                operator::<K, Nullable<V>, _>(move |ctx, key, value| {
                    Ok(down.forward(ctx, key, value)?)
                })
            },
        )
    }

    /// The table of the entries for which `predicate` holds; an entry that stops matching is
    /// deleted from it (`KTABLE-FILTER-`, materialised in its own store).
    pub fn filter<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> bool + Send + Sync + 'static,
    {
        let (name, store, store_name) = self.derived_store("KTABLE-FILTER-");
        let target = StoreRef::Local(store);
        let changes = self.changes.add_processor(
            name,
            &[self.changes.id],
            move |down: Downstream<K, Nullable<V>>| {
                operator::<K, Nullable<V>, _>(move |ctx, key, value| {
                    let value = value.filter(|value| predicate(&key, value));
                    if materialize::<K, V>(ctx, target, &key, &value)? {
                        down.forward(ctx, key, value)?;
                    }
                    Ok(())
                })
            },
        );
        self.derived(KTable::materialized(changes, store, store_name))
    }

    /// The table of `mapper(value)` for every entry (`KTABLE-MAPVALUES-`, materialised in its
    /// own store).
    pub fn map_values<VR, F>(&self, mapper: F) -> KTable<K, VR::Serde>
    where
        VR: IntoValue,
        F: for<'a> Fn(&V::Value<'a>) -> VR + Send + Sync + 'static,
    {
        let (name, store, store_name) = self.derived_store("KTABLE-MAPVALUES-");
        let target = StoreRef::Local(store);
        let changes = self.changes.add_processor(
            name,
            &[self.changes.id],
            move |down: Downstream<K, Nullable<VR::Serde>>| {
                operator::<K, Nullable<V>, _>(move |ctx, key, value| {
                    let value = value.map(|value| mapper(&value).into_value());
                    if materialize::<K, VR::Serde>(ctx, target, &key, &value)? {
                        down.forward(ctx, key, value)?;
                    }
                    Ok(())
                })
            },
        );
        self.derived(KTable::materialized(changes, store, store_name))
    }

    /// A generated node name and a store of its own for a table derived from this one.
    fn derived_store(&self, prefix: &str) -> (String, usize, String) {
        let name = self.changes.generated_name(prefix);
        let store_name = format!("{name}-STATE-STORE");
        let store = self.changes.graph.borrow_mut().add_store(StoreSpec {
            name: store_name.clone(),
            global: false,
            source_topic: None,
            window_retention_ms: None,
        });
        (name, store, store_name)
    }
}

impl<K: Serde, V: Serde> GlobalKTable<K, V> {
    /// The name of the global store holding this table.
    pub fn store_name(&self) -> &str {
        &self.store_name
    }
}
