//! Kafka Streams' Processor API in the DSL: a processor of the user's own, with the state
//! stores it connects to, that forwards what it wants and schedules punctuations.
//!
//! ```
//! use std::time::Duration;
//! use ferrobeat_streams::driver::TopologyTestDriver;
//! use ferrobeat_streams::topology::{PunctuationType, StreamsBuilder, serdes::{Long, Utf8}};
//! let builder = StreamsBuilder::new();
//! builder.add_state_store("seen").expect("a new store");
//! builder
//!     .stream::<Utf8, Utf8>("in")
//!     .processor::<Utf8, Long>()
//!     .stores(["seen"])
//!     .schedule(Duration::from_secs(10), PunctuationType::StreamTime, |ctx, _time| {
//!         for (key, _) in ctx.entries("seen")? {
//!             let key = String::from_utf8_lossy(&key).into_owned();
//!             ctx.forward(key.into(), 1)?;
//!         }
//!         Ok(())
//!     })
//!     .process(|ctx, key, _value| ctx.put("seen", key.as_bytes(), b""))
//!     .to("out");
//! let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
//! driver.create_input_topic("in").pipe_key_value("host-1", "up");
//! assert_eq!(driver.create_output_topic("out").queue_size(), 1);
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::builder::{Built, Factory};
use super::describe::{NodeDescription, NodeRole};
use super::node::{Downstream, Node, NodeRef, RecordContext};
use super::serdes::Serde;
use super::time::{PunctuationType, Schedule, TimeDriven, millis_at_least_one};
use super::{KStream, ProcessingError, ProcessingErrorKind, StreamsBuilder, TopologyError};
use crate::state::{StoreSpec, TaskState};

/// A key and its value, as a store holds them.
pub type StoreEntry = (Vec<u8>, Vec<u8>);

/// What a custom processor does with each record.
type ProcessFn<K, V, KR, VR> = Box<
    dyn for<'c, 'a> Fn(
            &mut ProcessorContext<'c, 'a, KR, VR>,
            <K as Serde>::Value<'a>,
            <V as Serde>::Value<'a>,
        ) -> Result<(), ProcessingError>
        + Send
        + Sync,
>;

/// What a punctuation does, given its time.
type PunctuateFn<KR, VR> = Box<
    dyn for<'c, 'a> Fn(&mut ProcessorContext<'c, 'a, KR, VR>, i64) -> Result<(), ProcessingError>
        + Send
        + Sync,
>;

/// The forwarding half of a context, with the lifetimes of the record's trip erased.
trait Forward<'a, K: Serde, V: Serde> {
    fn forward(
        &mut self,
        key: K::Value<'a>,
        value: V::Value<'a>,
        timestamp: i64,
    ) -> Result<(), ProcessingError>;
    fn timestamp(&self) -> i64;
    fn state(&self) -> &TaskState;
    fn state_mut(&mut self) -> &mut TaskState;
}

/// A record's trip and the processor's children.
struct Bound<'c, 'a, 'r, K: Serde, V: Serde> {
    ctx: &'c mut RecordContext<'a, 'r>,
    down: &'c Downstream<K, V>,
}

impl<'a, K: Serde, V: Serde> Forward<'a, K, V> for Bound<'_, 'a, '_, K, V> {
    fn forward(
        &mut self,
        key: K::Value<'a>,
        value: V::Value<'a>,
        timestamp: i64,
    ) -> Result<(), ProcessingError> {
        let own = std::mem::replace(&mut self.ctx.timestamp, timestamp);
        let forwarded = self.down.forward(self.ctx, key, value);
        self.ctx.timestamp = own;
        forwarded
    }

    fn timestamp(&self) -> i64 {
        self.ctx.timestamp
    }

    fn state(&self) -> &TaskState {
        self.ctx.state
    }

    fn state_mut(&mut self) -> &mut TaskState {
        self.ctx.state
    }
}

