//! The Linux adapter: `/proc` and `statvfs(2)`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ferrobeat_schema::Metricset;

use super::mount_stat::MountStat;
use super::parse::{self, ParseError};
use super::{SourceError, is_reported};
use crate::snapshot::{Mount, MountUsage, Snapshot};

/// Reads the metricsets' counters from a `/proc` tree (the real one, or a recorded copy:
/// Metricbeat's `HOST_PROC`) through one reused text buffer.
#[derive(Debug)]
pub struct ProcSource {
    root: PathBuf,
    text: String,
    configured_ignored_types: Vec<String>,
    /// The configured types plus the kernel's `nodev` types, read on the first filesystem round.
    ignored_types: Option<Vec<String>>,
    mounts: Vec<Mount>,
    mount_stat: MountStat,
}

impl ProcSource {
    /// An adapter reading below `root` (normally `/proc`), not reporting file systems of
    /// `ignored_fs_types` nor of the kernel's `nodev` types.
    pub fn new(root: impl Into<PathBuf>, ignored_fs_types: Vec<String>) -> Self {
        ProcSource {
            root: root.into(),
            text: String::with_capacity(8 * 1024),
            configured_ignored_types: ignored_fs_types,
            ignored_types: None,
            mounts: Vec::new(),
            mount_stat: MountStat::host(),
        }
    }

    /// The same adapter reading mounts' usage through `mount_stat` (a test's `statvfs`).
    pub fn with_mount_stat(mut self, mount_stat: MountStat) -> Self {
        self.mount_stat = mount_stat;
        self
    }

    /// A new adapter reading the same tree with the same filter and mount reader, for
    /// another thread.
    pub fn sibling(&self) -> Self {
        Self::new(self.root.clone(), self.configured_ignored_types.clone())
            .with_mount_stat(self.mount_stat.sibling())
    }

    /// An adapter reading the real `/proc`, not reporting file systems of `ignored_fs_types`
    /// (the `[collect]` filter).
    pub fn for_host(ignored_fs_types: Vec<String>) -> Self {
        Self::new("/proc", ignored_fs_types)
    }

    // One arm per metricset, each reading its own files.
    /// Reads the counters of `metricset`.
    ///
    /// # Errors
    /// [`SourceError`] naming the file that could not be read or parsed.
    pub fn read(&mut self, metricset: Metricset) -> Result<Snapshot, SourceError> {
        match metricset {
            Metricset::Cpu => self.parsed("stat", parse::parse_stat).map(Snapshot::Cpu),
            Metricset::Memory => self
                .parsed("meminfo", parse::parse_meminfo)
                .map(Snapshot::Memory),
            Metricset::Network => {
                let mut interfaces = Vec::new();
                self.parsed("net/dev", |text| {
                    parse::parse_net_dev(text, &mut interfaces)
                })?;
                Ok(Snapshot::Network(interfaces))
            }
            Metricset::Diskio => {
                let mut devices = Vec::new();
                self.parsed("diskstats", |text| {
                    parse::parse_diskstats(text, &mut devices)
                })?;
                Ok(Snapshot::Diskio(devices))
            }
            Metricset::Load => {
                let mut load = self.parsed("loadavg", parse::parse_loadavg)?;
                load.cores = self.parsed("stat", parse::parse_stat)?.cores;
                Ok(Snapshot::Load(load))
            }
            Metricset::Filesystem => self.filesystems().map(Snapshot::Filesystem),
        }
    }

    /// Reads `root/relative` into the buffer and parses it.
    fn parsed<T>(
        &mut self,
        relative: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T, SourceError> {
        let path = self.root.join(relative);
        read_into(&path, &mut self.text)?;
        parse(&self.text).map_err(|source| SourceError::Parse { path, source })
    }

    fn filesystems(&mut self) -> Result<Vec<MountUsage>, SourceError> {
        if self.ignored_types.is_none() {
            let mut types =
                self.parsed("filesystems", |text| Ok(parse::parse_nodev_types(text)))?;
            types.extend(self.configured_ignored_types.iter().cloned());
            self.ignored_types = Some(types);
        }
        let mut mounts = std::mem::take(&mut self.mounts);
        self.parsed("self/mounts", |text| parse::parse_mounts(text, &mut mounts))?;
        let ignored = self.ignored_types.as_deref().unwrap_or_default();
        let usages = self
            .mount_stat
            .usages(mounts.iter().filter(|mount| is_reported(mount, ignored)));
        self.mounts = mounts;
        Ok(usages)
    }
}

fn read_into(path: &Path, text: &mut String) -> Result<(), SourceError> {
    text.clear();
    File::open(path)
        .and_then(|mut file| file.read_to_string(text))
        .map(drop)
        .map_err(|source| SourceError::Read {
            path: path.to_owned(),
            source,
        })
}
