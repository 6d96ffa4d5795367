//! Sustained alerts, pure: the per-host state machine of `[alerting] mode = "transitions"`, as
//! Prometheus' `for:` and `keep_firing_for` and Kibana's alert delay and recovery behave.
//!
//! A host is `ok`, `pending` (hot, not for long enough yet), `firing`, or `no_data` (firing, then
//! silent for `no_data_after` of wall-clock time). Wall-clock time is only what the periodic
//! check ([`HostAlert::check_no_data`]) is told: it notes when a firing host's latest sample
//! last changed, so that a processor catching up on a backlog of old samples does not take
//! their old timestamps for silence. Samples are taken in event-time order: a sample
//! older than the host's latest is stale and changes nothing. Only a change of what operators see
//! is a [`Transition`]: `pending` is internal, so `ok → pending → ok` says nothing.
//!
//! The state is a small JSON document (`HostAlert`), the value of the host's entry in the alert
//! store, so its changelog is readable with any consumer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The rule: a threshold and how long it must hold, and stop holding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SustainedRule {
    /// Hot means `system.cpu.total.norm.pct` strictly above this.
    pub threshold: f64,
    /// How long a host must stay hot before it fires (`0s`: the first hot sample fires).
    pub fire_after: Duration,
    /// How long a firing host must stay at or below the threshold before it resolves.
    pub keep_firing_for: Duration,
    /// How much wall-clock time without a sample turns a firing host `no_data`.
    pub no_data_after: Duration,
}

/// What operators see of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// At or below the threshold (or never seen).
    Ok,
    /// Hot since `since`, not yet for `fire_after`.
    Pending,
    /// Firing since `since`.
    Firing,
    /// Was firing, then no sample for `no_data_after`.
    NoData,
}

/// A change operators are told about: one record on the alert topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The host has been hot for `fire_after` (or came back hot after `no_data`).
    Firing,
    /// The host has been at or below the threshold for `keep_firing_for`.
    Resolved,
    /// A firing host sent nothing for `no_data_after`.
    NoData,
}

impl Transition {
    /// The `"status"` member of the alert record.
    pub fn status(self) -> &'static str {
        match self {
            Transition::Firing => "firing",
            Transition::Resolved => "resolved",
            Transition::NoData => "no_data",
        }
    }
}

/// Transitions written, by status.
#[derive(Debug, Default)]
pub struct TransitionCounts {
    firing: AtomicU64,
    resolved: AtomicU64,
    no_data: AtomicU64,
}

impl TransitionCounts {
    /// Counts one transition.
    pub fn record(&self, transition: Transition) {
        let counter = match transition {
            Transition::Firing => &self.firing,
            Transition::Resolved => &self.resolved,
            Transition::NoData => &self.no_data,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, by `status`.
    pub fn snapshot(&self) -> [(&'static str, u64); 3] {
        [
            (Transition::Firing, &self.firing),
            (Transition::Resolved, &self.resolved),
            (Transition::NoData, &self.no_data),
        ]
        .map(|(transition, counter)| (transition.status(), counter.load(Ordering::Relaxed)))
    }
}

/// One cpu sample of a host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// Event time (`@timestamp`) in milliseconds since the epoch.
    pub at: i64,
    /// `@timestamp` as the event carries it (what `"since"` repeats).
    pub timestamp: &'a str,
    /// Whether it is above the threshold.
    pub hot: bool,
    /// Its alert object (kept for a `no_data` record).
    pub alert: &'a str,
}

/// A host's alert state (the store's value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAlert {
    /// What operators see.
    pub status: Status,
    /// Event time of the latest sample taken.
    pub latest: i64,
    /// While firing: the latest sample's event time when a check last saw it change, and the
    /// wall-clock time of that check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noted: Option<(i64, i64)>,
    /// The first hot sample of the episode (pending, firing, no data), or of the last one once
    /// resolved (what the `resolved` record says): event time and `@timestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<(i64, String)>,
    /// While firing: event time of the first sample at or below the threshold since the last
    /// hot one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cool_since: Option<i64>,
    /// The alert object of the latest sample (the reference design's: `host` members, then
    /// `timestamp`), repeated by a `no_data` record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_alert: Option<String>,
}

impl HostAlert {
    /// The state of a host before its first sample.
    pub fn new() -> Self {
        HostAlert {
            status: Status::Ok,
            latest: i64::MIN,
            noted: None,
            since: None,
            cool_since: None,
            latest_alert: None,
        }
    }

    /// `@timestamp` of the first hot sample of the current or last episode.
    pub fn since(&self) -> Option<&str> {
        self.since.as_ref().map(|(_, timestamp)| timestamp.as_str())
    }

