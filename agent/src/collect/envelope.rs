//! The envelope Metricbeat wraps around every metricset payload.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ferrobeat_schema::{
    Agent, ECS_VERSION, Ecs, Event, EventInfo, Host, HostCpu, HostDisk, HostNetwork, MODULE,
    Metadata, Metricset, MetricsetInfo, Service, System,
};
use serde::Deserialize;

/// The default shipper type in `agent.type` and beat name in `@metadata.beat`.
pub const AGENT_TYPE: &str = "ferrobeat";

/// The default version in `agent.version` and `@metadata.version`: this crate's.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `[event]`: the name and version the envelope gives the shipper (`@metadata.beat` and
/// `agent.type`, `@metadata.version` and `agent.version`). Ours by default; `beat =
/// "metricbeat"` with a Metricbeat version makes the events index where Metricbeat's do
/// (Logstash's `%{[@metadata][beat]}-%{[@metadata][version]}`).
///
/// ```toml
/// [event]
/// beat = "metricbeat"
/// beat_version = "8.17.1"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventConfig {
    /// `@metadata.beat` and `agent.type`.
    pub beat: String,
    /// `@metadata.version` and `agent.version`; this crate's version when absent, which is
    /// only allowed while `beat` is ours.
    pub beat_version: Option<String>,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            beat: AGENT_TYPE.to_owned(),
            beat_version: None,
        }
    }
}

impl EventConfig {
    /// The version the envelope reports.
    pub fn version(&self) -> &str {
        self.beat_version.as_deref().unwrap_or(AGENT_VERSION)
    }

    /// Both values end up in an index name, so they must be valid in one: lower-case letters,
    /// digits, `-` and `_` for the name (and `.` for the version), starting with a letter or
    /// a digit. A name other than ours needs its version: `metricbeat` with our version would
    /// match none of Metricbeat's index templates.
    ///
    /// # Errors
    /// The key below `event` and why it is refused.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        check_index_part(&self.beat, "").map_err(|reason| ("beat", reason))?;
        match &self.beat_version {
            Some(version) => {
                check_index_part(version, ".").map_err(|reason| ("beat_version", reason))
            }
            None if self.beat != AGENT_TYPE => Err((
                "beat_version",
                format!(
                    "must be set when `event.beat` is {:?}: the events would otherwise carry \
                     {AGENT_TYPE}'s version {AGENT_VERSION}",
                    self.beat
                ),
            )),
            None => Ok(()),
        }
    }
}

/// A non-empty part of an index name of at most 64 characters: lower-case ASCII letters,
/// digits, `-`, `_` and the `extra` characters, starting with a letter or a digit.
fn check_index_part(value: &str, extra: &str) -> Result<(), String> {
    let allowed = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || extra.contains(c)
    };
    if value.is_empty() || value.len() > 64 {
        return Err(format!("{value:?} must be 1 to 64 characters long"));
    }
    if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "{value:?} contains {bad:?}; it becomes part of an index name, which allows only \
             lower-case letters, digits, '-', '_'{}",
            if extra.is_empty() { "" } else { " and '.'" }
        ));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{value:?} must start with a letter or a digit"));
    }
    Ok(())
}

/// Who we are, as the envelope reports it. Filled by the caller: `agent_id` persists in the
/// data directory across restarts, `ephemeral_id` is new on every start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `host.name`: the host name, or the configured name.
    pub host_name: String,
    /// `agent.name`.
    pub agent_name: String,
    /// `agent.id`.
    pub agent_id: String,
    /// `agent.ephemeral_id`.
    pub ephemeral_id: String,
    /// The shipper's name and version (`[event]`).
    pub shipper: EventConfig,
}

/// One collection round of one metricset: what the envelope says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// The metricset's configured period (`metricset.period`, in ms).
    pub period: Duration,
    /// When the sample was taken (`@timestamp`).
    pub at: DateTime<Utc>,
    /// How long collection took (`event.duration`, in ns).
    pub duration: Duration,
}

