//! Recorded `/proc` snapshots → exact expected events, for every metricset.
//!
//! `fixtures/real/{a,b}` were recorded 3 s apart on the development machine; the expected
//! events in `fixtures/real/expected` were computed independently of this crate by
//! `fixtures/make_expected.py` from Metricbeat's formulas. Each file holds the events of the
//! first round (snapshot a) and of the second (snapshot b).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferrobeat_agent::collect::{
    AGENT_VERSION, CollectConfig, CpuMetric, EventConfig, EventMaker, Identity, Round,
};
use ferrobeat_agent::snapshot::{MountUsage, Snapshot};
use ferrobeat_agent::source::{is_reported, parse};
use ferrobeat_schema::{Event, Metricset};

fn fixture(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn identity() -> Identity {
    Identity {
        host_name: "fixture-host".into(),
        agent_name: "fixture-agent".into(),
        agent_id: "agent-id-1".into(),
        ephemeral_id: "ephemeral-1".into(),
        shipper: EventConfig::default(),
    }
}

fn maker() -> EventMaker {
    let config = CollectConfig {
        metricsets: Metricset::ALL.to_vec(),
        cpu_metrics: vec![
            CpuMetric::Percentages,
            CpuMetric::NormalizedPercentages,
            CpuMetric::Ticks,
        ],
        ..CollectConfig::default()
    };
    EventMaker::new(identity(), &config)
}

/// Round `index` (0 for snapshot a, 1 for b), the rounds 3 s apart as recorded.
fn round(index: u32) -> Round {
    let first: DateTime<Utc> = "2025-01-31T07:55:26.555Z".parse().expect("valid time");
    Round {
        period: Duration::from_secs(10),
        at: first + Duration::from_secs(3) * index,
        duration: Duration::from_nanos(1_234_567),
    }
}

fn expected(metricset: Metricset) -> serde_json::Value {
    let text =
        fixture(&format!("real/expected/{metricset}.json")).replace("@VERSION@", AGENT_VERSION);
    serde_json::from_str(&text).expect("expected events are JSON")
}

/// Feeds both snapshots to one maker and compares both rounds' events with the expectation.
fn assert_rounds(metricset: Metricset, snapshots: [Snapshot; 2]) {
    let mut maker = maker();
    let rounds: Vec<Vec<Event>> = snapshots
        .into_iter()
        .zip(0..)
        .map(|(s, index)| {
            maker
                .events(&round(index), s)
                .expect("both rounds produce events")
        })
        .collect();
    let actual = serde_json::to_value(&rounds).expect("events serialise");
    let expected = expected(metricset);
    assert_eq!(
        actual,
        expected,
        "{metricset}: actual\n{}",
        serde_json::to_string_pretty(&actual).unwrap_or_default()
    );
    // Every event also survives the schema crate's own round trip.
    for event in rounds.iter().flatten() {
        let bytes = ferrobeat_schema::to_vec(event);
        assert_eq!(
            &ferrobeat_schema::from_slice(&bytes).expect("reparses"),
            event
        );
    }
}

fn snapshot(metricset: Metricset, dir: &str) -> Snapshot {
    let text = |file: &str| fixture(&format!("real/{dir}/{file}"));
    let parsed = match metricset {
        Metricset::Cpu => parse::parse_stat(&text("stat")).map(Snapshot::Cpu),
        Metricset::Memory => parse::parse_meminfo(&text("meminfo")).map(Snapshot::Memory),
        Metricset::Network => {
            let mut out = Vec::new();
            parse::parse_net_dev(&text("net/dev"), &mut out).map(|()| Snapshot::Network(out))
        }
        Metricset::Diskio => {
            let mut out = Vec::new();
            parse::parse_diskstats(&text("diskstats"), &mut out).map(|()| Snapshot::Diskio(out))
        }
        Metricset::Load => parse::parse_loadavg(&text("loadavg")).and_then(|mut load| {
            load.cores = parse::parse_stat(&text("stat"))?.cores;
            Ok(Snapshot::Load(load))
        }),
        Metricset::Filesystem => unreachable!("filesystem has its own test"),
    };
    parsed.unwrap_or_else(|e| panic!("fixture {dir} of {metricset}: {e}"))
}

#[test]
fn cpu_first_round_is_since_boot_then_deltas() {
    let m = Metricset::Cpu;
    assert_rounds(m, [snapshot(m, "a"), snapshot(m, "b")]);
}

#[test]
fn memory_from_meminfo() {
    let m = Metricset::Memory;
    assert_rounds(m, [snapshot(m, "a"), snapshot(m, "b")]);
}

// Fixture tests alike in shape: each metricset has its own fixture and expectations.
#[test]
fn network_per_interface_then_host_summary() {
    let m = Metricset::Network;
    assert_rounds(m, [snapshot(m, "a"), snapshot(m, "b")]);
}

#[test]
fn diskio_per_device_then_host_summary() {
    let m = Metricset::Diskio;
    assert_rounds(m, [snapshot(m, "a"), snapshot(m, "b")]);
}

#[test]
fn load_with_norm() {
    let m = Metricset::Load;
    assert_rounds(m, [snapshot(m, "a"), snapshot(m, "b")]);
}

/// The recorded mounts, every one given the recorded `statvfs` of `/`.
fn filesystem_snapshot() -> Snapshot {
    let mut mounts = Vec::new();
    parse::parse_mounts(&fixture("real/mounts"), &mut mounts).expect("mounts parse");
    let ignored = parse::parse_nodev_types(&fixture("real/filesystems"));
    let statvfs: Vec<u64> = fixture("real/statvfs-root")
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    let usages: Vec<MountUsage> = mounts
        .into_iter()
        .filter(|m| is_reported(m, &ignored))
        .map(|mount| MountUsage {
            mount,
            block_size: statvfs[0],
            blocks: statvfs[1],
            blocks_free: statvfs[2],
            blocks_available: statvfs[3],
            files: statvfs[4],
            files_free: statvfs[5],
        })
        .collect();
    Snapshot::Filesystem(usages)
}

#[test]
fn filesystem_reports_real_mounts_only() {
    let events = maker()
        .events(&round(0), filesystem_snapshot())
        .expect("filesystem never fails");
    let actual = serde_json::to_value([events]).expect("events serialise");
    assert_eq!(actual, expected(Metricset::Filesystem));
}

#[test]
fn proc_source_reads_a_recorded_tree() {
    // The adapter reads the same files as the parsers above, below any root.
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/b");
    let mut source = ferrobeat_agent::source::ProcSource::new(root, Vec::new());
    for metricset in [
        Metricset::Cpu,
        Metricset::Memory,
        Metricset::Network,
        Metricset::Diskio,
        Metricset::Load,
    ] {
        let read = source.read(metricset).expect("recorded tree reads");
        assert_eq!(read, snapshot(metricset, "b"));
    }
    let err = source
        .read(Metricset::Filesystem)
        .expect_err("no filesystems file recorded there");
    assert!(err.to_string().contains("real/b/filesystems"), "{err}");
}

/// The field paths of Metricbeat 8.x's reference (`fixtures/metricbeat-8-fields.txt`).
fn metricbeat_fields() -> BTreeSet<String> {
    fixture("metricbeat-8-fields.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The dotted paths of `value`'s leaves (members that are not objects) missing from `known`.
fn unknown_fields(value: &serde_json::Value, known: &BTreeSet<String>) -> Vec<String> {
    fn walk(
        value: &serde_json::Value,
        path: &str,
        known: &BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        match value.as_object() {
            Some(members) => {
                for (name, member) in members {
                    let path = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    walk(member, &path, known, out);
                }
            }
            None if known.contains(path) => {}
            None => out.push(path.to_owned()),
        }
    }
    let mut out = Vec::new();
    walk(value, "", known, &mut out);
    out
}

#[test]
fn every_field_is_in_metricbeats_reference() {
    let known = metricbeat_fields();
    let mut maker = maker();
    let mut events = Vec::new();
    for (index, dir) in [(0, "a"), (1, "b")] {
        for metricset in Metricset::ALL {
            let snapshot = match metricset {
                Metricset::Filesystem => filesystem_snapshot(),
                _ => snapshot(metricset, dir),
            };
            events.extend(maker.events(&round(index), snapshot).expect("events"));
        }
    }
    let mut seen = BTreeSet::new();
    for event in &events {
        let value = serde_json::to_value(event).expect("serialises");
        let unknown = unknown_fields(&value, &known);
        assert!(
            unknown.is_empty(),
            "not in Metricbeat 8.x's reference: {unknown:?} in {value}"
        );
        seen.insert(event.metricset.name.clone());
    }
    assert_eq!(
        seen.len(),
        Metricset::ALL.len(),
        "every metricset was checked: {seen:?}"
    );
    assert!(
        events.iter().any(|e| e.host.network.is_some())
            && events.iter().any(|e| e.host.disk.is_some()),
        "the second round's host summaries were checked"
    );
}

#[test]
fn the_reference_check_catches_a_renamed_field() {
    let known = metricbeat_fields();
    let event = serde_json::json!({
        "@timestamp": "2025-01-31T07:55:26.555Z",
        "metricset": {"name": "diskio", "period": 10000},
        "system": {"diskio": {"name": "sda", "serial": "S3EV", "io": {"ops": 0},
                              "iostat": {"busy": 0.0}}},
    });
    assert_eq!(
        unknown_fields(&event, &known),
        ["system.diskio.iostat.busy", "system.diskio.serial"]
    );
    assert!(
        known.contains("system.diskio.serial_number"),
        "the 8.x name is known"
    );
}
