//! `[alerting]`: whether the cpu metricset raises an alert per hot sample (the reference
//! design) or one per transition of a host's state ([`super::sustained`]), and the durations of
//! the latter.

use std::time::Duration;

use ferrobeat_toolbox::config::humantime_serde;
use serde::Deserialize;

use super::sustained::SustainedRule;

/// Which alerts the cpu metricset raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertMode {
    /// One alert per hot sample (the reference design).
    #[default]
    EverySample,
    /// One record per transition of a host's [`Status`](super::sustained::Status) (firing, resolved, no data).
    Transitions,
}

/// `[alerting]`: how hot samples become alerts; every key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// `every-sample` (default) or `transitions`.
    pub mode: AlertMode,
    /// `transitions`: how long a host must stay hot before it fires (Prometheus' `for:`).
    #[serde(rename = "for", with = "humantime_serde")]
    pub fire_after: Duration,
    /// `transitions`: how long a firing host must stay cool before it resolves.
    #[serde(with = "humantime_serde")]
    pub keep_firing_for: Duration,
    /// `transitions`: how long a firing host may send nothing before it goes `no_data`.
    #[serde(with = "humantime_serde")]
    pub no_data_after: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl AlertingConfig {
    /// The defaults: an alert per hot sample (the reference design).
    pub const DEFAULT: AlertingConfig = AlertingConfig {
        mode: AlertMode::EverySample,
        fire_after: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        no_data_after: Duration::from_secs(30),
    };

    /// Checks what a type cannot: a `no_data_after` of at least a second.
    ///
    /// # Errors
    /// The refused key (within `[alerting]`) and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.no_data_after < Duration::from_secs(1) {
            return Err((
                "no_data_after",
                format!(
                    "{} is too short: a firing host would go no_data between two samples",
                    humantime_serde::re::humantime::format_duration(self.no_data_after)
                ),
            ));
        }
        Ok(())
    }

    /// The rule of `transitions` mode with `threshold`.
    pub fn rule(&self, threshold: f64) -> SustainedRule {
        SustainedRule {
            threshold,
            fire_after: self.fire_after,
            keep_firing_for: self.keep_firing_for,
            no_data_after: self.no_data_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerting_config_reads_durations_and_refuses_unknown_keys() {
        let config: AlertingConfig =
            toml::from_str("mode = \"transitions\"\nfor = \"30s\"\nkeep_firing_for = \"1m\"")
                .expect("valid");
        assert_eq!(config.mode, AlertMode::Transitions);
        assert_eq!(
            config.rule(0.5),
            SustainedRule {
                threshold: 0.5,
                fire_after: Duration::from_secs(30),
                keep_firing_for: Duration::from_secs(60),
                no_data_after: Duration::from_secs(30),
            }
        );
        assert_eq!(
            toml::from_str::<AlertingConfig>("").expect("empty"),
            AlertingConfig::default()
        );
        assert!(toml::from_str::<AlertingConfig>("mode = \"sometimes\"").is_err());
        assert!(toml::from_str::<AlertingConfig>("fore = \"1s\"").is_err());
        let short = AlertingConfig {
            no_data_after: Duration::from_millis(10),
            ..AlertingConfig::default()
        };
        assert_eq!(
            short.validate().map_err(|(key, _)| key),
            Err("no_data_after")
        );
    }
}
