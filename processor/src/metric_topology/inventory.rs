//! Host inventory, pure: what an alert gains from `[topology] inventory_topic`, a compacted topic
//! keyed by host name whose values are JSON objects (owner, team, datacenter, ...), read as a
//! global table.
//!
//! An alert of a host found there gains `"inventory": <that object>` as its last member; a host
//! not found (or deleted with a tombstone) gets no member. A value that is not a JSON object is
//! the operator's mistake, not the alert's: the alert goes out without the member and the
//! mistake is counted ([`InventoryCounts`]) and logged the first time.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::minify::minify_json;

/// Inventory values that were not JSON objects, counted.
#[derive(Debug, Default)]
pub struct InventoryCounts(AtomicU64);

impl InventoryCounts {
    /// Counts one unusable value of `host`; logs the first.
    fn record(&self, host: &str, reason: &str) {
        if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(
                host,
                "the inventory value of host {host:?} is not a JSON object ({reason}): its \
                 alerts go out without \"inventory\"; counted in inventory_invalid_total"
            );
        }
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The `name` member of an alert (the event's `host.name`), or `""` when it has none (no
/// inventory entry has that key in practice, and the alert still goes out).
pub(super) fn alert_host_name(alert: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        name: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Named<'_>>(alert)
        .ok()
        .and_then(|named| named.name)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_default()
}

/// `alert` (a compact JSON object) with `"inventory": inventory` as its last member when
/// `inventory` is a JSON object; unchanged otherwise (counted in `counts` unless absent).
pub(super) fn with_inventory(
    alert: &[u8],
    inventory: Option<&[u8]>,
    counts: &InventoryCounts,
) -> Vec<u8> {
    let Some(inventory) = inventory else {
        return alert.to_vec();
    };
    let object = match serde_json::from_slice::<&RawValue>(inventory) {
        Ok(raw) if raw.get().starts_with('{') => minify_json(raw.get().as_bytes()),
        Ok(raw) => {
            counts.record(&alert_host_name(alert), &format!("found {:.20}", raw.get()));
            return alert.to_vec();
        }
        Err(error) => {
            counts.record(&alert_host_name(alert), &format!("invalid JSON: {error}"));
            return alert.to_vec();
        }
    };
    let Some(body) = alert.strip_suffix(b"}") else {
        return alert.to_vec();
    };
    let mut out = Vec::with_capacity(alert.len() + object.len() + 14);
    out.extend_from_slice(body);
    if body.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(b"\"inventory\":");
    out.extend_from_slice(&object);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &[u8] =
        br#"{"cpu":{"usage":0.8586},"name":"web-1","timestamp":"2025-01-31T08:00:26.557Z"}"#;

    #[test]
    fn a_found_object_is_the_last_member_compacted() {
        let counts = InventoryCounts::default();
        let joined = with_inventory(
            ALERT,
            Some(br#"{ "owner": "ana", "dc": "par-1" }"#),
            &counts,
        );
        assert_eq!(
            String::from_utf8(joined).expect("utf-8"),
            r#"{"cpu":{"usage":0.8586},"name":"web-1","timestamp":"2025-01-31T08:00:26.557Z","inventory":{"owner":"ana","dc":"par-1"}}"#
        );
        assert_eq!(counts.get(), 0);
    }

    #[test]
    fn no_entry_or_a_value_that_is_no_object_leaves_the_alert_as_it_is() {
        let counts = InventoryCounts::default();
        assert_eq!(with_inventory(ALERT, None, &counts), ALERT);
        assert_eq!(counts.get(), 0, "absent is not a mistake");
        assert_eq!(with_inventory(ALERT, Some(b"[1,2]"), &counts), ALERT);
        assert_eq!(with_inventory(ALERT, Some(b"{not json"), &counts), ALERT);
        assert_eq!(counts.get(), 2);
    }

    #[test]
    fn the_host_name_is_read_from_the_alert() {
        assert_eq!(alert_host_name(ALERT), "web-1");
        assert_eq!(alert_host_name(br#"{"n\u0061me":"esc"}"#), "esc");
        assert_eq!(alert_host_name(br#"{"timestamp":"t"}"#), "");
    }
}
