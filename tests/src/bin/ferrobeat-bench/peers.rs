//! The Python peers of `--peers`: their virtual environment (installed once by
//! `tests/install-peers.sh` from `tests/peers/requirements.txt`) and their scripts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// The directory of the peers' scripts and requirements.
fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// The path of the peer script `name` in `tests/peers/`.
pub(crate) fn script(name: &str) -> PathBuf {
    peers_dir().join(name)
}

/// The python of the peers' virtual environment, installing it first if it is missing or its
/// requirements changed.
pub(crate) fn python() -> anyhow::Result<PathBuf> {
    let installer = Path::new(env!("CARGO_MANIFEST_DIR")).join("install-peers.sh");
    let output = Command::new(&installer)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", installer.display()))?;
    if !output.status.success() {
        bail!("{} failed ({})", installer.display(), output.status);
    }
    let path = String::from_utf8(output.stdout)
        .with_context(|| format!("{} printed a path that is not UTF-8", installer.display()))?;
    Ok(PathBuf::from(path.trim()))
}
