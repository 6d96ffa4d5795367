//! The `[collect]` table of the agent's configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ferrobeat_schema::Metricset;
use serde::{Deserialize, Deserializer};

/// The shortest period a metricset may be sampled at.
pub const MIN_PERIOD: Duration = Duration::from_millis(100);

/// `[collect]`: what to sample and how often. `Default` is Metricbeat's defaults:
/// cpu and memory every 10 s, cpu as percentages and normalised percentages.
///
/// ```toml
/// [collect]
/// period = "10s"
/// metricsets = ["cpu", "memory", "network"]
/// periods = { network = "30s" }
/// cpu_metrics = ["percentages", "normalized_percentages", "ticks"]
/// interfaces = ["eth0"]
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CollectConfig {
    /// Period of every metricset without an override (`"10s"`, `"500ms"`, `"1m"`).
    #[serde(deserialize_with = "deserialize_duration")]
    pub period: Duration,
    /// The enabled metricsets.
    pub metricsets: Vec<Metricset>,
    /// Per-metricset period overrides.
    #[serde(deserialize_with = "deserialize_periods")]
    pub periods: BTreeMap<Metricset, Duration>,
    /// Which cpu figures to report (Metricbeat's `cpu.metrics`).
    pub cpu_metrics: Vec<CpuMetric>,
    /// Network interfaces to report, compared case-insensitively; empty reports all.
    pub interfaces: Vec<String>,
    /// Block devices to report (diskio); empty reports all.
    pub diskio_devices: Vec<String>,
    /// File system types not reported, in addition to the kernel's `nodev` types (proc,
    /// tmpfs, cgroup, …), which are never reported on Linux. (Metricbeat's
    /// `filesystem.ignore_types` replaces the `nodev` default instead.)
    pub filesystem_ignore_types: Vec<String>,
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            period: Duration::from_secs(10),
            metricsets: vec![Metricset::Cpu, Metricset::Memory],
            periods: BTreeMap::new(),
            cpu_metrics: vec![CpuMetric::Percentages, CpuMetric::NormalizedPercentages],
            interfaces: Vec::new(),
            diskio_devices: Vec::new(),
            filesystem_ignore_types: Vec::new(),
        }
    }
}

/// One of Metricbeat's `cpu.metrics` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuMetric {
    /// `pct` per state and total, ranging over `0..cores`.
    Percentages,
    /// `norm.pct` per state and total, ranging over `0..1`.
    NormalizedPercentages,
    /// The cumulative `ticks` counter per state.
    Ticks,
}

/// A `[collect]` value that parsed but makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`collect.{key}`: {reason}")]
pub struct ConfigError {
    /// The offending key, dotted below `collect` (`periods.load`).
    pub key: String,
    /// Why it is refused.
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl CollectConfig {
    /// Checks what serde cannot: periods not too short, no empty or duplicate lists,
    /// overrides only for enabled metricsets.
    ///
    /// # Errors
    /// The first problem found, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_period("period", self.period)?;
        for (metricset, period) in &self.periods {
            let key = format!("periods.{metricset}");
            check_period(&key, *period)?;
            if !self.metricsets.contains(metricset) {
                return Err(ConfigError::new(
                    key,
                    format!("sets a period for {metricset}, which is not in `metricsets`"),
                ));
            }
        }
        check_list("metricsets", &self.metricsets)?;
        check_list("cpu_metrics", &self.cpu_metrics)?;
        Ok(())
    }

    /// What this configuration leaves out that ferrobeat-processor needs, one message per
    /// problem naming its key: its cpu alert reads `system.cpu.total.norm.pct`, which cpu
    /// events carry only with `normalized_percentages` (the processor can compute it from
    /// `total.pct` and `cores`, which need `percentages`).
    pub fn processor_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.metricsets.contains(&Metricset::Cpu)
            && !self.cpu_metrics.contains(&CpuMetric::NormalizedPercentages)
        {
            let fallback = if self.cpu_metrics.contains(&CpuMetric::Percentages) {
                "ferrobeat-processor will compute it from total.pct / cores and count it in \
                 cpu_norm_computed_total"
            } else {
                "without `percentages` either, ferrobeat-processor cannot compute it and \
                 dead-letters every cpu event"
            };
            warnings.push(format!(
                "`collect.cpu_metrics` leaves out \"normalized_percentages\": cpu events will \
                 lack system.cpu.total.norm.pct, which the processor's alert reads; {fallback}"
            ));
        }
        warnings
    }

    /// The period `metricset` is sampled at: its override, else `period`.
    pub fn period_of(&self, metricset: Metricset) -> Duration {
        self.periods.get(&metricset).copied().unwrap_or(self.period)
    }
}

