//! Windowed aggregation and suppression, with Kafka Streams' semantics:
//! `group_by_key().windowed_by(TimeWindows::of_size_and_grace(..))` then `count`, `reduce` or
//! `aggregate` into a `KTable<Windowed<K>, VA>`, and `suppress(Suppressed::until_window_closes())`
//! for one final result per window and key.
//!
//! * Windows are aligned to the epoch and half-open, `[start, end)`; a record belongs to every
//!   window containing it (a 10-minute window advancing by 1 minute: 10 windows).
//! * A node's stream time is the largest record timestamp it has seen in its task; it is kept in
//!   the node's store under a reserved key (shorter than any windowed key), so it survives a
//!   restart with the store.
//! * A record is dropped from a window whose end is at or before `stream time − grace` (the
//!   window closed); a record dropped from all its windows is counted as late
//!   ([`TaskState::dropped_late`](crate::state::TaskState::dropped_late)) and logged at a rate
//!   limit.
//! * A window's result has the largest timestamp of its records (stored with the aggregate,
//!   Kafka Streams' `ValueAndTimestamp`).
//! * Windows are deleted from the store (tombstones in the changelog) once their start is at or
//!   before `stream time − retention` (retention: size + grace unless configured).
//!
//! `SlidingWindows` is not provided: its windows are created from the records around each new
//! one, which needs range reads by key and time that the key-value stores do not offer.

mod aggregate;
mod key;
mod store;
mod suppress;

use std::fmt;
use std::time::Duration;

use super::TopologyError;
use super::builder::KStream;
use super::group::{
    AGGREGATE, Aggregate, Aggregator, Count, Initializer, KGroupedStream, REDUCE, Reduce, Reducer,
    Step,
};
use super::node::{Downstream, operator};
pub use super::serdes::ReadOwned;
use super::serdes::{IntoValue, Long, Nullable, Serde};
use super::table::KTable;
pub use key::{Window, Windowed, WindowedKey};
pub use suppress::Suppressed;

/// Fixed-size windows aligned to the epoch: tumbling, or hopping with
/// [`TimeWindows::advance_by`] (Kafka Streams' `TimeWindows`). Sizes count in whole
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    size: Duration,
    advance: Duration,
    grace: Duration,
}

impl TimeWindows {
    /// Tumbling windows of `size`, accepting records up to `grace` after a window's end
    /// (`TimeWindows.ofSizeAndGrace`).
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        TimeWindows {
            size,
            advance: size,
            grace,
        }
    }

    /// Tumbling windows of `size` that close at their end (`TimeWindows.ofSizeWithNoGrace`).
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Hopping windows: a new window starts every `advance` (`advanceBy`). An advance of 0 or
    /// above the size is refused when the topology is built.
    pub fn advance_by(self, advance: Duration) -> Self {
        TimeWindows { advance, ..self }
    }

    /// The windows in milliseconds with their store retention (`retention`, or size + grace),
    /// or why they cannot be used.
    fn spans(&self, retention: Option<Duration>) -> Result<Spans, String> {
        let millis = |duration: Duration| i64::try_from(duration.as_millis()).ok();
        let (size, advance, grace) = (millis(self.size), millis(self.advance), millis(self.grace));
        let (Some(size), Some(advance), Some(grace)) = (size, advance, grace) else {
            return Err(format!("{self:?} does not fit in 64-bit milliseconds"));
        };
        if size <= 0 {
            return Err(format!(
                "window size {size} ms: a window lasts at least 1 ms"
            ));
        }
        if advance <= 0 || advance > size {
            return Err(format!(
                "windows advancing by {advance} ms: the advance must be above 0 and at most the \
                 window size ({size} ms)"
            ));
        }
        let least = size.saturating_add(grace);
        let retention = match retention.map(millis) {
            None => least,
            Some(Some(retention)) if retention >= least => retention,
            Some(_) => {
                return Err(format!(
                    "window store retention {retention:?}: it must be at least the window size \
                     plus the grace period ({least} ms), or windows would expire before closing"
                ));
            }
        };
        Ok(Spans {
            size,
            advance,
            grace,
            retention,
        })
    }
}

