//! Per-window summaries, pure: what `[summaries]` writes for each host and closed window.
//!
//! A [`HostSummary`] is the aggregate of one host's samples in one window (kept in the window
//! store as JSON, so its changelog is readable); [`HostSummary::render`] writes the record:
//! `{"host":{"name":"web-1"},"window":{"start":…,"end":…},"cpu":{"norm":{"avg":…,"min":…,"max":…}},"samples":6}`,
//! with `memory` (`system.memory.actual.used.pct`) likewise when the window had memory samples,
//! values rounded to 4 decimals as Metricbeat rounds its percentages. `samples` counts the cpu
//! samples.

use ferrobeat_schema::numeric::{format_timestamp_millis, round4};
use serde::{Deserialize, Serialize};

/// Count, sum, minimum and maximum of one value's samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Samples taken.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest (meaningless while `count` is 0).
    pub min: f64,
    /// The largest (meaningless while `count` is 0).
    pub max: f64,
}

impl Stats {
    /// Takes one sample.
    pub fn add(&mut self, value: f64) {
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.sum += value;
    }

    /// Average, minimum and maximum rounded to 4 decimals; `None` without samples.
    fn rendered(&self) -> Option<Rendered> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "sample counts stay far below 2^52"
        )]
        let avg = self.sum / self.count as f64;
        (self.count > 0).then(|| Rendered {
            avg: round4(avg),
            min: round4(self.min),
            max: round4(self.max),
        })
    }
}

/// `{"avg":…,"min":…,"max":…}`.
#[derive(Serialize)]
struct Rendered {
    avg: f64,
    min: f64,
    max: f64,
}

/// The summary record, members in this order.
#[derive(Serialize)]
struct Record<'a> {
    host: Host<'a>,
    window: Window,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<Norm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<Actual>,
    samples: u64,
}

#[derive(Serialize)]
struct Host<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Window {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Serialize)]
struct Norm {
    norm: Rendered,
}

#[derive(Serialize)]
struct Actual {
    actual: Used,
}

#[derive(Serialize)]
struct Used {
    used: Pct,
}

#[derive(Serialize)]
struct Pct {
    pct: Rendered,
}

/// One host's samples in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HostSummary {
    /// `system.cpu.total.norm.pct`.
    pub cpu: Stats,
    /// `system.memory.actual.used.pct`.
    #[serde(default)]
    pub memory: Stats,
}

impl HostSummary {
    /// The summary record of `host` for the window `[start, end)` (milliseconds since the
    /// epoch).
    pub fn render(&self, host: &str, start: i64, end: i64) -> Vec<u8> {
        let record = Record {
            host: Host { name: host },
            window: Window {
                start: format_timestamp_millis(start),
                end: format_timestamp_millis(end),
            },
            cpu: self.cpu.rendered().map(|norm| Norm { norm }),
            memory: self.memory.rendered().map(|pct| Actual {
                actual: Used { used: Pct { pct } },
            }),
            samples: self.cpu.count,
        };
        // Plain structs of strings and finite numbers: serialising cannot fail.
        serde_json::to_vec(&record).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_738_310_400_000; // 2025-01-31T08:00:00.000Z

    #[test]
    fn a_window_of_cpu_samples_renders_avg_min_max_and_count() {
        let mut summary = HostSummary::default();
        for value in [0.4011, 0.8586, 0.6, 0.55, 0.7, 0.564_1] {
            summary.cpu.add(value);
        }
        let record =
            String::from_utf8(summary.render("web-1", START, START + 60_000)).expect("utf-8");
        assert_eq!(
            record,
            r#"{"host":{"name":"web-1"},"window":{"start":"2025-01-31T08:00:00.000Z","end":"2025-01-31T08:01:00.000Z"},"cpu":{"norm":{"avg":0.6123,"min":0.4011,"max":0.8586}},"samples":6}"#
        );
    }

    #[test]
    fn memory_appears_only_when_sampled() {
        let mut summary = HostSummary::default();
        summary.memory.add(0.9556);
        summary.memory.add(0.9);
        let record =
            String::from_utf8(summary.render("db-1", START, START + 60_000)).expect("utf-8");
        assert!(!record.contains("\"cpu\""), "{record}");
        assert!(
            record.ends_with(
                r#""memory":{"actual":{"used":{"pct":{"avg":0.9278,"min":0.9,"max":0.9556}}}},"samples":0}"#
            ),
            "{record}"
        );
    }

    #[test]
    fn the_aggregate_is_a_json_document_that_reads_back() {
        let mut summary = HostSummary::default();
        summary.cpu.add(0.25);
        let json = serde_json::to_string(&summary).expect("serialises");
        assert_eq!(
            serde_json::from_str::<HostSummary>(&json).expect("reads back"),
            summary
        );
    }
}
