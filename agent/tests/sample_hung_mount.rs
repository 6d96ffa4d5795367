//! A mount whose `statvfs` hangs (a dead NFS server) must not stop sampling: filesystem
//! runs on its own thread, the hung mount is skipped after a timeout and until its call
//! returns, and memory keeps its cadence meanwhile.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use ferrobeat_agent::collect::{CollectConfig, EventConfig, Identity};
use ferrobeat_agent::monitor::AgentMetrics;
use ferrobeat_agent::sample::{Collector, Sampler};
use ferrobeat_agent::snapshot::{Mount, MountUsage};
use ferrobeat_agent::source::ProcSource;
use ferrobeat_agent::source::mount_stat::{MountStat, StatFn};
use ferrobeat_schema::{Event, Metricset, System};

const PERIOD: Duration = Duration::from_millis(100);
/// Far longer than a period: were filesystem sampled inline, memory would miss rounds.
const STAT_TIMEOUT: Duration = Duration::from_millis(1000);

/// A `/proc` copy with two mounts: `/` answers, `/hung` hangs until released.
fn proc_tree(root: &Path) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/a");
    for file in ["stat", "meminfo"] {
        std::fs::copy(fixtures.join(file), root.join(file)).expect("copy fixture");
    }
    std::fs::write(root.join("filesystems"), "nodev\tproc\n\text4\n\tnfs4\n").expect("write");
    std::fs::create_dir(root.join("self")).expect("mkdir");
    std::fs::write(
        root.join("self/mounts"),
        "/dev/sda1 / ext4 rw,relatime 0 0\nserver:/export /hung nfs4 rw 0 0\n",
    )
    .expect("write mounts");
}

fn usage(mount: &Mount) -> MountUsage {
    MountUsage {
        mount: mount.clone(),
        block_size: 4096,
        blocks: 1000,
        blocks_free: 400,
        blocks_available: 300,
        files: 100,
        files_free: 50,
    }
}

fn mount_points(batch: &[Event]) -> Vec<String> {
    batch
        .iter()
        .filter_map(|event| match &event.system {
            Some(System::Filesystem(fs)) => Some(fs.mount_point.clone()),
            _ => None,
        })
        .collect()
}

// Builds a collector like the sample_round bench: separate crates.
#[test]
fn a_hung_mount_is_skipped_and_memory_keeps_its_cadence() {
    let root = tempfile::tempdir().expect("tempdir");
    proc_tree(root.path());
    let (release, released) = std_mpsc::channel::<()>();
    let released = Mutex::new(released);
    let hung_calls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&hung_calls);
    let stat: StatFn = Arc::new(move |mount: &Mount| {
        if mount.mount_point == "/hung" && calls.fetch_add(1, Ordering::SeqCst) == 0 {
            // The first call hangs until the test releases it.
            let _ = released.lock().expect("lock").recv();
        }
        Ok(usage(mount))
    });
    let source = ProcSource::new(root.path(), Vec::new())
        .with_mount_stat(MountStat::new(stat, STAT_TIMEOUT));
    let config = CollectConfig {
        period: PERIOD,
        metricsets: vec![Metricset::Memory, Metricset::Filesystem],
        ..CollectConfig::default()
    };
    let identity = Identity {
        host_name: "h".into(),
        agent_name: "a".into(),
        agent_id: "id".into(),
        ephemeral_id: "e".into(),
        shipper: EventConfig::default(),
    };
    let collector = Collector::with_source(config, identity, source);
    let metrics = AgentMetrics::new();
    let (sampler, stopper) = Sampler::new(collector, Arc::clone(&metrics));
    let (mut tx, rx) = std_mpsc::channel();
    let sampling = std::thread::spawn(move || sampler.run(&mut tx));

    // Phase 1: the hung call blocks; wait for filesystem rounds after the timeout.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut memory_at, mut filesystem_rounds) = (Vec::new(), Vec::new());
    while filesystem_rounds.len() < 5 {
        let batch = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("filesystem rounds resume after the timeout");
        match batch[0].metricset() {
            Some(Metricset::Memory) => memory_at.push(batch[0].timestamp),
            _ => filesystem_rounds.push(mount_points(&batch)),
        }
    }
    assert!(
        filesystem_rounds.iter().all(|points| points == &["/"]),
        "the hung mount is skipped, the other reported: {filesystem_rounds:?}"
    );
    assert_eq!(
        hung_calls.load(Ordering::SeqCst),
        1,
        "a hung mount is not called again until its call returns"
    );
    // Memory went on every period while the first filesystem round waited a whole second.
    assert!(memory_at.len() >= 10, "{} memory rounds", memory_at.len());
    let longest_gap = memory_at
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).num_milliseconds())
        .max()
        .expect("several memory rounds");
    assert!(
        longest_gap < 500,
        "memory waited {longest_gap} ms between rounds"
    );

    // Phase 2: the hung call returns; the mount is reported again.
    release.send(()).expect("release the hung call");
    loop {
        let batch = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the mount comes back");
        if mount_points(&batch).iter().any(|p| p == "/hung") {
            break;
        }
    }
    drop(stopper);
    sampling.join().expect("sampler stops and does not panic");
    assert_eq!(metrics.rounds_failed(Metricset::Filesystem), 0);
    assert_eq!(metrics.rounds_failed(Metricset::Memory), 0);
}
