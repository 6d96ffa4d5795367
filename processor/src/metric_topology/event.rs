// over 500 lines: one single-pass deserializer of the Metricbeat envelope; its visitors share private types and split badly.
//! A borrowed view of a Metricbeat event: the few fields routing and alerting need, found in
//! one pass over the JSON, with the record bytes kept as they are.
//!
//! Input rules (deterministic, documented):
//! * the value must be one JSON object, optionally surrounded by whitespace; a UTF-8 byte-order
//!   mark, trailing data, `NaN`/`Infinity` and other non-JSON are refused with the position;
//! * a duplicate `@timestamp`, `host`, `metricset`, `metricset.name`, `system`, `system.cpu`,
//!   `system.cpu.cores`, `system.cpu.total`, `...total.pct`, `...norm` or `...norm.pct` key is
//!   refused; duplicates elsewhere are not looked at (the record is passed through unchanged);
//! * `metricset.name` is required and must be a string; `null` counts as missing;
//! * `@timestamp` (a string) and `host` (an object) are needed only to build an alert, and
//!   `system.cpu.total.norm.pct` (a number) only for cpu events; when it is absent (Metricbeat
//!   configured without `normalized_percentages`) it is computed as `round4(total.pct / cores)`
//!   from the numbers `system.cpu.total.pct` and `system.cpu.cores`, which must then give a
//!   fraction in `0..=1` (see [`CpuNorm`]);
//! * the keys of the objects the topology reads (the event, `metricset`, `system`, ...) are
//!   strings as serde_json reads them: no raw control character, valid UTF-8;
//! * strings and numbers the topology skips are checked for JSON structure only (serde_json's
//!   `IgnoredAny`: no UTF-8 check inside skipped strings);
//! * the alert appends `"timestamp"` after the `host` members as they are, even if `host`
//!   already has a `timestamp` member (readers keeping the last duplicate see `@timestamp`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::minify::minify_json;
use super::scan::scan;
use ferrobeat_streams::serdes::{Serde, SerdeError};

/// A Metricbeat event as the metric topology sees it, borrowing the record bytes.
#[derive(Debug, Clone)]
pub struct MetricEvent<'a> {
    raw: &'a [u8],
    metricset: Cow<'a, str>,
    timestamp: Option<Cow<'a, str>>,
    /// The text of the `host` value, whatever its type.
    host: Option<&'a str>,
    /// Whether that text is known to be compact.
    host_compact: bool,
    cpu: CpuFigures,
}

/// `system.cpu.total.norm.pct` of a cpu event, as sent or computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuNorm {
    /// The normalised total, `0..=1` when computed.
    pub pct: f64,
    /// Whether it was computed from `total.pct / cores` because the event lacked it.
    pub computed: bool,
}

impl<'a> MetricEvent<'a> {
    /// Reads the view from a record value.
    ///
    /// # Errors
    /// [`SerdeError`] naming the JSON path and position of what is wrong (see the module doc).
    pub fn parse(raw: &'a [u8]) -> Result<Self, SerdeError> {
        if raw.starts_with(b"\xEF\xBB\xBF") {
            return Err(SerdeError::new(
                "the value starts with a UTF-8 byte-order mark; JSON records must not",
            ));
        }
        // The scan reads what it is sure of; serde_json decides the rest and words errors.
        let fields = match scan(raw) {
            Some(fields) => fields,
            None => parse_envelope(raw)?,
        };
        let metricset = fields
            .metricset_name
            .ok_or_else(|| SerdeError::new("missing field `metricset.name`"))?;
        Ok(Self {
            raw,
            metricset,
            timestamp: fields.timestamp,
            host: fields.host,
            host_compact: fields.host_compact,
            cpu: fields.cpu,
        })
    }

    /// The record value, unchanged.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// `metricset.name` (`cpu`, `memory`, ...).
    pub fn metricset(&self) -> &str {
        &self.metricset
    }

