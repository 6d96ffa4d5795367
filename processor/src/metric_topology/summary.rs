//! Per-window summaries, pure: what `[summaries]` writes for each host and closed window.
//!
//! A [`HostSummary`] is the aggregate of one host's samples in one window (kept in the window
//! store as JSON, so its changelog is readable); [`HostSummary::render`] writes the record:
//! `{"host":{"name":"web-1"},"window":{"start":…,"end":…},"cpu":{"norm":{"avg":…,"min":…,"max":…}},"samples":6}`,
//! with `memory` (`system.memory.actual.used.pct`) likewise when the window had memory samples,
//! values rounded to 4 decimals as Metricbeat rounds its percentages. `samples` counts the cpu
//! samples.

use std::time::Duration;

use ferrobeat_schema::numeric::{format_timestamp_millis, round4};
use ferrobeat_toolbox::config::humantime_serde;
use serde::{Deserialize, Serialize};

/// `[summaries]`: one record per host and closed window; off unless `topic` is set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SummariesConfig {
    /// Where summaries go (e.g. `metric.cpu.1m`); none: no summaries.
    pub topic: Option<String>,
    /// The windows' size, aligned to the epoch (default `1m`).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long after a window's end a late sample still counts (default `10s`).
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// After this much wall-clock time without a sample, a task's stream time follows the
    /// clock, so that the last windows of hosts that stopped still close (default `30s`).
    #[serde(with = "humantime_serde")]
    pub close_idle: Duration,
}

impl Default for SummariesConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl SummariesConfig {
    /// The defaults: no summaries; one-minute windows with 10 s of grace once a topic is set.
    pub const DEFAULT: SummariesConfig = SummariesConfig {
        topic: None,
        window: Duration::from_secs(60),
        grace: Duration::from_secs(10),
        close_idle: Duration::from_secs(30),
    };

    /// Checks what a type cannot: a window of whole milliseconds, at least a second long, and
    /// a `close_idle` of at least a second.
    ///
    /// # Errors
    /// The refused key (within `[summaries]`) and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let shown = |duration| humantime_serde::re::humantime::format_duration(duration);
        if self.window < Duration::from_secs(1)
            || !self.window.subsec_nanos().is_multiple_of(1_000_000)
        {
            return Err((
                "window",
                format!(
                    "{} is not a window: give at least 1s, in whole milliseconds",
                    shown(self.window)
                ),
            ));
        }
        if self.close_idle < Duration::from_secs(1) {
            return Err((
                "close_idle",
                format!("{} is too short: give at least 1s", shown(self.close_idle)),
            ));
        }
        Ok(())
    }
}

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
    fn summaries_config_reads_durations_and_refuses_what_cannot_work() {
        let config: SummariesConfig =
            toml::from_str("topic = \"metric.cpu.5m\"\nwindow = \"5m\"").expect("valid");
        assert_eq!(config.topic.as_deref(), Some("metric.cpu.5m"));
        assert_eq!(config.window, Duration::from_secs(300));
        assert_eq!(config.grace, Duration::from_secs(10));
        assert_eq!(config.validate(), Ok(()));
        let tiny = SummariesConfig {
            window: Duration::from_millis(500),
            ..SummariesConfig::default()
        };
        assert_eq!(tiny.validate().map_err(|(key, _)| key), Err("window"));
        let idle = SummariesConfig {
            close_idle: Duration::ZERO,
            ..SummariesConfig::default()
        };
        assert_eq!(idle.validate().map_err(|(key, _)| key), Err("close_idle"));
        assert!(toml::from_str::<SummariesConfig>("size = \"1m\"").is_err());
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
