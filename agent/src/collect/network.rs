//! `system.network`: one document per interface with its cumulative counters, and
//! Metricbeat's host-level summary (`host.network`) of the traffic since the previous sample.
//!
//! The summary sums, over the interfaces present in both readings, the growth of bytes and
//! packets ([`super::counter::growth`], wrap-around aware). It is absent on the
//! first sample, as in Metricbeat. An interface that appears counts from its second reading;
//! one that disappears stops counting (Metricbeat keeps adding its last growth — a bug we do
//! not copy).

use ferrobeat_schema::metricsets::Network;
use ferrobeat_schema::{HostNetwork, HostNetworkCounters};

use super::counter::growth;

/// Whether interface `name` passes the `interfaces` filter (empty: all), compared
/// case-insensitively as Metricbeat does.
pub fn is_selected(name: &str, interfaces: &[String]) -> bool {
    interfaces.is_empty() || interfaces.iter().any(|i| i.eq_ignore_ascii_case(name))
}

/// The host-level traffic from `previous` to `current`; `None` when there is no previous
/// reading.
pub fn host_network(previous: Option<&[Network]>, current: &[Network]) -> Option<HostNetwork> {
    let previous = previous?;
    let mut total = HostNetwork {
        ingress: HostNetworkCounters {
            bytes: 0,
            packets: 0,
        },
        egress: HostNetworkCounters {
            bytes: 0,
            packets: 0,
        },
    };
    for now in current {
        let Some(before) = previous.iter().find(|p| p.name == now.name) else {
            continue;
        };
        for (sum, before, now) in [
            (&mut total.ingress, &before.received, &now.received),
            (&mut total.egress, &before.sent, &now.sent),
        ] {
            sum.bytes = sum.bytes.saturating_add(growth(before.bytes, now.bytes));
            sum.packets = sum
                .packets
                .saturating_add(growth(before.packets, now.packets));
        }
    }
    Some(total)
}
