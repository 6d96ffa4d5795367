//! Records as they cross the boundary between the Kafka runtime and a topology.
//!
//! The runtime hands each consumed message to [`crate::topology::Topology::process`] as an
//! [`InputRecord`] that borrows the consumer's buffers; the topology emits [`OutputRecord`]s that
//! may keep borrowing them (a pass-through record is never copied before the producer takes it).

use std::borrow::Cow;

use ferrobeat_toolbox::intercept::{HeaderView, RecordView};

/// One record header: a key and an optional value, as Kafka carries them.
///
/// Consumed headers borrow the consumer's buffers (`Cow::Borrowed`); outputs inherit them
/// without copying their bytes, and only the producer copies them, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header key.
    pub key: Cow<'a, str>,
    /// Header value; `None` is Kafka's null header value.
    pub value: Option<Cow<'a, [u8]>>,
}

impl Header<'_> {
    /// The same header, borrowing this one's key and value.
    pub fn borrowed(&self) -> Header<'_> {
        Header {
            key: Cow::Borrowed(&self.key),
            value: self.value.as_deref().map(Cow::Borrowed),
        }
    }

    /// The same header, owning its key and value.
    pub fn into_owned(self) -> Header<'static> {
        Header {
            key: Cow::Owned(self.key.into_owned()),
            value: self.value.map(|value| Cow::Owned(value.into_owned())),
        }
    }
}

/// Where a consumed record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePosition<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
}

/// A consumed record, borrowing the consumer's buffers.
#[derive(Debug, Clone)]
pub struct InputRecord<'a> {
    /// Topic, partition and offset it was read from.
    pub source: SourcePosition<'a>,
    /// Record timestamp in milliseconds since the epoch (create or log-append time).
    pub timestamp: i64,
    /// Record key, `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Record value, `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Record headers, in order.
    pub headers: Vec<Header<'a>>,
}

impl InputRecord<'_> {
    /// The read-only view the interceptors' `on_consume` gets.
    pub fn intercept_view(&self) -> RecordView<'_> {
        RecordView {
            topic: self.source.topic,
            partition: Some(self.source.partition),
            offset: Some(self.source.offset),
            timestamp: Some(self.timestamp).filter(|timestamp| *timestamp >= 0),
            key: self.key,
            value: self.value,
            headers: self
                .headers
                .iter()
                .map(|header| HeaderView {
                    key: &header.key,
                    value: header.value.as_deref(),
                })
                .collect(),
        }
    }
}

/// A record a topology sends to a sink topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord<'a> {
    /// Destination topic.
    pub topic: Cow<'a, str>,
    /// Record key, `None` for a null key (the producer's partitioner then spreads records).
    pub key: Option<Cow<'a, [u8]>>,
    /// Record value.
    pub value: Option<Cow<'a, [u8]>>,
    /// Record timestamp in milliseconds since the epoch (inherited from the input by default).
    pub timestamp: i64,
    /// Record headers, in order (inherited ones borrow the input's).
    pub headers: Vec<Header<'a>>,
}