    /// `system.cpu.total.norm.pct`, or when the event lacks it, `total.pct / cores` rounded to
    /// 4 decimals (as Metricbeat rounds), marked [`CpuNorm::computed`].
    ///
    /// # Errors
    /// A message naming what is missing, or why the computed value cannot be a fraction.
    pub fn cpu_norm_pct(&self) -> Result<CpuNorm, String> {
        let CpuFigures {
            norm_pct,
            pct,
            cores,
        } = self.cpu;
        if let Some(pct) = norm_pct {
            return Ok(CpuNorm {
                pct,
                computed: false,
            });
        }
        let (Some(pct), Some(cores)) = (pct, cores) else {
            return Err(format!(
                "{} event lacks the number `system.cpu.total.norm.pct`, and the numbers \
                 `system.cpu.total.pct` and `system.cpu.cores` to compute it from",
                self.metricset
            ));
        };
        if !(cores >= 1.0 && cores.fract() == 0.0) {
            return Err(format!(
                "cannot compute `system.cpu.total.norm.pct`: `system.cpu.cores` is {cores}, \
                 not a whole number of at least 1"
            ));
        }
        let norm = (pct / cores * 10_000.0).round() / 10_000.0;
        if !(0.0..=1.0).contains(&norm) {
            return Err(format!(
                "cannot compute `system.cpu.total.norm.pct`: `system.cpu.total.pct` {pct} / \
                 `system.cpu.cores` {cores} = {norm} is not a fraction between 0 and 1"
            ));
        }
        Ok(CpuNorm {
            pct: norm,
            computed: true,
        })
    }

    /// The alert for this event: its `host` object, members in their original order, with
    /// `"timestamp"` = `@timestamp` appended, as compact JSON.
    ///
    /// # Errors
    /// A message naming the missing or ill-typed field.
    pub fn alert(&self) -> Result<Vec<u8>, String> {
        let host = self.host.ok_or("event lacks the object `host`")?;
        if !host.starts_with('{') {
            return Err(format!("`host` must be an object, found {}", preview(host)));
        }
        let timestamp = self
            .timestamp
            .as_deref()
            .ok_or("event lacks the string `@timestamp`")?;
        let host = if self.host_compact {
            Cow::Borrowed(host.as_bytes())
        } else {
            minify_json(host.as_bytes())
        };
        // `host` is a valid compact object: "{}" or "{...}".
        let members = &host[1..host.len() - 1];
        let mut alert = Vec::with_capacity(host.len() + timestamp.len() + 16);
        alert.push(b'{');
        alert.extend_from_slice(members);
        if !members.is_empty() {
            alert.push(b',');
        }
        alert.extend_from_slice(b"\"timestamp\":");
        serde_json::to_writer(&mut alert, timestamp)
            .map_err(|e| format!("cannot write the alert timestamp: {e}"))?;
        alert.push(b'}');
        Ok(alert)
    }
}

impl<'a> MetricEvent<'a> {
    /// `@timestamp` as the event carries it.
    pub fn timestamp(&self) -> Option<&str> {
        self.timestamp.as_deref()
    }

    /// `host.name`: whose sample this is (the key of a host's alert state and summaries).
    ///
    /// # Errors
    /// A message when the event has no string `host.name`.
    pub fn host_name(&self) -> Result<Cow<'a, str>, String> {
        #[derive(Deserialize)]
        struct Host<'h> {
            #[serde(borrow)]
            name: Option<Cow<'h, str>>,
        }
        let host = self.host.ok_or("event lacks the object `host`")?;
        serde_json::from_str::<Host<'a>>(host)
            .map_err(|e| format!("`host`: {e}"))?
            .name
            .ok_or_else(|| "event lacks the string `host.name`".to_owned())
    }

    /// `system.memory.actual.used.pct` of a memory event, read in a pass of its own (only the
    /// summaries need it, so routing does not pay for it).
    ///
    /// # Errors
    /// A message when the event lacks the number.
    pub fn memory_used_pct(&self) -> Result<f64, String> {
        #[derive(Deserialize)]
        struct Event {
            system: Option<System>,
        }
        #[derive(Deserialize)]
        struct System {
            memory: Option<Memory>,
        }
        #[derive(Deserialize)]
        struct Memory {
            actual: Option<Actual>,
        }
        #[derive(Deserialize)]
        struct Actual {
            used: Option<Used>,
        }
        #[derive(Deserialize)]
        struct Used {
            pct: Option<f64>,
        }
        serde_json::from_slice::<Event>(self.raw)
            .map_err(|e| format!("memory event: {e}"))?
            .system
            .and_then(|system| system.memory?.actual?.used?.pct)
            .ok_or_else(|| {
                "memory event lacks the number `system.memory.actual.used.pct`".to_owned()
            })
    }
}

