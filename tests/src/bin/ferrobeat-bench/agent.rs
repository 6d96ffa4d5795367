//! The real agent binary's footprint: run against the test broker sampling cpu, memory, network
//! and diskio every period, CPU time over a steady window after a warm-up divided by the rounds
//! in it, and its peak RSS.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrobeat_tests::TestKafka;

use crate::agent_peer::{self, AgentPeerReport};
use crate::process::{footprint, terminate, threads_cpu_ns};
use crate::report::{self, AgentOnly, Machine};
use crate::{Binaries, Options};

/// Metricsets the agent samples in the run.
pub(crate) const METRICSETS: &str = "cpu,memory,network,diskio";

// Plain figure types of the bench: alike in shape only.
/// Where the agent sends its events in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentOutput {
    /// To the broker (production).
    Kafka,
    /// NDJSON on standard output, discarded: the agent without its Kafka client.
    Stdout,
}

/// The agent's figures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgentReport {
    /// Where its events went.
    pub(crate) output: AgentOutput,
    /// Sampling period.
    pub(crate) period: Duration,
    /// Rounds in the measured window.
    pub(crate) rounds: u32,
    /// CPU time per round (all threads, including the Kafka client's), in µs.
    pub(crate) cpu_per_round_us: f64,
    /// Peak RSS at the end, in kB.
    pub(crate) peak_rss_kb: u64,
}

/// Runs `binary` for a warm-up plus `rounds` periods of `period`, sending to `output` (`topic`
/// on the broker, or standard output).
pub(crate) fn measure(
    binary: &Path,
    (kafka, topic): (&TestKafka, &str),
    output: AgentOutput,
    period: Duration,
    rounds: u32,
    scratch: &Path,
) -> anyhow::Result<AgentReport> {
    let log = scratch.join(format!("agent-{output:?}.log"));
    let mut child = Command::new(binary)
        .args([
            "run",
            "--bootstrap-servers",
            kafka.bootstrap_servers(),
            "--topic",
            topic,
        ])
        .args(["--period", &format!("{}ms", period.as_millis())])
        .args(["--metricsets", METRICSETS, "--log", "warn"])
        .args([
            "--output",
            match output {
                AgentOutput::Kafka => "kafka",
                AgentOutput::Stdout => "stdout",
            },
        ])
        .arg("--data-dir")
        .arg(scratch.join("agent-data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).context("creating the agent log")?)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id();
    let measured = (|| {
        // Warm-up: start, connect, first rounds (the cpu metricset needs two samples).
        std::thread::sleep(period * 3);
        let before = threads_cpu_ns(pid)?;
        std::thread::sleep(period * rounds);
        let after = threads_cpu_ns(pid)?;
        Ok::<_, anyhow::Error>(AgentReport {
            output,
            period,
            rounds,
            cpu_per_round_us: (after - before) as f64 / 1000.0 / f64::from(rounds),
            peak_rss_kb: footprint(pid)?.peak_rss_kb,
        })
    })();
    let stopped = terminate(&mut child, Duration::from_secs(15));
    let report = measured.with_context(|| crate::log_tail(&log))?;
    stopped.with_context(|| format!("stopping the agent{}", crate::log_tail(&log)))?;
    Ok(report)
}

/// `--agent-only`: the agent's footprint (to the broker, then to standard output) and, with
/// `--peers`, the agent beside the Python agent, on a broker of its own; printed and kept as
/// `<date>-agent.txt` under `--runs-dir`.
pub(crate) fn agent_only(options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let binaries = Binaries::locate(!options.no_build)?;
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let kafka = TestKafka::start()?;
    let topic = kafka.unique_topic("bench-agent");
    kafka.create_topic(&topic, crate::PARTITIONS)?;
    let period = Duration::from_millis(options.agent_period_ms);
    let run = |output| {
        eprintln!("agent footprint ({output:?})…");
        measure(
            &binaries.agent,
            (&kafka, &topic),
            output,
            period,
            options.agent_rounds,
            scratch.path(),
        )
    };
    let agent = [run(AgentOutput::Kafka)?, run(AgentOutput::Stdout)?];
    let agent_peer = peers_wanted(&binaries, &kafka, scratch.path(), options)?;
    let text = report::render_agent_only(
        &AgentOnly {
            agent,
            agent_peer,
            run_seconds: started.elapsed().as_secs_f64(),
        },
        &Machine::this(),
    );
    crate::save_report(&text, &options.runs_dir, "agent")
}

/// With `--peers`, the agent beside the Python agent, at the footprint run's period and rounds.
pub(crate) fn peers_wanted(
    binaries: &Binaries,
    kafka: &TestKafka,
    scratch: &Path,
    options: &Options,
) -> anyhow::Result<Option<AgentPeerReport>> {
    if !options.peers {
        return Ok(None);
    }
    eprintln!("agent beside the Python agent…");
    agent_peer::measure(
        &binaries.agent,
        kafka,
        Duration::from_millis(options.agent_period_ms),
        options.agent_rounds,
        scratch,
    )
    .map(Some)
}
