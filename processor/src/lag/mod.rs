//! `ferrobeat-processor lag`: the consumer group's lag per input partition, as
//! `kafka-consumer-groups --describe` shows it, with a Burrow-style status computed from
//! successive observations; for a stateful topology, also the end offsets of its stores'
//! changelog partitions (the group commits no offsets on them: they tell how much a restore
//! from scratch reads, and take no part in the status or the total lag).
//!
//! * [`status`]: the pure evaluator (a window of observations in, a status out);
//! * [`query`]: the Kafka adapter (committed offsets, watermarks, group members);
//! * [`render`]: the pure table and JSON output;
//! * here: [`LagMonitor`], which keeps each partition's sliding window and builds a
//!   [`LagReport`], and [`run`], which samples, evaluates and prints.

pub mod query;
pub mod render;
pub mod status;

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use self::query::{LagQuery, QueryError, Snapshot};
use self::status::{GroupStatus, Observation, PartitionStatus, evaluate};

/// Observations kept per partition by `--watch`: Burrow's default window (`intervals = 10`).
pub const WATCH_WINDOW: usize = 10;

/// One refresh of `lag`: the group, its status and every partition's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LagReport {
    /// The consumer group (the application id).
    pub group: String,
    /// The worst partition status, as a group status.
    pub status: GroupStatus,
    /// The sum of the partitions' known lags.
    pub total_lag: i64,
    /// Observations in the window the statuses were computed from.
    pub observations: usize,
    /// Members of the group at the last observation.
    pub members: usize,
    /// One row per input partition, by topic and partition.
    pub partitions: Vec<PartitionRow>,
    /// One row per changelog partition, by topic and partition; left out of the JSON when the
    /// topology has no stores.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changelogs: Vec<ChangelogRow>,
}

/// A changelog partition's row: the group commits no offset on a changelog (its tasks write
/// it), so there is no current offset nor lag, only what a restore from scratch would read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangelogRow {
    /// The changelog topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The store it logs.
    pub store: String,
    /// Its first offset.
    pub log_start_offset: i64,
    /// Its end offset, where a restore ends.
    pub log_end_offset: i64,
    /// End minus start offset: the records a restore from scratch reads (at most; a compacted
    /// changelog may hold fewer).
    pub restore_records: i64,
}

// Plain data struct: alike in shape only.
/// A partition's row: `kafka-consumer-groups --describe`'s columns and the status. `None` is
/// shown as `-` in the table and `null` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionRow {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset.
    pub current_offset: Option<i64>,
    /// The partition's end offset (high watermark).
    pub log_end_offset: i64,
    /// End offset minus committed offset.
    pub lag: Option<i64>,
    /// The member consuming the partition.
    pub consumer_id: Option<String>,
    /// That member's host.
    pub host: Option<String>,
    /// That member's client id.
    pub client_id: Option<String>,
    /// The Burrow-style status over the window.
    pub status: PartitionStatus,
}

/// Keeps the last `capacity` observations of every partition and evaluates them.
#[derive(Debug, Clone)]
pub struct LagMonitor {
    group: String,
    capacity: usize,
    windows: BTreeMap<(String, i32), VecDeque<Observation>>,
}

impl LagMonitor {
    /// A monitor of `group` keeping `capacity` observations (at least one) per partition.
    pub fn new(group: &str, capacity: usize) -> Self {
        Self {
            group: group.to_owned(),
            capacity: capacity.max(1),
            windows: BTreeMap::new(),
        }
    }

    /// Adds one query's snapshot to the windows (forgetting partitions it no longer shows)
    /// and reports on every partition it shows.
    pub fn record(&mut self, snapshot: &Snapshot) -> LagReport {
        self.windows.retain(|(topic, partition), _| {
            snapshot
                .partitions
                .iter()
                .any(|seen| &seen.topic == topic && seen.partition == *partition)
        });
        let mut partitions = Vec::with_capacity(snapshot.partitions.len());
        let mut observations = 0;
        for seen in &snapshot.partitions {
            let window = self
                .windows
                .entry((seen.topic.clone(), seen.partition))
                .or_default();
            if window.len() == self.capacity {
                window.pop_front();
            }
            window.push_back(seen.observation);
            observations = observations.max(window.len());
            let status = evaluate(window.make_contiguous()).unwrap_or(PartitionStatus::Ok);
            let owner = seen.owner.as_ref();
            partitions.push(PartitionRow {
                topic: seen.topic.clone(),
                partition: seen.partition,
                current_offset: seen.observation.committed,
                log_end_offset: seen.observation.log_end,
                lag: seen.observation.lag(),
                consumer_id: owner.map(|member| member.consumer_id.clone()),
                host: owner.and_then(|member| member.host.clone()),
                client_id: owner.and_then(|member| member.client_id.clone()),
                status,
            });
        }
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let mut changelogs: Vec<ChangelogRow> = snapshot
            .changelogs
            .iter()
            .map(|changelog| ChangelogRow {
                topic: changelog.topic.clone(),
                partition: changelog.partition,
                store: changelog.store.clone(),
                log_start_offset: changelog.log_start,
                log_end_offset: changelog.log_end,
                restore_records: (changelog.log_end - changelog.log_start).max(0),
            })
            .collect();
        changelogs.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        LagReport {
            group: self.group.clone(),
            status: GroupStatus::of(partitions.iter().map(|row| row.status)),
            total_lag: partitions.iter().filter_map(|row| row.lag).sum(),
            observations,
            members: snapshot.members,
            partitions,
            changelogs,
        }
    }
}

/// How `lag` samples and prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagOptions {
    /// Observations of a one-shot run (at least one).
    pub samples: usize,
    /// Pause between two observations of a one-shot run.
    pub interval: Duration,
    /// `Some(period)`: refresh every period forever over a [`WATCH_WINDOW`] window.
    pub watch: Option<Duration>,
    /// One JSON document per line instead of the table.
    pub json: bool,
}

