//! A windowed count with its final results only: the host named by each record of `events` is
//! counted per one-minute window (re-keyed by host, so through a repartition topic), accepting
//! records up to five minutes late, and each window's final count is written to `window_finals`
//! once the window closed (`suppress(until_window_closes)`), keyed by the host's bytes followed
//! by the window start (8 bytes big-endian), valued by the count (8 bytes big-endian).
//!
//! ```text
//! cargo run --release --example windowed_count -- --bootstrap-servers HOST:PORT
//! ```

mod common;

use std::time::Duration;

use ferrobeat_streams::serdes::{Nullable, Utf8};
use ferrobeat_streams::{StreamsBuilder, Suppressed, TimeWindows};

fn main() -> anyhow::Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Utf8>, Utf8>("events")
        .group_by(|_, host| host.to_string())
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(60),
            Duration::from_secs(300),
        ))
        .count_as("counts")
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to("window_finals");
    common::run(builder.build()?, "windowed-count-application", &["events"])
}
