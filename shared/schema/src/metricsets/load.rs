//! `system.load`: load averages.

use serde::{Deserialize, Serialize};

/// `system.load`: 1, 5 and 15 minute load averages, raw and divided by `cores`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// The averages as the kernel reports them.
    #[serde(flatten)]
    pub averages: LoadAverages,
    /// The averages divided by `cores`.
    pub norm: LoadAverages,
    /// Number of logical CPUs.
    pub cores: u32,
}

/// The three load averages, under Metricbeat's keys `1`, `5` and `15`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadAverages {
    /// 1-minute average.
    #[serde(rename = "1")]
    pub one: f64,
    /// 5-minute average.
    #[serde(rename = "5")]
    pub five: f64,
    /// 15-minute average.
    #[serde(rename = "15")]
    pub fifteen: f64,
}
