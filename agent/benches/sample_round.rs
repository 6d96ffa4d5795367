//! Footprint of collection on this machine: CPU time per sample round of
//! cpu + memory + network + diskio, and the process's peak RSS.
//!
//! Run with `cargo bench -p ferrobeat-agent --bench sample_round`. Prints the figures and
//! exits with status 1 when a target (≤ 1 ms CPU per round, ≤ 8 MB peak RSS) is missed.
//! CPU time is the thread's on-CPU time from `/proc/thread-self/schedstat` (nanoseconds);
//! peak RSS is `VmHWM` from `/proc/self/status`. Linux only.

use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use ferrobeat_agent::collect::{CollectConfig, EventConfig, Identity};
use ferrobeat_agent::sample::Collector;
use ferrobeat_schema::Metricset;

const ROUNDS: u32 = 1_000;
const METRICSETS: [Metricset; 4] = [
    Metricset::Cpu,
    Metricset::Memory,
    Metricset::Network,
    Metricset::Diskio,
];
const TARGET_CPU_PER_ROUND: Duration = Duration::from_millis(1);
const TARGET_PEAK_RSS_KB: u64 = 8 * 1024;

/// What the bench measured.
struct Figures {
    collect_only: Duration,
    with_json: Duration,
    json_bytes_per_round: usize,
    by_metricset: [(Metricset, Duration); 4],
    failures: u32,
    peak_rss_kb: u64,
}

/// A collector of the bench's metricsets with a fixed identity.
fn bench_collector() -> Collector {
    let config = CollectConfig {
        metricsets: METRICSETS.to_vec(),
        ..CollectConfig::default()
    };
    let identity = Identity {
        host_name: "bench-host".into(),
        agent_name: "bench-agent".into(),
        agent_id: "bench-id".into(),
        ephemeral_id: "bench-ephemeral".into(),
        shipper: EventConfig::default(),
    };
    Collector::new(config, identity)
}

fn main() -> ExitCode {
    if report(&measure()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the rounds and reads the figures.
fn measure() -> Figures {
    let mut collector = bench_collector();
    // Pauses between rounds longer than a tick (10 ms at USER_HZ 100), so every cpu round
    // has elapsed ticks and does its full arithmetic; sleeping is not on-CPU time.
    let mut failures = 0u32;
    let mut round = |serialise: bool| -> usize {
        std::thread::sleep(Duration::from_millis(11));
        let mut bytes = 0;
        for metricset in METRICSETS {
            match collector.collect(metricset, Utc::now()) {
                Ok(events) if serialise => {
                    bytes += events
                        .iter()
                        .map(|e| ferrobeat_schema::to_vec(e).len())
                        .sum::<usize>();
                }
                Ok(_) => {}
                Err(error) => {
                    failures += 1;
                    if failures <= 3 {
                        eprintln!("round failed: {error}");
                    }
                }
            }
        }
        bytes
    };
    for _ in 0..20 {
        round(true); // warm-up: first rounds, buffers grown
    }

    let collect_only = cpu_time_per_round(|| {
        round(false);
    });
    let mut bytes = 0;
    let with_json = cpu_time_per_round(|| bytes += round(true));
    let peak_rss_kb = status_kb("VmHWM");
    // Each metricset alone, one per wake-up: includes the cost of waking up (which the
    // full round pays once for all four).
    let by_metricset = METRICSETS.map(|metricset| {
        let per_round = cpu_time_per_round(|| {
            std::thread::sleep(Duration::from_millis(11));
            // Failures are counted above; here only the cost matters.
            let _ = collector.collect(metricset, Utc::now());
        });
        (metricset, per_round)
    });
    Figures {
        collect_only,
        with_json,
        json_bytes_per_round: bytes / ROUNDS as usize,
        by_metricset,
        failures,
        peak_rss_kb,
    }
}

/// Prints the figures; returns whether the targets are met.
fn report(figures: &Figures) -> bool {
    let Figures {
        collect_only,
        with_json,
        json_bytes_per_round,
        by_metricset,
        failures,
        peak_rss_kb,
    } = figures;
    println!("sample_round: {ROUNDS} rounds of cpu+memory+network+diskio on this host");
    println!("  CPU time per round, collect only:        {collect_only:>10.1?}");
    println!("  CPU time per round, collect + JSON:      {with_json:>10.1?}");
    println!("  JSON bytes per round:                    {json_bytes_per_round:>10}");
    for (metricset, per_round) in by_metricset {
        println!(
            "  one {:<10} alone per wake-up:        {per_round:>10.1?}",
            metricset.name()
        );
    }
    println!("  failed metricset rounds:                 {failures:>10}");
    println!("  peak RSS (VmHWM):                        {peak_rss_kb:>7} kB");
    let within = *with_json <= TARGET_CPU_PER_ROUND && *peak_rss_kb <= TARGET_PEAK_RSS_KB;
    println!(
        "  targets: ≤ {TARGET_CPU_PER_ROUND:?} CPU per round, ≤ {TARGET_PEAK_RSS_KB} kB peak RSS: {}",
        if within { "met" } else { "MISSED" }
    );
    within
}

/// Average on-CPU time of `round` over [`ROUNDS`] calls.
fn cpu_time_per_round(mut round: impl FnMut()) -> Duration {
    let before = thread_cpu_ns();
    for _ in 0..ROUNDS {
        round();
    }
    Duration::from_nanos((thread_cpu_ns() - before) / u64::from(ROUNDS))
}

/// This thread's time on a CPU so far: the first field of `/proc/thread-self/schedstat`.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat is readable (Linux with schedstats)")
}

/// A `kB` figure of `/proc/self/status`.
fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .expect("/proc/self/status has the figure")
}
