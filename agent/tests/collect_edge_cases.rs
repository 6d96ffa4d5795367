//! Hand-made `/proc` snapshots for the cases a recording rarely shows: counter reset and
//! wrap-around, zero elapsed time, an old kernel's missing fields, interfaces and devices
//! that come and go.

use std::path::Path;
use std::time::Duration;

use ferrobeat_agent::collect::cpu::CpuDeltaError;
use ferrobeat_agent::collect::{CollectConfig, EventConfig, EventMaker, Identity, Round};
use ferrobeat_agent::snapshot::Snapshot;
use ferrobeat_agent::source::parse;
use ferrobeat_schema::metricsets::{Cpu, Memory, Norm, Used};
use ferrobeat_schema::{Event, HostDisk, HostDiskBytes, HostNetwork, HostNetworkCounters, System};

// Reads a fixture like collect_fixtures.rs: separate test crates.
fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn maker() -> EventMaker {
    let identity = Identity {
        host_name: "edge".into(),
        agent_name: "edge".into(),
        agent_id: "id".into(),
        ephemeral_id: "eph".into(),
        shipper: EventConfig::default(),
    };
    EventMaker::new(identity, &CollectConfig::default())
}

fn round() -> Round {
    Round {
        period: Duration::from_secs(10),
        at: chrono::Utc::now(),
        duration: Duration::from_micros(50),
    }
}

fn cpu(file: &str) -> Snapshot {
    Snapshot::Cpu(parse::parse_stat(&fixture(file)).expect("stat fixture parses"))
}

fn cpu_doc(events: &[Event]) -> &Cpu {
    match events {
        [
            Event {
                system: Some(System::Cpu(cpu)),
                ..
            },
        ] => cpu,
        other => panic!("expected one cpu event, got {other:?}"),
    }
}

// Edge-case tests alike in shape: each feeds other fixtures and checks another refusal.
#[test]
fn cpu_counter_reset_is_refused_then_sampling_resumes() {
    let mut maker = maker();
    maker
        .events(&round(), cpu("real/b/stat"))
        .expect("first round since boot");
    let err = maker
        .events(&round(), cpu("edge/stat-after-reset"))
        .expect_err("went backwards");
    assert!(
        matches!(
            err,
            CpuDeltaError::CountersWentBackwards { current: 100, .. }
        ),
        "{err}"
    );
    let events = maker
        .events(&round(), cpu("edge/stat-after-reset-b"))
        .expect("resumes");
    let cpu = cpu_doc(&events);
    // Δ user 20, system 10, idle 60, iowait 10 of 100 ticks on 2 cores.
    assert_eq!(cpu.total.pct, Some(0.6));
    assert_eq!(cpu.total.norm, Some(Norm { pct: 0.3 }));
    assert_eq!(cpu.idle.and_then(|s| s.pct), Some(1.2));
    assert_eq!(cpu.iowait.and_then(|s| s.norm), Some(Norm { pct: 0.1 }));
    assert_eq!(events[0].host.cpu.map(|c| c.usage), Some(0.3));
}

#[test]
fn cpu_zero_delta_is_refused() {
    let mut maker = maker();
    maker
        .events(&round(), cpu("real/a/stat"))
        .expect("first round");
    let err = maker
        .events(&round(), cpu("real/a/stat"))
        .expect_err("no time elapsed");
    assert!(matches!(err, CpuDeltaError::NoTimeElapsed { .. }), "{err}");
    assert!(err.to_string().contains("no CPU time elapsed"));
}

#[test]
fn cpu_old_kernel_reports_only_its_states() {
    let mut maker = maker();
    maker
        .events(&round(), cpu("edge/stat-old-kernel-a"))
        .expect("first round");
    let events = maker
        .events(&round(), cpu("edge/stat-old-kernel-b"))
        .expect("second round");
    let cpu = cpu_doc(&events);
    let states: Vec<&str> = cpu.states().map(|(name, _)| name).collect();
    assert_eq!(states, ["user", "system", "idle", "nice"]);
    // No iowait: busy = cores − idle only. Δ user 60, system 20, idle 20 on 1 core.
    assert_eq!(cpu.total.pct, Some(0.8));
    assert_eq!(cpu.user.and_then(|s| s.pct), Some(0.6));
    assert_eq!(
        cpu.user.and_then(|s| s.ticks),
        None,
        "ticks are off by default"
    );
}

