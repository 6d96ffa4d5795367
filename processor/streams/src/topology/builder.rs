// over 500 lines: one short method per Kafka Streams operator on KStream; splitting its impl would scatter the DSL.
//! The DSL: [`StreamsBuilder`], [`KStream`] and [`BranchedKStream`], building a [`Topology`].

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::describe::{NodeDescription, NodeRole};
use super::node::{
    Downstream, Node, NodeRef, OperatorFailure, Processor, RecordContext, Sink, Source, SourceNode,
    operator,
};
use super::serdes::{IntoValue, Serde};
use super::time::{Schedule, TimeDriven, TopologyTime, millis_at_least_one};
use super::{Topology, TopologyError};
use crate::state::StoreSpec;

/// Turns a graph node into its executable form once its children are known.
/// It gets the node's final name, its children and the assembler building them.
pub(super) type Factory =
    Box<dyn FnOnce(String, &[usize], &mut Assembler<'_>) -> Result<Built, TopologyError>>;

/// An executable node: a source, or a `NodeRef<K, V>` behind `Any`.
pub(super) enum Built {
    Source(Arc<dyn SourceNode>),
    Node(Box<dyn Any>),
}

pub(super) struct GraphNode {
    pub(super) description: NodeDescription,
    children: Vec<usize>,
    factory: Option<Factory>,
    /// The node upstream that changed the record key (`select_key`, `map`), if any.
    pub(super) rekeyed_by: Option<usize>,
}

#[derive(Default)]
pub(super) struct Graph {
    pub(super) nodes: Vec<GraphNode>,
    /// Kafka Streams' per-builder counter behind generated names.
    next_index: usize,
    /// The state stores declared, in order.
    pub(super) stores: Vec<StoreSpec>,
    /// Joins of re-keyed streams, refused at build: (join node, node that changed the key).
    pub(super) unpartitioned_joins: Vec<(usize, usize)>,
    /// The repartition topics the topology writes and reads, as described (without the
    /// application id the runtime prefixes them with).
    pub(super) internal_topics: Vec<String>,
    /// Operators refused while declared, reported by `build` (the first one).
    pub(super) refusals: Vec<TopologyError>,
}

impl Graph {
    pub(super) fn generated_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}{:010}", self.next_index);
        self.next_index += 1;
        name
    }

    pub(super) fn add(
        &mut self,
        description: NodeDescription,
        parents: &[usize],
        factory: Factory,
    ) -> usize {
        let id = self.nodes.len();
        for &parent in parents {
            self.nodes[parent].children.push(id);
        }
        let rekeyed_by = parents
            .iter()
            .find_map(|&parent| self.nodes[parent].rekeyed_by);
        self.nodes.push(GraphNode {
            description,
            children: Vec::new(),
            factory: Some(factory),
            rekeyed_by,
        });
        id
    }

    /// Declares a store; returns its index among the stores of its kind (local or global).
    pub(super) fn add_store(&mut self, spec: StoreSpec) -> usize {
        let index = self
            .stores
            .iter()
            .filter(|store| store.global == spec.global)
            .count();
        self.stores.push(spec);
        index
    }
}

/// Builds executable nodes in dependency order, each once (merge points have several parents).
pub(super) struct Assembler<'g> {
    nodes: &'g mut [GraphNode],
    built: Vec<Option<Built>>,
    /// The sink topic names met so far, each once (the topology's table).
    sink_names: Vec<Box<str>>,
    /// The local stores' names, by index.
    local_stores: Vec<String>,
    /// Punctuation schedules and time-driven nodes registered by the factories.
    time: TopologyTime,
}

impl<'g> Assembler<'g> {
    fn new(nodes: &'g mut [GraphNode], stores: &[StoreSpec]) -> Self {
        Assembler {
            built: (0..nodes.len()).map(|_| None).collect(),
            nodes,
            sink_names: Vec::new(),
            local_stores: stores
                .iter()
                .filter(|store| !store.global)
                .map(|store| store.name.clone())
                .collect(),
            time: TopologyTime::default(),
        }
    }

    /// The index of `topic` in the sink topic table, adding it when new.
    fn sink_index(&mut self, topic: &str) -> usize {
        match self.sink_names.iter().position(|known| **known == *topic) {
            Some(index) => index,
            None => {
                self.sink_names.push(topic.into());
                self.sink_names.len() - 1
            }
        }
    }