/// The windowed aggregation a table comes from: its windows and its window store.
#[derive(Debug, Clone, Copy)]
pub(super) struct WindowOrigin {
    /// The windows.
    pub(super) spans: Spans,
    /// The window store's index among the task's stores.
    pub(super) store: usize,
}

/// Validated windows in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spans {
    size: i64,
    advance: i64,
    grace: i64,
    retention: i64,
}

impl Spans {
    /// The windows a refused declaration continues with (the topology will not build).
    const REFUSED: Spans = Spans {
        size: 1,
        advance: 1,
        grace: 0,
        retention: 1,
    };

    /// The windows containing `timestamp`, oldest first (none for a negative timestamp).
    fn containing(&self, timestamp: i64) -> impl Iterator<Item = Window> + use<> {
        let Spans { size, advance, .. } = *self;
        let first = (timestamp.saturating_sub(size).saturating_add(advance)).max(0) / advance;
        (first..)
            .map(move |index| index.saturating_mul(advance))
            .take_while(move |start| *start <= timestamp)
            .map(move |start| Window {
                start,
                end: start.saturating_add(size),
            })
    }
}

/// A grouped stream cut into time windows, ready to be aggregated per key and window (Kafka
/// Streams' `TimeWindowedKStream`).
pub struct TimeWindowedKStream<K: Serde, V: Serde> {
    grouped: KGroupedStream<K, V>,
    windows: TimeWindows,
    retention: Option<Duration>,
}

impl<K: Serde, V: Serde> fmt::Debug for TimeWindowedKStream<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeWindowedKStream")
            .field("grouped", &self.grouped)
            .field("windows", &self.windows)
            .field("retention", &self.retention)
            .finish()
    }
}

impl<K: Serde, V: Serde> KGroupedStream<K, V> {
    /// Cuts the grouped stream into `windows` (`windowedBy(TimeWindows)`).
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            grouped: KGroupedStream {
                stream: self.stream.clone(),
                repartition: self.repartition,
            },
            windows,
            retention: None,
        }
    }
}

impl<K: Serde, V: Serde> TimeWindowedKStream<K, V> {
    /// Keeps windows in the store for `retention` of stream time after their start instead of
    /// size + grace (`Materialized.withRetention`); less than size + grace is refused at build.
    pub fn with_retention(self, retention: Duration) -> Self {
        TimeWindowedKStream {
            retention: Some(retention),
            ..self
        }
    }

    /// The number of records per key and window (`count()`), as 8-byte big-endian longs.
    pub fn count(&self) -> KTable<Windowed<K>, Long> {
        self.aggregation(AGGREGATE, None, Count)
    }

    /// As [`TimeWindowedKStream::count`], in a window store called `store`.
    pub fn count_as(&self, store: &str) -> KTable<Windowed<K>, Long> {
        self.aggregation(AGGREGATE, Some(store), Count)
    }

    /// Per key and window, the first value, then `reducer(aggregate, value)` (`reduce`).
    pub fn reduce<VR: IntoValue<Serde = V>>(
        &self,
        reducer: impl Reducer<V, VR>,
    ) -> KTable<Windowed<K>, V> {
        self.aggregation(REDUCE, None, Reduce(reducer))
    }

    /// As [`TimeWindowedKStream::reduce`], in a window store called `store`.
    pub fn reduce_as<VR: IntoValue<Serde = V>>(
        &self,
        store: &str,
        reducer: impl Reducer<V, VR>,
    ) -> KTable<Windowed<K>, V> {
        self.aggregation(REDUCE, Some(store), Reduce(reducer))
    }

    /// Per key and window, `aggregator(key, value, aggregate)` from `initializer()`
    /// (`aggregate`).
    pub fn aggregate<VR: IntoValue>(
        &self,
        initializer: impl Initializer<VR>,
        aggregator: impl Aggregator<K, V, VR>,
    ) -> KTable<Windowed<K>, VR::Serde> {
        self.aggregation(AGGREGATE, None, Aggregate(initializer, aggregator))
    }

