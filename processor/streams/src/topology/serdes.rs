//! Serdes at the edges of a topology: how record bytes become the values operators see, and back.
//!
//! A [`Serde`] is a zero-sized marker naming a value family. Its [`Serde::Value`] may borrow the
//! consumed bytes (`Cow::Borrowed`), so a pass-through stream never copies a record.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why bytes could not become a value (or a value could not become bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SerdeError {
    /// What was wrong, naming the place in the input where known.
    pub message: String,
}

impl SerdeError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A family of values a stream carries, with its conversion from and to record bytes.
pub trait Serde: Send + Sync + 'static {
    /// The value operators see; it may borrow the record bytes for `'a`.
    type Value<'a>: Clone;
    /// A short name for descriptions and error messages.
    const NAME: &'static str;
    /// Reads a value from record bytes (`None` is Kafka's null).
    ///
    /// # Errors
    /// [`SerdeError`] naming what is wrong with the bytes.
    fn deserialize<'a>(bytes: Option<&'a [u8]>) -> Result<Self::Value<'a>, SerdeError>;
    /// Writes a value as record bytes (`None` is Kafka's null).
    ///
    /// # Errors
    /// [`SerdeError`] when the value cannot be represented.
    fn serialize<'a>(value: Self::Value<'a>) -> Result<Option<Cow<'a, [u8]>>, SerdeError>;
    /// Whether `value` is Kafka's null (only a [`Nullable`] value can be): aggregations ignore
    /// such records, as Kafka Streams does.
    fn is_null(value: &Self::Value<'_>) -> bool {
        let _ = value;
        false
    }
}

/// Raw bytes, never copied; a null is refused (wrap in [`Nullable`] to accept it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bytes;

/// UTF-8 text; a null or invalid UTF-8 is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8;

/// A 64-bit signed integer as 8 bytes big-endian, as Kafka's `Serdes.Long()` writes it (the
/// value type of a count); a null or another length is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Long;

/// JSON read into and written from a `T` (`serde_json::Value` for untyped JSON).
pub struct Json<T>(PhantomData<fn() -> T>);

impl<T> fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Json<{}>", std::any::type_name::<T>())
    }
}

/// Either a null or a value of `S`.
pub struct Nullable<S>(PhantomData<fn() -> S>);

impl<S> fmt::Debug for Nullable<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nullable<{}>", std::any::type_name::<S>())
    }
}

fn refuse_null(serde: &str) -> SerdeError {
    SerdeError::new(format!("null where {serde} data was expected"))
}

impl Serde for Bytes {
    type Value<'a> = Cow<'a, [u8]>;
    const NAME: &'static str = "bytes";

    fn deserialize<'a>(bytes: Option<&'a [u8]>) -> Result<Self::Value<'a>, SerdeError> {
        bytes
            .map(Cow::Borrowed)
            .ok_or_else(|| refuse_null(Self::NAME))
    }

    fn serialize<'a>(value: Self::Value<'a>) -> Result<Option<Cow<'a, [u8]>>, SerdeError> {
        Ok(Some(value))
    }
}

impl Serde for Utf8 {
    type Value<'a> = Cow<'a, str>;
    const NAME: &'static str = "utf-8 string";

    fn deserialize<'a>(bytes: Option<&'a [u8]>) -> Result<Self::Value<'a>, SerdeError> {
        let bytes = bytes.ok_or_else(|| refuse_null(Self::NAME))?;
        std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|e| SerdeError::new(format!("invalid UTF-8 at byte {}", e.valid_up_to())))
    }

    fn serialize<'a>(value: Self::Value<'a>) -> Result<Option<Cow<'a, [u8]>>, SerdeError> {
        Ok(Some(match value {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        }))
    }
}

impl Serde for Long {
    type Value<'a> = i64;
    const NAME: &'static str = "long";