/// The start of a JSON value, for error messages.
fn preview(json: &str) -> String {
    let end = json.char_indices().nth(20).map_or(json.len(), |(i, _)| i);
    if end < json.len() {
        format!("{}...", &json[..end])
    } else {
        json.to_owned()
    }
}

/// The fields the topology reads, borrowing the record where they have no escapes.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Fields<'a> {
    /// `@timestamp`.
    pub(super) timestamp: Option<Cow<'a, str>>,
    /// The text of the `host` value.
    pub(super) host: Option<&'a str>,
    /// Whether `host` is known to have no whitespace outside its strings (the scan knows).
    pub(super) host_compact: bool,
    /// `metricset.name`.
    pub(super) metricset_name: Option<Cow<'a, str>>,
    /// What the alert needs from `system.cpu`.
    pub(super) cpu: CpuFigures,
}

/// The fields as serde_json reads them (the reference of [`scan`], and the reader of what it
/// gives up on): refuses what is not a Metricbeat event, naming the path and position.
pub(super) fn parse_envelope(raw: &[u8]) -> Result<Fields<'_>, SerdeError> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    match Envelope::<FAST>::deserialize(&mut de).and_then(|envelope| de.end().map(|()| envelope)) {
        Ok(envelope) => Ok(Fields {
            timestamp: envelope.timestamp.map(|t| t.0),
            host: envelope.host.map(RawValue::get),
            host_compact: false,
            metricset_name: envelope.metricset_name.map(|name| name.0),
            cpu: envelope.cpu,
        }),
        // Only on failure: parse again, tracking the path, to say where the problem is.
        Err(error) => {
            let mut de = serde_json::Deserializer::from_slice(raw);
            let path_error =
                match serde_path_to_error::deserialize::<_, Envelope<'_, TRACED>>(&mut de) {
                    Err(e) => {
                        let known: Vec<String> = e
                            .path()
                            .iter()
                            .filter(|segment| {
                                !matches!(segment, serde_path_to_error::Segment::Unknown)
                            })
                            .map(ToString::to_string)
                            .collect();
                        if known.is_empty() {
                            format!("invalid JSON: {}", e.inner())
                        } else {
                            format!("invalid JSON at `{}`: {}", known.join("."), e.inner())
                        }
                    }
                    Ok(_) => format!("invalid JSON: {error}"),
                };
            Err(SerdeError::new(path_error))
        }
    }
}

/// A string that borrows the input when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Parse mode of the view types: `FAST` reads object keys as borrowed strings; `TRACED` as
/// identifiers, so that `serde_path_to_error` can name them. Both check a key as serde_json
/// checks any string it reads: no raw control character, valid UTF-8. (Not as bytes:
/// serde_json's `deserialize_bytes` checks neither, and took a key with raw NUL bytes.)
const FAST: bool = false;
/// See [`FAST`].
const TRACED: bool = true;

/// Which of `names` an object key is, if any, without allocating.
struct KeyIndex<const TRACE: bool>(&'static [&'static str]);

impl<'de, const TRACE: bool> DeserializeSeed<'de> for KeyIndex<TRACE> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        if TRACE {
            deserializer.deserialize_identifier(self)
        } else {
            deserializer.deserialize_str(self)
        }
    }
}