/// What one event carries besides the envelope.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "built and consumed at once by `Identity::event`; boxing would only add an allocation"
)]
pub enum Payload {
    /// A metricset document under `system`; cpu also fills `host.cpu.usage`.
    System(System, Option<HostCpu>),
    /// The network metricset's host-level summary (`host.network`, no `system`).
    HostNetwork(HostNetwork),
    /// The diskio metricset's host-level summary (`host.disk`, no `system`).
    HostDisk(HostDisk),
}

impl Payload {
    /// The metricset the payload belongs to.
    pub fn metricset(&self) -> Metricset {
        match self {
            Payload::System(system, _) => system.metricset(),
            Payload::HostNetwork(_) => Metricset::Network,
            Payload::HostDisk(_) => Metricset::Diskio,
        }
    }
}

impl Identity {
    /// Wraps `payload` into a complete Metricbeat event for `round`.
    pub fn event(&self, round: &Round, payload: Payload) -> Event {
        let metricset = payload.metricset();
        let mut host = Host {
            name: self.host_name.clone(),
            cpu: None,
            network: None,
            disk: None,
        };
        let system = match payload {
            Payload::System(system, host_cpu) => {
                host.cpu = host_cpu;
                Some(system)
            }
            Payload::HostNetwork(network) => {
                host.network = Some(network);
                None
            }
            Payload::HostDisk(disk) => {
                host.disk = Some(disk);
                None
            }
        };
        Event {
            timestamp: round.at,
            metadata: Metadata {
                beat: self.shipper.beat.clone(),
                doc_type: "_doc".to_owned(),
                version: self.shipper.version().to_owned(),
            },
            agent: Agent {
                name: self.agent_name.clone(),
                agent_type: self.shipper.beat.clone(),
                version: self.shipper.version().to_owned(),
                ephemeral_id: self.ephemeral_id.clone(),
                id: self.agent_id.clone(),
            },
            ecs: Ecs {
                version: ECS_VERSION.to_owned(),
            },
            host,
            event: EventInfo {
                dataset: metricset.dataset().to_owned(),
                module: MODULE.to_owned(),
                duration: saturating_nanos(round.duration),
            },
            metricset: MetricsetInfo {
                name: metricset.name().to_owned(),
                period: u64::try_from(round.period.as_millis()).unwrap_or(u64::MAX),
            },
            service: Service {
                service_type: MODULE.to_owned(),
            },
            system,
        }
    }
}

fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(beat: &str, version: Option<&str>) -> EventConfig {
        EventConfig {
            beat: beat.to_owned(),
            beat_version: version.map(str::to_owned),
        }
    }

    #[test]
    fn ours_by_default_and_metricbeat_with_its_version() {
        assert_eq!(EventConfig::default().validate(), Ok(()));
        assert_eq!(EventConfig::default().version(), AGENT_VERSION);
        let drop_in = config("metricbeat", Some("8.17.1"));
        assert_eq!(drop_in.validate(), Ok(()));
        assert_eq!(drop_in.version(), "8.17.1");
    }

    #[test]
    fn names_that_break_an_index_name_are_refused() {
        let key = |c: EventConfig| c.validate().map_err(|(key, _)| key);
        assert_eq!(key(config("", None)), Err("beat"));
        assert_eq!(key(config("Metricbeat", Some("8.17.1"))), Err("beat"));
        assert_eq!(key(config("_metricbeat", Some("8.17.1"))), Err("beat"));
        assert_eq!(key(config("metric.beat", Some("8.17.1"))), Err("beat"));
        assert_eq!(
            key(config("metricbeat", Some("8.17.1 "))),
            Err("beat_version")
        );
        assert_eq!(
            key(config("metricbeat", Some("8.17/1"))),
            Err("beat_version")
        );
        let (_, reason) = config("metricbeat", None)
            .validate()
            .expect_err("metricbeat needs its version");
        assert!(
            reason.contains("must be set when `event.beat` is \"metricbeat\""),
            "{reason}"
        );
    }
}
