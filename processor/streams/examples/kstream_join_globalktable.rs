//! The reference design's `KStreamJoinGlobalKTable`: orders (`order`) joined with the customers'
//! addresses (`address_v2`, a global table: every instance holds all of it, so the topics need
//! not be co-partitioned) into `order_join`: `ORDER send to ADDRESS`.
//!
//! ```text
//! cargo run --release --example kstream_join_globalktable -- --bootstrap-servers HOST:PORT
//! ```

mod common;

use ferrobeat_streams::StreamsBuilder;
use ferrobeat_streams::serdes::{Nullable, Utf8};

fn main() -> anyhow::Result<()> {
    let builder = StreamsBuilder::new();
    let address = builder.global_table::<Utf8, Utf8>("address_v2");
    builder
        .stream::<Nullable<Utf8>, Utf8>("order")
        .join_global(
            &address,
            |key, _| key.as_deref().unwrap_or_default().to_owned(),
            |order, address| format!("{order} send to {address}"),
        )
        .to("order_join");
    common::run(
        builder.build()?,
        "global-table-join-application",
        &["address_v2", "order"],
    )
}