impl<const TRACE: bool> Visitor<'_> for KeyIndex<TRACE> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        self.visit_bytes(key.as_bytes())
    }
    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|name| name.as_bytes() == key))
    }
}

/// Reads the members of an object named in `names` into `slots` (each once; `null` = absent)
/// and skips the others; refuses anything but an object.
fn visit_members<'de, A: MapAccess<'de>, const TRACE: bool>(
    mut map: A,
    names: &'static [&'static str],
    mut read: impl FnMut(usize, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    let mut seen = 0u32;
    while let Some(member) = map.next_key_seed(KeyIndex::<TRACE>(names))? {
        match member {
            Some(index) => {
                if seen & (1 << index) != 0 {
                    return Err(de::Error::duplicate_field(names[index]));
                }
                seen |= 1 << index;
                read(index, &mut map)?;
            }
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(())
}

/// Names one member of an object.
trait MemberName {
    const NAME: &'static str;
}

/// The member `K` of an object, read as a `T` (`None` when absent or `null`).
struct Member<K, T, const TRACE: bool>(Option<T>, PhantomData<K>);

impl<'de, K: MemberName, T: Deserialize<'de>, const TRACE: bool> Deserialize<'de>
    for Member<K, T, TRACE>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(Member::<K, T, TRACE>(None, PhantomData))
    }
}

impl<'de, K: MemberName, T: Deserialize<'de>, const TRACE: bool> Visitor<'de>
    for Member<K, T, TRACE>
{
    type Value = Self;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object (with member `{}`)", K::NAME)
    }
    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<Self, A::Error> {
        visit_members::<_, TRACE>(map, &[K::NAME], |_, map| {
            self.0 = map.next_value::<Option<T>>()?;
            Ok(())
        })?;
        Ok(self)
    }
}

macro_rules! member_names {
    ($($marker:ident = $name:literal),* $(,)?) => {$(
        struct $marker;
        impl MemberName for $marker {
            const NAME: &'static str = $name;
        }
    )*};
}

member_names!(NameKey = "name", CpuKey = "cpu", PctKey = "pct");

/// What the alert needs from `system.cpu`: `total.norm.pct`, or `total.pct` and `cores`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct CpuFigures {
    /// `system.cpu.total.norm.pct`.
    pub(super) norm_pct: Option<f64>,
    /// `system.cpu.total.pct`.
    pub(super) pct: Option<f64>,
    /// `system.cpu.cores`.
    pub(super) cores: Option<f64>,
}

/// `system.cpu` read into [`CpuFigures`] (`cores`, `total.pct`, `total.norm.pct`).
struct CpuView<const TRACE: bool>(CpuFigures);

impl<'de, const TRACE: bool> Deserialize<'de> for CpuView<TRACE> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CpuView::<TRACE>(CpuFigures::default()))
    }
}

impl<'de, const TRACE: bool> Visitor<'de> for CpuView<TRACE> {
    type Value = Self;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object (`system.cpu`)")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<Self, A::Error> {
        visit_members::<_, TRACE>(map, &["total", "cores"], |index, map| {
            if index == 0 {
                if let Some(CpuTotalView::<TRACE>(pct, norm_pct)) = map.next_value()? {
                    (self.0.pct, self.0.norm_pct) = (pct, norm_pct);
                }
            } else {
                self.0.cores = map.next_value()?;
            }
            Ok(())
        })?;
        Ok(self)
    }
}

/// `system.cpu.total`: `pct` and `norm.pct`.
struct CpuTotalView<const TRACE: bool>(Option<f64>, Option<f64>);

impl<'de, const TRACE: bool> Deserialize<'de> for CpuTotalView<TRACE> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CpuTotalView::<TRACE>(None, None))
    }
}