    /// Takes `sample`; the transition it causes, if any. A sample older than the latest is
    /// stale: nothing changes and `None` is returned.
    pub fn observe(&mut self, rule: &SustainedRule, sample: Sample<'_>) -> Option<Transition> {
        if sample.at < self.latest {
            return None;
        }
        self.latest = sample.at;
        sample
            .alert
            .clone_into(self.latest_alert.get_or_insert_with(String::new));
        match (self.status, sample.hot) {
            (Status::Ok, true) => {
                self.since = Some((sample.at, sample.timestamp.to_owned()));
                self.status = Status::Pending;
                self.fire_if_due(rule, sample.at)
            }
            (Status::Pending, true) => self.fire_if_due(rule, sample.at),
            (Status::Ok | Status::Pending, false) => {
                self.reset();
                None
            }
            (Status::Firing, true) => {
                self.cool_since = None;
                None
            }
            (Status::NoData, true) => {
                self.cool_since = None;
                self.status = Status::Firing;
                Some(Transition::Firing)
            }
            (Status::Firing | Status::NoData, false) => {
                let cool_since = *self.cool_since.get_or_insert(sample.at);
                if elapsed(cool_since, sample.at) >= rule.keep_firing_for {
                    self.reset();
                    Some(Transition::Resolved)
                } else {
                    None
                }
            }
        }
    }

    /// The periodic check at wall-clock time `now`: a firing host whose latest sample has not
    /// changed for `no_data_after` since a check first saw it goes `no_data`. Only a firing
    /// host is looked at (and changed: the caller writes the state back when it changed).
    pub fn check_no_data(&mut self, rule: &SustainedRule, now: i64) -> Option<Transition> {
        if self.status != Status::Firing {
            self.noted = None;
            return None;
        }
        match self.noted {
            Some((latest, since)) if latest == self.latest => {
                if elapsed(since, now) >= rule.no_data_after {
                    self.status = Status::NoData;
                    self.noted = None;
                    Some(Transition::NoData)
                } else {
                    None
                }
            }
            _ => {
                self.noted = Some((self.latest, now));
                None
            }
        }
    }

    fn fire_if_due(&mut self, rule: &SustainedRule, now: i64) -> Option<Transition> {
        let (since, _) = self.since.as_ref()?;
        if elapsed(*since, now) >= rule.fire_after {
            self.status = Status::Firing;
            Some(Transition::Firing)
        } else {
            None
        }
    }

