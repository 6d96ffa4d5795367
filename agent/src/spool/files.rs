//! The spool's file operations: segment names and listing, the torn-tail cut, the cursor
//! file, positioned reads, directory syncs; every error names the action and the path.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::frame::{self, Decoded};
use super::{SEGMENT_SUFFIX, Segment, SpoolError};

pub(super) fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolError {
    let path = path.to_path_buf();
    move |source| SpoolError::Io {
        action,
        path,
        source,
    }
}

pub(super) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}{SEGMENT_SUFFIX}"))
}

pub(super) fn list_segments(dir: &Path) -> Result<VecDeque<Segment>, SpoolError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let entry = entry.map_err(io_error("list", dir))?;
        let name = entry.file_name();
        let Some(first_seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let bytes = entry.metadata().map_err(io_error("inspect", &path))?.len();
        segments.push(Segment {
            first_seq,
            path,
            bytes,
        });
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments.into())
}

/// Finds the end of the newest segment's intact frames and cuts off what follows: a torn write
/// and the zero-filled room after the data (written again on the next append). Returns the
/// sequence number after the last intact frame and the bytes of torn writes cut (not counting
/// the zeros).
///
/// The last round written before a crash may be torn anywhere: its header or any part of its
/// payload may still be zeros. A frame that fails its checksum is damage in the middle when an
/// intact frame follows it, and the torn end of the data when the data ends there (zeros or
/// the end of the file); a zero header ends the data whatever lies beyond it.
pub(super) fn cut_torn_tail(segment: &mut Segment) -> Result<(u64, u64), SpoolError> {
    let bytes = fs::read(&segment.path).map_err(io_error("read", &segment.path))?;
    let mut end_seq = segment.first_seq;
    let mut valid = 0;
    loop {
        match frame::decode(&bytes[valid..]) {
            Decoded::Frame { seq, frame_len, .. } => {
                end_seq = end_seq.max(seq + 1);
                valid += frame_len;
            }
            Decoded::Corrupt { frame_len } if data_follows(&bytes[valid + frame_len..]) => {
                // Damage in the middle: the reader skips and counts it later.
                valid += frame_len;
            }
            Decoded::Corrupt { .. }
            | Decoded::Incomplete { .. }
            | Decoded::Unreadable
            | Decoded::End => break,
        }
    }
    let torn = bytes[valid..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last as u64 + 1);
    if bytes.len() > valid {
        let file = OpenOptions::new()
            .write(true)
            .open(&segment.path)
            .map_err(io_error("open", &segment.path))?;
        file.set_len(valid as u64)
            .map_err(io_error("truncate", &segment.path))?;
        file.sync_all().map_err(io_error("fsync", &segment.path))?;
        segment.bytes = valid as u64;
    }
    Ok((end_seq, torn))
}

/// Whether `rest`, the bytes after a damaged frame, start with more data rather than the end
/// of it (nothing, or the zero-filled room, which may be shorter than a header).
fn data_follows(rest: &[u8]) -> bool {
    !frame::is_zero(&rest[..rest.len().min(frame::HEADER_LEN)])
}

pub(super) fn read_cursor(path: &Path) -> Option<u64> {
    let bytes = fs::read(path).ok()?;
    let (seq, crc) = (bytes.get(..8)?, bytes.get(8..12)?);
    (bytes.len() == 12 && crc32fast::hash(seq).to_le_bytes() == crc)
        .then(|| u64::from_le_bytes(seq.try_into().expect("8 bytes")))
}

/// The cursor file's length: the sequence number and its CRC32.
const CURSOR_LEN: u64 = 12;

/// Opens the cursor file for writes in place, creating it and cutting it to its 12 bytes.
pub(super) fn open_cursor(path: &Path) -> Result<File, SpoolError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error("open", path))?;
    file.set_len(CURSOR_LEN)
        .map_err(io_error("truncate", path))?;
    Ok(file)
}

/// Writes `cursor` and its CRC32 over the cursor file `file` (at `path`), in place (one
/// positioned write where the platform has it).
pub(super) fn write_cursor(file: &mut File, path: &Path, cursor: u64) -> Result<(), SpoolError> {
    let mut bytes = cursor.to_le_bytes().to_vec();
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    write_all_at(file, &bytes, 0).map_err(io_error("write", path))
}

/// Writes all of `bytes` at `offset` of `file` (one positioned write where the platform has
/// it).
#[cfg(unix)]
pub(super) fn write_all_at(file: &mut File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

/// Writes all of `bytes` at `offset` of `file`.
#[cfg(not(unix))]
pub(super) fn write_all_at(file: &mut File, bytes: &[u8], offset: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    io::Write::write_all(file, bytes)
}

/// Zeros written at a time when making room ahead of the appends.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Writes zeros over `range` of `file`.
pub(super) fn write_zeros(file: &mut File, range: std::ops::Range<u64>) -> io::Result<()> {
    let mut offset = range.start;
    while offset < range.end {
        let len = (range.end - offset).min(ZEROS.len() as u64);
        write_all_at(file, &ZEROS[..len as usize], offset)?;
        offset += len;
    }
    Ok(())
}

/// Opens a segment for positioned writes (not in append mode: appends go to the end of the
/// data, before the zero-filled room), creating it if needed.
pub(super) fn open_segment(path: &Path) -> Result<File, SpoolError> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(io_error("open for writing", path))
}

pub(super) fn read_at(path: &Path, offset: u64, len: usize) -> Result<Vec<u8>, SpoolError> {
    let mut file = File::open(path).map_err(io_error("open", path))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(io_error("seek", path))?;
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64)
        .read_to_end(&mut buf)
        .map_err(io_error("read", path))?;
    Ok(buf)
}

/// Makes file creations, deletions and renames in `dir` durable (Unix; elsewhere the file
/// system offers no such call on directories).
pub(super) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    if cfg!(unix) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("fsync directory", dir))
    } else {
        Ok(())
    }
}
