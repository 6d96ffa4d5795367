//! The executable graph: typed nodes that push one record at a time to their children.

use std::borrow::Cow;
use std::sync::Arc;

use super::serdes::Serde;
use super::{ProcessingError, ProcessingErrorKind};
use crate::record::{InputRecord, OutputRecord};
use crate::state::TaskState;

/// What every node of one record's trip shares: the consumed record, the output sink and the
/// task's state stores.
pub(crate) struct RecordContext<'a, 'r> {
    /// The consumed record (its headers are inherited by every output).
    pub(crate) input: &'r InputRecord<'a>,
    /// The timestamp of the record being forwarded: the input's, unless a node forwards a
    /// result of its own time (a window's largest input timestamp, a punctuation's time).
    pub(crate) timestamp: i64,
    /// The topology's sink topic names, which outputs borrow.
    pub(crate) sink_names: &'a [Box<str>],
    /// Where sink nodes hand their records.
    pub(crate) emit: &'r mut dyn FnMut(OutputRecord<'a>),
    /// Told the name of every node the record enters, when set (per-node metrics).
    pub(crate) on_node: Option<&'r mut dyn FnMut(&str)>,
    /// The stores of the task processing the record, and the global stores.
    pub(crate) state: &'r mut TaskState,
}

impl RecordContext<'_, '_> {
    /// Reports that the record entered node `name`.
    pub(crate) fn enter(&mut self, name: &str) {
        if let Some(on_node) = self.on_node.as_mut() {
            on_node(name);
        }
    }
}

/// A node fed with records of key serde `K` and value serde `V`.
///
/// Its few implementations (sink, processor, splitter) repeat this signature: a trait method's
/// signature cannot be shared, and every node behaviour beyond them is a [`Processor`] body.
pub(crate) trait Node<K: Serde, V: Serde>: Send + Sync {
    /// Processes one record, forwarding results to the node's children.
    fn process<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), ProcessingError>;
}

/// A shared, type-erased handle on a node.
pub(crate) type NodeRef<K, V> = Arc<dyn Node<K, V>>;

/// The children of a node, in the order they were attached.
pub(crate) struct Downstream<K: Serde, V: Serde> {
    children: Box<[NodeRef<K, V>]>,
}

impl<K: Serde, V: Serde> Downstream<K, V> {
    pub(crate) fn new(children: Vec<NodeRef<K, V>>) -> Self {
        Self {
            children: children.into_boxed_slice(),
        }
    }

    /// Hands the record to every child; only fan-out clones it.
    pub(crate) fn forward<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), ProcessingError> {
        let Some((last, others)) = self.children.split_last() else {
            return Ok(());
        };
        for child in others {
            child.process(ctx, key.clone(), value.clone())?;
        }
        last.process(ctx, key, value)
    }

    /// Hands the record to the child at `index` only (a split's chosen branch).
    pub(crate) fn forward_to<'a>(
        &self,
        index: usize,
        ctx: &mut RecordContext<'a, '_>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), ProcessingError> {
        match self.children.get(index) {
            Some(child) => child.process(ctx, key, value),
            None => Ok(()),
        }
    }
}

/// The entry node of one source topic, taking raw bytes.
pub(crate) trait SourceNode: Send + Sync {
    /// Deserialises the record and pushes it down the graph.
    fn process<'a>(&self, ctx: &mut RecordContext<'a, '_>) -> Result<(), ProcessingError>;
}

/// Reads key and value with their serdes and forwards them.
pub(crate) struct Source<K: Serde, V: Serde> {
    pub(crate) name: String,
    pub(crate) down: Downstream<K, V>,
}

impl<K: Serde, V: Serde> SourceNode for Source<K, V> {
    fn process<'a>(&self, ctx: &mut RecordContext<'a, '_>) -> Result<(), ProcessingError> {
        ctx.enter(&self.name);
        let fail = |what: &str, e: super::serdes::SerdeError| {
            ProcessingError::new(
                ProcessingErrorKind::Deserialization,
                &self.name,
                format!("{what}: {e}"),
            )
        };
        let key = K::deserialize(ctx.input.key).map_err(|e| fail("key", e))?;
        let value = V::deserialize(ctx.input.value).map_err(|e| fail("value", e))?;
        self.down.forward(ctx, key, value)
    }
}

/// Writes key and value with their serdes to one topic.
pub(crate) struct Sink {
    pub(crate) name: String,
    /// The topic's index in the topology's sink names ([`RecordContext::sink_names`]).
    pub(crate) topic: usize,
}

impl<K: Serde, V: Serde> Node<K, V> for Sink {
    // The Node signature again (every impl repeats it; see the trait).
    fn process<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), ProcessingError> {
        ctx.enter(&self.name);
        let fail = |what: &str, e: super::serdes::SerdeError| {
            ProcessingError::new(
                ProcessingErrorKind::Serialization,
                &self.name,
                format!("{what}: {e}"),
            )
        };
        let key = K::serialize(key).map_err(|e| fail("key", e))?;
        let value = V::serialize(value).map_err(|e| fail("value", e))?;
        (ctx.emit)(OutputRecord {
            // The index was taken from this same table when the topology was built.
            topic: Cow::Borrowed(&ctx.sink_names[self.topic]),
            key,
            value,
            timestamp: ctx.timestamp,
            headers: ctx.input.headers.clone(),
        });
        Ok(())
    }
}

/// Why a processor's function did not complete: its own refusal, or an error further down.
pub(crate) enum OperatorFailure {
    /// The user function refused the record with this message.
    Refused(String),
    /// A node further down failed.
    Downstream(ProcessingError),
}

impl OperatorFailure {
    /// The processing error of node `node`: its own refusal, or the error from further down.
    pub(crate) fn of_node(self, node: &str) -> ProcessingError {
        match self {
            OperatorFailure::Refused(message) => {
                ProcessingError::new(ProcessingErrorKind::Processing, node, message)
            }
            OperatorFailure::Downstream(error) => error,
        }
    }
}

impl From<ProcessingError> for OperatorFailure {
    fn from(error: ProcessingError) -> Self {
        Self::Downstream(error)
    }
}

/// The body of a processor: runs the user function and forwards what it yields.
pub(crate) type Operator<K, V> = Box<
    dyn for<'a, 'r> Fn(
            &mut RecordContext<'a, 'r>,
            <K as Serde>::Value<'a>,
            <V as Serde>::Value<'a>,
        ) -> Result<(), OperatorFailure>
        + Send
        + Sync,
>;

/// Boxes a processor body (the bound lets closures infer their higher-ranked signature).
pub(crate) fn operator<K: Serde, V: Serde, F>(body: F) -> Operator<K, V>
where
    F: for<'a, 'r> Fn(
            &mut RecordContext<'a, 'r>,
            K::Value<'a>,
            V::Value<'a>,
        ) -> Result<(), OperatorFailure>
        + Send
        + Sync
        + 'static,
{
    Box::new(body)
}

/// A named processor node.
pub(crate) struct Processor<K: Serde, V: Serde> {
    pub(crate) name: String,
    pub(crate) operator: Operator<K, V>,
}

impl<K: Serde, V: Serde> Node<K, V> for Processor<K, V> {
    // The Node signature again (every impl repeats it; see the trait).
    fn process<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), ProcessingError> {
        ctx.enter(&self.name);
        (self.operator)(ctx, key, value).map_err(|failure| failure.of_node(&self.name))
    }
}
