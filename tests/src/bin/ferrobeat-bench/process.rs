//! A measured child process: its CPU time and peak RSS from `/proc/<pid>/stat` and
//! `/proc/<pid>/status`, and a graceful stop (SIGTERM, bounded wait, then SIGKILL).

use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// What `/proc` says about a process at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Footprint {
    /// User plus system CPU time so far, in seconds.
    pub(crate) cpu_seconds: f64,
    /// Peak resident set size (`VmHWM`), in kB.
    pub(crate) peak_rss_kb: u64,
}

/// Reads the footprint of the running process `pid`.
pub(crate) fn footprint(pid: u32) -> anyhow::Result<Footprint> {
    let stat_path = format!("/proc/{pid}/stat");
    let stat =
        std::fs::read_to_string(&stat_path).with_context(|| format!("reading {stat_path}"))?;
    let status_path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&status_path).with_context(|| format!("reading {status_path}"))?;
    let ticks = cpu_ticks(&stat).with_context(|| format!("parsing {stat_path}"))?;
    Ok(Footprint {
        cpu_seconds: ticks as f64 / rustix::param::clock_ticks_per_second() as f64,
        peak_rss_kb: status_kb(&status, "VmHWM")
            .with_context(|| format!("parsing {status_path}"))?,
    })
}

/// On-CPU time of every live thread of `pid` so far, in ns: the sum of the first fields of
/// `/proc/<pid>/task/*/schedstat` (finer than the clock ticks of `stat`).
pub(crate) fn threads_cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let tasks = format!("/proc/{pid}/task");
    let mut total = 0;
    for task in std::fs::read_dir(&tasks).with_context(|| format!("listing {tasks}"))? {
        let path = task?.path().join("schedstat");
        // A thread may end between listing and reading.
        let Ok(schedstat) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += first_figure(&schedstat).with_context(|| format!("parsing {}", path.display()))?;
    }
    Ok(total)
}

/// On-CPU time of the calling thread so far, in ns (`/proc/thread-self/schedstat`): unlike the
/// wall clock, it does not count the time other work on the machine held the thread off a core.
pub(crate) fn this_thread_cpu_ns() -> anyhow::Result<u64> {
    const PATH: &str = "/proc/thread-self/schedstat";
    let schedstat = std::fs::read_to_string(PATH).with_context(|| format!("reading {PATH}"))?;
    first_figure(&schedstat).with_context(|| format!("parsing {PATH}"))
}

/// The first whitespace-separated number of a text.
fn first_figure(text: &str) -> anyhow::Result<u64> {
    let first = text.split_whitespace().next().context("empty")?;
    first
        .parse()
        .with_context(|| format!("not a number: {first:?}"))
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let (_, after_name) = stat
        .rsplit_once(')')
        .context("no ')' closing the command name")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state).
    let field = |number: usize| -> anyhow::Result<u64> {
        let text = fields
            .get(number - 3)
            .with_context(|| format!("field {number} missing"))?;
        text.parse()
            .with_context(|| format!("field {number} is not a tick count: {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// The `kB` figure of `key` in a `/proc/<pid>/status` text.
fn status_kb(status: &str, key: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .with_context(|| format!("no {key} line"))?;
    let figure = line
        .split_whitespace()
        .next()
        .with_context(|| format!("{key} has no figure"))?;
    figure
        .parse()
        .with_context(|| format!("{key} is not a kB figure: {figure:?}"))
}

/// Sends SIGTERM to `child` and waits up to `timeout` for it to exit (see [`wait_for_exit`]).
pub(crate) fn terminate(child: &mut Child, timeout: Duration) -> anyhow::Result<()> {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).context("child pid")?;
    // It may have exited already; waiting tells.
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    wait_for_exit(child, timeout)
}

/// Waits up to `timeout` for `child` to exit, then kills it. An error when it had to be killed
/// or exited unsuccessfully.
pub(crate) fn wait_for_exit(child: &mut Child, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("exited with {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    bail!("did not exit within {timeout:?} and was killed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 125 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat).expect("parses"), 375);
        assert!(cpu_ticks("4242 (x) S 1 2").is_err());
        assert!(cpu_ticks("no name here").is_err());
    }

    #[test]
    fn status_figures_are_read_by_key() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(status_kb(status, "VmHWM").expect("present"), 5120);
        assert!(status_kb(status, "VmSwap").is_err());
        assert!(status_kb("VmHWM:\tlots kB", "VmHWM").is_err());
    }

    #[test]
    fn this_process_has_a_footprint_and_uses_cpu() {
        let own = footprint(std::process::id()).expect("own /proc entries");
        assert!(own.peak_rss_kb > 0 && own.cpu_seconds >= 0.0);
        // Spin until schedstat shows 10 ms more CPU: on a loaded machine 20 ms of wall clock
        // can hold less than 10 ms of CPU, so the wall clock only bounds the wait.
        let before = threads_cpu_ns(std::process::id()).expect("own schedstat");
        let spin = std::time::Instant::now();
        let mut after = before;
        while after < before + 10_000_000 && spin.elapsed() < Duration::from_secs(10) {
            std::hint::black_box(spin.elapsed());
            after = threads_cpu_ns(std::process::id()).expect("own schedstat");
        }
        assert!(after >= before + 10_000_000, "{before} → {after} ns");
    }
}