    /// The index of local store `name`, if declared.
    pub(super) fn store_index(&self, name: &str) -> Option<usize> {
        self.local_stores.iter().position(|known| known == name)
    }

    /// Registers a punctuation schedule (a processor's, at build time).
    pub(super) fn schedule(&mut self, schedule: Schedule) {
        self.time.schedules.push(schedule);
    }

    /// The hook for time-driven nodes (see [`super::time`]): registers `node`, to be told the
    /// new stream time of a task that took no record for `idle` of wall-clock time, and so
    /// makes the topology advance quiet tasks' stream time with the wall clock (the smallest
    /// `idle` registered applies to all).
    pub(super) fn advance_quiet_tasks(&mut self, idle: Duration, node: Arc<dyn TimeDriven>) {
        let idle = millis_at_least_one(idle);
        self.time.quiet_idle = Some(self.time.quiet_idle.map_or(idle, |known| known.min(idle)));
        self.time.time_driven.push(node);
    }

    fn build(&mut self, id: usize) -> Result<(), TopologyError> {
        if self.built[id].is_some() {
            return Ok(());
        }
        let factory = self.nodes[id]
            .factory
            .take()
            .ok_or_else(|| TopologyError::Internal(id.to_string()))?;
        let children = self.nodes[id].children.clone();
        let name = self.nodes[id].description.name.clone();
        let built = factory(name, &children, self)?;
        self.built[id] = Some(built);
        Ok(())
    }

    pub(super) fn downstream<K: Serde, V: Serde>(
        &mut self,
        children: &[usize],
    ) -> Result<Downstream<K, V>, TopologyError> {
        let mut nodes = Vec::with_capacity(children.len());
        for &child in children {
            self.build(child)?;
            let node = match &self.built[child] {
                Some(Built::Node(node)) => node.downcast_ref::<NodeRef<K, V>>(),
                _ => None,
            };
            let node = node.ok_or_else(|| TopologyError::Internal(child.to_string()))?;
            nodes.push(Arc::clone(node));
        }
        Ok(Downstream::new(nodes))
    }
}

/// Where a topology is declared: sources, then operators on the streams they return.
///
/// ```
/// use ferrobeat_streams::topology::{StreamsBuilder, serdes::{Nullable, Bytes, Utf8}};
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<Nullable<Bytes>, Utf8>("in")
///     .filter(|_key, value| value.len() > 5)
///     .to("out");
/// let topology = builder.build().expect("valid topology");
/// assert_eq!(topology.sink_topics(), ["out"]);
/// ```
#[derive(Clone, Default)]
pub struct StreamsBuilder {
    pub(super) graph: Rc<RefCell<Graph>>,
}

