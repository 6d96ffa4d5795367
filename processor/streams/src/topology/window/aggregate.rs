//! The windowed aggregation node (Kafka Streams' `KStreamWindowAggregate`): each record goes to
//! every window containing it that has not closed, windows past their retention are deleted.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::super::group::{Step, aggregation_key, update};
use super::super::node::{Downstream, OperatorFailure, RecordContext};
use super::super::serdes::{Nullable, Serde};
use super::Spans;
use super::key::{Windowed, WindowedKey, windowed_bytes};
use super::store::{advance_window_store, forward_at, window_start_of};
use crate::log_limit::LogRateLimiter;

/// At most one log line about late records per node and interval.
const LATE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One windowed aggregation node: its windows and window store.
pub(super) struct WindowAggregate {
    name: String,
    spans: Spans,
    store: usize,
    late_log: Mutex<LogRateLimiter>,
}

impl WindowAggregate {
    /// The node `name` aggregating over `spans` in local store `store`.
    pub(super) fn new(name: String, spans: Spans, store: usize) -> Self {
        WindowAggregate {
            name,
            spans,
            store,
            late_log: Mutex::new(LogRateLimiter::new(LATE_LOG_INTERVAL)),
        }
    }

    /// Aggregates one record with `step` into each of its windows that is still open, and
    /// forwards each window's new aggregate with the window's largest record timestamp.
    pub(super) fn process<'a, K: Serde, V: Serde, VA: Serde>(
        &self,
        ctx: &mut RecordContext<'a, '_>,
        step: &impl Step<K, V, VA>,
        down: &Downstream<Windowed<K>, Nullable<VA>>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<(), OperatorFailure> {
        let Some(key_bytes) = aggregation_key::<K, V>(ctx, &key, &value)? else {
            return Ok(());
        };
        let timestamp = ctx.timestamp;
        let stream_time = self.advance_to(ctx, timestamp)?;
        let close = stream_time.saturating_sub(self.spans.grace);
        let mut accepted = false;
        for window in self.spans.containing(timestamp) {
            if window.end <= close {
                continue;
            }
            accepted = true;
            let entry = windowed_bytes(&key_bytes, window.start);
            let (aggregate, time) = update(
                ctx,
                step,
                self.store,
                &entry,
                Some(window_start_of),
                &key,
                value.clone(),
            )?;
            let windowed = WindowedKey {
                key: key.clone(),
                window,
            };
            forward_at(ctx, time, |ctx| {
                Ok(down.forward(ctx, windowed, Some(aggregate))?)
            })?;
        }
        if !accepted && timestamp >= 0 {
            ctx.state.count_dropped_late();
            if let Some(held_back) = self.late_log.lock().admit(Instant::now()) {
                tracing::warn!(
                    node = %self.name,
                    timestamp,
                    stream_time,
                    grace_ms = self.spans.grace,
                    "record dropped: every window it belongs to closed at stream time minus \
                     grace ({held_back} similar messages held back)"
                );
            }
        }
        Ok(())
    }

    /// Moves the node's stream time to `stream_time` if later, deletes the windows it expired
    /// (start at or before stream time − retention) and returns the node's stream time.
    ///
    /// Records call it with their timestamp; wall-clock closing should call it with the time it
    /// decides, before [`SuppressBuffer::advance_to`](super::suppress::SuppressBuffer::advance_to)
    /// downstream, so that a record arriving later for a window closed that way is dropped here
    /// as late.
    fn advance_to(
        &self,
        ctx: &mut RecordContext<'_, '_>,
        stream_time: i64,
    ) -> Result<i64, OperatorFailure> {
        advance_window_store(ctx, self.store, self.spans.retention, stream_time)
    }
}
