//! What the metric topology's driver tests share: the mission's documents and the driver with
//! the processor's error handling.

#![allow(dead_code)] // each test crate uses a different part

use ferrobeat_processor::config::ErrorsConfig;
use ferrobeat_schema::numeric::format_timestamp_millis;
use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};

/// A driver with the processor's default error handling (dead letters to `metric.dlq`).
pub(crate) fn driver(topology: ferrobeat_streams::Topology) -> TopologyTestDriver {
    TopologyTestDriver::with_error_handling(topology, ErrorsConfig::default().handling())
}

/// The cpu event of the mission, verbatim (total.norm.pct 0.1889: no alert).
pub(crate) const CPU_EVENT: &str = r#"{"@timestamp":"2025-01-31T07:55:26.555Z","@metadata":{"beat":"metricbeat","type":"_doc","version":"8.17.1"},"service":{"type":"system"},"system":{"cpu":{"idle":{"pct":8.1113,"norm":{"pct":0.8111}},"nice":{"pct":0,"norm":{"pct":0}},"cores":10,"total":{"pct":1.8887,"norm":{"pct":0.1889}},"user":{"norm":{"pct":0.1148},"pct":1.1476},"system":{"pct":0.7411,"norm":{"pct":0.0741}}}},"host":{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"},"event":{"dataset":"system.cpu","module":"system","duration":2847417},"ecs":{"version":"8.0.0"},"agent":{"name":"Aaronui-MacBookPro.local","type":"metricbeat","version":"8.17.1","ephemeral_id":"abcd-efgh-1234-5678","id":"abcdefghijk-1234567-ababna"},"metricset":{"period":10000,"name":"cpu"}}"#;

/// The memory event of the mission, verbatim.
pub(crate) const MEMORY_EVENT: &str = r#"{"@timestamp":"2025-01-31T07:55:28.919Z","@metadata":{"beat":"metricbeat","type":"_doc","version":"8.17.1"},"event":{"duration":1807750,"dataset":"system.memory","module":"system"},"metricset":{"name":"memory","period":10000},"service":{"type":"system"},"system":{"memory":{"total":17179869184,"used":{"pct":0.9976,"bytes":17138380800},"free":41488384,"actual":{"free":763154432,"used":{"bytes":16416714752,"pct":0.9556}},"swap":{"used":{"bytes":11371479040,"pct":0.8825},"free":1513422848,"total":12884901888}}},"ecs":{"version":"8.0.0"},"host":{"name":"Aaronui-MacBookPro.local"},"agent":{"name":"Aaronui-MacBookPro.local","type":"metricbeat","version":"8.17.1","ephemeral_id":"abcd-efgh-1234-5678","id":"abcdefghijk-1234567-ababna"}}"#;

/// The alert of the mission, verbatim.
pub(crate) const MISSION_ALERT: &str = r#"{"cpu":{"usage":0.8586},"name":"Aaronui-MacBookPro.local","timestamp":"2025-01-31T08:00:26.557Z"}"#;

/// The mission's cpu event as it was at 08:00:26.557, when the cpu ran hot (0.8586).
pub(crate) fn hot_cpu_event() -> String {
    CPU_EVENT
        .replace("07:55:26.555Z", "08:00:26.557Z")
        .replace(
            r#""total":{"pct":1.8887,"norm":{"pct":0.1889}}"#,
            r#""total":{"pct":8.586,"norm":{"pct":0.8586}}"#,
        )
        .replace(r#""usage":0.1889"#, r#""usage":0.8586"#)
}

/// A cpu event with this `system.cpu.total.norm.pct` spelled as given.
pub(crate) fn cpu_event_with_norm_pct(pct: &str) -> String {
    CPU_EVENT.replace(
        r#""norm":{"pct":0.1889}"#,
        &format!(r#""norm":{{"pct":{pct}}}"#),
    )
}

/// 2025-01-31T08:00:00.000Z, in milliseconds since the epoch.
pub(crate) const EIGHT_AM: i64 = 1_738_310_400_000;

/// `event` of host `host` at `at` (its `@timestamp` and the record's timestamp), `from` being
/// the event's own `@timestamp`.
fn at_time(event: &str, from: &str, host: &str, at: i64) -> TestRecord {
    let timestamp = format_timestamp_millis(at).expect("a time in range");
    let value = event
        .replace(from, &timestamp)
        .replace("Aaronui-MacBookPro.local", host);
    TestRecord::from_value(value).with_timestamp(at)
}

/// The mission's cpu event of `host` at `at`, its `total.norm.pct` and `host.cpu.usage` `pct`.
pub(crate) fn cpu_sample(host: &str, at: i64, pct: f64) -> TestRecord {
    let event = cpu_event_with_norm_pct(&pct.to_string())
        .replace(r#""usage":0.1889"#, &format!(r#""usage":{pct}"#));
    at_time(&event, "2025-01-31T07:55:26.555Z", host, at)
}

/// The mission's memory event of `host` at `at`, its `actual.used.pct` `pct`.
pub(crate) fn memory_sample(host: &str, at: i64, pct: f64) -> TestRecord {
    let event = MEMORY_EVENT.replace(r#""pct":0.9556"#, &format!(r#""pct":{pct}"#));
    at_time(&event, "2025-01-31T07:55:28.919Z", host, at)
}

/// `at` (ms since the epoch) as `@timestamp` carries it.
pub(crate) fn format_at(at: i64) -> String {
    format_timestamp_millis(at).expect("a time in range")
}
