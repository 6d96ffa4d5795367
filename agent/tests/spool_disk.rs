//! The disk spool against a real directory: append, settle, replay, damage and bounds.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use ferrobeat_agent::spool::{Spool, SpoolLimits};

const ROOMY: SpoolLimits = SpoolLimits {
    max_bytes: 64 * 1024 * 1024,
    segment_bytes: 1024 * 1024,
};

fn record(i: u64) -> Vec<u8> {
    format!("{{\"record\":{i:04}}}").into_bytes()
}

fn round(range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    range.map(record).collect()
}

fn read_all(spool: &mut Spool) -> Vec<(u64, Vec<u8>)> {
    spool
        .read(usize::MAX)
        .expect("read")
        .into_iter()
        .map(|r| (r.seq, r.payload))
        .collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list spool dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn append_read_settle_and_replay_in_order_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("open");
        assert_eq!(recovery.replay, 0);
        assert_eq!(spool.append(&round(0..5)).expect("append"), 0);
        assert_eq!(spool.append(&round(5..10)).expect("append"), 5);
        let read = read_all(&mut spool);
        assert_eq!(read, (0..10).map(|i| (i, record(i))).collect::<Vec<_>>());
        assert!(
            spool.read(10).expect("read").is_empty(),
            "nothing left to read"
        );
        // Deliveries come back out of order: 0, 1, 2 and 5 succeed.
        for seq in [2, 0, 5, 1] {
            spool.settle(seq).expect("settle");
        }
        assert_eq!(spool.stats().depth, 6);
        spool.commit_cursor().expect("commit");
    }
    let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("reopen");
    assert_eq!(
        recovery.replay, 7,
        "replay starts at the first unsettled record"
    );
    assert!(!recovery.cursor_lost);
    let replayed: Vec<u64> = read_all(&mut spool).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        replayed,
        (3..10).collect::<Vec<_>>(),
        "in order, 5 duplicated"
    );
    // New records continue the sequence after the replayed ones.
    assert_eq!(spool.append(&round(10..11)).expect("append"), 10);
}

#[test]
fn rewind_reads_again_only_what_is_unsettled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = Spool::open(dir.path(), ROOMY).expect("open");
    spool.append(&round(0..6)).expect("append");
    assert_eq!(read_all(&mut spool).len(), 6);
    for seq in [0, 2, 3] {
        spool.settle(seq).expect("settle");
    }
    spool.rewind();
    let again: Vec<u64> = read_all(&mut spool).into_iter().map(|(s, _)| s).collect();
    assert_eq!(again, vec![1, 4, 5]);
}

#[test]
fn settled_segments_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = SpoolLimits {
        max_bytes: 1024 * 1024,
        segment_bytes: 64,
    };
    let (mut spool, _) = Spool::open(dir.path(), limits).expect("open");
    for i in 0..5 {
        spool.append(&round(i * 3..i * 3 + 3)).expect("append");
    }
    assert_eq!(segment_files(dir.path()).len(), 5);
    for record in spool.read(usize::MAX).expect("read") {
        spool.settle(record.seq).expect("settle");
    }
    assert_eq!(spool.stats().depth, 0);
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "only the active segment stays"
    );
}

#[test]
fn checksum_damage_is_detected_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut spool, _) = Spool::open(dir.path(), ROOMY).expect("open");
        spool.append(&round(0..3)).expect("append");
    }
    let segment = &segment_files(dir.path())[0];
    let mut bytes = fs::read(segment).expect("read segment");
    let middle_payload = bytes.len() / 2; // inside record 1's frame
    bytes[middle_payload] ^= 0x5a;
    fs::write(segment, &bytes).expect("write damaged segment");

    let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("reopen");
    assert_eq!(
        recovery.torn_bytes, 0,
        "damage in the middle is not a torn tail"
    );
    let read = read_all(&mut spool);
    assert_eq!(read, vec![(0, record(0)), (2, record(2))]);
    assert_eq!(spool.stats().corrupt, 1);
    spool.settle(0).expect("settle");
    spool.settle(2).expect("settle");
    assert_eq!(
        spool.stats().depth,
        0,
        "the damaged record does not hold the cursor"
    );
}