    fn deserialize<'a>(bytes: Option<&'a [u8]>) -> Result<Self::Value<'a>, SerdeError> {
        let bytes = bytes.ok_or_else(|| refuse_null(Self::NAME))?;
        let array: [u8; 8] = bytes.try_into().map_err(|_| {
            SerdeError::new(format!(
                "a long is 8 bytes, this value has {} (Kafka's Serdes.Long())",
                bytes.len()
            ))
        })?;
        Ok(i64::from_be_bytes(array))
    }

    fn serialize<'a>(value: Self::Value<'a>) -> Result<Option<Cow<'a, [u8]>>, SerdeError> {
        Ok(Some(Cow::Owned(value.to_be_bytes().to_vec())))
    }
}

impl<T> Serde for Json<T>
where
    T: Serialize + DeserializeOwned + Clone + 'static,
{
    type Value<'a> = T;
    const NAME: &'static str = "json";

    fn deserialize<'a>(bytes: Option<&'a [u8]>) -> Result<Self::Value<'a>, SerdeError> {
        let bytes = bytes.ok_or_else(|| refuse_null(Self::NAME))?;
        serde_json::from_slice(bytes).map_err(|e| SerdeError::new(format!("invalid JSON: {e}")))
    }

    fn serialize<'a>(value: Self::Value<'a>) -> Result<Option<Cow<'a, [u8]>>, SerdeError> {
        serde_json::to_vec(&value)
            .map(|bytes| Some(Cow::Owned(bytes)))
            .map_err(|e| SerdeError::new(format!("cannot write JSON: {e}")))
    }
}

impl<S: Serde> Serde for Nullable<S> {
    type Value<'a> = Option<S::Value<'a>>;
    const NAME: &'static str = S::NAME;

    fn deserialize<'a>(bytes: Option<&'a [u8]>) -> Result<Self::Value<'a>, SerdeError> {
        bytes.map(|bytes| S::deserialize(Some(bytes))).transpose()
    }

    fn serialize<'a>(value: Self::Value<'a>) -> Result<Option<Cow<'a, [u8]>>, SerdeError> {
        value.map_or(Ok(None), S::serialize)
    }

    fn is_null(value: &Self::Value<'_>) -> bool {
        value.is_none()
    }
}

/// A serde that can read values owning their data, which outlive the bytes they were read
/// from: what a node reads back from its store to forward later (a suppression's buffer). Not
/// for serdes whose values borrow the record (a parsed view of it).
pub trait ReadOwned: Serde {
    /// Reads a value that borrows nothing from `bytes`.
    ///
    /// # Errors
    /// [`SerdeError`] naming what is wrong with the bytes.
    fn deserialize_owned<'b>(bytes: Option<&[u8]>) -> Result<Self::Value<'b>, SerdeError>;
}

impl ReadOwned for Bytes {
    fn deserialize_owned<'b>(bytes: Option<&[u8]>) -> Result<Self::Value<'b>, SerdeError> {
        Self::deserialize(bytes).map(|bytes| Cow::Owned(bytes.into_owned()))
    }
}

impl ReadOwned for Utf8 {
    fn deserialize_owned<'b>(bytes: Option<&[u8]>) -> Result<Self::Value<'b>, SerdeError> {
        Self::deserialize(bytes).map(|text| Cow::Owned(text.into_owned()))
    }
}

impl ReadOwned for Long {
    fn deserialize_owned<'b>(bytes: Option<&[u8]>) -> Result<Self::Value<'b>, SerdeError> {
        Self::deserialize(bytes)
    }
}

impl<T> ReadOwned for Json<T>
where
    T: Serialize + DeserializeOwned + Clone + 'static,
{
    fn deserialize_owned<'b>(bytes: Option<&[u8]>) -> Result<Self::Value<'b>, SerdeError> {
        Self::deserialize(bytes)
    }
}

impl<S: ReadOwned> ReadOwned for Nullable<S> {
    fn deserialize_owned<'b>(bytes: Option<&[u8]>) -> Result<Self::Value<'b>, SerdeError> {
        bytes
            .map(|bytes| S::deserialize_owned(Some(bytes)))
            .transpose()
    }
}

