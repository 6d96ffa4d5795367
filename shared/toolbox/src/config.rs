//! Loading a TOML configuration file, with errors that name the file, the `line:column`, the
//! dotted key and the reason, whatever part of the loading refused it: the TOML syntax, serde
//! (an unknown key, a value of the wrong type) or a program's own validation (a range, a name).
//!
//! Durations are written as text with a unit (`"10s"`, `"250ms"`, `"1m 30s"`), read with
//! [`humantime_serde`] by every program: annotate a `Duration` field with
//! `#[serde(with = "humantime_serde")]`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use humantime_serde;

/// Parses a duration written as text with units, as every configuration key and flag of both
/// programs takes it: `"10s"`, `"250ms"`, `"1m 30s"` (humantime's syntax).
///
/// # Errors
/// A message quoting the text and saying what was expected.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime_serde::re::humantime::parse_duration(text).map_err(|error| {
        format!(
            "invalid duration {text:?}: {error} (write a number and a unit, e.g. \"10s\", \"250ms\", \"1m 30s\")"
        )
    })
}

/// As [`parse_duration`], also taking a bare whole number as seconds (for flags that took
/// seconds before they took durations, e.g. `--interval 5`).
///
/// # Errors
/// As [`parse_duration`].
pub fn parse_duration_or_seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) => Ok(std::time::Duration::from_secs(seconds)),
        Err(_) => parse_duration(text),
    }
}

/// Where a refused value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A configuration file, with the 1-based line and column when known.
    File {
        /// The file.
        path: PathBuf,
        /// Line and column (in characters) of the value.
        position: Option<(usize, usize)>,
    },
    /// A command-line flag.
    Flag(&'static str),
    /// The built-in default (no file was read).
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}", path.display()),
            Origin::File {
                path,
                position: None,
            } => write!(f, "{}", path.display()),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Default => f.write_str("built-in default"),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{origin}: invalid TOML: {reason}")]
    Syntax {
        /// The file and position.
        origin: Origin,
        /// What the parser expected.
        reason: String,
    },
    /// A key is unknown, or its value is of the wrong type or out of range.
    #[error("{origin}: key `{key}`: {reason}")]
    Value {
        /// The file and position, or the flag.
        origin: Origin,
        /// The dotted key (`kafka.compression`).
        key: String,
        /// Why it is refused.
        reason: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Value { key, .. } => Some(key),
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
        }
    }
}

/// A value that parsed but is refused by a program's validation, with its dotted key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}`: {reason}")]
pub struct Invalid {
    /// The dotted key (`kafka.topic`).
    pub key: String,
    /// Why it is refused.
    pub reason: String,
}

impl Invalid {
    /// `key` is refused because of `reason`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The same refusal for a key nested under `table` (`"errors"` + `"policy"`).
    pub fn within(self, table: &str) -> Self {
        Invalid {
            key: format!("{table}.{}", self.key),
            reason: self.reason,
        }
    }

    /// The error naming where `text` (read from `path`) sets the key, or the flag that set it.
    pub fn located(self, text: &str, path: &Path, flag: Option<&'static str>) -> ConfigError {
        let origin = match flag {
            Some(flag) => Origin::Flag(flag),
            None => Origin::File {
                position: key_position(text, &self.key),
                path: path.to_owned(),
            },
        };
        ConfigError::Value {
            origin,
            key: self.key,
            reason: self.reason,
        }
    }
}

/// Parses the value of a `-X NAME=VALUE` flag (a librdkafka property on the command line, as
/// kcat takes it): the name is what comes before the first `=`, the value all after it (it may
/// hold `=` or be empty).
///
/// # Errors
/// A message quoting the text when it has no `=` or no name before it.
pub fn parse_property_flag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        Some(_) => Err(format!(
            "{text:?} has no property name before '='; expected NAME=VALUE, e.g. \
             -X security.protocol=ssl"
        )),
        None => Err(format!(
            "{text:?} has no '='; expected NAME=VALUE, e.g. -X security.protocol=ssl"
        )),
    }
}

/// Reads `path` to text.
///
/// # Errors
/// [`ConfigError::Read`] naming the file.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Deserialises configuration `text`; `path` only names the file in errors.
///
/// # Errors
/// [`ConfigError::Syntax`] for malformed TOML, [`ConfigError::Value`] for an unknown key or a
/// value of the wrong type, each with its line and column.
pub fn parse<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let origin_at = |span: Option<std::ops::Range<usize>>| Origin::File {
        path: path.to_path_buf(),
        position: span.map(|s| line_column(text, s.start)),
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|err| ConfigError::Syntax {
        origin: origin_at(err.span()),
        reason: err.message().trim().to_owned(),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        ConfigError::Value {
            origin: origin_at(inner.span()),
            key,
            reason: inner.message().trim().to_owned(),
        }
    })
}