/// What a custom processor's code gets, for a record or a punctuation (Kafka Streams'
/// `ProcessorContext`): the stores it connected to, by name (keys and values as bytes),
/// forwarding to its children (of key serde `K` and value serde `V`), and the time.
pub struct ProcessorContext<'c, 'a, K: Serde, V: Serde> {
    inner: &'c mut (dyn Forward<'a, K, V> + 'c),
    custom: &'c Custom<K, V>,
    /// The punctuation's time, when this is one.
    punctuation: Option<i64>,
}

impl<K: Serde, V: Serde> fmt::Debug for ProcessorContext<'_, '_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessorContext")
            .field("node", &self.custom.name)
            .field("timestamp", &self.inner.timestamp())
            .field("punctuation", &self.punctuation)
            .finish_non_exhaustive()
    }
}

impl<'a, K: Serde, V: Serde> ProcessorContext<'_, 'a, K, V> {
    /// Forwards a record to the processor's children, stamped [`ProcessorContext::timestamp`].
    ///
    /// # Errors
    /// The error of a node further down (a sink that cannot serialise it, ...).
    pub fn forward(
        &mut self,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), ProcessingError> {
        let timestamp = self.inner.timestamp();
        self.inner.forward(key, value, timestamp)
    }

    /// Forwards a record stamped `timestamp` (ms since the epoch).
    ///
    /// # Errors
    /// As [`ProcessorContext::forward`].
    pub fn forward_at(
        &mut self,
        key: K::Value<'a>,
        value: V::Value<'a>,
        timestamp: i64,
    ) -> Result<(), ProcessingError> {
        self.inner.forward(key, value, timestamp)
    }

    /// The record's timestamp, or in a punctuation its time (stream time or wall clock).
    pub fn timestamp(&self) -> i64 {
        self.inner.timestamp()
    }

    /// The task's stream time, `None` before its first record.
    pub fn stream_time(&self) -> Option<i64> {
        self.inner.state().stream_time()
    }

    /// The value of `key` in connected store `store`.
    ///
    /// # Errors
    /// When the processor did not connect `store` ([`ProcessorBuilder::stores`]).
    pub fn get(&self, store: &str, key: &[u8]) -> Result<Option<&[u8]>, ProcessingError> {
        let index = self.store(store)?;
        Ok(self.inner.state().get(index, key))
    }

    /// Sets `key` to `value` in connected store `store` (and its changelog).
    ///
    /// # Errors
    /// As [`ProcessorContext::get`].
    pub fn put(&mut self, store: &str, key: &[u8], value: &[u8]) -> Result<(), ProcessingError> {
        let index = self.store(store)?;
        self.inner.state_mut().apply(index, key, Some(value));
        Ok(())
    }

    /// Removes `key` from connected store `store` (a tombstone in its changelog).
    ///
    /// # Errors
    /// As [`ProcessorContext::get`].
    pub fn delete(&mut self, store: &str, key: &[u8]) -> Result<(), ProcessingError> {
        let index = self.store(store)?;
        self.inner.state_mut().apply(index, key, None);
        Ok(())
    }

    /// A copy of connected store `store`'s entries, in key order (Kafka Streams' `all()`).
    ///
    /// # Errors
    /// As [`ProcessorContext::get`].
    pub fn entries(&self, store: &str) -> Result<Vec<StoreEntry>, ProcessingError> {
        self.store(store)?;
        let entries = self.inner.state().store(store).map(|store| {
            store
                .entries()
                .map(|(key, value)| (key.to_vec(), value.to_vec()))
                .collect()
        });
        Ok(entries.unwrap_or_default())
    }

    /// A processing error of this processor with `message` (for the error policy), naming
    /// the punctuation when in one.
    pub fn error(&self, message: impl fmt::Display) -> ProcessingError {
        let message = match self.punctuation {
            Some(time) => format!("punctuation at {time}: {message}"),
            None => message.to_string(),
        };
        ProcessingError::new(ProcessingErrorKind::Processing, &self.custom.name, message)
    }

    fn store(&self, name: &str) -> Result<usize, ProcessingError> {
        let connected = self.custom.stores.iter().find(|(known, _)| known == name);
        connected.map(|(_, index)| *index).ok_or_else(|| {
            self.error(format!(
                "store {name:?} is not connected to this processor (connected: {:?})",
                self.custom
                    .stores
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>()
            ))
        })
    }
}

