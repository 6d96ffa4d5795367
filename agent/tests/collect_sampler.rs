//! The sampler on the real host: cadence, shutdown, failed rounds exported, and one-shot rounds.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrobeat_agent::collect::{CollectConfig, EventConfig, Identity};
use ferrobeat_agent::monitor::AgentMetrics;
use ferrobeat_agent::sample::{Collector, Sampler, Stopper, collect_once, next_due};
use ferrobeat_agent::source::ProcSource;
use ferrobeat_schema::{Event, Metricset, System};

fn identity() -> Identity {
    Identity {
        host_name: "sampler-host".into(),
        agent_name: "sampler-agent".into(),
        agent_id: "id".into(),
        ephemeral_id: "eph".into(),
        shipper: EventConfig::default(),
    }
}

fn config(metricsets: &[Metricset], period: Duration) -> CollectConfig {
    CollectConfig {
        period,
        metricsets: metricsets.to_vec(),
        ..CollectConfig::default()
    }
}

#[test]
fn rounds_stay_on_the_grid_however_late_they_run() {
    let start = Instant::now();
    let period = Duration::from_secs(10);
    // A day of rounds, each finishing up to 9.9 s late: every next round is still exactly
    // on start + k × period.
    let mut due = start;
    for k in 1..=8_640u32 {
        let lateness = Duration::from_millis(u64::from(k * 7_919 % 9_900));
        due = next_due(start, period, due + lateness);
        assert_eq!(due, start + period * k);
    }
    // A stall longer than a period skips the missed rounds instead of bursting.
    let after_stall = next_due(start, period, start + Duration::from_secs(35));
    assert_eq!(after_stall, start + Duration::from_secs(40));
}

/// Receives until `deadline`, returning every batch.
fn drain(rx: &mpsc::Receiver<Vec<Event>>, deadline: Instant) -> Vec<Vec<Event>> {
    let mut batches = Vec::new();
    while let Ok(batch) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        batches.push(batch);
    }
    batches
}

/// Runs a sampler of `collector` on a thread of its own, sending its rounds to a channel.
fn start(
    collector: Collector,
    metrics: &Arc<AgentMetrics>,
) -> (Stopper, JoinHandle<()>, mpsc::Receiver<Vec<Event>>) {
    let (sampler, stopper) = Sampler::new(collector, Arc::clone(metrics));
    let (mut tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || sampler.run(&mut tx));
    (stopper, thread, rx)
}

/// Whether `thread` ends within `bound`.
fn ends_within(thread: JoinHandle<()>, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    thread.join().expect("the sampler does not panic");
    true
}

/// Runs a sampler of `collector` for `window`, then drops its stopper and checks that it ends
/// (saying `stops` if not); returns every batch it sent.
fn sample_for(
    collector: Collector,
    metrics: &Arc<AgentMetrics>,
    window: Duration,
    stops: &str,
) -> Vec<Vec<Event>> {
    let (stopper, sampler, rx) = start(collector, metrics);
    let batches = drain(&rx, Instant::now() + window);
    drop(stopper);
    assert!(ends_within(sampler, Duration::from_secs(2)), "{stops}");
    batches
}

#[test]
fn samples_each_metricset_on_its_period_until_shutdown() {
    let mut config = config(
        &[Metricset::Cpu, Metricset::Memory],
        Duration::from_millis(200),
    );
    config
        .periods
        .insert(Metricset::Memory, Duration::from_millis(500));
    let collector = Collector::new(config, identity());
    let metrics = AgentMetrics::new();
    let batches = sample_for(
        collector,
        &metrics,
        Duration::from_millis(1_100),
        "sampler stops on shutdown",
    );

    // The metricsets due at the same instant come as one round: both at 0 ms.
    let first: Vec<_> = batches[0].iter().map(Event::metricset).collect();
    assert_eq!(first, [Some(Metricset::Cpu), Some(Metricset::Memory)]);
    let events: Vec<&Event> = batches.iter().flatten().collect();
    let count = |m: Metricset| events.iter().filter(|e| e.metricset() == Some(m)).count();
    // 1.1 s: cpu at 0, 200, …, 1000 ms (6 rounds), memory at 0, 500, 1000 ms (3).
    assert!(
        (4..=7).contains(&count(Metricset::Cpu)),
        "cpu rounds: {}",
        count(Metricset::Cpu)
    );
    assert!(
        (2..=4).contains(&count(Metricset::Memory)),
        "memory rounds: {}",
        count(Metricset::Memory)
    );
    assert_eq!(metrics.rounds_failed(Metricset::Cpu), 0);
    assert!(metrics.rounds(Metricset::Cpu) >= count(Metricset::Cpu) as u64);
    for event in events {
        let period = if event.metricset() == Some(Metricset::Memory) {
            500
        } else {
            200
        };
        assert_eq!(event.metricset.period, period);
        assert_eq!(event.host.name, "sampler-host");
        assert!(event.event.duration > 0 && event.event.duration < 1_000_000_000);
        if let Some(System::Cpu(cpu)) = &event.system {
            let usage = cpu.total_norm_pct().expect("normalized by default");
            assert!((0.0..=1.0).contains(&usage), "{usage}");
            assert_eq!(event.host.cpu.map(|c| c.usage), Some(usage));
        }
    }
}