// Spool tests alike in shape: each damages or settles segments differently.
#[test]
fn damaged_length_skips_the_rest_of_its_segment_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = SpoolLimits {
        max_bytes: 1024 * 1024,
        segment_bytes: 64,
    };
    {
        let (mut spool, _) = Spool::open(dir.path(), limits).expect("open");
        spool.append(&round(0..3)).expect("append");
        spool.append(&round(3..6)).expect("append");
    }
    // The second frame's length field of the first (sealed) segment becomes impossible.
    let first = &segment_files(dir.path())[0];
    let mut bytes = fs::read(first).expect("read segment");
    let second_frame = bytes.len() / 3;
    bytes[second_frame..second_frame + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(first, &bytes).expect("write damaged segment");

    let (mut spool, _) = Spool::open(dir.path(), limits).expect("reopen");
    let seqs: Vec<u64> = read_all(&mut spool).into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, vec![0, 3, 4, 5], "records 1 and 2 cannot be located");
    assert_eq!(spool.stats().corrupt, 1);
    for seq in seqs {
        spool.settle(seq).expect("settle");
    }
    assert_eq!(
        spool.stats().depth,
        0,
        "the unreadable records do not hold the cursor"
    );
}

#[test]
fn torn_tail_after_kill_is_cut_and_appending_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut spool, _) = Spool::open(dir.path(), ROOMY).expect("open");
        spool.append(&round(0..4)).expect("append");
    }
    // A write interrupted by kill -9: the last frame is only partly on disk.
    let segment = &segment_files(dir.path())[0];
    let intact = fs::metadata(segment).expect("stat").len();
    let mut torn = Vec::new();
    torn.extend_from_slice(&100u32.to_le_bytes());
    torn.extend_from_slice(b"\x01\x02\x03\x04partial");
    OpenOptions::new()
        .append(true)
        .open(segment)
        .and_then(|mut f| f.write_all(&torn))
        .expect("append torn frame");

    let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("reopen");
    assert_eq!(recovery.torn_bytes, torn.len() as u64);
    assert_eq!(fs::metadata(segment).expect("stat").len(), intact);
    assert_eq!(spool.append(&round(4..5)).expect("append"), 4);
    let seqs: Vec<u64> = read_all(&mut spool).into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
    assert_eq!(spool.stats().corrupt, 0);
}

#[test]
fn lost_cursor_replays_from_the_oldest_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut spool, _) = Spool::open(dir.path(), ROOMY).expect("open");
        spool.append(&round(0..3)).expect("append");
        for r in spool.read(2).expect("read") {
            spool.settle(r.seq).expect("settle");
        }
        spool.commit_cursor().expect("commit");
    }
    fs::write(dir.path().join("ack-cursor"), b"garbage").expect("damage cursor");
    let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("reopen");
    assert!(recovery.cursor_lost);
    assert_eq!(read_all(&mut spool).len(), 3, "duplicates rather than loss");
}

#[test]
fn full_spool_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frame = 16 + record(0).len() as u64;
    let limits = SpoolLimits {
        max_bytes: frame * 20,
        segment_bytes: frame * 5,
    };
    let (mut spool, _) = Spool::open(dir.path(), limits).expect("open");
    for i in 0..10 {
        spool.append(&round(i * 5..i * 5 + 5)).expect("append");
        assert!(spool.stats().bytes <= limits.max_bytes, "bound kept");
    }
    let stats = spool.stats();
    assert_eq!(
        stats.dropped + stats.depth,
        50,
        "every record is either kept or counted"
    );
    assert_eq!(stats.dropped, 30);
    let seqs: Vec<u64> = read_all(&mut spool).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        seqs,
        (30..50).collect::<Vec<_>>(),
        "the newest survive, in order"
    );
}

#[test]
fn dropping_moves_a_reader_that_was_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frame = 16 + record(0).len() as u64;
    let limits = SpoolLimits {
        max_bytes: frame * 10,
        segment_bytes: frame * 5,
    };
    let (mut spool, _) = Spool::open(dir.path(), limits).expect("open");
    spool.append(&round(0..5)).expect("append");
    assert_eq!(spool.read(2).expect("read").len(), 2);
    for i in 1..4 {
        spool.append(&round(i * 5..i * 5 + 5)).expect("append");
    }
    let seqs: Vec<u64> = read_all(&mut spool).into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, (10..20).collect::<Vec<_>>());
}