impl<'de, const TRACE: bool> Visitor<'de> for CpuTotalView<TRACE> {
    type Value = Self;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object (`system.cpu.total`)")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<Self, A::Error> {
        visit_members::<_, TRACE>(map, &["pct", "norm"], |index, map| {
            if index == 0 {
                self.0 = map.next_value()?;
            } else {
                self.1 = map
                    .next_value::<Option<Member<PctKey, f64, TRACE>>>()?
                    .and_then(|norm| norm.0);
            }
            Ok(())
        })?;
        Ok(self)
    }
}

/// `system.cpu`, seen from `system`.
type SystemCpu<const T: bool> = Member<CpuKey, CpuView<T>, T>;

/// The top-level members the topology needs.
#[derive(Default)]
struct Envelope<'a, const TRACE: bool> {
    timestamp: Option<Text<'a>>,
    host: Option<&'a RawValue>,
    metricset_name: Option<Text<'a>>,
    cpu: CpuFigures,
}

const ENVELOPE_MEMBERS: &[&str] = &["@timestamp", "host", "metricset", "system"];

impl<'de: 'a, 'a, const TRACE: bool> Deserialize<'de> for Envelope<'a, TRACE> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor(PhantomData))
    }
}

struct EnvelopeVisitor<'a, const TRACE: bool>(PhantomData<Envelope<'a, TRACE>>);

impl<'de: 'a, 'a, const TRACE: bool> Visitor<'de> for EnvelopeVisitor<'a, TRACE> {
    type Value = Envelope<'a, TRACE>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Metricbeat event (a JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Envelope<'a, TRACE>, A::Error> {
        let mut envelope = Envelope::default();
        visit_members::<_, TRACE>(map, ENVELOPE_MEMBERS, |index, map| {
            match index {
                0 => envelope.timestamp = map.next_value()?,
                1 => envelope.host = map.next_value()?,
                2 => {
                    envelope.metricset_name = map
                        .next_value::<Option<Member<NameKey, Text<'a>, TRACE>>>()?
                        .and_then(|m| m.0)
                }
                _ => {
                    let cpu = map.next_value::<Option<SystemCpu<TRACE>>>()?;
                    if let Some(CpuView(figures)) = cpu.and_then(|cpu| cpu.0) {
                        envelope.cpu = figures;
                    }
                }
            }
            Ok(())
        })?;
        Ok(envelope)
    }
}

/// The serde of [`MetricEvent`] values: parses the view, writes the original bytes back.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricEventSerde;

impl Serde for MetricEventSerde {
    type Value<'a> = MetricEvent<'a>;
    const NAME: &'static str = "metricbeat event";

