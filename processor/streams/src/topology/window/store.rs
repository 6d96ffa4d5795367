//! What window stores and suppression buffers keep beside their entries, over the key-value
//! stores: the node's stream time under a reserved key, and how entries are ordered by time.

use super::super::builder::refused;
use super::super::node::{OperatorFailure, RecordContext};
use crate::state::TaskState;

/// The key a node's stream time is kept under in its store: shorter than any windowed key
/// (whose window start alone takes 8 bytes), so it cannot collide with one, and left out of the
/// time index.
const STREAM_TIME_KEY: &[u8] = b"time";

/// The stream time of the node owning `store` after seeing `timestamp`: the largest timestamp
/// it has seen, kept in the store (and so its changelog) when it advances, at most one write per
/// call. A store restored from its changelog carries it across a restart.
pub(super) fn observe(
    ctx: &mut RecordContext<'_, '_>,
    store: usize,
    timestamp: i64,
) -> Result<i64, OperatorFailure> {
    let known = match ctx.state.get(store, STREAM_TIME_KEY) {
        Some(bytes) => Some(i64::from_be_bytes(bytes.try_into().map_err(|_| {
            refused(format!(
                "the stored stream time has {} bytes instead of 8",
                bytes.len()
            ))
        })?)),
        None => None,
    };
    match known {
        Some(known) if known >= timestamp => Ok(known),
        _ => {
            ctx.state
                .apply(store, STREAM_TIME_KEY, Some(&timestamp.to_be_bytes()));
            Ok(timestamp)
        }
    }
}

/// The stream time kept in `store` by [`observe`], if any.
pub(super) fn kept_stream_time(state: &TaskState, store: usize) -> Option<i64> {
    let bytes = state.get(store, STREAM_TIME_KEY)?;
    bytes.try_into().ok().map(i64::from_be_bytes)
}

/// Moves window store `store`'s stream time to `stream_time` if later and deletes the windows
/// it expired (those that started `retention` or longer before it); returns the stream time.
///
/// # Errors
/// A stored stream time that cannot be read.
pub(super) fn advance_window_store(
    ctx: &mut RecordContext<'_, '_>,
    store: usize,
    retention: i64,
    stream_time: i64,
) -> Result<i64, OperatorFailure> {
    let stream_time = observe(ctx, store, stream_time)?;
    let expired = stream_time.saturating_sub(retention).saturating_add(1);
    ctx.state.remove_before(store, expired, window_start_of);
    Ok(stream_time)
}

/// The window start a window store's entry is indexed by: the last 8 bytes of its key (none
/// for the stream time's shorter key).
pub(super) fn window_start_of(key: &[u8], _value: &[u8]) -> Option<i64> {
    key.last_chunk::<8>()
        .map(|start| i64::from_be_bytes(*start))
}

/// Runs `forward` with `timestamp` as the timestamp of what it forwards, then restores the
/// record's.
pub(super) fn forward_at<'a, 'r>(
    ctx: &mut RecordContext<'a, 'r>,
    timestamp: i64,
    forward: impl FnOnce(&mut RecordContext<'a, 'r>) -> Result<(), OperatorFailure>,
) -> Result<(), OperatorFailure> {
    let record = std::mem::replace(&mut ctx.timestamp, timestamp);
    let forwarded = forward(ctx);
    ctx.timestamp = record;
    forwarded
}
