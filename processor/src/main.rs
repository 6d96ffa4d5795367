//! The ferrobeat-processor binary.
fn main() {}
