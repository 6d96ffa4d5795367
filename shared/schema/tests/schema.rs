//! The schema reads real Metricbeat documents and writes Metricbeat's field names.

use ferrobeat_schema::{Event, Metricset, System, from_slice, to_vec};
use serde_json::Value;

fn document(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/documents/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> Event {
    from_slice(&document(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// parse → typed → serialise → parse gives the same event, and every field the schema models is
/// written back under Metricbeat's name with Metricbeat's value.
fn assert_round_trips(name: &str) -> Event {
    let event = parse(name);
    let written = to_vec(&event);
    let again = from_slice(&written).unwrap_or_else(|e| panic!("{name} re-read: {e}"));
    assert_eq!(event, again, "{name}: typed round trip");
    let original: Value = serde_json::from_slice(&document(name)).expect("json");
    let written: Value = serde_json::from_slice(&written).expect("json");
    assert_subset(&written, &original, name);
    event
}

/// Every member of `written` is in `original` with an equal value (numbers compared as f64).
fn assert_subset(written: &Value, original: &Value, at: &str) {
    match (written, original) {
        (Value::Object(w), Value::Object(o)) => {
            for (key, value) in w {
                let path = format!("{at}.{key}");
                let other = o
                    .get(key)
                    .unwrap_or_else(|| panic!("{path} written but not in the original"));
                assert_subset(value, other, &path);
            }
        }
        (Value::Number(w), Value::Number(o)) => assert_eq!(w.as_f64(), o.as_f64(), "{at}"),
        (w, o) => assert_eq!(w, o, "{at}"),
    }
}

// Round-trip tests alike in shape: one per reference document.
#[test]
fn mission_cpu_document_round_trips() {
    let event = assert_round_trips("mission-cpu");
    let Some(System::Cpu(cpu)) = &event.system else {
        panic!("not cpu: {event:?}")
    };
    assert_eq!(cpu.cores, 10);
    assert_eq!(cpu.total_norm_pct(), Some(0.1889));
    assert_eq!(event.host.cpu.map(|c| c.usage), Some(0.1889));
    assert_eq!(event.metricset(), Some(Metricset::Cpu));
    assert_eq!(event.event.duration, 2_847_417);
    // macOS reports only four states: the others stay absent, and are not written.
    assert!(cpu.iowait.is_none() && cpu.steal.is_none());
    let names: Vec<_> = cpu.states().map(|(n, _)| n).collect();
    assert_eq!(names, ["user", "system", "idle", "nice"]);
    let written = String::from_utf8(to_vec(&event)).expect("utf8");
    assert!(!written.contains("iowait"), "{written}");
    assert!(
        written.contains(r#""@timestamp":"2025-01-31T07:55:26.555Z""#),
        "{written}"
    );
}

#[test]
fn mission_memory_document_round_trips() {
    let event = assert_round_trips("mission-memory");
    let Some(System::Memory(memory)) = &event.system else {
        panic!("not memory")
    };
    assert_eq!(memory.total, 17_179_869_184);
    assert_eq!(memory.actual.free, 763_154_432);
    assert_eq!(memory.swap.used.pct, 0.8825);
    assert_eq!(memory.cached, None, "macOS has no cached");
    assert!(event.host.cpu.is_none());
}

#[test]
fn one_document_per_metricset_round_trips() {
    let cases = [
        ("linux-cpu-ticks", Metricset::Cpu),
        ("linux-memory", Metricset::Memory),
        ("linux-network", Metricset::Network),
        ("linux-diskio", Metricset::Diskio),
        ("linux-load", Metricset::Load),
        ("linux-filesystem", Metricset::Filesystem),
    ];
    for (name, metricset) in cases {
        let event = assert_round_trips(name);
        assert_eq!(
            event.system.as_ref().map(System::metricset),
            Some(metricset),
            "{name}"
        );
        assert_eq!(event.event.dataset, metricset.dataset(), "{name}");
    }
}

#[test]
fn cpu_ticks_and_all_linux_states_are_read() {
    let event = parse("linux-cpu-ticks");
    let Some(System::Cpu(cpu)) = event.system else {
        panic!("not cpu")
    };
    assert_eq!(cpu.states().count(), 8);
    assert_eq!(cpu.user.and_then(|s| s.ticks), Some(1_203_311));
    let norm_sum: f64 = cpu
        .states()
        .filter_map(|(_, s)| s.norm)
        .map(|n| n.pct)
        .sum();
    assert!((norm_sum - 1.0).abs() < 1e-9, "{norm_sum}");
}

#[test]
fn unknown_fields_are_tolerated_and_not_written() {
    // A Metricbeat 7.x memory event carries `hugepages`, which 8.x moved to the linux module.
    let text = String::from_utf8(document("linux-memory")).expect("utf8");
    let seven = text.replacen(
        r#""swap":"#,
        r#""hugepages":{"total":0,"used":{"bytes":0,"pct":0},"free":0,"reserved":0,"surplus":0,"default_size":2097152},"swap":"#,
        1,
    );
    assert_ne!(
        seven, text,
        "the document has a swap object to insert before"
    );
    let event = from_slice(seven.as_bytes()).expect("unknown fields are tolerated");
    assert_eq!(event.host.name, "web-1");
    let written = String::from_utf8(to_vec(&event)).expect("utf8");
    assert!(!written.contains("hugepages"), "{written}");
}

#[test]
fn network_summary_event_has_no_system_object() {
    let event = assert_round_trips("linux-network-summary");
    assert!(event.system.is_none());
    let network = event.host.network.expect("host.network");
    assert_eq!((network.ingress.bytes, network.egress.packets), (5212, 38));
    assert_eq!(event.metricset(), Some(Metricset::Network));
}

#[test]
fn field_names_are_metricbeats() {
    let written: Value = serde_json::from_slice(&to_vec(&parse("linux-network"))).expect("json");
    assert!(written.pointer("/system/network/in/bytes").is_some());
    assert!(written.pointer("/system/network/out/dropped").is_some());
    let written: Value = serde_json::from_slice(&to_vec(&parse("linux-load"))).expect("json");
    assert_eq!(written.pointer("/system/load/1"), Some(&Value::from(0.52)));
    assert_eq!(
        written.pointer("/system/load/norm/15"),
        Some(&Value::from(0.175))
    );
    let written: Value = serde_json::from_slice(&to_vec(&parse("linux-diskio"))).expect("json");
    assert_eq!(
        written.pointer("/system/diskio/serial_number"),
        Some(&Value::from("S3EVNX0K812345"))
    );
    assert!(written.pointer("/system/diskio/io/ops").is_some());
    assert!(written.pointer("/@metadata/type").is_some());
    assert!(written.pointer("/agent/ephemeral_id").is_some());
}

#[test]
fn malformed_documents_name_the_field_path() {
    let cpu = String::from_utf8(document("mission-cpu")).expect("utf8");
    let cases: [(String, &str); 6] = [
        (
            cpu.replace(r#""cores":10"#, r#""cores":"ten""#),
            "system.cpu.cores",
        ),
        (
            cpu.replace(r#""total":{"pct":1.8887,"#, r#""total":{"pct":"x","#),
            "system.cpu.total.pct",
        ),
        (
            cpu.replace(
                r#""@timestamp":"2025-01-31T07:55:26.555Z""#,
                r#""@timestamp":"yesterday""#,
            ),
            "@timestamp",
        ),
        (
            cpu.replace(
                r#""host":{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"},"#,
                "",
            ),
            "host",
        ),
        (
            cpu.replace(r#""cpu":{"idle""#, r#""gpu":{"idle""#),
            "system",
        ),
        (
            cpu.replace(r#""duration":2847417"#, r#""duration":-1"#),
            "event.duration",
        ),
    ];
    for (doc, path) in cases {
        let err = from_slice(doc.as_bytes()).expect_err(path);
        assert_eq!(err.path(), path, "{err}");
        assert!(err.to_string().contains(&format!("`{path}`")), "{err}");
    }
    let truncated = &document("mission-cpu")[..100];
    assert!(from_slice(truncated).is_err());
    let trailing = [document("mission-cpu"), b"{}".to_vec()].concat();
    assert!(
        from_slice(&trailing)
            .expect_err("trailing")
            .to_string()
            .contains("trailing")
    );
}