    fn reset(&mut self) {
        self.status = Status::Ok;
        self.cool_since = None;
    }
}

impl Default for HostAlert {
    fn default() -> Self {
        Self::new()
    }
}

/// The record of `transition` on the alert topic: `alert` (a compact JSON object: the event's
/// `host` members, then `timestamp`) followed by `"status"` and, when the host is in an
/// episode, `"since"` (the `@timestamp` of its first hot sample).
pub fn transition_record(alert: &[u8], transition: Transition, since: Option<&str>) -> Vec<u8> {
    let body = alert.strip_suffix(b"}").unwrap_or(alert);
    let mut record = Vec::with_capacity(alert.len() + 64);
    record.extend_from_slice(body);
    if body.len() > 1 {
        record.push(b',');
    }
    record.extend_from_slice(b"\"status\":\"");
    record.extend_from_slice(transition.status().as_bytes());
    record.push(b'"');
    if let Some(since) = since {
        record.extend_from_slice(b",\"since\":");
        // A `&str` always serialises.
        serde_json::to_writer(&mut record, since).unwrap_or_default();
    }
    record.push(b'}');
    record
}

/// Time from `from` to `to` (milliseconds), zero when `to` is earlier.
fn elapsed(from: i64, to: i64) -> Duration {
    Duration::from_millis(u64::try_from(to.saturating_sub(from)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1000;

    fn rule(fire_after: u64, keep_firing_for: u64) -> SustainedRule {
        SustainedRule {
            threshold: 0.5,
            fire_after: Duration::from_secs(fire_after),
            keep_firing_for: Duration::from_secs(keep_firing_for),
            no_data_after: Duration::from_secs(30),
        }
    }

    /// Feeds samples at a 10 s period from t = 0 (hot or not) and lists the transitions with
    /// the sample index that caused them.
    fn run(rule: &SustainedRule, hot: &[bool]) -> (HostAlert, Vec<(usize, Transition)>) {
        let mut state = HostAlert::new();
        let transitions = hot
            .iter()
            .enumerate()
            .filter_map(|(index, &hot)| {
                let at = index as i64 * 10 * SECOND;
                let timestamp = format!("t{index}");
                let sample = Sample {
                    at,
                    timestamp: &timestamp,
                    hot,
                    alert: "{}",
                };
                state.observe(rule, sample).map(|t| (index, t))
            })
            .collect();
        (state, transitions)
    }

    #[test]
    fn without_a_delay_the_first_hot_sample_fires_and_the_first_cool_one_resolves() {
        let (_, transitions) = run(&rule(0, 0), &[false, true, true, false, false]);
        assert_eq!(
            transitions,
            [(1, Transition::Firing), (3, Transition::Resolved)]
        );
    }

    #[test]
    fn for_30s_at_a_10s_period_fires_on_the_fourth_hot_sample() {
        let (state, transitions) = run(&rule(30, 0), &[true, true, true, true, true]);
        assert_eq!(transitions, [(3, Transition::Firing)]);
        assert_eq!(state.since(), Some("t0"));
    }

    #[test]
    fn a_dip_resets_pending() {
        let (state, transitions) = run(&rule(30, 0), &[true, true, true, false, true, true, true]);
        assert_eq!(transitions, []);
        assert_eq!(state.status, Status::Pending);
        assert_eq!(state.since(), Some("t4"));
    }

    #[test]
    fn keep_firing_for_keeps_a_flapping_host_firing() {
        let flapping = [true, false, true, false, true, false, false, false];
        let (_, transitions) = run(&rule(0, 20), &flapping);
        assert_eq!(
            transitions,
            [(0, Transition::Firing), (7, Transition::Resolved)]
        );
        let (_, transitions) = run(&rule(0, 0), &flapping);
        assert_eq!(transitions.len(), 6, "{transitions:?}");
    }

    #[test]
    fn a_firing_host_goes_no_data_then_fires_again_or_resolves() {
        let rule = rule(0, 0);
        let (mut state, _) = run(&rule, &[true]);
        // The first check notes the latest sample at wall-clock 1000 s (a processor far
        // behind its input: the sample's own time does not count).
        let now = 1_000 * SECOND;
        assert_eq!(state.check_no_data(&rule, now), None);
        assert_eq!(state.check_no_data(&rule, now + 29 * SECOND), None);
        assert_eq!(
            state.check_no_data(&rule, now + 30 * SECOND),
            Some(Transition::NoData)
        );
        assert_eq!(state.check_no_data(&rule, now + 40 * SECOND), None, "once");
        let hot = Sample {
            at: 50 * SECOND,
            timestamp: "t5",
            hot: true,
            alert: "{}",
        };
        assert_eq!(state.observe(&rule, hot), Some(Transition::Firing));
        assert_eq!(state.since(), Some("t0"), "the same episode");
        let cool = Sample {
            at: 60 * SECOND,
            hot: false,
            ..hot
        };
        assert_eq!(state.observe(&rule, cool), Some(Transition::Resolved));
        assert_eq!(state.status, Status::Ok);
        assert_eq!(state.since(), Some("t0"), "the resolved episode's");
    }

    #[test]
    fn a_firing_host_whose_samples_keep_coming_never_goes_no_data() {
        let rule = rule(0, 0);
        let (mut state, _) = run(&rule, &[true]);
        for minute in 0..10 {
            let at = (minute + 1) * 60 * SECOND;
            let sample = Sample {
                at,
                timestamp: "t",
                hot: true,
                alert: "{}",
            };
            assert_eq!(state.observe(&rule, sample), None);
            assert_eq!(state.check_no_data(&rule, at + 1), None);
        }
        assert_eq!(state.status, Status::Firing);
        let (mut ok, _) = run(&rule, &[false]);
        assert_eq!(ok.check_no_data(&rule, i64::MAX), None);
        assert_eq!(ok.noted, None, "a host that is not firing is left as it is");
    }

    #[test]
    fn a_stale_sample_changes_nothing() {
        let rule = rule(0, 0);
        let (mut state, _) = run(&rule, &[true, true]);
        let before = state.clone();
        let stale = Sample {
            at: 5 * SECOND,
            timestamp: "old",
            hot: false,
            alert: "{}",
        };
        assert_eq!(state.observe(&rule, stale), None);
        assert_eq!(state, before);
    }

    #[test]
    fn a_transition_record_is_the_alert_then_status_and_since() {
        let alert =
            br#"{"cpu":{"usage":0.8586},"name":"web-1","timestamp":"2025-01-31T08:00:26.557Z"}"#;
        let record = transition_record(alert, Transition::Firing, Some("2025-01-31T07:59:56.551Z"));
        assert_eq!(
            String::from_utf8(record).expect("utf-8"),
            r#"{"cpu":{"usage":0.8586},"name":"web-1","timestamp":"2025-01-31T08:00:26.557Z","status":"firing","since":"2025-01-31T07:59:56.551Z"}"#
        );
        let resolved = transition_record(b"{}", Transition::Resolved, None);
        assert_eq!(resolved, br#"{"status":"resolved"}"#);
    }

    #[test]
    fn the_state_is_a_readable_json_document() {
        let (state, _) = run(&rule(30, 0), &[true]);
        let json = serde_json::to_string(&state).expect("serialises");
        assert_eq!(
            json,
            r#"{"status":"pending","latest":0,"since":[0,"t0"],"latest_alert":"{}"}"#
        );
        assert_eq!(
            serde_json::from_str::<HostAlert>(&json).expect("reads back"),
            state
        );
    }
}
