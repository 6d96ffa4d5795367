//! Broker harness.
#![warn(missing_docs)]
