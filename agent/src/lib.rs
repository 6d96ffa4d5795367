//! ferrobeat agent library (under construction).
#![warn(missing_docs)]
pub mod spool;