fn check_period(key: &str, period: Duration) -> Result<(), ConfigError> {
    if period < MIN_PERIOD {
        return Err(ConfigError::new(
            key,
            format!("{period:?} is shorter than the minimum of {MIN_PERIOD:?}"),
        ));
    }
    Ok(())
}

fn check_list<T: PartialEq + fmt::Debug>(key: &str, items: &[T]) -> Result<(), ConfigError> {
    if items.is_empty() {
        return Err(ConfigError::new(key, "must name at least one entry"));
    }
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(ConfigError::new(key, format!("lists {item:?} twice")));
        }
    }
    Ok(())
}

pub use ferrobeat_toolbox::config::parse_duration;

fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn deserialize_periods<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<Metricset, Duration>, D::Error> {
    BTreeMap::<Metricset, String>::deserialize(d)?
        .into_iter()
        .map(|(metricset, text)| {
            parse_duration(&text)
                .map(|period| (metricset, period))
                .map_err(|e| serde::de::Error::custom(format!("{metricset}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CollectConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn empty_table_is_metricbeat_default() {
        let config = parse("").expect("empty config parses");
        assert_eq!(config, CollectConfig::default());
        assert_eq!(config.period_of(Metricset::Cpu), Duration::from_secs(10));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn overrides_apply_per_metricset() {
        let config = parse(
            r#"
            period = "5s"
            metricsets = ["cpu", "network"]
            periods = { network = "1m" }
            cpu_metrics = ["ticks"]
            "#,
        )
        .expect("valid config parses");
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.period_of(Metricset::Cpu), Duration::from_secs(5));
        assert_eq!(
            config.period_of(Metricset::Network),
            Duration::from_secs(60)
        );
        assert_eq!(config.cpu_metrics, vec![CpuMetric::Ticks]);
    }

    #[test]
    fn durations_accept_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["10", "s", "-1s", "ten seconds", ""] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert!(parse_duration("99999999999999999h").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_their_place() {
        let err = parse("perod = \"10s\"").expect_err("typo refused");
        assert!(err.to_string().contains("unknown field `perod`"), "{err}");
        let err = parse("metricsets = [\"cpu\", \"gpu\"]").expect_err("unknown metricset");
        assert!(err.to_string().contains("gpu"), "{err}");
        assert!(err.span().is_some());
        let err = parse("periods = { cpu = \"fast\" }").expect_err("bad period");
        assert!(
            err.to_string().contains("cpu: invalid duration \"fast\""),
            "{err}"
        );
    }

    #[test]
    fn leaving_out_normalised_cpu_is_warned_about() {
        assert!(CollectConfig::default().processor_warnings().is_empty());
        let mut config = CollectConfig {
            cpu_metrics: vec![CpuMetric::Percentages],
            ..CollectConfig::default()
        };
        let warnings = config.processor_warnings();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("`collect.cpu_metrics` leaves out"),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("compute it"), "{warnings:?}");
        config.cpu_metrics = vec![CpuMetric::Ticks];
        assert!(config.processor_warnings()[0].contains("dead-letters"));
        config.metricsets = vec![Metricset::Memory];
        assert!(
            config.processor_warnings().is_empty(),
            "no cpu events, nothing missing"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let mut config = CollectConfig {
            period: Duration::from_millis(10),
            ..CollectConfig::default()
        };
        assert_eq!(config.validate().map_err(|e| e.key), Err("period".into()));
        config.period = Duration::from_secs(1);
        config
            .periods
            .insert(Metricset::Load, Duration::from_secs(5));
        let err = config.validate().expect_err("load is not enabled");
        assert_eq!(
            err.to_string(),
            "`collect.periods.load`: sets a period for load, which is not in `metricsets`"
        );
        config.periods.clear();
        config.metricsets = vec![Metricset::Cpu, Metricset::Cpu];
        assert_eq!(
            config.validate().map_err(|e| e.key),
            Err("metricsets".into())
        );
        config.metricsets.clear();
        assert_eq!(
            config.validate().map_err(|e| e.key),
            Err("metricsets".into())
        );
        config.metricsets = vec![Metricset::Cpu];
        config.cpu_metrics.clear();
        assert_eq!(
            config.validate().map_err(|e| e.key),
            Err("cpu_metrics".into())
        );
    }
}
