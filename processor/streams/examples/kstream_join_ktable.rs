//! The reference design's `KStreamJoinKTable`: orders (`order`, keyed by customer) joined with
//! the customers' addresses (`address`, a table) into `order_join`:
//! `ORDER send to ADDRESS`. Both topics must have the same partition count.
//!
//! ```text
//! cargo run --release --example kstream_join_ktable -- --bootstrap-servers HOST:PORT
//! ```

mod common;

use ferrobeat_streams::StreamsBuilder;
use ferrobeat_streams::serdes::{Nullable, Utf8};

fn main() -> anyhow::Result<()> {
    let builder = StreamsBuilder::new();
    let address = builder.table::<Nullable<Utf8>, Utf8>("address");
    builder
        .stream::<Nullable<Utf8>, Utf8>("order")
        .join(&address, |order, address| {
            format!("{order} send to {address}")
        })
        .to("order_join");
    common::run(
        builder.build()?,
        "order-join-application",
        &["address", "order"],
    )
}
