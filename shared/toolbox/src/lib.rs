//! What the edges of ferrobeat's two programs share, so that neither keeps a copy: the Kafka
//! client settings, the configuration file's loading, the interceptors, the monitoring endpoint
//! and the logging.
//!
//! * [`properties`]: the `[kafka.properties]` table (librdkafka settings, secrets hidden from
//!   `Debug`);
//! * [`config`]: TOML loading with errors naming the file, `line:column` and the dotted key;
//!   durations written as `"10s"` (`humantime`);
//! * [`intercept`]: the interceptor trait both programs call around their Kafka clients, the
//!   plain views of records it sees, the `[[interceptors]]` registry and the logging interceptor;
//! * [`sync`]: a mutex lock that survives a panicked holder;
//! * feature `kafka`: [`kafka`], the base client settings and librdkafka's log lines routed to
//!   `tracing`, and the interceptors' views of rdkafka's delivery reports;
//! * feature `cli`: [`generate`], the hidden `generate` command writing a binary's man page and
//!   shell completions from its clap definitions;
//! * feature `monitoring`: [`endpoint`], the `/metrics` `/health` `/ready` HTTP server, and
//!   [`logging`], the text or JSON log subscriber.
//!
//! The Metricbeat contract itself is the `ferrobeat-schema` crate, which depends on none of this.
#![warn(missing_docs)]

pub mod config;
#[cfg(feature = "monitoring")]
pub mod endpoint;
#[cfg(feature = "cli")]
pub mod generate;
pub mod intercept;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "monitoring")]
pub mod logging;
pub mod properties;
pub mod sync;
