//! The envelope Metricbeat wraps around every metricset payload.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ferrobeat_schema::{
    Agent, ECS_VERSION, Ecs, Event, EventInfo, Host, HostCpu, HostDisk, HostNetwork, MODULE,
    Metadata, Metricset, MetricsetInfo, Service, System,
};

/// The shipper type in `agent.type` and the beat name in `@metadata.beat`.
pub const AGENT_TYPE: &str = "ferrobeat";

/// The version in `agent.version` and `@metadata.version`: this crate's.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

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
                beat: AGENT_TYPE.to_owned(),
                doc_type: "_doc".to_owned(),
                version: AGENT_VERSION.to_owned(),
            },
            agent: Agent {
                name: self.agent_name.clone(),
                agent_type: AGENT_TYPE.to_owned(),
                version: AGENT_VERSION.to_owned(),
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
