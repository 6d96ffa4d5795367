//! `KTable<Windowed<K>, V>::suppress(Suppressed::until_window_closes())` (Kafka Streams'
//! `KTableSuppressProcessor`): the updates of each window and key are held in a buffer store
//! (with its changelog) and only the last one is forwarded, once the node's stream time reaches
//! the window's end plus the windows' grace. An emitted entry is deleted from the buffer
//! (a tombstone in its changelog), so a restart neither loses a final result nor repeats one
//! whose deletion was committed.
//!
//! Emission is [`SuppressBuffer::advance_to`], callable with any new stream time: records call it
//! with their own timestamp. With [`Suppressed::close_on_wall_clock`], the node also registers
//! for time ([`TimeDriven`]): when a task took no record for the idle time, its stream time
//! follows the wall clock and the node closes the windows that time passed, after moving the
//! window store's stream time there too (so that a record arriving later for such a window is
//! dropped as late, not emitted twice). A task restored from its changelogs (a restart, a
//! rebalance) that takes no record starts from the stream time its buffer kept, so what it
//! buffered still closes.

use std::sync::Arc;
use std::time::Duration;

use super::super::ProcessingError;
use super::super::builder::refused;
use super::super::node::{Downstream, OperatorFailure, RecordContext, operator};
use super::super::serdes::{Nullable, ReadOwned, Serde};
use super::super::table::KTable;
use super::super::time::TimeDriven;
use super::WindowOrigin;
use super::key::{Window, Windowed, WindowedKey, split_windowed};
use super::store::{advance_window_store, forward_at, kept_stream_time, observe, window_start_of};
use crate::state::{StoreSpec, TaskState};

/// How a windowed table is suppressed (Kafka Streams' `Suppressed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    name: Option<String>,
    close_on_wall_clock: Option<Duration>,
}

impl Suppressed {
    /// One final result per window and key, once stream time reaches the window's end plus the
    /// windows' grace, nothing before (`Suppressed.untilWindowCloses`, with an unbounded
    /// buffer).
    pub fn until_window_closes() -> Self {
        Suppressed {
            name: None,
            close_on_wall_clock: None,
        }
    }

    /// Names the node `name` and its buffer store `<name>-store` (`withName`), instead of the
    /// generated `KTABLE-SUPPRESS-` names.
    pub fn with_name(self, name: &str) -> Self {
        Suppressed {
            name: Some(name.to_owned()),
            ..self
        }
    }

    /// Beyond Kafka Streams, whose windows close only when a record moves stream time: when a
    /// task takes no record for `idle` of wall-clock time, its stream time advances with the
    /// clock from there, so the last windows of a quiet or stopped source still close (and are
    /// emitted once `end + grace` passes). Off unless called.
    pub fn close_on_wall_clock(self, idle: Duration) -> Self {
        Suppressed {
            close_on_wall_clock: Some(idle),
            ..self
        }
    }
}

/// A buffer entry's layout: the window end, the update's timestamp (8 bytes big-endian each),
/// then 1 and the value's bytes, or 0 for a deletion.
const HEADER: usize = 17;

/// The window end a buffer entry is indexed (and emitted) by; none for the stream time's
/// entry.
fn window_end_of(key: &[u8], value: &[u8]) -> Option<i64> {
    window_start_of(key, value)?;
    value.first_chunk::<8>().map(|end| i64::from_be_bytes(*end))
}

/// The suppression node's state: its buffer store, the grace its windows close after, and
/// where final results go.
pub(crate) struct SuppressBuffer<K: Serde, V: Serde> {
    name: String,
    store: usize,
    grace: i64,
    /// The windowed aggregation upstream, whose stream time a wall-clock close moves too.
    origin: Option<WindowOrigin>,
    down: Downstream<Windowed<K>, Nullable<V>>,
}