/// An owned value an operator returns, and the serde its new stream carries.
///
/// Implemented for `Vec<u8>` ([`Bytes`]), `String` ([`Utf8`]), `i64` ([`Long`]), `serde_json::Value`
/// ([`Json`]) and `Option` of those ([`Nullable`]); implement it for your own types to
/// return them from `map_values`, `map` or `flat_map_values`.
pub trait IntoValue: 'static {
    /// The serde of the stream that carries this value.
    type Serde: Serde;
    /// Turns this value into the stream's value type.
    fn into_value<'a>(self) -> <Self::Serde as Serde>::Value<'a>;
}

impl IntoValue for Vec<u8> {
    type Serde = Bytes;
    fn into_value<'a>(self) -> Cow<'a, [u8]> {
        Cow::Owned(self)
    }
}

impl IntoValue for String {
    type Serde = Utf8;
    fn into_value<'a>(self) -> Cow<'a, str> {
        Cow::Owned(self)
    }
}

impl IntoValue for i64 {
    type Serde = Long;
    fn into_value<'a>(self) -> <Self::Serde as Serde>::Value<'a> {
        self
    }
}

impl IntoValue for serde_json::Value {
    type Serde = Json<serde_json::Value>;
    fn into_value<'a>(self) -> <Self::Serde as Serde>::Value<'a> {
        self
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    type Serde = Nullable<T::Serde>;
    fn into_value<'a>(self) -> Option<<T::Serde as Serde>::Value<'a>> {
        self.map(T::into_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_borrow_and_refuse_null() {
        let input = b"abc".as_slice();
        assert!(matches!(
            Bytes::deserialize(Some(input)),
            Ok(Cow::Borrowed(b"abc"))
        ));
        assert_eq!(
            Bytes::deserialize(None).map_err(|e| e.message),
            Err("null where bytes data was expected".to_owned())
        );
    }

    #[test]
    fn utf8_names_the_bad_byte() {
        let err = Utf8::deserialize(Some(b"ab\xffc")).map_err(|e| e.message);
        assert_eq!(err, Err("invalid UTF-8 at byte 2".to_owned()));
        assert_eq!(
            Utf8::serialize(Cow::Borrowed("hé"))
                .ok()
                .flatten()
                .as_deref(),
            Some("hé".as_bytes())
        );
    }

    #[test]
    fn json_round_trips_and_reports_position() {
        let value = Json::<serde_json::Value>::deserialize(Some(br#"{"a":[1,2]}"#));
        let value = value.expect("valid JSON");
        let bytes = Json::<serde_json::Value>::serialize(value).ok().flatten();
        assert_eq!(bytes.as_deref(), Some(br#"{"a":[1,2]}"#.as_slice()));
        let err = Json::<serde_json::Value>::deserialize(Some(b"{\"a\":}")).map_err(|e| e.message);
        assert_eq!(
            err,
            Err("invalid JSON: expected value at line 1 column 6".to_owned())
        );
    }

    #[test]
    fn long_is_eight_bytes_big_endian_as_kafka_writes_it() {
        let bytes = Long::serialize(258).ok().flatten();
        assert_eq!(bytes.as_deref(), Some([0, 0, 0, 0, 0, 0, 1, 2].as_slice()));
        assert_eq!(Long::deserialize(Some(&(-1i64).to_be_bytes())), Ok(-1));
        assert_eq!(
            Long::deserialize(Some(b"1234")).map_err(|e| e.message),
            Err("a long is 8 bytes, this value has 4 (Kafka's Serdes.Long())".to_owned())
        );
        assert!(Long::deserialize(None).is_err());
    }

    #[test]
    fn only_a_nullable_none_is_null() {
        assert!(Nullable::<Utf8>::is_null(&None));
        assert!(!Nullable::<Utf8>::is_null(&Some(Cow::Borrowed(""))));
        assert!(!Utf8::is_null(&Cow::Borrowed("")));
    }

    #[test]
    fn nullable_passes_null_through() {
        assert_eq!(Nullable::<Utf8>::deserialize(None), Ok(None));
        assert_eq!(Nullable::<Utf8>::serialize(None), Ok(None));
        assert_eq!(
            Nullable::<Utf8>::deserialize(Some(b"x")),
            Ok(Some(Cow::Borrowed("x")))
        );
    }
}
