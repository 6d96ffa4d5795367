//! The agent beside a Python agent (`--peers`): the real `ferrobeat-agent` and
//! `tests/peers/py_agent.py` (psutil + confluent-kafka, `acks=all`, idempotent) run at the same
//! time on the same broker, each sampling cpu and memory every period (2 events per tick) into a
//! topic of their own; CPU time per tick of all each one's threads over the same window after a
//! warm-up, from `/proc/<pid>/task/*/schedstat`, and peak RSS (`VmHWM`). Both must have delivered
//! their events, read back from the broker, for the figures to count.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use ferrobeat_tests::TestKafka;

use crate::process::{footprint, terminate, threads_cpu_ns};

/// Metricsets both agents sample.
const METRICSETS: &str = "cpu,memory";
/// Events per tick of either agent (one per metricset).
const EVENTS_PER_TICK: usize = 2;
/// The Python agent's `agent.type`, which tells its events from ours.
const PYTHON_AGENT_TYPE: &str = "py-agent";
/// Issue 17's targets: our CPU per tick over the Python agent's, and our peak RSS.
const TARGET_CPU_RATIO: f64 = 0.5;
const TARGET_RSS_KB: u64 = 8 * 1024;

// Plain figure types of the bench: alike in shape only.
/// One agent's figures in the side-by-side run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerFigures {
    /// CPU time per tick (all threads), in µs.
    pub(crate) cpu_per_tick_us: f64,
    /// Peak RSS at the end of the window, in kB.
    pub(crate) peak_rss_kb: u64,
    /// Its threads at the end of the window.
    pub(crate) threads: usize,
    /// Its events found on the broker after it stopped.
    pub(crate) events: usize,
}

/// The side-by-side run's figures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgentPeerReport {
    /// Sampling period of both.
    pub(crate) period: Duration,
    /// Ticks in the measured window.
    pub(crate) ticks: u32,
    /// `ferrobeat-agent`.
    pub(crate) ours: PeerFigures,
    /// The Python agent.
    pub(crate) python: PeerFigures,
}

impl AgentPeerReport {
    /// Our CPU per tick over the Python agent's.
    pub(crate) fn cpu_ratio(&self) -> f64 {
        self.ours.cpu_per_tick_us / self.python.cpu_per_tick_us
    }
}

