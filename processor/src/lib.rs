//! ferrobeat-processor: the metric application on top of `ferrobeat-streams`.
//!
//! * `metric_topology`: the seed application (route by metricset, alert on hot CPUs);
//! * `config`: the TOML configuration file (`[kafka]`, `[runtime]`, `[topology]`, `[errors]`,
//!   `[monitoring]`, `[[interceptors]]`) and the command line's overrides;
//! * `monitor`: the runtime's reports as Prometheus series, the `/metrics`, `/health` and
//!   `/ready` answers, the periodic counter line;
//! * `lag`: the `lag` command (consumer lag and Burrow-style statuses of the group);
//! * `setup`: the `setup` command (creates and verifies the pipeline's topics).
//!
//! The stream-processing library itself (DSL, driver, runtime) is `ferrobeat-streams`.
#![warn(missing_docs)]
pub mod config;
pub mod lag;
pub mod metric_topology;
pub mod monitor;
pub mod setup;
