//! The ferrobeat-agent binary.
fn main() {}