    /// As [`TimeWindowedKStream::aggregate`], in a window store called `store`.
    pub fn aggregate_as<VR: IntoValue>(
        &self,
        store: &str,
        initializer: impl Initializer<VR>,
        aggregator: impl Aggregator<K, V, VR>,
    ) -> KTable<Windowed<K>, VR::Serde> {
        self.aggregation(AGGREGATE, Some(store), Aggregate(initializer, aggregator))
    }

    /// Adds the windowed aggregation node over a window store (see [`aggregate`]).
    fn aggregation<VA: Serde>(
        &self,
        prefix: &str,
        store: Option<&str>,
        step: impl Step<K, V, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let spans = self.windows.spans(self.retention).unwrap_or_else(|reason| {
            self.grouped.stream.refuse(reason);
            Spans::REFUSED
        });
        let (index, store_name, name, input) =
            self.grouped
                .aggregation_input(prefix, store, Some(spans.retention));
        let node = aggregate::WindowAggregate::new(name.clone(), spans, index);
        let changes = input.add_processor(
            name,
            &[input.id],
            move |down: Downstream<Windowed<K>, Nullable<VA>>| {
                operator::<K, V, _>(move |ctx, key, value| {
                    node.process(ctx, &step, &down, key, value)
                })
            },
        );
        KTable::materialized(changes, index, store_name).windowed(WindowOrigin {
            spans,
            store: index,
        })
    }
}

impl<K: Serde, V: Serde> KTable<K, V> {
    /// This table as the result of a windowed aggregation (`origin`): its store is a window
    /// store, which joins cannot look up.
    fn windowed(mut self, origin: WindowOrigin) -> Self {
        self.windows = Some(origin);
        self.lookup = false;
        self
    }

    /// This table as the result of a suppression: its store is the buffer, which joins cannot
    /// look up.
    fn buffered(mut self) -> Self {
        self.lookup = false;
        self
    }
}

impl<K: Serde, V: Serde> KStream<K, V> {
    /// Refuses this stream's node with `reason`: [`StreamsBuilder::build`] will return
    /// [`TopologyError::Refused`].
    ///
    /// [`StreamsBuilder::build`]: super::StreamsBuilder::build
    pub(super) fn refuse(&self, reason: impl Into<String>) {
        let mut graph = self.graph.borrow_mut();
        let node = graph.nodes[self.id].description.name.clone();
        graph.refusals.push(TopologyError::Refused {
            node,
            reason: reason.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(spans: Spans, timestamp: i64) -> Vec<i64> {
        spans
            .containing(timestamp)
            .map(|window| window.start)
            .collect()
    }

    #[test]
    fn windows_are_aligned_to_the_epoch_and_half_open() {
        let minute = Duration::from_secs(60);
        let tumbling = TimeWindows::of_size_with_no_grace(minute)
            .spans(None)
            .expect("valid");
        assert_eq!(starts(tumbling, 59_999), [0]);
        assert_eq!(starts(tumbling, 60_000), [60_000]);
        assert!(starts(tumbling, -1).is_empty());
        let hopping = TimeWindows::of_size_with_no_grace(minute * 10)
            .advance_by(minute)
            .spans(None)
            .expect("valid");
        assert_eq!(starts(hopping, 600_000).len(), 10);
        assert_eq!(starts(hopping, 30_000), [0], "none before the epoch");
    }

    #[test]
    fn bad_windows_and_retentions_are_explained() {
        let second = Duration::from_secs(1);
        let hop = TimeWindows::of_size_with_no_grace(second).advance_by(second * 2);
        assert_eq!(
            hop.spans(None),
            Err(
                "windows advancing by 2000 ms: the advance must be above 0 and at most the \
                 window size (1000 ms)"
                    .to_owned()
            )
        );
        let zero = TimeWindows::of_size_with_no_grace(second).advance_by(Duration::ZERO);
        assert!(zero.spans(None).is_err());
        let empty = TimeWindows::of_size_with_no_grace(Duration::from_micros(10));
        assert!(empty.spans(None).is_err());
        let windows = TimeWindows::of_size_and_grace(second, second);
        assert!(windows.spans(Some(second)).is_err());
        assert_eq!(
            windows.spans(Some(second * 5)).map(|spans| spans.retention),
            Ok(5000)
        );
    }
}
