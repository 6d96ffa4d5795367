//! Loading: the file (or the default path), the flags over it, the whole checked; every
//! refusal names where the value came from.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{AgentConfig, Overrides};

/// Where a refused value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A configuration file, with the 1-based line and column when known.
    File {
        /// The file.
        path: PathBuf,
        /// Line and column of the value.
        position: Option<(usize, usize)>,
    },
    /// A command-line flag.
    Flag(&'static str),
    /// The built-in default (no file was found at the default path).
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

/// Why the configuration was refused.
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

/// The configuration file used when `-c/--config` is not given.
pub fn default_config_path() -> PathBuf {
    if cfg!(target_os = "linux") {
        PathBuf::from("/etc/ferrobeat-agent/ferrobeat-agent.toml")
    } else {
        platform_app_dir().join("ferrobeat-agent.toml")
    }
}

/// The data directory used when `data_dir` is not set: `/var/lib/ferrobeat-agent` on Linux,
/// the user's application data directory elsewhere.
pub fn default_data_dir() -> PathBuf {
    if cfg!(target_os = "linux") {
        PathBuf::from("/var/lib/ferrobeat-agent")
    } else {
        platform_app_dir()
    }
}

fn platform_app_dir() -> PathBuf {
    let home = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        home("HOME").map(|h| h.join("Library").join("Application Support"))
    } else if cfg!(windows) {
        home("LOCALAPPDATA")
    } else {
        home("XDG_DATA_HOME").or_else(|| home("HOME").map(|h| h.join(".local").join("share")))
    };
    base.unwrap_or_else(std::env::temp_dir)
        .join("ferrobeat-agent")
}

/// Loads the configuration: the file at `path` (which must exist), or else the default
/// path when a file is there, or else the defaults; then the flags; then checks it whole.
///
/// # Errors
/// The first problem found, naming its origin, key and reason.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<AgentConfig, ConfigError> {
    let file = match path {
        Some(path) => Some(path.to_path_buf()),
        None => Some(default_config_path()).filter(|p| p.is_file()),
    };
    let text = match &file {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?,
        None => String::new(),
    };
    let mut config = match &file {
        Some(path) => parse(&text, path)?,
        None => AgentConfig::default(),
    };
    overrides.apply(&mut config);
    config.validate().map_err(|invalid| {
        let origin = match (overrides.flag_for(&invalid.key), file) {
            (Some(flag), _) => Origin::Flag(flag),
            (None, Some(path)) => Origin::File {
                position: key_position(&text, &invalid.key),
                path,
            },
            (None, None) => Origin::Default,
        };
        ConfigError::Value {
            origin,
            key: invalid.key,
            reason: invalid.reason,
        }
    })?;
    Ok(config)
}

/// Parses configuration text; `path` is only used to name the file in errors.
///
/// # Errors
/// [`ConfigError::Syntax`] for malformed TOML, [`ConfigError::Value`] for an unknown key or
/// a value of the wrong type (not yet [`AgentConfig::validate`]d).
pub fn parse(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
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

/// Line and column of `key` (dotted, segments with dots quoted) in the TOML `text`, when
/// the file sets it.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
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

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
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
}