/// What a custom processor's node and its punctuators share.
struct Custom<KR: Serde, VR: Serde> {
    name: String,
    /// The connected stores: name and index among the task's local stores.
    stores: Vec<(String, usize)>,
    down: Downstream<KR, VR>,
}

impl<KR: Serde, VR: Serde> Custom<KR, VR> {
    /// Runs `body` with a context over `ctx`.
    fn with_context<'a, T>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        punctuation: Option<i64>,
        body: impl FnOnce(&mut ProcessorContext<'_, 'a, KR, VR>) -> T,
    ) -> T {
        let mut bound = Bound {
            ctx,
            down: &self.down,
        };
        body(&mut ProcessorContext {
            inner: &mut bound,
            custom: self,
            punctuation,
        })
    }
}

/// The node of a custom processor.
struct CustomNode<K: Serde, V: Serde, KR: Serde, VR: Serde> {
    custom: Arc<Custom<KR, VR>>,
    process: ProcessFn<K, V, KR, VR>,
}

impl<K: Serde, V: Serde, KR: Serde, VR: Serde> Node<K, V> for CustomNode<K, V, KR, VR> {
    // The Node signature again (every impl repeats it; see the trait in node.rs).
    fn process<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), ProcessingError> {
        ctx.enter(&self.custom.name);
        self.custom
            .with_context(ctx, None, |context| (self.process)(context, key, value))
    }
}

/// One schedule of a custom processor.
struct Punctuator<KR: Serde, VR: Serde> {
    custom: Arc<Custom<KR, VR>>,
    punctuate: PunctuateFn<KR, VR>,
}

impl<KR: Serde, VR: Serde> TimeDriven for Punctuator<KR, VR> {
    fn on_time<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        time: i64,
    ) -> Result<(), ProcessingError> {
        self.custom
            .with_context(ctx, Some(time), |context| (self.punctuate)(context, time))
    }
}

/// Declares a custom processor on a stream ([`KStream::processor`]): the stores it connects
/// to, its punctuations, then what it does with each record ([`ProcessorBuilder::process`]).
pub struct ProcessorBuilder<K: Serde, V: Serde, KR: Serde, VR: Serde> {
    stream: KStream<K, V>,
    stores: Vec<String>,
    schedules: Vec<(i64, PunctuationType, PunctuateFn<KR, VR>)>,
    types: PhantomData<fn() -> (KR, VR)>,
}

impl<K: Serde, V: Serde, KR: Serde, VR: Serde> fmt::Debug for ProcessorBuilder<K, V, KR, VR> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessorBuilder")
            .field("stores", &self.stores)
            .field("schedules", &self.schedules.len())
            .finish_non_exhaustive()
    }
}

