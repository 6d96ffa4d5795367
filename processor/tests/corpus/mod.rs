//! The malformed-input corpus: one record value per `NAME.json` (any bytes, despite the
//! extension), its expected routing in the sidecar `NAME.expect` (TOML):
//!
//! ```toml
//! # what the case is about
//! outputs = ["cpu", "alert"]   # where the record goes: cpu, memory, alert, dlq; [] = dropped
//! reason = "metricset.name"    # dlq only: text the dead letter's error message must contain
//! alert = '{"name":"h","timestamp":"..."}'  # the exact alert value, when "alert" is expected
//! ```
//!
//! Shared by `processor/tests/malformed_corpus.rs` (the test driver) and
//! `tests/tests/faults_corpus_broker.rs` (the real runtime on the test broker).

#![allow(dead_code, unreachable_pub)] // each test crate uses a different part

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a record can go in the metric topology with the default configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// The cpu topic (the input bytes unchanged).
    Cpu,
    /// The memory topic (the input bytes unchanged).
    Memory,
    /// The alert topic (`host` + `timestamp`).
    Alert,
    /// The dead-letter topic (the input bytes unchanged, error headers added).
    Dlq,
}

/// A case's `.expect` file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Every output of the record, in any order; empty when it is dropped.
    pub outputs: Vec<Route>,
    /// Text the dead letter's `__streams.errors.message` header must contain.
    pub reason: Option<String>,
    /// The exact alert value.
    pub alert: Option<String>,
}

/// One corpus case: a record value and what must become of it.
#[derive(Debug, Clone)]
pub struct Case {
    /// The file name without extension.
    pub name: String,
    /// The record value.
    pub value: Vec<u8>,
    /// Its expected routing.
    pub expect: Expectation,
}

impl Case {
    /// The (route, value) pairs the record must produce, sorted; `None` when an alert is
    /// expected but its value is not stated.
    pub fn expected_outputs(&self) -> Option<Vec<(Route, Vec<u8>)>> {
        let mut outputs = self
            .expect
            .outputs
            .iter()
            .map(|route| match route {
                Route::Alert => self
                    .expect
                    .alert
                    .as_ref()
                    .map(|alert| (*route, alert.as_bytes().to_vec())),
                _ => Some((*route, self.value.clone())),
            })
            .collect::<Option<Vec<_>>>()?;
        outputs.sort();
        Some(outputs)
    }
}

/// The corpus directory, found from either crate's manifest directory.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../processor/tests/corpus")
}

/// Every case, sorted by name.
///
/// # Panics
/// On an unreadable file, a `.json` without its `.expect` or the reverse, or an `.expect`
/// that does not parse or contradicts itself (a reason without `dlq`, an alert without `alert`).
pub fn load_corpus() -> Vec<Case> {
    let dir = corpus_dir();
    let mut names: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_owned();
            let extension = path.extension()?.to_str()?.to_owned();
            Some((stem, extension))
        })
        .filter(|(_, extension)| extension == "json" || extension == "expect")
        .collect();
    names.sort();
    let mut cases = Vec::new();
    for (stem, extension) in &names {
        let sibling = if extension == "json" {
            "expect"
        } else {
            "json"
        };
        assert!(
            names.contains(&(stem.clone(), sibling.to_owned())),
            "{stem}.{extension} has no {stem}.{sibling} in {}",
            dir.display()
        );
        if extension != "json" {
            continue;
        }
        let value_path = dir.join(format!("{stem}.json"));
        let expect_path = dir.join(format!("{stem}.expect"));
        let value = std::fs::read(&value_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", value_path.display()));
        let text = std::fs::read_to_string(&expect_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", expect_path.display()));
        let expect: Expectation =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
        assert_eq!(
            expect.reason.is_some(),
            expect.outputs.contains(&Route::Dlq),
            "{}: `reason` is required for dlq and only for dlq",
            expect_path.display()
        );
        assert!(
            expect.alert.is_none() || expect.outputs.contains(&Route::Alert),
            "{}: `alert` given but no alert expected",
            expect_path.display()
        );
        cases.push(Case {
            name: stem.clone(),
            value,
            expect,
        });
    }
    cases
}