impl fmt::Debug for StreamsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamsBuilder")
            .field("nodes", &self.graph.borrow().nodes.len())
            .finish()
    }
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream of the records of `topic`, read with key serde `K` and value serde `V`.
    pub fn stream<K: Serde, V: Serde>(&self, topic: &str) -> KStream<K, V> {
        self.source(topic, false)
    }

    /// A source of `topic`; a `global` one feeds a global table.
    pub(super) fn source<K: Serde, V: Serde>(&self, topic: &str, global: bool) -> KStream<K, V> {
        let name = self.graph.borrow_mut().generated_name("KSTREAM-SOURCE-");
        self.source_named(name, topic, global)
    }

    /// As [`StreamsBuilder::source`], with the node's name given.
    pub(super) fn source_named<K: Serde, V: Serde>(
        &self,
        name: String,
        topic: &str,
        global: bool,
    ) -> KStream<K, V> {
        let mut graph = self.graph.borrow_mut();
        let mut description = NodeDescription::new(
            &name,
            NodeRole::Source {
                topics: vec![topic.to_owned()],
            },
        );
        description.global = global;
        let factory: Factory = Box::new(move |name, children, assembler| {
            let down = assembler.downstream::<K, V>(children)?;
            Ok(Built::Source(Arc::new(Source { name, down })))
        });
        let id = graph.add(description, &[], factory);
        KStream::new(Rc::clone(&self.graph), id)
    }

    /// Freezes the declared graph into a runnable, shareable [`Topology`].
    ///
    /// # Errors
    /// [`TopologyError`] when two sources read the same topic, two nodes share a name, or
    /// this builder was built already (a builder builds one topology).
    pub fn build(&self) -> Result<Topology, TopologyError> {
        let mut graph = self.graph.borrow_mut();
        if graph.nodes.iter().any(|node| node.factory.is_none()) {
            return Err(TopologyError::AlreadyBuilt);
        }
        let descriptions: Vec<NodeDescription> = graph
            .nodes
            .iter()
            .map(|node| node.description.clone())
            .collect();
        let children: Vec<Vec<usize>> = graph
            .nodes
            .iter()
            .map(|node| node.children.clone())
            .collect();
        check_unique_names(&descriptions)?;
        check_connected(&graph.stores, &descriptions)?;
        if let Some(refusal) = graph.refusals.first() {
            return Err(refusal.clone());
        }
        if let Some(&(join, rekeyed)) = graph.unpartitioned_joins.first() {
            return Err(TopologyError::RepartitionRequired {
                join: descriptions[join].name.clone(),
                rekeyed: descriptions[rekeyed].name.clone(),
            });
        }
        let source_topics: Vec<(usize, &String, bool)> = descriptions
            .iter()
            .enumerate()
            .filter_map(|(id, description)| match &description.role {
                NodeRole::Source { topics } => Some(
                    topics
                        .iter()
                        .map(move |topic| (id, topic, description.global)),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        for (index, (_, topic, _)) in source_topics.iter().enumerate() {
            if source_topics[..index]
                .iter()
                .any(|(_, known, _)| known == topic)
            {
                return Err(TopologyError::DuplicateSourceTopic((*topic).clone()));
            }
        }
        let stores = graph.stores.clone();
        let internal_topics = graph.internal_topics.clone();
        let mut assembler = Assembler::new(&mut graph.nodes, &stores);
        let (mut sources, mut global_sources) = (Vec::new(), Vec::new());
        for (id, topic, global) in source_topics {
            assembler.build(id)?;
            let Some(Built::Source(source)) = &assembler.built[id] else {
                return Err(TopologyError::Internal(descriptions[id].name.clone()));
            };
            let entry: (String, Arc<dyn SourceNode>) = (topic.clone(), Arc::clone(source));
            if global {
                global_sources.push(entry);
            } else {
                sources.push(entry);
            }
        }
        // Nodes not reachable from a source are not possible: every node hangs off a source.
        let mut stores = stores;
        stores.sort_by_key(|store| store.global);
        let sink_names = assembler.sink_names;
        Ok(Topology::new(
            sources,
            global_sources,
            stores,
            sink_names,
            internal_topics,
            assembler.time,
            super::describe::describe(&descriptions, &children),
        ))
    }
}

/// Every local store is read or written by a node (its tasks would restore a changelog no
/// one plans otherwise).
fn check_connected(
    stores: &[StoreSpec],
    descriptions: &[NodeDescription],
) -> Result<(), TopologyError> {
    let connected = |name: &String| descriptions.iter().any(|node| node.stores.contains(name));
    match stores
        .iter()
        .find(|store| !store.global && !connected(&store.name))
    {
        Some(store) => Err(TopologyError::UnconnectedStore(store.name.clone())),
        None => Ok(()),
    }
}

fn check_unique_names(descriptions: &[NodeDescription]) -> Result<(), TopologyError> {
    let mut names: Vec<&str> = descriptions.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    match names.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(TopologyError::DuplicateNodeName(pair[0].to_owned())),
        None => Ok(()),
    }
}

/// A stream of records with key serde `K` and value serde `V`, as Kafka Streams' `KStream`.
///
/// Operators add a node to the builder's graph and return the stream of its output.
pub struct KStream<K: Serde, V: Serde> {
    pub(super) graph: Rc<RefCell<Graph>>,
    pub(super) id: usize,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serde, V: Serde> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        Self::new(Rc::clone(&self.graph), self.id)
    }
}

impl<K: Serde, V: Serde> fmt::Debug for KStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.graph.borrow().nodes[self.id].description.name.clone();
        f.debug_struct("KStream")
            .field("node", &name)
            .field("key", &K::NAME)
            .field("value", &V::NAME)
            .finish()
    }
}

