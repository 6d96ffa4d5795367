//! The pure core: readings in, events out. Keeps what deltas need from the previous round.

use ferrobeat_schema::metricsets::Network;
use ferrobeat_schema::{Event, System};

use super::cpu::{CpuDeltaError, CpuFigures, cpu_from_busy, cpu_usage};
use super::diskio::{diskio, host_disk};
use super::filesystem::filesystem;
use super::load::load;
use super::memory::memory;
use super::network::host_network;
use super::{
    CollectConfig, Identity, Payload, Round, diskio as disk_filter, network as net_filter,
};
use crate::snapshot::{CpuTimes, DiskStats, Snapshot};

/// Turns readings into Metricbeat events, remembering the previous reading of the
/// metricsets that report deltas (cpu, and the network and diskio summaries).
#[derive(Debug)]
pub struct EventMaker {
    identity: Identity,
    cpu_figures: CpuFigures,
    interfaces: Vec<String>,
    diskio_devices: Vec<String>,
    cpu_previous: CpuTimes,
    network_previous: Option<Vec<Network>>,
    diskio_previous: Option<Vec<DiskStats>>,
}

impl EventMaker {
    /// A maker with no previous readings, for `identity` and the filters of `config`.
    pub fn new(identity: Identity, config: &CollectConfig) -> Self {
        EventMaker {
            identity,
            cpu_figures: CpuFigures::from_metrics(&config.cpu_metrics),
            interfaces: config.interfaces.clone(),
            diskio_devices: config.diskio_devices.clone(),
            cpu_previous: CpuTimes::default(),
            network_previous: None,
            diskio_previous: None,
        }
    }

    /// The identity stamped on every event.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The events of `snapshot` taken in `round`, in Metricbeat's order (per-item documents,
    /// then the host-level summary). The reading becomes the previous one even on error, so
    /// the next round recovers.
    ///
    /// # Errors
    /// [`CpuDeltaError`] when a cpu reading shows no elapsed time or went backwards.
    pub fn events(
        &mut self,
        round: &Round,
        snapshot: Snapshot,
    ) -> Result<Vec<Event>, CpuDeltaError> {
        let event = |payload| self.identity.event(round, payload);
        let system_events = |docs: Vec<System>| -> Vec<Event> {
            docs.into_iter()
                .map(|doc| event(Payload::System(doc, None)))
                .collect()
        };
        match snapshot {
            Snapshot::Cpu(current) => {
                let previous = std::mem::replace(&mut self.cpu_previous, current.times);
                let (cpu, host) = cpu_usage(&previous, &current, self.cpu_figures)?;
                Ok(vec![event(Payload::System(System::Cpu(cpu), Some(host)))])
            }
            Snapshot::CpuBusy(reading) => {
                let (cpu, host) = cpu_from_busy(&reading, self.cpu_figures);
                Ok(vec![event(Payload::System(System::Cpu(cpu), Some(host)))])
            }
            Snapshot::Memory(info) => Ok(vec![event(Payload::System(
                System::Memory(memory(&info)),
                None,
            ))]),
            Snapshot::Load(snapshot) => Ok(vec![event(Payload::System(
                System::Load(load(&snapshot)),
                None,
            ))]),
            Snapshot::Filesystem(mounts) => Ok(system_events(
                mounts
                    .iter()
                    .map(|m| System::Filesystem(filesystem(m)))
                    .collect(),
            )),
            Snapshot::Network(mut interfaces) => {
                interfaces.retain(|i| net_filter::is_selected(&i.name, &self.interfaces));
                let summary = host_network(self.network_previous.as_deref(), &interfaces);
                let mut events =
                    system_events(interfaces.iter().cloned().map(System::Network).collect());
                events.extend(summary.map(|s| event(Payload::HostNetwork(s))));
                self.network_previous = Some(interfaces);
                Ok(events)
            }
            Snapshot::Diskio(mut devices) => {
                devices.retain(|d| disk_filter::is_selected(&d.name, &self.diskio_devices));
                let mut events =
                    system_events(devices.iter().map(|d| System::Diskio(diskio(d))).collect());
                let summary = host_disk(self.diskio_previous.as_deref(), &devices);
                events.extend(summary.map(|s| event(Payload::HostDisk(s))));
                self.diskio_previous = Some(devices);
                Ok(events)
            }
        }
    }
}
