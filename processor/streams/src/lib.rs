//! ferrobeat-streams: a small Kafka Streams for Rust.
//!
//! A guided tour, in the order a Kafka Streams user meets the pieces:
//!
//! 1. **Declare** a processing graph with [`StreamsBuilder`]: [`KStream`]s read from topics with
//!    [`serdes`] that turn bytes into typed keys and values (borrowing the consumed bytes where
//!    they can), are filtered, mapped, split into branches and written to topics. Building
//!    checks the graph and freezes it into a [`Topology`].
//! 2. **Describe** it: [`Topology::describe`] prints Kafka Streams' `TopologyDescription` text,
//!    and Graphviz DOT or Mermaid for a picture.
//! 3. **Test** it without a broker: [`driver::TopologyTestDriver`] pipes records into input
//!    topics and reads what the topology wrote to output topics, as Kafka Streams'
//!    `TopologyTestDriver` does.
//! 4. **Run** it on Kafka: [`runtime::StreamsRuntime`] runs the topology as a consumer group
//!    (the application id) with worker threads, commits an input offset only once every output
//!    of it is acknowledged (at least once), goes through Kafka Streams' client states
//!    (`CREATED → REBALANCING ⇄ RUNNING → PENDING_SHUTDOWN → NOT_RUNNING`, and `ERROR`), and
//!    reports what it does to a [`runtime::RuntimeObserver`] an application exports as metrics.
//! 5. **Handle bad records** with a policy ([`errors`]): dead-letter them with KIP-1034's headers
//!    (the default), log and continue, or fail.
//!
//! [`config`] holds what the runtime runs with; [`record`] the records a topology sees.
//!
//! ```
//! use ferrobeat_streams::StreamsBuilder;
//! use ferrobeat_streams::driver::TopologyTestDriver;
//! use ferrobeat_streams::serdes::{Bytes, Nullable, Utf8};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<Nullable<Bytes>, Utf8>("stream_log")
//!     .filter(|_, value| value.len() > 5)
//!     .to("stream_log_filter");
//! let driver = TopologyTestDriver::new(builder.build()?);
//! driver
//!     .create_input_topic("stream_log")
//!     .pipe_values(&["short", "long enough"]);
//! let output = driver.create_output_topic("stream_log_filter");
//! assert_eq!(output.read_value_strings_to_list(), ["long enough"]);
//! # Ok(()) }
//! ```
//!
//! Runnable programs: `examples/` (`cargo run --example stream_copy -- --help`).
#![warn(missing_docs)]

pub mod config;
pub mod driver;
pub mod errors;
mod log_limit;
pub mod record;
pub mod runtime;
pub mod state;
pub mod topology;

pub use topology::serdes;
pub use topology::{
    GlobalKTable, KGroupedStream, KStream, KTable, StreamsBuilder, Suppressed, TimeWindowedKStream,
    TimeWindows, Topology, Windowed,
};
