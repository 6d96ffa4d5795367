//! Reading the usage of mounts with a time limit: a `statvfs(2)` on a mount whose server is
//! gone (a hung NFS mount) can block for as long as the mount stays hung, and no signal
//! interrupts it. Each call runs on a helper thread; a mount whose call does not return in
//! time is skipped, and skipped in later rounds until that call returns (as node_exporter
//! does with its stuck mounts). The blocked helper is left behind and a new one serves the
//! other mounts, so there is at most one helper thread per hung mount.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::snapshot::{Mount, MountUsage};

/// How one mount's usage is read: `statvfs(2)` on the host ([`statvfs`]); tests substitute
/// their own.
pub type StatFn = Arc<dyn Fn(&Mount) -> io::Result<MountUsage> + Send + Sync>;

/// How long one mount's `statvfs` may take before the mount is skipped.
pub const DEFAULT_STAT_TIMEOUT: Duration = Duration::from_secs(5);

/// The least time between two warnings about the same hung mount.
const WARN_INTERVAL: Duration = Duration::from_secs(600);

/// Mount points whose call has not returned yet, shared with the helper threads.
type InFlight = Arc<Mutex<HashSet<String>>>;

/// Reads mounts' usage through a [`StatFn`], each call limited to a timeout. See the module
/// documentation.
pub struct MountStat {
    stat: StatFn,
    timeout: Duration,
    in_flight: InFlight,
    helper: Option<Helper>,
    /// When each mount was last reported hung.
    warned_at: HashMap<String, Instant>,
    /// Mounts reported hung whose call has not returned yet.
    hung: HashSet<String>,
}

// Debug by hand: only the telling fields (others hold clients, threads or closures).
impl std::fmt::Debug for MountStat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MountStat")
            .field("timeout", &self.timeout)
            .field("hung", &self.hung)
            .finish_non_exhaustive()
    }
}

/// A helper thread: mounts in, results out.
struct Helper {
    requests: mpsc::Sender<Mount>,
    results: mpsc::Receiver<io::Result<MountUsage>>,
}

impl MountStat {
    /// `statvfs(2)` with [`DEFAULT_STAT_TIMEOUT`].
    pub fn host() -> Self {
        Self::new(Arc::new(statvfs), DEFAULT_STAT_TIMEOUT)
    }

    /// Reads through `stat`, skipping a mount whose call takes longer than `timeout`.
    pub fn new(stat: StatFn, timeout: Duration) -> Self {
        MountStat {
            stat,
            timeout,
            in_flight: Arc::default(),
            helper: None,
            warned_at: HashMap::new(),
            hung: HashSet::new(),
        }
    }

    /// The same reader with no state: for another adapter on another thread.
    pub fn sibling(&self) -> Self {
        Self::new(Arc::clone(&self.stat), self.timeout)
    }

    /// The usage of every mount that answers in time, in order. A mount that cannot be read
    /// (permissions, a stale handle) is skipped, as Metricbeat does; one that does not answer
    /// is skipped and reported (once per mount every ten minutes at most).
    pub fn usages<'a>(&mut self, mounts: impl IntoIterator<Item = &'a Mount>) -> Vec<MountUsage> {
        let mut usages = Vec::new();
        for mount in mounts {
            let point = &mount.mount_point;
            if lock(&self.in_flight).contains(point) {
                tracing::debug!(mount = %point, "file system still not answering; skipped");
                continue;
            }
            match self.stat_in_time(mount) {
                Some(Ok(usage)) => {
                    if self.hung.remove(point) {
                        tracing::info!(mount = %point, "file system answers again");
                    }
                    usages.push(usage);
                }
                Some(Err(error)) => {
                    tracing::debug!(mount = %point, %error, "skipping file system");
                }
                None => self.report_hung(point),
            }
        }
        usages
    }

    /// One mount's result, or `None` when it did not come within the timeout (the helper is
    /// then abandoned to its call).
    fn stat_in_time(&mut self, mount: &Mount) -> Option<io::Result<MountUsage>> {
        lock(&self.in_flight).insert(mount.mount_point.clone());
        let helper = match self.helper.take() {
            Some(helper) => helper,
            None => match Helper::start(Arc::clone(&self.stat), Arc::clone(&self.in_flight)) {
                Ok(helper) => helper,
                Err(error) => {
                    lock(&self.in_flight).remove(&mount.mount_point);
                    return Some(Err(error));
                }
            },
        };
        if helper.requests.send(mount.clone()).is_err() {
            lock(&self.in_flight).remove(&mount.mount_point);
            return Some(Err(io::Error::other("the statvfs helper thread stopped")));
        }
        match helper.results.recv_timeout(self.timeout) {
            Ok(result) => {
                self.helper = Some(helper);
                Some(result)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                Some(Err(io::Error::other("the statvfs helper thread failed")))
            }
        }
    }

    fn report_hung(&mut self, point: &str) {
        self.hung.insert(point.to_owned());
        let now = Instant::now();
        let quiet = self
            .warned_at
            .get(point)
            .is_some_and(|at| now.duration_since(*at) < WARN_INTERVAL);
        if !quiet {
            tracing::warn!(
                mount = %point,
                timeout = ?self.timeout,
                "file system does not answer statvfs; skipped until it does"
            );
            self.warned_at.insert(point.to_owned(), now);
        }
    }
}

impl Helper {
    fn start(stat: StatFn, in_flight: InFlight) -> io::Result<Self> {
        let (requests, inbox) = mpsc::channel::<Mount>();
        let (outbox, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("statvfs".to_owned())
            .spawn(move || {
                for mount in inbox {
                    let result = {
                        let _answered = Answered(&in_flight, &mount.mount_point);
                        stat(&mount)
                    };
                    // The reader stopped waiting (a timeout): this helper is abandoned.
                    if outbox.send(result).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Helper { requests, results })
    }
}

/// Takes a mount out of the in-flight set when its call returns, or unwinds.
struct Answered<'a>(&'a Mutex<HashSet<String>>, &'a str);

impl Drop for Answered<'_> {
    fn drop(&mut self) {
        lock(self.0).remove(self.1);
    }
}

fn lock(set: &Mutex<HashSet<String>>) -> MutexGuard<'_, HashSet<String>> {
    // The set stays consistent whatever panicked while holding it.
    set.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `statvfs(2)` of a mount point.
///
/// # Errors
/// The system call's error.
pub fn statvfs(mount: &Mount) -> io::Result<MountUsage> {
    let stat = rustix::fs::statvfs(mount.mount_point.as_str())?;
    Ok(MountUsage {
        mount: mount.clone(),
        block_size: stat.f_frsize,
        blocks: stat.f_blocks,
        blocks_free: stat.f_bfree,
        blocks_available: stat.f_bavail,
        files: stat.f_files,
        files_free: stat.f_ffree,
    })
}