impl<K: Serde, V: Serde> KStream<K, V> {
    pub(super) fn new(graph: Rc<RefCell<Graph>>, id: usize) -> Self {
        Self {
            graph,
            id,
            types: PhantomData,
        }
    }

    /// Adds a processor fed by `parents`, whose body `make` builds from its children.
    pub(super) fn add_processor<K2: Serde, V2: Serde>(
        &self,
        name: String,
        parents: &[usize],
        make: impl FnOnce(Downstream<K2, V2>) -> super::node::Operator<K, V> + 'static,
    ) -> KStream<K2, V2> {
        self.add_processor_with(name, parents, move |_, down, _| make(down))
    }

    /// As [`KStream::add_processor`], `make` also getting the node's name and the assembler
    /// (to register the node for time: [`Assembler::advance_quiet_tasks`]).
    pub(super) fn add_processor_with<K2: Serde, V2: Serde>(
        &self,
        name: String,
        parents: &[usize],
        make: impl FnOnce(&str, Downstream<K2, V2>, &mut Assembler<'_>) -> super::node::Operator<K, V>
        + 'static,
    ) -> KStream<K2, V2> {
        let description = NodeDescription::new(&name, NodeRole::Processor);
        let factory: Factory = Box::new(move |name, children, assembler| {
            let down = assembler.downstream::<K2, V2>(children)?;
            let operator = make(&name, down, assembler);
            let node: NodeRef<K, V> = Arc::new(Processor { name, operator });
            Ok(Built::Node(Box::new(node)))
        });
        let id = self.graph.borrow_mut().add(description, parents, factory);
        KStream::new(Rc::clone(&self.graph), id)
    }

    pub(super) fn generated_name(&self, prefix: &str) -> String {
        self.graph.borrow_mut().generated_name(prefix)
    }

    /// Names the node that produces this stream, instead of its generated name (Kafka
    /// Streams' `Named.as`): the name shows in [`Topology::describe`] and in errors.
    /// Names must be unique in the topology ([`StreamsBuilder::build`] checks).
    pub fn named(self, name: &str) -> Self {
        self.graph.borrow_mut().nodes[self.id].description.name = name.to_owned();
        self
    }

    /// Keeps the records for which `predicate` is true (`KSTREAM-FILTER-`).
    pub fn filter<F>(&self, predicate: F) -> Self
    where
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> bool + Send + Sync + 'static,
    {
        self.filter_where(predicate, true)
    }

    /// Drops the records for which `predicate` is true (`KSTREAM-FILTER-`).
    pub fn filter_not<F>(&self, predicate: F) -> Self
    where
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> bool + Send + Sync + 'static,
    {
        self.filter_where(predicate, false)
    }

    fn filter_where<F>(&self, predicate: F, keep: bool) -> Self
    where
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> bool + Send + Sync + 'static,
    {
        self.try_filter(move |key, value| {
            Ok::<_, std::convert::Infallible>(predicate(key, value) == keep)
        })
    }

    /// Keeps the records for which `predicate` is `Ok(true)`; an `Err` is a processing error
    /// naming this node, handled by the error policy (`KSTREAM-FILTER-`).
    pub fn try_filter<F, E>(&self, predicate: F) -> Self
    where
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> Result<bool, E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        let name = self.generated_name("KSTREAM-FILTER-");
        self.add_processor(name, &[self.id], move |down: Downstream<K, V>| {
            operator::<K, V, _>(move |ctx, key, value| {
                if predicate(&key, &value).map_err(refused)? {
                    down.forward(ctx, key, value)?;
                }
                Ok(())
            })
        })
    }