/// Runs `agent` (the `ferrobeat-agent` binary) and the Python agent side by side on `kafka` for a
/// warm-up plus `ticks` periods of `period`.
pub(crate) fn measure(
    agent: &Path,
    kafka: &TestKafka,
    period: Duration,
    ticks: u32,
    scratch: &Path,
) -> anyhow::Result<AgentPeerReport> {
    let python = crate::peers::python()?;
    let topic = kafka.unique_topic("bench-agent-peers");
    kafka.create_topic(&topic, crate::PARTITIONS)?;
    let ours_log = scratch.join("peer-ferrobeat-agent.log");
    let python_log = scratch.join("peer-py-agent.log");
    let mut ours = Command::new(agent)
        .args(["run", "--bootstrap-servers", kafka.bootstrap_servers()])
        .args([
            "--topic",
            &topic,
            "--metricsets",
            METRICSETS,
            "--log",
            "warn",
        ])
        .args(["--period", &format!("{}ms", period.as_millis())])
        .arg("--data-dir")
        .arg(scratch.join("peer-agent-data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&ours_log).context("creating the agent log")?)
        .spawn()
        .with_context(|| format!("starting {}", agent.display()))?;
    let python_child = Command::new(&python)
        .arg(crate::peers::script("py_agent.py"))
        .args([kafka.bootstrap_servers(), &topic])
        .arg(period.as_secs_f64().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&python_log).context("creating the Python agent log")?)
        .spawn()
        .with_context(|| format!("starting {}", python.display()));
    let mut python_child = match python_child {
        Ok(child) => child,
        Err(error) => {
            terminate(&mut ours, Duration::from_secs(15)).ok();
            return Err(error);
        }
    };
    let measured = window([&ours, &python_child], period, ticks);
    let ours_stopped = terminate(&mut ours, Duration::from_secs(15));
    let python_stopped = terminate(&mut python_child, Duration::from_secs(15));
    let logs = format!(
        "{}{}",
        crate::log_tail(&ours_log),
        crate::log_tail(&python_log)
    );
    let [mut ours, mut python] = measured.with_context(|| logs.clone())?;
    ours_stopped.with_context(|| format!("stopping the agent{logs}"))?;
    python_stopped.with_context(|| format!("stopping the Python agent{logs}"))?;
    (ours.events, python.events) = delivered(kafka, &topic, ticks)?;
    Ok(AgentPeerReport {
        period,
        ticks,
        ours,
        python,
    })
}

/// Both children's CPU per tick and footprint over `ticks` periods after a warm-up.
fn window(children: [&Child; 2], period: Duration, ticks: u32) -> anyhow::Result<[PeerFigures; 2]> {
    // Warm-up: start (Python's imports), connect, the first rounds (cpu needs two samples).
    std::thread::sleep(period * 3);
    let pids = children.map(Child::id);
    let before = [threads_cpu_ns(pids[0])?, threads_cpu_ns(pids[1])?];
    std::thread::sleep(period * ticks);
    let after = [threads_cpu_ns(pids[0])?, threads_cpu_ns(pids[1])?];
    let figures = |i: usize| -> anyhow::Result<PeerFigures> {
        let tasks = format!("/proc/{}/task", pids[i]);
        Ok(PeerFigures {
            cpu_per_tick_us: (after[i] - before[i]) as f64 / 1000.0 / f64::from(ticks),
            peak_rss_kb: footprint(pids[i])?.peak_rss_kb,
            threads: std::fs::read_dir(&tasks)
                .with_context(|| format!("listing {tasks}"))?
                .count(),
            events: 0,
        })
    };
    Ok([figures(0)?, figures(1)?])
}

/// How many events each agent delivered to `topic` (ours, the Python agent's); an error when
/// either delivered fewer than the measured window sampled.
fn delivered(kafka: &TestKafka, topic: &str, ticks: u32) -> anyhow::Result<(usize, usize)> {
    let least = EVENTS_PER_TICK * ticks as usize;
    let records = kafka.read_topic(topic, 2 * least, Duration::from_secs(30))?;
    let python = records
        .iter()
        .filter_map(|record| record.value.as_deref())
        .filter_map(|value| serde_json::from_slice::<serde_json::Value>(value).ok())
        .filter(|event| event["agent"]["type"] == PYTHON_AGENT_TYPE)
        .count();
    let ours = records.len() - python;
    if ours < least || python < least {
        bail!(
            "{topic} holds {ours} events of ferrobeat-agent and {python} of the Python agent; \
             each sampled at least {least}"
        );
    }
    Ok((ours, python))
}

/// The side-by-side run as a Markdown section.
pub(crate) fn render(report: &AgentPeerReport) -> String {
    let AgentPeerReport {
        period,
        ticks,
        ours,
        python,
    } = report;
    let mut out = String::new();
    let row = |out: &mut String, name: &str, figures: &PeerFigures| {
        let _ = writeln!(
            out,
            "| {name} | {:.0} µs | {:.1} MiB | {} | {} |",
            figures.cpu_per_tick_us,
            figures.peak_rss_kb as f64 / 1024.0,
            figures.threads,
            figures.events
        );
    };
    let _ = writeln!(
        out,
        "### Beside a Python agent (`--peers`)\n\n\
         `ferrobeat-agent` and `tests/peers/py_agent.py` (psutil + confluent-kafka, `acks=all`, \
         idempotent, zstd, `linger.ms=100`, as our defaults) at the same time on the same broker, \
         each sampling {METRICSETS} every {} ms (2 events per tick): CPU time of all each one's \
         threads over the same {ticks} ticks after a warm-up, from `/proc/<pid>/task/*/schedstat`, \
         and peak RSS (`VmHWM`); *events* are those each delivered, read back from the broker.\n\n\
         | agent | CPU per tick | peak RSS | threads | events |\n|---|---|---|---|---|",
        period.as_millis()
    );
    row(&mut out, "ferrobeat-agent", ours);
    row(&mut out, "Python (psutil + confluent-kafka)", python);
    let _ = writeln!(
        out,
        "| ferrobeat-agent / Python | {:.2} × | {:.2} × | | |\n",
        report.cpu_ratio(),
        ours.peak_rss_kb as f64 / python.peak_rss_kb as f64
    );
    out
}

/// The targets of issue 17 against the Python agent, as rows of the targets table.
pub(crate) fn target_rows(report: &AgentPeerReport) -> String {
    let ratio = report.cpu_ratio();
    let rss = report.ours.peak_rss_kb;
    format!(
        "| agent ≤ 0.5 × the Python agent's CPU per tick | {ratio:.2} × ({:.0} vs {:.0} µs) | {} |\n\
         | agent peak RSS ≤ 8 MiB beside the Python agent | {:.1} MiB | {} |\n",
        report.ours.cpu_per_tick_us,
        report.python.cpu_per_tick_us,
        crate::report::verdict(ratio <= TARGET_CPU_RATIO),
        rss as f64 / 1024.0,
        crate::report::verdict(rss <= TARGET_RSS_KB),
    )
}
