//! The Linux adapter: `/proc` and `statvfs(2)`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ferrobeat_schema::Metricset;

use super::mount_stat::MountStat;
use super::parse::{self, ParseError};
use super::{SourceError, is_reported};
use crate::snapshot::{Mount, MountUsage, Snapshot};

/// The buffer's first size: `/proc/stat` of a 64-core host fits.
const FIRST_BUFFER_LEN: usize = 8 * 1024;

/// Reads the metricsets' counters from a `/proc` tree (the real one, or a recorded copy:
/// Metricbeat's `HOST_PROC`) through one reused buffer. Each file is opened on its first read
/// and kept open: `/proc` regenerates a file's text for every read from offset 0, so a round
/// costs one `pread` per file instead of an open, a stat, a seek, two reads and a close (a
/// file of a recorded tree is read from the same inode, so replace it in place, not by a
/// rename).
#[derive(Debug)]
pub struct ProcSource {
    root: PathBuf,
    /// The text of the last file read (its first `len` bytes; the rest is room).
    buffer: Vec<u8>,
    /// The files opened so far, by their path below the root.
    open: Vec<(&'static str, File)>,
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
            buffer: vec![0; FIRST_BUFFER_LEN],
            open: Vec::new(),
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

    /// Reads `root/relative` into the buffer (opening it on its first read) and parses it.
    fn parsed<T>(
        &mut self,
        relative: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T, SourceError> {
        let root = &self.root;
        let text =
            read_kept_open(&mut self.open, root, relative, &mut self.buffer).map_err(|source| {
                SourceError::Read {
                    path: root.join(relative),
                    source,
                }
            })?;
        parse(text).map_err(|source| SourceError::Parse {
            path: root.join(relative),
            source,
        })
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

/// The whole text of `root/relative`, read from offset 0 through its file in `open` (opened
/// and added on its first read) into `buffer`; a file that fails to read is closed, so the next
/// round opens it again.
fn read_kept_open<'b>(
    open: &mut Vec<(&'static str, File)>,
    root: &Path,
    relative: &'static str,
    buffer: &'b mut Vec<u8>,
) -> io::Result<&'b str> {
    let index = match open.iter().position(|(name, _)| *name == relative) {
        Some(index) => index,
        None => {
            open.push((relative, File::open(root.join(relative))?));
            open.len() - 1
        }
    };
    let len = read_whole(&open[index].1, buffer).inspect_err(|_| {
        open.swap_remove(index);
    })?;
    std::str::from_utf8(&buffer[..len])
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// Reads `file` from offset 0 to its end into `buffer` (growing it when full); returns the
/// length read.
fn read_whole(file: &File, buffer: &mut Vec<u8>) -> io::Result<usize> {
    let mut len = 0;
    loop {
        if len == buffer.len() {
            buffer.resize(buffer.len() * 2, 0);
        }
        match file.read_at(&mut buffer[len..], len as u64) {
            Ok(0) => return Ok(len),
            Ok(read) => len += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}
