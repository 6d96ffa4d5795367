//! The reference design's `StreamCopy`: every record of `stream_log` copied to
//! `stream_log_copy`.
//!
//! ```text
//! cargo run --release --example stream_copy -- --bootstrap-servers HOST:PORT
//! ```

mod common;

use ferrobeat_streams::StreamsBuilder;
use ferrobeat_streams::serdes::{Bytes, Nullable};

fn main() -> anyhow::Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Bytes>, Nullable<Bytes>>("stream_log")
        .to("stream_log_copy");
    common::run(builder.build()?, "stream-copy-application", &["stream_log"])
}