#[test]
fn stopping_does_not_wait_for_the_next_round() {
    let collector = Collector::new(
        config(&[Metricset::Memory], Duration::from_secs(30)),
        identity(),
    );
    let metrics = AgentMetrics::new();
    let (stopper, sampler, rx) = start(collector, &metrics);
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the first round comes at once");
    // The sampler now waits 30 s for its next round: the stop wakes it.
    let stopped = Instant::now();
    drop(stopper);
    assert!(
        ends_within(sampler, Duration::from_secs(2)),
        "sampler stops during its wait"
    );
    assert!(stopped.elapsed() < Duration::from_secs(2));
    assert_eq!(metrics.rounds(Metricset::Memory), 1);
}

#[test]
fn a_failing_metricset_is_counted_and_the_others_go_on() {
    // A /proc copy with only `stat`: cpu works, diskio cannot read `diskstats`.
    let root = tempfile::tempdir().expect("tempdir");
    let stat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/a/stat");
    std::fs::copy(stat, root.path().join("stat")).expect("copy stat");
    let config = config(
        &[Metricset::Cpu, Metricset::Diskio],
        Duration::from_millis(100),
    );
    let source = ProcSource::new(root.path(), Vec::new());
    let collector = Collector::with_source(config, identity(), source);
    let metrics = AgentMetrics::new();
    let batches = sample_for(
        collector,
        &metrics,
        Duration::from_millis(450),
        "sampler stops when its stopper is dropped",
    );

    // The copied `stat` never changes: only the first cpu round (since boot) has events,
    // the others fail with "no CPU time elapsed" and are counted like the diskio rounds.
    assert_eq!(batches.len(), 1, "{batches:?}");
    let (diskio_failed, cpu_failed) = (
        metrics.rounds_failed(Metricset::Diskio),
        metrics.rounds_failed(Metricset::Cpu),
    );
    assert!(diskio_failed >= 3, "{diskio_failed}");
    assert_eq!(metrics.rounds(Metricset::Diskio), diskio_failed);
    assert!(cpu_failed >= 2, "{cpu_failed}");
    assert_eq!(metrics.rounds(Metricset::Cpu), cpu_failed + 1);
    // The failures are exported on the agent's /metrics.
    let text = metrics.answer("/metrics", false).body;
    for line in [
        format!(
            "ferrobeat_agent_sampling_rounds_failed_total{{metricset=\"diskio\"}} {diskio_failed}"
        ),
        format!("ferrobeat_agent_sampling_rounds_failed_total{{metricset=\"cpu\"}} {cpu_failed}"),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in {text}");
    }
}

#[test]
fn sampling_stops_when_the_receiver_is_gone() {
    let collector = Collector::new(
        config(&[Metricset::Memory], Duration::from_millis(100)),
        identity(),
    );
    let (_stopper, sampler, rx) = start(collector, &AgentMetrics::new());
    drop(rx);
    assert!(
        ends_within(sampler, Duration::from_secs(2)),
        "sampler returns once nobody receives"
    );
}

#[test]
fn once_collects_every_enabled_metricset_of_this_host() {
    let mut collector =
        Collector::new(config(&Metricset::ALL, Duration::from_secs(10)), identity());
    let events = collect_once(&mut collector).expect("this Linux host can be read");
    for metricset in Metricset::ALL {
        assert!(
            events.iter().any(|e| e.metricset() == Some(metricset)),
            "no {metricset} event in {events:?}"
        );
    }
    // First round: no host-level network or disk summary yet, as in Metricbeat.
    assert!(events.iter().all(|e| e.system.is_some()));
    let err = {
        let root = tempfile::tempdir().expect("tempdir");
        let source = ProcSource::new(root.path(), Vec::new());
        let mut empty = Collector::with_source(CollectConfig::default(), identity(), source);
        collect_once(&mut empty).expect_err("an empty /proc cannot be read")
    };
    assert!(err.to_string().starts_with("cpu: reading "), "{err}");
    assert!(
        err.to_string()
            .ends_with("/stat: No such file or directory (os error 2)"),
        "{err}"
    );
}
