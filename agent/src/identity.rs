//! Who the agent is: the persistent `agent.id` kept in the data directory, a new
//! `ephemeral_id` per start, and the host name.

use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::collect::{EventConfig, Identity};

/// The file in the data directory holding the persistent agent id.
pub const AGENT_ID_FILE: &str = "agent.id";

/// Why the agent's identity could not be established.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The id file or the data directory could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The id file holds something other than a UUID.
    #[error("{} does not hold a UUID ({reason}); remove it to get a new agent id", path.display())]
    Malformed {
        /// The id file.
        path: PathBuf,
        /// What the UUID parser said.
        reason: String,
    },
    /// The host name could not be read and no `name` is configured.
    #[error("cannot read the host name ({0}); set `name` in the configuration")]
    HostName(io::Error),
}

/// The persistent agent id in `data_dir`, created (UUID v4, written and fsynced) on first
/// use. The directory is created when missing.
///
/// # Errors
/// [`IdentityError::Io`] when the directory or file cannot be made or read;
/// [`IdentityError::Malformed`] when the file holds something else than a UUID.
pub fn load_or_create_agent_id(data_dir: &Path) -> Result<Uuid, IdentityError> {
    let path = data_dir.join(AGENT_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Uuid::parse_str(text.trim()).map_err(|e| IdentityError::Malformed {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let io_error = |action, path: &Path| {
                let path = path.to_path_buf();
                move |source| IdentityError::Io {
                    action,
                    path,
                    source,
                }
            };
            std::fs::create_dir_all(data_dir).map_err(io_error("create", data_dir))?;
            let id = Uuid::new_v4();
            let tmp = data_dir.join(format!("{AGENT_ID_FILE}.tmp"));
            write_synced(&tmp, format!("{id}\n").as_bytes()).map_err(io_error("write", &tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_error("rename into place", &path))?;
            Ok(id)
        }
        Err(source) => Err(IdentityError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The identity the envelope reports: `name` (or the host name) as host and agent name,
/// `agent_id`, a new ephemeral id, and the `shipper` name and version.
///
/// # Errors
/// [`IdentityError::HostName`] when no name is given and the host name cannot be read.
pub fn identity(
    name: Option<&str>,
    agent_id: Uuid,
    shipper: EventConfig,
) -> Result<Identity, IdentityError> {
    let host_name = match name {
        Some(name) => name.to_owned(),
        None => hostname::get()
            .map_err(IdentityError::HostName)?
            .to_string_lossy()
            .into_owned(),
    };
    Ok(Identity {
        agent_name: host_name.clone(),
        host_name,
        agent_id: agent_id.to_string(),
        ephemeral_id: Uuid::new_v4().to_string(),
        shipper,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_id_persists_across_starts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("nested").join("data");
        let first = load_or_create_agent_id(&data_dir).expect("created");
        let second = load_or_create_agent_id(&data_dir).expect("read back");
        assert_eq!(first, second);
        assert_eq!(first.get_version_num(), 4);
    }

    #[test]
    fn malformed_id_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(AGENT_ID_FILE), "not-a-uuid").expect("write");
        let err = load_or_create_agent_id(dir.path()).expect_err("refused");
        assert!(
            err.to_string().contains("agent.id does not hold a UUID"),
            "{err}"
        );
    }

    #[test]
    fn ephemeral_id_is_new_each_time_and_name_wins() {
        let id = Uuid::new_v4();
        let a = identity(Some("web-01"), id, EventConfig::default()).expect("identity");
        let b = identity(Some("web-01"), id, EventConfig::default()).expect("identity");
        assert_eq!(a.host_name, "web-01");
        assert_eq!(a.agent_name, "web-01");
        assert_eq!(a.agent_id, id.to_string());
        assert_ne!(a.ephemeral_id, b.ephemeral_id);
    }
}