/// Line and column of `key` (dotted, segments with dots quoted) in the TOML `text`, when the
/// file sets it.
pub fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut position = None;
    for segment in key_segments(key) {
        let (name, value) = table.iter().find(|(name, _)| name.get_ref() == segment)?;
        position = Some(line_column(text, name.span().start));
        match value.get_ref().as_table() {
            Some(inner) => table = inner,
            None => break,
        }
    }
    position
}

/// Splits `kafka.properties."ssl.ca.location"` into its three segments.
fn key_segments(key: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            segments.push(&quoted[..end]);
            rest = quoted.get(end + 1..).unwrap_or_default();
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            segments.push(&rest[..end]);
            rest = &rest[end..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    segments
}

/// The 1-based line and column (counted in characters, as editors show it) of byte `offset`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_segments_respect_quotes() {
        assert_eq!(key_segments("kafka.topic"), ["kafka", "topic"]);
        assert_eq!(
            key_segments("kafka.properties.\"ssl.ca.location\""),
            ["kafka", "properties", "ssl.ca.location"]
        );
        assert_eq!(key_segments("name"), ["name"]);
    }

    #[test]
    fn key_position_finds_nested_keys() {
        let text =
            "output = \"kafka\"\n\n[kafka]\ntopic = \"x\"\n  [kafka.properties]\n  \"a.b\" = 1\n";
        assert_eq!(key_position(text, "output"), Some((1, 1)));
        assert_eq!(key_position(text, "kafka.topic"), Some((4, 1)));
        assert_eq!(key_position(text, "kafka.properties.\"a.b\""), Some((6, 3)));
        assert_eq!(key_position(text, "spool.max_bytes"), None);
    }

    #[test]
    fn property_flags_split_at_the_first_equals_sign() {
        let pair = |name: &str, value: &str| Ok((name.to_owned(), value.to_owned()));
        assert_eq!(parse_property_flag("linger.ms=5"), pair("linger.ms", "5"));
        assert_eq!(
            parse_property_flag("sasl.oauthbearer.config=a=b c=d"),
            pair("sasl.oauthbearer.config", "a=b c=d")
        );
        assert_eq!(parse_property_flag("client.id="), pair("client.id", ""));
        let missing = parse_property_flag("linger.ms").expect_err("no =");
        assert!(missing.contains("\"linger.ms\" has no '='"), "{missing}");
        let nameless = parse_property_flag("=5").expect_err("no name");
        assert!(nameless.contains("no property name"), "{nameless}");
    }

    #[test]
    fn durations_take_units_and_bare_seconds_only_where_asked() {
        use std::time::Duration;
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["10", "fast", "", "5 parsecs"] {
            let error = parse_duration(bad).expect_err(bad);
            assert!(
                error.starts_with(&format!("invalid duration {bad:?}")),
                "{error}"
            );
        }
        assert_eq!(parse_duration_or_seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(
            parse_duration_or_seconds("500ms"),
            Ok(Duration::from_millis(500))
        );
        assert!(parse_duration_or_seconds("soon").is_err());
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "name = \"héllo\" x";
        let offset = text.find('x').expect("x");
        assert_eq!(line_column(text, offset), (1, 16));
        assert_eq!(line_column("a\nb", 2), (2, 1));
        assert_eq!(line_column("é", 1), (1, 1), "inside a character");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(with = "humantime_serde", default)]
        period: std::time::Duration,
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let path = Path::new("x.toml");
        let sample: Sample = parse("period = \"1m 30s\"\n", path).expect("valid");
        assert_eq!(sample.period, std::time::Duration::from_secs(90));
        let error = parse::<Sample>("\nperiod = \"ten\"\n", path)
            .expect_err("bad duration")
            .to_string();
        assert!(error.starts_with("x.toml:2:10: key `period`"), "{error}");
        let error = parse::<Sample>("perod = \"1s\"\n", path)
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("x.toml:1:1"), "{error}");
        let error = parse::<Sample>("period = ", path)
            .expect_err("syntax")
            .to_string();
        assert!(error.starts_with("x.toml:1:"), "{error}");
        let refused = Invalid::new("period", "must be greater than 0")
            .located("\n\nperiod = \"0s\"\n", path, None)
            .to_string();
        assert_eq!(refused, "x.toml:3:1: key `period`: must be greater than 0");
        let refused = Invalid::new("period", "too long")
            .located("", path, Some("--period"))
            .to_string();
        assert_eq!(refused, "flag --period: key `period`: too long");
    }
}
