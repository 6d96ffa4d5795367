//! Loading: the file (or the default path), the flags over it, the whole checked; every
//! refusal names where the value came from.

use std::path::{Path, PathBuf};

pub use ferrobeat_toolbox::config::{ConfigError, Origin};
use ferrobeat_toolbox::config::{key_position, read};

use super::{AgentConfig, Overrides};

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
        Some(path) => read(path)?,
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
    ferrobeat_toolbox::config::parse(text, path)
}