    /// Replaces each value by `mapper(value)`, keeping key, timestamp and headers (`KSTREAM-MAPVALUES-`).
    pub fn map_values<VR, F>(&self, mapper: F) -> KStream<K, VR::Serde>
    where
        VR: IntoValue,
        F: for<'a> Fn(V::Value<'a>) -> VR + Send + Sync + 'static,
    {
        self.try_map_values(move |value| Ok::<_, std::convert::Infallible>(mapper(value)))
    }

    /// As [`KStream::map_values`]; an `Err` is a processing error naming this node.
    pub fn try_map_values<VR, F, E>(&self, mapper: F) -> KStream<K, VR::Serde>
    where
        VR: IntoValue,
        F: for<'a> Fn(V::Value<'a>) -> Result<VR, E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        let name = self.generated_name("KSTREAM-MAPVALUES-");
        self.add_processor(name, &[self.id], move |down: Downstream<K, VR::Serde>| {
            operator::<K, V, _>(move |ctx, key, value| {
                let value = mapper(value).map_err(refused)?.into_value();
                Ok(down.forward(ctx, key, value)?)
            })
        })
    }

    /// Replaces each record by `mapper(key, value)` = `(new key, new value)` (`KSTREAM-MAP-`).
    pub fn map<KR, VR, F>(&self, mapper: F) -> KStream<KR::Serde, VR::Serde>
    where
        KR: IntoValue,
        VR: IntoValue,
        F: for<'a> Fn(K::Value<'a>, V::Value<'a>) -> (KR, VR) + Send + Sync + 'static,
    {
        let name = self.generated_name("KSTREAM-MAP-");
        self.add_processor(
            name,
            &[self.id],
            move |down: Downstream<KR::Serde, VR::Serde>| {
                operator::<K, V, _>(move |ctx, key, value| {
                    let (key, value) = mapper(key, value);
                    Ok(down.forward(ctx, key.into_value(), value.into_value())?)
                })
            },
        )
        .rekeyed()
    }

    /// Marks this stream's records as keyed differently from their partitions (its node
    /// changed the key), so that a join of it is refused.
    pub(super) fn rekeyed(self) -> Self {
        self.graph.borrow_mut().nodes[self.id].rekeyed_by = Some(self.id);
        self
    }

    /// Replaces each value by zero or more values, each with the record's key (`KSTREAM-FLATMAPVALUES-`).
    pub fn flat_map_values<VR, I, F>(&self, mapper: F) -> KStream<K, VR::Serde>
    where
        VR: IntoValue,
        I: IntoIterator<Item = VR>,
        F: for<'a> Fn(V::Value<'a>) -> I + Send + Sync + 'static,
    {
        let name = self.generated_name("KSTREAM-FLATMAPVALUES-");
        self.add_processor(name, &[self.id], move |down: Downstream<K, VR::Serde>| {
            operator::<K, V, _>(move |ctx, key, value| {
                for value in mapper(value) {
                    down.forward(ctx, key.clone(), value.into_value())?;
                }
                Ok(())
            })
        })
    }

    /// Calls `action` on each record and forwards it unchanged (`KSTREAM-PEEK-`).
    pub fn peek<F>(&self, action: F) -> Self
    where
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) + Send + Sync + 'static,
    {
        let name = self.generated_name("KSTREAM-PEEK-");
        self.add_processor(name, &[self.id], move |down: Downstream<K, V>| {
            operator::<K, V, _>(move |ctx, key, value| {
                action(&key, &value);
                Ok(down.forward(ctx, key, value)?)
            })
        })
    }

    /// Calls `action` on each record; the stream ends here (`KSTREAM-FOREACH-`).
    pub fn foreach<F>(&self, action: F)
    where
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) + Send + Sync + 'static,
    {
        let name = self.generated_name("KSTREAM-FOREACH-");
        self.add_processor::<K, V>(name, &[self.id], move |_down| {
            operator::<K, V, _>(move |_ctx, key, value| {
                action(&key, &value);
                Ok(())
            })
        });
    }

    /// One stream of the records of both streams (`KSTREAM-MERGE-`).
    pub fn merge(&self, other: &KStream<K, V>) -> Self {
        let name = self.generated_name("KSTREAM-MERGE-");
        self.pass_through(name, &[self.id, other.id])
    }

    /// A node forwarding every record unchanged (merge points and split branches).
    fn pass_through(&self, name: String, parents: &[usize]) -> Self {
        self.add_processor(name, parents, move |down: Downstream<K, V>| {
            operator::<K, V, _>(move |ctx, key, value| Ok(down.forward(ctx, key, value)?))
        })
    }

    /// Splits the stream into named branches, each record going to the first whose predicate
    /// holds (`KSTREAM-BRANCH-`; branch nodes are named after it plus the branch name).
    pub fn split(&self) -> BranchedKStream<K, V> {
        let prefix = self.generated_name("KSTREAM-BRANCH-");
        self.split_named(&prefix)
    }

    /// As [`KStream::split`], naming the split node `prefix` and its branches `prefix` + name.
    pub fn split_named(&self, prefix: &str) -> BranchedKStream<K, V> {
        let predicates: BranchPredicates<K, V> = Rc::default();
        let pending = Rc::clone(&predicates);
        let description = NodeDescription::new(prefix, NodeRole::Processor);
        let factory: Factory = Box::new(move |_name, children, assembler| {
            let predicates = pending.take();
            let down = assembler.downstream::<K, V>(children)?;
            let node: NodeRef<K, V> = Arc::new(Splitter { predicates, down });
            Ok(Built::Node(Box::new(node)))
        });
        let id = self
            .graph
            .borrow_mut()
            .add(description, &[self.id], factory);
        BranchedKStream {
            splitter: KStream::new(Rc::clone(&self.graph), id),
            prefix: prefix.to_owned(),
            predicates,
        }
    }

    /// Writes every record to `topic` with the stream's serdes (`KSTREAM-SINK-`).
    pub fn to(&self, topic: &str) {
        let name = self.generated_name("KSTREAM-SINK-");
        self.sink_named(name, topic);
    }

    /// As [`KStream::to`], with the node's name given.
    pub(super) fn sink_named(&self, name: String, topic: &str) {
        let description = NodeDescription::new(
            &name,
            NodeRole::Sink {
                topic: topic.to_owned(),
            },
        );
        let topic = topic.to_owned();
        let factory: Factory = Box::new(move |name, _children, assembler| {
            let topic = assembler.sink_index(&topic);
            let node: NodeRef<K, V> = Arc::new(Sink { name, topic });
            Ok(Built::Node(Box::new(node)))
        });
        self.graph
            .borrow_mut()
            .add(description, &[self.id], factory);
    }
}

