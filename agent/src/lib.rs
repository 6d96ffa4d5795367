//! ferrobeat agent library (under construction).
#![warn(missing_docs)]
pub mod collect;
pub mod config;
pub mod identity;
pub mod monitor;
pub mod run;
pub mod sample;
pub mod ship;
pub mod snapshot;
pub mod source;
pub mod spool;
