//! Rendering a [`LagReport`], pure: the `kafka-consumer-groups --describe` table with a STATUS
//! column and a group line, or one line of JSON. Changelog partitions follow the input rows,
//! with `CHANGELOG` as their status and no current offset nor lag, then a line saying what
//! they are.

use std::fmt::Write as _;

use super::LagReport;

/// The table's columns: `kafka-consumer-groups --describe`'s, then STATUS.
pub const HEADERS: [&str; 10] = [
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "CONSUMER-ID",
    "HOST",
    "CLIENT-ID",
    "STATUS",
];

/// The status column of a changelog row.
pub const CHANGELOG_STATUS: &str = "CHANGELOG";

/// The report as an aligned table, `-` where a value is unknown, then a line with the group's
/// status and total lag, and one about the changelog rows when there are any.
pub fn table(report: &LagReport) -> String {
    let known = |value: Option<&str>| value.unwrap_or("-").to_owned();
    let number = |value: Option<i64>| value.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let dash = || "-".to_owned();
    let rows: Vec<[String; 10]> = report
        .partitions
        .iter()
        .map(|row| {
            [
                report.group.clone(),
                row.topic.clone(),
                row.partition.to_string(),
                number(row.current_offset),
                row.log_end_offset.to_string(),
                number(row.lag),
                known(row.consumer_id.as_deref()),
                known(row.host.as_deref()),
                known(row.client_id.as_deref()),
                row.status.as_str().to_owned(),
            ]
        })
        .chain(report.changelogs.iter().map(|row| {
            [
                report.group.clone(),
                row.topic.clone(),
                row.partition.to_string(),
                dash(),
                row.log_end_offset.to_string(),
                dash(),
                dash(),
                dash(),
                dash(),
                CHANGELOG_STATUS.to_owned(),
            ]
        }))
        .collect();
    let widths: Vec<usize> = (0..HEADERS.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].len())
                .chain([HEADERS[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let headers = HEADERS.map(str::to_owned);
    for cells in std::iter::once(&headers).chain(&rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join(" ").trim_end());
    }
    let _ = writeln!(
        out,
        "\nGROUP {} STATUS {} TOTAL-LAG {} MEMBERS {} OBSERVATIONS {}",
        report.group,
        report.status.as_str(),
        report.total_lag,
        report.members,
        report.observations
    );
    if !report.changelogs.is_empty() {
        let restore: i64 = report
            .changelogs
            .iter()
            .map(|row| row.restore_records)
            .sum();
        let _ = writeln!(
            out,
            "{CHANGELOG_STATUS} rows: store changelogs, on which the group commits no offsets; \
             a restore from scratch reads up to {restore} records to their LOG-END-OFFSETs"
        );
    }
    out
}

/// The report as one line of JSON, field names as in [`LagReport`].
pub fn json(report: &LagReport) -> String {
    serde_json::to_string(report).unwrap_or_else(|error| {
        // Only a non-string map key can fail to serialise; the report has none.
        format!("{{\"error\":{:?}}}", error.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::status::{GroupStatus, PartitionStatus};
    use crate::lag::{ChangelogRow, PartitionRow};

    fn report() -> LagReport {
        LagReport {
            group: "app".to_owned(),
            status: GroupStatus::Err,
            total_lag: 60,
            observations: 3,
            members: 1,
            partitions: vec![
                PartitionRow {
                    topic: "metric.all".to_owned(),
                    partition: 0,
                    current_offset: Some(40),
                    log_end_offset: 100,
                    lag: Some(60),
                    consumer_id: None,
                    host: None,
                    client_id: None,
                    status: PartitionStatus::Stop,
                },
                PartitionRow {
                    topic: "metric.all".to_owned(),
                    partition: 1,
                    current_offset: None,
                    log_end_offset: 0,
                    lag: None,
                    consumer_id: Some("app-0-1234".to_owned()),
                    host: Some("/127.0.0.1".to_owned()),
                    client_id: Some("app-0".to_owned()),
                    status: PartitionStatus::Ok,
                },
            ],
            changelogs: Vec::new(),
        }
    }

    fn stateful_report() -> LagReport {
        LagReport {
            changelogs: vec![ChangelogRow {
                topic: "app-s-changelog".to_owned(),
                partition: 0,
                store: "s".to_owned(),
                log_start_offset: 5,
                log_end_offset: 1_500,
                restore_records: 1_495,
            }],
            ..report()
        }
    }

    #[test]
    fn changelog_rows_follow_marked_without_offset_nor_lag() {
        let expected = "\
GROUP TOPIC           PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST       CLIENT-ID STATUS
app   metric.all      0         40             100            60  -           -          -         STOP
app   metric.all      1         -              0              -   app-0-1234  /127.0.0.1 app-0     OK
app   app-s-changelog 0         -              1500           -   -           -          -         CHANGELOG

GROUP app STATUS ERR TOTAL-LAG 60 MEMBERS 1 OBSERVATIONS 3
CHANGELOG rows: store changelogs, on which the group commits no offsets; a restore from scratch \
reads up to 1495 records to their LOG-END-OFFSETs
";
        assert_eq!(table(&stateful_report()), expected);
        let value: serde_json::Value =
            serde_json::from_str(&json(&stateful_report())).expect("json");
        assert_eq!(
            value["changelogs"],
            serde_json::json!([
                {"topic": "app-s-changelog", "partition": 0, "store": "s",
                 "log_start_offset": 5, "log_end_offset": 1500, "restore_records": 1495}
            ])
        );
    }

    #[test]
    fn the_table_has_the_columns_of_kafka_consumer_groups_and_dashes_for_unknowns() {
        let expected = "\
GROUP TOPIC      PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST       CLIENT-ID STATUS
app   metric.all 0         40             100            60  -           -          -         STOP
app   metric.all 1         -              0              -   app-0-1234  /127.0.0.1 app-0     OK

GROUP app STATUS ERR TOTAL-LAG 60 MEMBERS 1 OBSERVATIONS 3
";
        assert_eq!(table(&report()), expected);
    }

    #[test]
    fn json_has_stable_field_names_and_nulls_for_unknowns() {
        let value: serde_json::Value = serde_json::from_str(&json(&report())).expect("json");
        assert_eq!(
            value,
            serde_json::json!({
                "group": "app",
                "status": "ERR",
                "total_lag": 60,
                "observations": 3,
                "members": 1,
                "partitions": [
                    {"topic": "metric.all", "partition": 0, "current_offset": 40,
                     "log_end_offset": 100, "lag": 60, "consumer_id": null, "host": null,
                     "client_id": null, "status": "STOP"},
                    {"topic": "metric.all", "partition": 1, "current_offset": null,
                     "log_end_offset": 0, "lag": null, "consumer_id": "app-0-1234",
                     "host": "/127.0.0.1", "client_id": "app-0", "status": "OK"}
                ]
            })
        );
        assert!(!json(&report()).contains('\n'), "one document per line");
    }
}
