//! Windowed keys: [`Window`], the value [`WindowedKey`] a windowed table is keyed by, its serde
//! [`Windowed`] (the key's bytes followed by the window start as 8 bytes big-endian, Kafka
//! Streams' `TimeWindowedSerializer`), and a JSON rendering for humans.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use super::super::serdes::{ReadOwned, Serde, SerdeError};

/// A time window, `[start, end)` in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// The first millisecond in the window.
    pub start: i64,
    /// The first millisecond after the window; `i64::MAX` when unknown (a key read back from
    /// bytes, which hold the start only, as Kafka's `TimeWindowedDeserializer` without a window
    /// size).
    pub end: i64,
}

/// A key and the window its aggregate covers (Kafka Streams' `Windowed<K>` value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowedKey<T> {
    /// The record key.
    pub key: T,
    /// The window.
    pub window: Window,
}

/// The serde of windowed keys whose keys have serde `K`: the key's bytes followed by the
/// window start as 8 bytes big-endian milliseconds (Kafka Streams' `TimeWindowedSerializer`).
/// A key read back from bytes has an unknown end (`i64::MAX`).
pub struct Windowed<K>(PhantomData<fn() -> K>);

impl<K> fmt::Debug for Windowed<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Windowed<{}>", std::any::type_name::<K>())
    }
}

/// The bytes of the windowed key of `key` (already serialised) in the window starting at
/// `start`.
pub(super) fn windowed_bytes(key: &[u8], start: i64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(key.len() + 8);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&start.to_be_bytes());
    bytes
}

/// A windowed key's bytes split into the key's bytes and the window start.
pub(super) fn split_windowed(bytes: &[u8]) -> Result<(&[u8], i64), SerdeError> {
    match bytes.split_last_chunk::<8>() {
        Some((key, start)) => Ok((key, i64::from_be_bytes(*start))),
        None => Err(SerdeError::new(format!(
            "a windowed key ends with its 8-byte window start, this one has {} bytes",
            bytes.len()
        ))),
    }
}

/// A windowed key read from `bytes`, its key's bytes read by `read_key`; the end is unknown.
fn read_windowed<'a, T>(
    bytes: Option<&'a [u8]>,
    read_key: impl FnOnce(&'a [u8]) -> Result<T, SerdeError>,
) -> Result<WindowedKey<T>, SerdeError> {
    let bytes = bytes.ok_or_else(|| SerdeError::new("null where a windowed key was expected"))?;
    let (key, start) = split_windowed(bytes)?;
    Ok(WindowedKey {
        key: read_key(key)?,
        window: Window {
            start,
            end: i64::MAX,
        },
    })
}

impl<K: Serde> Serde for Windowed<K> {
    type Value<'a> = WindowedKey<K::Value<'a>>;
    const NAME: &'static str = "windowed key";

    fn deserialize<'a>(bytes: Option<&'a [u8]>) -> Result<Self::Value<'a>, SerdeError> {
        read_windowed(bytes, |key| K::deserialize(Some(key)))
    }

    fn serialize<'a>(value: Self::Value<'a>) -> Result<Option<Cow<'a, [u8]>>, SerdeError> {
        let key = K::serialize(value.key)?
            .ok_or_else(|| SerdeError::new("a windowed key's key serialised to null"))?;
        Ok(Some(Cow::Owned(windowed_bytes(&key, value.window.start))))
    }
}

impl<K: ReadOwned> ReadOwned for Windowed<K> {
    fn deserialize_owned<'b>(bytes: Option<&[u8]>) -> Result<Self::Value<'b>, SerdeError> {
        read_windowed(bytes, |key| K::deserialize_owned(Some(key)))
    }
}

/// `2025-01-31T08:00:00.000Z` for a millisecond timestamp; `null` when out of range.
fn instant(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis).map_or_else(
        || "null".to_owned(),
        |time| {
            format!(
                "\"{}\"",
                time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )
        },
    )
}

/// The JSON rendering for humans:
/// `{"key":"host-1","window":{"start":"2025-01-31T08:00:00.000Z","end":"2025-01-31T08:01:00.000Z"}}`
/// (the key as a JSON string of its `Display`; an unknown end is `null`).
impl<T: fmt::Display> fmt::Display for WindowedKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = serde_json::Value::String(self.key.to_string());
        write!(
            f,
            r#"{{"key":{key},"window":{{"start":{},"end":{}}}}}"#,
            instant(self.window.start),
            instant(self.window.end)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serdes::Utf8;

    #[test]
    fn bytes_are_the_key_then_the_start_big_endian() {
        let key = WindowedKey {
            key: Cow::Borrowed("h"),
            window: Window {
                start: 60_000,
                end: 120_000,
            },
        };
        let bytes = Windowed::<Utf8>::serialize(key).ok().flatten();
        let expected = [b"h".as_slice(), &60_000i64.to_be_bytes()].concat();
        assert_eq!(bytes.as_deref(), Some(expected.as_slice()));
        let read = Windowed::<Utf8>::deserialize(Some(&expected)).expect("valid");
        assert_eq!((read.key.as_ref(), read.window.start), ("h", 60_000));
        assert_eq!(read.window.end, i64::MAX, "the bytes hold no end");
        assert_eq!(
            Windowed::<Utf8>::deserialize(Some(b"short")).map_err(|e| e.message),
            Err(
                "a windowed key ends with its 8-byte window start, this one has 5 bytes".to_owned()
            )
        );
    }

    #[test]
    fn renders_as_json_with_utc_instants() {
        let key = WindowedKey {
            key: "host \"1\"",
            window: Window {
                start: 1_738_310_400_000,
                end: i64::MAX,
            },
        };
        assert_eq!(
            key.to_string(),
            r#"{"key":"host \"1\"","window":{"start":"2025-01-31T08:00:00.000Z","end":null}}"#
        );
        let json: serde_json::Value = serde_json::from_str(&key.to_string()).expect("JSON");
        assert_eq!(json["window"]["start"], "2025-01-31T08:00:00.000Z");
    }
}