impl<K: ReadOwned, V: ReadOwned> SuppressBuffer<K, V> {
    /// Buffers one update of a window, then emits what the update's timestamp closes.
    fn buffer<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        key: WindowedKey<K::Value<'a>>,
        value: Option<V::Value<'a>>,
    ) -> Result<(), OperatorFailure> {
        let end = key.window.end;
        let entry = Windowed::<K>::serialize(key)
            .map_err(|error| refused(format!("windowed key: {error}")))?
            .ok_or_else(|| refused("the windowed key serialised to null"))?;
        let value =
            Nullable::<V>::serialize(value).map_err(|error| refused(format!("value: {error}")))?;
        let mut buffered = Vec::with_capacity(HEADER + value.as_ref().map_or(0, |v| v.len()));
        buffered.extend_from_slice(&end.to_be_bytes());
        buffered.extend_from_slice(&ctx.timestamp.to_be_bytes());
        buffered.push(u8::from(value.is_some()));
        buffered.extend_from_slice(value.as_deref().unwrap_or_default());
        ctx.state
            .put_timed(self.store, &entry, &buffered, window_end_of);
        self.advance_to(ctx, ctx.timestamp)
    }

    /// **The entry point for closing windows by time**: moves the node's stream time to
    /// `stream_time` if later (kept in the buffer store, so it survives a restart) and forwards,
    /// oldest window first, the final result of every buffered window whose end plus grace is
    /// at or before it, each with its own timestamp, deleting it from the buffer.
    ///
    /// Records call it with their timestamp. Wall-clock closing (advancing a quiet task's
    /// stream time with the clock) calls it with the time it decides; it should advance the
    /// upstream window aggregation's stream time to the same time first, so that a record
    /// arriving later for a window emitted here is dropped as late there, not re-emitted.
    ///
    /// # Errors
    /// A buffer entry that cannot be read back, or a failure further down.
    pub(crate) fn advance_to(
        &self,
        ctx: &mut RecordContext<'_, '_>,
        stream_time: i64,
    ) -> Result<(), OperatorFailure> {
        let stream_time = observe(ctx, self.store, stream_time)?;
        let closed = stream_time.saturating_sub(self.grace).saturating_add(1);
        for (entry, buffered) in ctx.state.remove_before(self.store, closed, window_end_of) {
            let unreadable = |error| refused(format!("suppression buffer entry: {error}"));
            let (key, start) = split_windowed(&entry).map_err(unreadable)?;
            let key = K::deserialize_owned(Some(key)).map_err(unreadable)?;
            let (Some((end, timestamp)), Some(&present)) = (
                window_end_of(&entry, &buffered).zip(
                    buffered
                        .get(8..16)
                        .and_then(|time| time.try_into().ok())
                        .map(i64::from_be_bytes),
                ),
                buffered.get(16),
            ) else {
                return Err(refused("suppression buffer entry shorter than its header"));
            };
            let value = if present == 1 {
                Some(V::deserialize_owned(Some(&buffered[HEADER..])).map_err(unreadable)?)
            } else {
                None
            };
            let key = WindowedKey {
                key,
                window: Window { start, end },
            };
            forward_at(ctx, timestamp, |ctx| {
                Ok(self.down.forward(ctx, key, value)?)
            })?;
        }
        Ok(())
    }
}

impl<K: ReadOwned, V: ReadOwned> TimeDriven for SuppressBuffer<K, V> {
    /// A quiet task's new stream time (wall-clock closing): the window store's stream time
    /// moves there first, then the windows it closed are emitted.
    fn on_time<'a>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        time: i64,
    ) -> Result<(), ProcessingError> {
        let advanced = match self.origin {
            Some(origin) => {
                advance_window_store(ctx, origin.store, origin.spans.retention, time).map(drop)
            }
            None => Ok(()),
        };
        advanced
            .and_then(|()| self.advance_to(ctx, time))
            .map_err(|failure| failure.of_node(&self.name))
    }

    /// The buffer's stream time, kept in its store (and so restored with it).
    fn kept_stream_time(&self, state: &TaskState) -> Option<i64> {
        kept_stream_time(state, self.store)
    }
}

impl<K: ReadOwned, V: ReadOwned> KTable<Windowed<K>, V> {
    /// The table's final results: per window and key, its last update once the window closed
    /// (`suppress(Suppressed.untilWindowCloses(unbounded()))`: a `KTABLE-SUPPRESS-` node and
    /// its buffer store `KTABLE-SUPPRESS-STATE-STORE-`). Refused at build for a table that is
    /// not the result of a windowed aggregation (its windows' grace is unknown). The result
    /// cannot be joined (its store holds the buffer, not the table).
    pub fn suppress(&self, suppressed: Suppressed) -> KTable<Windowed<K>, V> {
        let (name, store_name) = match suppressed.name {
            Some(name) => (name.clone(), format!("{name}-store")),
            None => {
                let name = self.changes.generated_name("KTABLE-SUPPRESS-");
                let store_name = self.changes.generated_name("KTABLE-SUPPRESS-STATE-STORE-");
                (name, store_name)
            }
        };
        let store = self.changes.graph.borrow_mut().add_store(StoreSpec {
            name: store_name.clone(),
            global: false,
            source_topic: None,
            window_retention_ms: None,
        });
        let origin = self.windows;
        let grace = origin.map_or_else(
            || {
                self.changes.refuse(
                    "suppress(until_window_closes) needs the windows' grace: suppress the table \
                     of a windowed aggregation",
                );
                0
            },
            |origin| origin.spans.grace,
        );
        let idle = suppressed.close_on_wall_clock;
        let changes = self.changes.add_processor_with(
            name,
            &[self.changes.id],
            move |name, down: Downstream<Windowed<K>, Nullable<V>>, assembler| {
                let buffer = Arc::new(SuppressBuffer {
                    name: name.to_owned(),
                    store,
                    grace,
                    origin,
                    down,
                });
                if let Some(idle) = idle {
                    assembler.advance_quiet_tasks(idle, Arc::clone(&buffer) as Arc<dyn TimeDriven>);
                }
                operator::<Windowed<K>, Nullable<V>, _>(move |ctx, key, value| {
                    buffer.buffer(ctx, key, value)
                })
            },
        );
        KTable::materialized(changes, store, store_name).buffered()
    }
}