impl<K: Serde, V: Serde, KR: Serde, VR: Serde> ProcessorBuilder<K, V, KR, VR> {
    /// Connects the processor to stores declared with [`StreamsBuilder::add_state_store`]
    /// (Kafka Streams' store names given to `process`); [`StreamsBuilder::build`] refuses a
    /// name not declared.
    pub fn stores<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stores.extend(names.into_iter().map(Into::into));
        self
    }

    /// Schedules `punctuator` every `interval` (whole milliseconds, at least 1) of `kind`'s
    /// time, in every task (Kafka Streams' `ProcessorContext.schedule`, declared here because
    /// the node is shared by all tasks). It gets the processor's context, whose timestamp is
    /// the punctuation time, and that time. Stream-time schedules fire on the grid of
    /// multiples of `interval` (the first at the task's first record); wall-clock ones every
    /// `interval` from the task's start. An `Err` goes through the error policy as a record's.
    pub fn schedule<P>(mut self, interval: Duration, kind: PunctuationType, punctuator: P) -> Self
    where
        P: for<'c, 'a> Fn(
                &mut ProcessorContext<'c, 'a, KR, VR>,
                i64,
            ) -> Result<(), ProcessingError>
            + Send
            + Sync
            + 'static,
    {
        let interval = millis_at_least_one(interval);
        self.schedules.push((interval, kind, Box::new(punctuator)));
        self
    }

    /// Adds the processor (`KSTREAM-PROCESSOR-`), calling `process` on each record, and
    /// returns the stream of what it forwards. An `Err` is a processing error handled by the
    /// error policy; build one naming this node with [`ProcessorContext::error`].
    pub fn process<F>(self, process: F) -> KStream<KR, VR>
    where
        F: for<'c, 'a> Fn(
                &mut ProcessorContext<'c, 'a, KR, VR>,
                K::Value<'a>,
                V::Value<'a>,
            ) -> Result<(), ProcessingError>
            + Send
            + Sync
            + 'static,
    {
        let Self {
            stream,
            stores,
            schedules,
            ..
        } = self;
        let process: ProcessFn<K, V, KR, VR> = Box::new(process);
        let name = stream.generated_name("KSTREAM-PROCESSOR-");
        let mut description = NodeDescription::new(&name, NodeRole::Processor);
        description.stores.clone_from(&stores);
        let factory: Factory = Box::new(move |name, children, assembler| {
            let down = assembler.downstream::<KR, VR>(children)?;
            let stores = stores
                .into_iter()
                .map(|store| match assembler.store_index(&store) {
                    Some(index) => Ok((store, index)),
                    None => Err(TopologyError::UnknownStore {
                        node: name.clone(),
                        store,
                    }),
                })
                .collect::<Result<_, _>>()?;
            let custom = Arc::new(Custom { name, stores, down });
            for (interval, kind, punctuate) in schedules {
                let punctuator = Arc::new(Punctuator {
                    custom: Arc::clone(&custom),
                    punctuate,
                });
                assembler.schedule(Schedule {
                    interval,
                    kind,
                    punctuator,
                });
            }
            let node: NodeRef<K, V> = Arc::new(CustomNode { custom, process });
            Ok(Built::Node(Box::new(node)))
        });
        let id = stream
            .graph
            .borrow_mut()
            .add(description, &[stream.id], factory);
        KStream::new(Rc::clone(&stream.graph), id)
    }
}

impl<K: Serde, V: Serde> KStream<K, V> {
    /// Starts declaring a custom processor of this stream that forwards records of key serde
    /// `KR` and value serde `VR` (Kafka Streams' `KStream.process`): see [`ProcessorBuilder`].
    pub fn processor<KR: Serde, VR: Serde>(&self) -> ProcessorBuilder<K, V, KR, VR> {
        ProcessorBuilder {
            stream: self.clone(),
            stores: Vec::new(),
            schedules: Vec::new(),
            types: PhantomData,
        }
    }
}

impl StreamsBuilder {
    /// Declares a key-value store custom processors can connect to (Kafka Streams'
    /// `addStateStore`): local to each task, in memory or persistent as the runtime's
    /// configuration says, with its changelog `<application id>-<name>-changelog`.
    ///
    /// [`StreamsBuilder::build`] refuses a store no processor connects to.
    ///
    /// # Errors
    /// [`TopologyError::DuplicateStoreName`] when a store of that name exists already.
    pub fn add_state_store(&self, name: &str) -> Result<(), TopologyError> {
        let mut graph = self.graph.borrow_mut();
        if graph.stores.iter().any(|store| store.name == name) {
            return Err(TopologyError::DuplicateStoreName(name.to_owned()));
        }
        graph.add_store(StoreSpec {
            name: name.to_owned(),
            global: false,
            source_topic: None,
            window_retention_ms: None,
        });
        Ok(())
    }
}
