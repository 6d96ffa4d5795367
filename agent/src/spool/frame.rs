//! The on-disk record frame of the spool: pure encoding and decoding, no I/O.
//!
//! ```text
//! | payload length: u32 LE | crc32: u32 LE | sequence: u64 LE | payload bytes |
//! ```
//!
//! The CRC32 covers the sequence number and the payload, so a frame whose length survived but
//! whose body was damaged is detected, and a sequence number is never trusted unchecked.
//!
//! A segment's frames may be followed by zeros: room written ahead of the appends (see
//! `Spool::append`). An all-zero header is never a frame (the CRC32 of sequence number 0 is
//! not 0), so it marks the end of the segment's data.

/// Bytes before the payload: length, checksum, sequence number.
pub(crate) const HEADER_LEN: usize = 16;

/// The largest payload a frame may carry; a longer length field means a damaged header.
pub(crate) const MAX_PAYLOAD_LEN: usize = 64 * 1024 * 1024;

/// What the bytes at the start of a buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A whole, intact frame of `frame_len` bytes.
    Frame {
        /// The record's sequence number.
        seq: u64,
        /// The record.
        payload: &'a [u8],
        /// Header plus payload.
        frame_len: usize,
    },
    /// A whole frame whose checksum does not match: skip `frame_len` bytes.
    Corrupt {
        /// Header plus payload, as the (unverifiable) length field says.
        frame_len: usize,
    },
    /// The length field is impossible: nothing after this point can be located.
    Unreadable,
    /// An all-zero header: the zero-filled room after the segment's last frame.
    End,
    /// The buffer ends inside the frame (a torn write, or more bytes still to read).
    Incomplete {
        /// How many bytes the whole frame needs, when the header is complete.
        frame_len: Option<usize>,
    },
}

/// Appends one frame to `out`.
pub(crate) fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&len| len as usize <= MAX_PAYLOAD_LEN)
        .unwrap_or_else(|| {
            panic!(
                "spool record of {} bytes exceeds the frame limit",
                payload.len()
            )
        });
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Decodes the frame at the start of `buf`.
pub(crate) fn decode(buf: &[u8]) -> Decoded<'_> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Decoded::Incomplete { frame_len: None };
    };
    if is_zero(header) {
        return Decoded::End;
    }
    let len = u32::from_le_bytes(fixed(&header[0..4])) as usize;
    if len > MAX_PAYLOAD_LEN {
        return Decoded::Unreadable;
    }
    let frame_len = HEADER_LEN + len;
    let Some(payload) = buf.get(HEADER_LEN..frame_len) else {
        return Decoded::Incomplete {
            frame_len: Some(frame_len),
        };
    };
    let crc = u32::from_le_bytes(fixed(&header[4..8]));
    let seq = u64::from_le_bytes(fixed(&header[8..16]));
    if checksum(seq, payload) == crc {
        Decoded::Frame {
            seq,
            payload,
            frame_len,
        }
    } else {
        Decoded::Corrupt { frame_len }
    }
}

/// Whether every byte of `bytes` is zero (the room written ahead of the appends).
pub(crate) fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// The frame length a record of `payload_len` bytes takes on disk.
pub(crate) fn frame_len(payload_len: usize) -> usize {
    HEADER_LEN + payload_len
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        encode(7, b"hello", &mut buf);
        encode(8, b"", &mut buf);
        assert_eq!(buf.len(), frame_len(5) + frame_len(0));
        assert_eq!(
            decode(&buf),
            Decoded::Frame {
                seq: 7,
                payload: b"hello",
                frame_len: 21
            }
        );
        assert_eq!(
            decode(&buf[21..]),
            Decoded::Frame {
                seq: 8,
                payload: b"",
                frame_len: 16
            }
        );
    }

    #[test]
    fn flipped_payload_bit_is_corrupt() {
        let mut buf = Vec::new();
        encode(1, b"payload", &mut buf);
        buf[HEADER_LEN + 2] ^= 0x10;
        assert_eq!(decode(&buf), Decoded::Corrupt { frame_len: 23 });
    }

    #[test]
    fn flipped_sequence_bit_is_corrupt() {
        let mut buf = Vec::new();
        encode(1, b"payload", &mut buf);
        buf[9] ^= 0x01;
        assert_eq!(decode(&buf), Decoded::Corrupt { frame_len: 23 });
    }

    #[test]
    fn short_buffers_are_incomplete() {
        let mut buf = Vec::new();
        encode(1, b"payload", &mut buf);
        assert_eq!(decode(&buf[..3]), Decoded::Incomplete { frame_len: None });
        assert_eq!(
            decode(&buf[..20]),
            Decoded::Incomplete {
                frame_len: Some(23)
            }
        );
    }

    #[test]
    fn a_zero_header_is_the_end_and_never_a_frame() {
        assert_eq!(decode(&[0; HEADER_LEN + 8]), Decoded::End);
        // The one frame whose length and sequence number are 0 still has a non-zero CRC.
        let mut empty = Vec::new();
        encode(0, b"", &mut empty);
        assert!(!is_zero(&empty));
        assert!(matches!(decode(&empty), Decoded::Frame { seq: 0, .. }));
    }

    #[test]
    fn impossible_length_is_unreadable() {
        let mut buf = vec![0xff; HEADER_LEN];
        buf.extend_from_slice(b"x");
        assert_eq!(decode(&buf), Decoded::Unreadable);
    }
}