/// Throughput figures (run with `--ignored --nocapture`): appends of 10 × 1 KB rounds, each
/// fsynced, then reading back and settling everything.
#[test]
#[ignore = "measurement, not a check"]
fn throughput_figures() {
    const ROUNDS: usize = 2000;
    const PER_ROUND: usize = 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = Spool::open(dir.path(), ROOMY).expect("open");
    let round: Vec<Vec<u8>> = (0..PER_ROUND).map(|_| vec![b'x'; 1024]).collect();
    let started = std::time::Instant::now();
    for _ in 0..ROUNDS {
        spool.append(&round).expect("append");
    }
    let append = started.elapsed();
    let started = std::time::Instant::now();
    let mut read = 0;
    loop {
        let batch = spool.read(1000).expect("read");
        if batch.is_empty() {
            break;
        }
        read += batch.len();
        for record in batch {
            spool.settle(record.seq).expect("settle");
        }
    }
    spool.commit_cursor().expect("commit");
    let drain = started.elapsed();
    assert_eq!(read, ROUNDS * PER_ROUND);
    eprintln!(
        "append+fsync: {:.1} µs per round of {PER_ROUND} KB ({:.0} rounds/s); \
         read+settle: {:.0} records/s",
        append.as_secs_f64() * 1e6 / ROUNDS as f64,
        ROUNDS as f64 / append.as_secs_f64(),
        read as f64 / drain.as_secs_f64()
    );
}

/// The cursor written without an fsync (the shipper's usual write) is what the next open reads;
/// it is rewritten in place, so it stays one 12-byte file.
#[test]
fn a_written_cursor_is_read_back_after_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = SpoolLimits {
        max_bytes: 1 << 20,
        segment_bytes: 1 << 16,
    };
    let (mut spool, _) = Spool::open(dir.path(), limits).expect("open");
    spool.append(&[b"a", b"b", b"c"]).expect("append");
    spool.settle(0).expect("settle");
    spool.write_cursor().expect("write");
    spool.settle(1).expect("settle");
    spool.write_cursor().expect("write again");
    drop(spool);
    let cursor = dir.path().join("ack-cursor");
    assert_eq!(std::fs::metadata(&cursor).expect("cursor file").len(), 12);
    let (reopened, recovery) = Spool::open(dir.path(), limits).expect("reopen");
    assert!(!recovery.cursor_lost);
    assert_eq!(recovery.replay, 1, "only the unsettled record is replayed");
    assert_eq!(reopened.stats().depth, 1);
}

/// The records just appended are read back from memory, not from the segment (here gone from
/// the directory); older ones, after a rewind, from the file again.
#[test]
fn the_last_append_is_read_back_without_reading_the_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = Spool::open(dir.path(), ROOMY).expect("open");
    spool.append(&round(0..2)).expect("append");
    assert_eq!(read_all(&mut spool).len(), 2);
    spool.append(&round(2..5)).expect("append");
    let segments = segment_files(dir.path());
    assert_eq!(segments.len(), 1);
    fs::remove_file(&segments[0]).expect("unlink the segment");
    assert_eq!(
        read_all(&mut spool),
        (2..5).map(|i| (i, record(i))).collect::<Vec<_>>(),
        "the second round, read back from memory"
    );
    spool.rewind();
    assert!(
        spool.read(usize::MAX).is_err(),
        "the first round is read from the file, which is gone"
    );
}

/// The bytes the frames of `range` take on disk (16-byte header each).
fn frames_len(range: std::ops::Range<u64>) -> u64 {
    range.map(|i| 16 + record(i).len() as u64).sum()
}

/// Writes `bytes` at `offset` of `path`, in place.
fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open segment");
    std::os::unix::fs::FileExt::write_all_at(&file, bytes, offset).expect("write in place");
}

