//! ferrobeat processor library (under construction).
#![warn(missing_docs)]
