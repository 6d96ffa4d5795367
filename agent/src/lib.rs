//! ferrobeat agent library (under construction).
#![warn(missing_docs)]
pub mod collect;
pub mod config;
pub mod source;
pub mod spool;