#[test]
fn a_crash_leaves_zeros_after_the_data_and_reopening_reads_exactly_the_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = Spool::open(dir.path(), ROOMY).expect("open");
    spool.append(&round(0..3)).expect("append");
    spool.append(&round(3..5)).expect("append");
    // A crash: the spool is not dropped, so nothing cuts the zero-filled room off.
    std::mem::forget(spool);
    let segment = &segment_files(dir.path())[0];
    let data = frames_len(0..5);
    assert!(
        fs::metadata(segment).expect("stat").len() > data,
        "rounds are written into room zero-filled ahead"
    );

    let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("reopen");
    assert_eq!((recovery.replay, recovery.torn_bytes), (5, 0));
    assert_eq!(fs::metadata(segment).expect("stat").len(), data);
    assert_eq!(
        read_all(&mut spool),
        round(0..5)
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .collect::<Vec<_>>()
    );
    assert_eq!(spool.append(&round(5..6)).expect("append"), 5);
    std::mem::forget(spool);

    let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("reopen again");
    assert_eq!(recovery.replay, 6);
    let seqs: Vec<u64> = read_all(&mut spool).into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, (0..6).collect::<Vec<_>>());
    assert_eq!(spool.stats().corrupt, 0);
    drop(spool);
    let on_disk: u64 = segment_files(dir.path())
        .iter()
        .map(|file| fs::metadata(file).expect("stat").len())
        .sum();
    assert_eq!(
        on_disk,
        frames_len(0..6),
        "a spool dropped cleanly is cut back to its data"
    );
}

#[test]
fn a_round_torn_in_the_zero_filled_room_is_cut_and_appending_continues() {
    // The last round before a crash, torn two ways inside the zero-filled room: its header
    // written and its payload only partly (the frame fails its checksum and zeros follow), or
    // its header still zeros and part of its payload written.
    let header_written = |segment: &Path, at: u64| {
        let mut torn = 100u32.to_le_bytes().to_vec();
        torn.extend_from_slice(&[7; 12]);
        torn.extend_from_slice(&[b'x'; 30]);
        write_at(segment, at, &torn);
        torn.len() as u64
    };
    let header_zero = |segment: &Path, at: u64| {
        write_at(segment, at + 40, &[b'x'; 20]);
        60
    };
    for (name, tear) in [
        (
            "header written",
            &header_written as &dyn Fn(&Path, u64) -> u64,
        ),
        ("header still zero", &header_zero),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut spool, _) = Spool::open(dir.path(), ROOMY).expect("open");
        spool.append(&round(0..2)).expect("append");
        std::mem::forget(spool);
        let segment = &segment_files(dir.path())[0];
        let torn = tear(segment, frames_len(0..2));

        let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("reopen");
        assert_eq!(recovery.replay, 2, "{name}");
        assert_eq!(recovery.torn_bytes, torn, "{name}");
        assert_eq!(
            fs::metadata(segment).expect("stat").len(),
            frames_len(0..2),
            "{name}"
        );
        assert_eq!(spool.append(&round(2..3)).expect("append"), 2, "{name}");
        std::mem::forget(spool);

        let (mut spool, recovery) = Spool::open(dir.path(), ROOMY).expect("reopen again");
        assert_eq!((recovery.replay, recovery.torn_bytes), (3, 0), "{name}");
        let read = read_all(&mut spool);
        assert_eq!(
            read,
            vec![(0, record(0)), (1, record(1)), (2, record(2))],
            "{name}"
        );
        assert_eq!(spool.stats().corrupt, 0, "{name}");
    }
}

#[test]
fn a_sealed_segment_left_with_zeros_reads_to_the_end_of_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = SpoolLimits {
        max_bytes: 1024 * 1024,
        segment_bytes: 64,
    };
    let (mut spool, _) = Spool::open(dir.path(), limits).expect("open");
    spool.append(&round(0..3)).expect("append");
    spool.append(&round(3..6)).expect("append");
    std::mem::forget(spool);
    // The cut of the sealed segment at the roll did not reach the disk before the crash.
    let first = &segment_files(dir.path())[0];
    OpenOptions::new()
        .write(true)
        .open(first)
        .and_then(|f| f.set_len(frames_len(0..3) + 4096))
        .expect("zeros after the sealed segment's data");

    let (mut spool, recovery) = Spool::open(dir.path(), limits).expect("reopen");
    assert_eq!(recovery.replay, 6);
    let seqs: Vec<u64> = read_all(&mut spool).into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, (0..6).collect::<Vec<_>>());
    assert_eq!(spool.stats().corrupt, 0, "the zeros are not damage");
}
