//! The reference design's `StreamFilter`: the values of `stream_log` longer than 5 characters,
//! to `stream_log_filter`.
//!
//! ```text
//! cargo run --release --example stream_filter -- --bootstrap-servers HOST:PORT
//! ```

mod common;

use ferrobeat_streams::StreamsBuilder;
use ferrobeat_streams::serdes::{Nullable, Utf8};

fn main() -> anyhow::Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Utf8>, Utf8>("stream_log")
        .filter(|_, value| value.chars().count() > 5)
        .to("stream_log_filter");
    common::run(
        builder.build()?,
        "stream-filter-application",
        &["stream_log"],
    )
}