/// Why `lag` failed.
#[derive(Debug, thiserror::Error)]
pub enum LagError {
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The output could not be written.
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

/// Samples the group through `query` and prints to `out`: once after `samples` observations,
/// or with `watch` after every observation until the process is stopped. Returns the group's
/// status of the last report.
///
/// # Errors
/// When a query fails or `out` cannot be written.
pub fn run(
    query: &LagQuery,
    options: &LagOptions,
    out: &mut dyn Write,
) -> Result<GroupStatus, LagError> {
    let samples = options.samples.max(1);
    let capacity = if options.watch.is_some() {
        WATCH_WINDOW
    } else {
        samples
    };
    let mut monitor = LagMonitor::new(query.group(), capacity);
    let mut taken = 0;
    loop {
        let report = monitor.record(&query.snapshot()?);
        taken += 1;
        let last = taken >= samples;
        if options.watch.is_some() || last {
            let text = if options.json {
                render::json(&report) + "\n"
            } else {
                render::table(&report)
            };
            out.write_all(text.as_bytes())?;
            out.flush()?;
            if options.watch.is_none() {
                return Ok(report.status);
            }
        }
        std::thread::sleep(options.watch.unwrap_or(options.interval));
    }
}

#[cfg(test)]
mod tests {
    use super::query::{ChangelogSnapshot, Member, PartitionSnapshot};
    use super::*;

    /// A snapshot of `partitions` with one member per owned partition.
    fn seen(partitions: Vec<PartitionSnapshot>) -> Snapshot {
        Snapshot {
            members: partitions.iter().filter(|p| p.owner.is_some()).count(),
            partitions,
            changelogs: Vec::new(),
        }
    }

    fn snapshot(partition: i32, committed: i64, log_end: i64, owned: bool) -> PartitionSnapshot {
        PartitionSnapshot {
            topic: "in".to_owned(),
            partition,
            observation: Observation {
                committed: Some(committed),
                log_start: 0,
                log_end,
                has_consumer: owned,
            },
            owner: owned.then(|| Member {
                consumer_id: format!("m-{partition}"),
                host: Some("/127.0.0.1".to_owned()),
                client_id: Some("app-0".to_owned()),
            }),
        }
    }

    #[test]
    fn the_report_evaluates_each_partition_over_its_window() {
        let mut monitor = LagMonitor::new("app", 3);
        monitor.record(&seen(vec![
            snapshot(1, 10, 100, true),
            snapshot(0, 5, 5, false),
        ]));
        let report = monitor.record(&seen(vec![
            snapshot(1, 20, 120, true),
            snapshot(0, 5, 9, false),
        ]));
        assert_eq!(report.observations, 2);
        assert_eq!(report.members, 1);
        assert_eq!(report.total_lag, 100 + 4);
        let partitions: Vec<_> = report
            .partitions
            .iter()
            .map(|row| (row.partition, row.status, row.consumer_id.as_deref()))
            .collect();
        assert_eq!(
            partitions,
            [
                (0, PartitionStatus::Ok, None),
                (1, PartitionStatus::Warn, Some("m-1"))
            ],
            "sorted by partition; partition 0 was caught up in the window"
        );
        assert_eq!(report.status, GroupStatus::Warn);
    }

    // Test cases alike in shape: each slides the window differently.
    #[test]
    fn the_window_slides_so_old_observations_stop_counting() {
        let mut monitor = LagMonitor::new("app", 2);
        monitor.record(&seen(vec![snapshot(0, 10, 10, false)]));
        monitor.record(&seen(vec![snapshot(0, 10, 20, false)]));
        let report = monitor.record(&seen(vec![snapshot(0, 10, 30, false)]));
        assert_eq!(report.observations, 2);
        assert_eq!(report.partitions[0].status, PartitionStatus::Stop);
        assert_eq!(report.status, GroupStatus::Err);
    }

    #[test]
    fn changelog_rows_tell_the_restore_and_leave_status_and_lag_alone() {
        let mut monitor = LagMonitor::new("app", 3);
        let changelog = |partition: i32, log_start: i64, log_end: i64| ChangelogSnapshot {
            topic: "app-s-changelog".to_owned(),
            store: "s".to_owned(),
            partition,
            log_start,
            log_end,
        };
        let report = monitor.record(&Snapshot {
            changelogs: vec![changelog(1, 0, 0), changelog(0, 100, 2_600)],
            ..seen(vec![snapshot(0, 10, 10, true)])
        });
        assert_eq!(
            report.changelogs,
            [
                ChangelogRow {
                    topic: "app-s-changelog".to_owned(),
                    partition: 0,
                    store: "s".to_owned(),
                    log_start_offset: 100,
                    log_end_offset: 2_600,
                    restore_records: 2_500,
                },
                ChangelogRow {
                    topic: "app-s-changelog".to_owned(),
                    partition: 1,
                    store: "s".to_owned(),
                    log_start_offset: 0,
                    log_end_offset: 0,
                    restore_records: 0,
                },
            ]
        );
        assert_eq!(report.total_lag, 0, "a changelog's records are no lag");
        assert_eq!(report.status, GroupStatus::Ok);
    }

    #[test]
    fn a_partition_that_disappears_is_forgotten() {
        let mut monitor = LagMonitor::new("app", 5);
        monitor.record(&seen(vec![
            snapshot(0, 10, 10, true),
            snapshot(1, 10, 10, true),
        ]));
        let report = monitor.record(&seen(vec![snapshot(0, 10, 10, true)]));
        assert_eq!(report.partitions.len(), 1);
        assert_eq!(monitor.windows.len(), 1);
    }
}