    fn deserialize<'a>(bytes: Option<&'a [u8]>) -> Result<Self::Value<'a>, SerdeError> {
        MetricEvent::parse(bytes.ok_or_else(|| {
            SerdeError::new("null value (tombstone) where a Metricbeat event was expected")
        })?)
    }

    fn serialize<'a>(value: Self::Value<'a>) -> Result<Option<Cow<'a, [u8]>>, SerdeError> {
        Ok(Some(Cow::Borrowed(value.raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_name_timestamp_and_memory_used_pct_are_read_when_asked() {
        let memory = br#"{"@timestamp":"2025-01-31T07:55:28.919Z","metricset":{"name":"memory"},"host":{"name":"db-\u0031"},"system":{"memory":{"total":1,"actual":{"free":2,"used":{"bytes":3,"pct":0.9556}}}}}"#;
        let event = MetricEvent::parse(memory).expect("valid");
        assert_eq!(event.timestamp(), Some("2025-01-31T07:55:28.919Z"));
        assert_eq!(event.host_name().as_deref(), Ok("db-1"));
        assert_eq!(event.memory_used_pct(), Ok(0.9556));
        let bare =
            MetricEvent::parse(br#"{"metricset":{"name":"memory"},"host":{}}"#).expect("valid");
        assert_eq!(
            bare.host_name(),
            Err("event lacks the string `host.name`".to_owned())
        );
        assert!(bare.memory_used_pct().is_err());
        let no_host = MetricEvent::parse(br#"{"metricset":{"name":"cpu"}}"#).expect("valid");
        assert!(no_host.host_name().is_err());
    }

    fn parse_error(raw: &str) -> String {
        MetricEvent::parse(raw.as_bytes())
            .map(|_| ())
            .map_err(|e| e.message)
            .expect_err("must fail")
    }

    #[test]
    fn finds_the_routing_fields() {
        let raw = br#"{"host":{"name":"h"},"system":{"cpu":{"total":{"pct":1.2,"norm":{"pct":0.6}}}},"@timestamp":"t","metricset":{"name":"cpu"}}"#;
        let event = MetricEvent::parse(raw).expect("valid event");
        assert_eq!(event.metricset(), "cpu");
        assert_eq!(
            event.cpu_norm_pct(),
            Ok(CpuNorm {
                pct: 0.6,
                computed: false
            })
        );
        assert_eq!(event.raw(), raw);
        assert_eq!(
            event.alert().as_deref(),
            Ok(br#"{"name":"h","timestamp":"t"}"#.as_slice())
        );
    }

    #[test]
    fn refuses_bad_input_with_reasons() {
        assert_eq!(
            parse_error("\u{feff}{}"),
            "the value starts with a UTF-8 byte-order mark; JSON records must not"
        );
        assert_eq!(parse_error("{}"), "missing field `metricset.name`");
        assert_eq!(
            parse_error(r#"{"metricset":{"name":null}}"#),
            "missing field `metricset.name`"
        );
        assert_eq!(
            parse_error(r#"{"metricset":{"name":"cpu","name":"memory"}}"#),
            "invalid JSON at `metricset`: duplicate field `name` at line 1 column 33"
        );
        assert_eq!(
            parse_error(r#"{"metricset":{"name":3}}"#),
            "invalid JSON at `metricset.name`: invalid type: integer `3`, expected a string at line 1 column 22"
        );
        assert_eq!(
            parse_error(r#"{"metricset":{"name":"cpu"}} x"#),
            "invalid JSON: trailing characters at line 1 column 30"
        );
        assert_eq!(
            parse_error(r#"{"a":NaN,"metricset":{"name":"cpu"}}"#),
            "invalid JSON at `a`: expected value at line 1 column 6"
        );
        assert_eq!(
            parse_error("[1]"),
            "invalid JSON: invalid type: sequence, expected a Metricbeat event (a JSON object) at line 1 column 0"
        );
        assert_eq!(
            parse_error(
                r#"{"metricset":{"name":"cpu"},"system":{"cpu":{"total":{"norm":{"pct":"high"}}}}}"#
            ),
            "invalid JSON at `system.cpu.total.norm.pct`: invalid type: string \"high\", expected f64 at line 1 column 74"
        );
    }

    #[test]
    fn escaped_keys_and_values_are_read() {
        let raw = br#"{"metric\u0073et":{"n\u0061me":"c\u0070u"},"h\u006fst":{"a":1},"@timestamp":"t\/1"}"#;
        let event = MetricEvent::parse(raw).expect("valid event");
        assert_eq!(event.metricset(), "cpu");
        assert_eq!(
            event.alert().as_deref(),
            Ok(br#"{"a":1,"timestamp":"t/1"}"#.as_slice())
        );
    }

    #[test]
    fn skipped_strings_are_not_utf8_checked_but_read_ones_are() {
        let skipped = b"{\"agent\":\"\xff\",\"metricset\":{\"name\":\"memory\"}}";
        assert!(MetricEvent::parse(skipped).is_ok());
        let read = b"{\"metricset\":{\"name\":\"\xff\"}}";
        assert_eq!(
            MetricEvent::parse(read).map(|_| ()).map_err(|e| e.message),
            Err(
                "invalid JSON at `metricset.name`: invalid unicode code point at line 1 column 23"
                    .to_owned()
            )
        );
    }

    #[test]
    fn alert_needs_host_object_and_timestamp() {
        let event = |raw: &'static str| MetricEvent::parse(raw.as_bytes()).expect("valid event");
        assert_eq!(
            event(r#"{"metricset":{"name":"cpu"},"@timestamp":"t"}"#).alert(),
            Err("event lacks the object `host`".to_owned())
        );
        assert_eq!(
            event(r#"{"metricset":{"name":"cpu"},"host":"h","@timestamp":"t"}"#).alert(),
            Err("`host` must be an object, found \"h\"".to_owned())
        );
        assert_eq!(
            event(r#"{"metricset":{"name":"cpu"},"host":{}}"#).alert(),
            Err("event lacks the string `@timestamp`".to_owned())
        );
        assert_eq!(
            event(r#"{"metricset":{"name":"cpu"},"host":{},"@timestamp":"a\"b"}"#)
                .alert()
                .as_deref(),
            Ok(br#"{"timestamp":"a\"b"}"#.as_slice())
        );
    }

    fn norm_of(cpu: &str) -> Result<CpuNorm, String> {
        let raw = format!(r#"{{"metricset":{{"name":"cpu"}},"system":{{"cpu":{cpu}}}}}"#);
        MetricEvent::parse(raw.as_bytes())
            .expect("valid event")
            .cpu_norm_pct()
    }

    #[test]
    fn norm_is_computed_from_total_and_cores_when_absent() {
        let computed = |pct| {
            Ok(CpuNorm {
                pct,
                computed: true,
            })
        };
        // Metricbeat's `cpu.metrics: ["percentages"]`: 1.8887 over 10 cores.
        assert_eq!(
            norm_of(r#"{"cores":10,"total":{"pct":1.8887}}"#),
            computed(0.1889)
        );
        assert_eq!(norm_of(r#"{"total":{"pct":4},"cores":4}"#), computed(1.0));
        assert_eq!(
            norm_of(r#"{"total":{"pct":0,"norm":null},"cores":2}"#),
            computed(0.0)
        );
        // A norm that is there wins, whatever total and cores say.
        assert_eq!(
            norm_of(r#"{"cores":10,"total":{"pct":9,"norm":{"pct":0.2}}}"#),
            Ok(CpuNorm {
                pct: 0.2,
                computed: false
            })
        );
    }

    #[test]
    fn norm_cannot_be_computed_from_missing_or_impossible_figures() {
        for (cpu, reason) in [
            (
                r#"{"total":{"pct":1.5}}"#,
                "lacks the number `system.cpu.total.norm.pct`",
            ),
            (
                r#"{"cores":4}"#,
                "lacks the number `system.cpu.total.norm.pct`",
            ),
            (
                r#"{"cores":0,"total":{"pct":1}}"#,
                "`system.cpu.cores` is 0",
            ),
            (
                r#"{"cores":2.5,"total":{"pct":1}}"#,
                "`system.cpu.cores` is 2.5",
            ),
            (
                r#"{"cores":4,"total":{"pct":4.4}}"#,
                "= 1.1 is not a fraction",
            ),
            (
                r#"{"cores":4,"total":{"pct":-0.4}}"#,
                "= -0.1 is not a fraction",
            ),
        ] {
            let error = norm_of(cpu).expect_err(cpu);
            assert!(error.contains(reason), "{cpu}: {error}");
        }
        assert_eq!(
            parse_error(
                r#"{"metricset":{"name":"cpu"},"system":{"cpu":{"cores":"ten","total":{"pct":1}}}}"#
            ),
            "invalid JSON at `system.cpu.cores`: invalid type: string \"ten\", expected f64 at line 1 column 58"
        );
        assert_eq!(
            parse_error(
                r#"{"metricset":{"name":"cpu"},"system":{"cpu":{"total":{"pct":1,"pct":2}}}}"#
            ),
            "invalid JSON at `system.cpu.total`: duplicate field `pct` at line 1 column 67"
        );
    }
}