#[test]
fn network_wraps_and_interfaces_that_come_and_go() {
    let mut maker = maker();
    let read = |file: &str| {
        let mut out = Vec::new();
        parse::parse_net_dev(&fixture(file), &mut out).expect("net/dev fixture parses");
        Snapshot::Network(out)
    };
    let first = maker
        .events(&round(), read("edge/net-dev-a"))
        .expect("first round");
    assert_eq!(
        first.len(),
        2,
        "two interfaces, no summary on the first round"
    );
    assert!(first.iter().all(|e| e.host.network.is_none()));
    let second = maker
        .events(&round(), read("edge/net-dev-b"))
        .expect("second round");
    let names: Vec<_> = second
        .iter()
        .filter_map(|e| match &e.system {
            Some(System::Network(n)) => Some(n.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["eth0", "eth2"]);
    let summary = second.last().and_then(|e| e.host.network);
    // eth0 only: received bytes wrapped at 2^32 (4294967290 → 5: 11), sent bytes at 2^64
    // (18446744073709551000 → 100: 716); eth1 vanished, eth2 is new.
    let expected = HostNetwork {
        ingress: HostNetworkCounters {
            bytes: 11,
            packets: 2,
        },
        egress: HostNetworkCounters {
            bytes: 716,
            packets: 5,
        },
    };
    assert_eq!(summary, Some(expected));
    assert!(
        second
            .last()
            .is_some_and(|e| e.system.is_none() && e.metricset.name == "network")
    );
}

#[test]
fn diskio_wraps_and_devices_that_vanish() {
    let mut maker = maker();
    let read = |file: &str| {
        let mut out = Vec::new();
        parse::parse_diskstats(&fixture(file), &mut out).expect("diskstats fixture parses");
        Snapshot::Diskio(out)
    };
    maker
        .events(&round(), read("edge/diskstats-a"))
        .expect("first round");
    let second = maker
        .events(&round(), read("edge/diskstats-b"))
        .expect("second round");
    assert_eq!(second.len(), 2, "sdb and the summary");
    let Some(System::Diskio(sdb)) = &second[0].system else {
        panic!("per-device event first: {:?}", second[0]);
    };
    assert_eq!(
        (sdb.read.bytes, sdb.write.bytes, sdb.io.time),
        (9 * 512, 60 * 512, 4)
    );
    // sdb: sectors read wrapped at 2^32 (4294967295 → 9: 10), written 50 → 60; sda is gone.
    let expected = HostDisk {
        read: HostDiskBytes { bytes: 10 * 512 },
        write: HostDiskBytes { bytes: 10 * 512 },
    };
    assert_eq!(second[1].host.disk, Some(expected));
}

#[test]
fn memory_on_a_kernel_without_mem_available() {
    let info = parse::parse_meminfo(&fixture("edge/meminfo-old-kernel")).expect("parses");
    let events = maker()
        .events(&round(), Snapshot::Memory(info))
        .expect("memory never fails");
    let Some(System::Memory(memory)) = &events[0].system else {
        panic!("memory event expected: {events:?}");
    };
    let expected = Memory {
        total: 1_024_000,
        used: Used {
            bytes: 921_600,
            pct: 0.9,
        },
        free: 102_400,
        cached: Some(256_000),
        actual: ferrobeat_schema::metricsets::ActualMemory {
            free: 409_600,
            used: Used {
                bytes: 614_400,
                pct: 0.6,
            },
        },
        swap: ferrobeat_schema::metricsets::Swap {
            total: 409_600,
            used: Used {
                bytes: 307_200,
                pct: 0.75,
            },
            free: 102_400,
        },
    };
    assert_eq!(memory, &expected);
}