pub(super) fn refused(error: impl fmt::Display) -> OperatorFailure {
    OperatorFailure::Refused(error.to_string())
}

/// A branch predicate of a split.
type Predicate<K, V> =
    Box<dyn for<'a> Fn(&<K as Serde>::Value<'a>, &<V as Serde>::Value<'a>) -> bool + Send + Sync>;

/// The predicates of a split's branches in order, `None` for the default branch; shared
/// between the [`BranchedKStream`] adding them and the splitter's factory.
type BranchPredicates<K, V> = Rc<RefCell<Vec<Option<Predicate<K, V>>>>>;

/// Sends each record to the first branch whose predicate holds (`None` = default branch).
struct Splitter<K: Serde, V: Serde> {
    predicates: Vec<Option<Predicate<K, V>>>,
    down: Downstream<K, V>,
}

// The Node signature again (every impl repeats it; see the trait in node.rs).
impl<K: Serde, V: Serde> Node<K, V> for Splitter<K, V> {
    fn process<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), super::ProcessingError> {
        let chosen = self
            .predicates
            .iter()
            .position(|predicate| predicate.as_ref().is_none_or(|holds| holds(&key, &value)));
        match chosen {
            Some(branch) => self.down.forward_to(branch, ctx, key, value),
            None => Ok(()),
        }
    }
}

/// The branches of a split stream, as Kafka Streams' `BranchedKStream`.
pub struct BranchedKStream<K: Serde, V: Serde> {
    splitter: KStream<K, V>,
    prefix: String,
    predicates: BranchPredicates<K, V>,
}

impl<K: Serde, V: Serde> fmt::Debug for BranchedKStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BranchedKStream")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<K: Serde, V: Serde> BranchedKStream<K, V> {
    /// The stream of records for which `predicate` holds and no earlier branch's did,
    /// from a node named the split's prefix + `name`.
    pub fn branch<F>(&mut self, name: &str, predicate: F) -> KStream<K, V>
    where
        F: for<'a> Fn(&K::Value<'a>, &V::Value<'a>) -> bool + Send + Sync + 'static,
    {
        self.add_branch(name, Some(Box::new(predicate)))
    }

    /// The stream of records no branch took, from a node named the split's prefix + `0`.
    pub fn default_branch(mut self) -> KStream<K, V> {
        self.add_branch("0", None)
    }

    fn add_branch(&mut self, name: &str, predicate: Option<Predicate<K, V>>) -> KStream<K, V> {
        self.predicates.borrow_mut().push(predicate);
        let splitter = &self.splitter;
        splitter.pass_through(format!("{}{name}", self.prefix), &[splitter.id])
    }
}
