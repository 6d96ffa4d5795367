//! The envelope every Metricbeat event carries around its metricset payload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::metricsets::{Metricset, System};

/// One Metricbeat `system` module event: one Kafka record value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sample time, UTC with milliseconds (`2025-01-31T07:55:26.555Z`).
    #[serde(rename = "@timestamp", with = "crate::numeric::timestamp")]
    pub timestamp: DateTime<Utc>,
    /// Beat metadata (`@metadata`), which Metricbeat's Kafka output keeps in the value.
    #[serde(rename = "@metadata")]
    pub metadata: Metadata,
    /// The shipper that produced the event.
    pub agent: Agent,
    /// The Elastic Common Schema version.
    pub ecs: Ecs,
    /// The monitored host.
    pub host: Host,
    /// Event bookkeeping: dataset, module and collection duration.
    pub event: EventInfo,
    /// Which metricset produced the event, and its period.
    pub metricset: MetricsetInfo,
    /// The monitored service type (`system`).
    pub service: Service,
    /// The metricset's payload. Absent on Metricbeat's host-level summary events
    /// (network and diskio), which carry their figures under `host` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
}

impl Event {
    /// The metricset this event belongs to, from `metricset.name`.
    ///
    /// Returns `None` for a metricset this schema does not model.
    pub fn metricset(&self) -> Option<Metricset> {
        self.metricset.name.parse().ok()
    }
}

/// `@metadata`: the beat's identity as Metricbeat's Kafka output writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The beat's name (`metricbeat`, or `ferrobeat` for our agent).
    pub beat: String,
    /// Document type; always `_doc` in 8.x.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The beat's version.
    pub version: String,
}

/// `agent`: the shipper instance that produced the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// The agent's name; the host name unless configured.
    pub name: String,
    /// The shipper type (`metricbeat`, `ferrobeat`).
    #[serde(rename = "type")]
    pub agent_type: String,
    /// The shipper's version.
    pub version: String,
    /// Identifier that is new on every start of the shipper.
    pub ephemeral_id: String,
    /// Identifier that persists across restarts of the shipper on this host.
    pub id: String,
}

/// `ecs`: the Elastic Common Schema version of the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ecs {
    /// ECS version, `8.0.0` for Metricbeat 8.x.
    pub version: String,
}

// One field per Metricbeat field: the serde attributes repeat by design.
/// `host`: the monitored host. Metricbeat adds `host.cpu` to cpu events and the host-level
/// `network`/`disk` figures to the summary events of those metricsets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Host name.
    pub name: String,
    /// `host.cpu.usage` on cpu events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<HostCpu>,
    /// Host-level network deltas since the previous sample, on network summary events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<HostNetwork>,
    /// Host-level disk deltas since the previous sample, on diskio summary events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<HostDisk>,
}

/// `host.cpu`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostCpu {
    /// Equal to `system.cpu.total.norm.pct`.
    pub usage: f64,
}

/// `host.network`: traffic of all interfaces since the previous sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNetwork {
    /// Received.
    pub ingress: HostNetworkCounters,
    /// Sent.
    pub egress: HostNetworkCounters,
}

/// Bytes and packets of one direction of `host.network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNetworkCounters {
    /// Bytes in the period.
    pub bytes: u64,
    /// Packets in the period.
    pub packets: u64,
}

/// `host.disk`: bytes read and written by all devices since the previous sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDisk {
    /// Bytes read.
    pub read: HostDiskBytes,
    /// Bytes written.
    pub write: HostDiskBytes,
}

/// One direction of `host.disk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDiskBytes {
    /// Bytes in the period.
    pub bytes: u64,
}

/// `event`: dataset, module and how long the collection took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    /// `system.<metricset>`.
    pub dataset: String,
    /// `system`.
    pub module: String,
    /// Collection time in nanoseconds.
    pub duration: u64,
}

/// `metricset`: name and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsetInfo {
    /// The metricset's name (`cpu`, `memory`, …).
    pub name: String,
    /// Collection period in milliseconds.
    pub period: u64,
}

/// `service`: the monitored service type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// `system`.
    #[serde(rename = "type")]
    pub service_type: String,
}
