//! The log subscriber both programs install: human text or one JSON object per line, on the
//! writer given, filtered with tracing's `EnvFilter` syntax (`RUST_LOG`-style). Behind the
//! `monitoring` feature.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// For people: time, level, target, message, fields.
    #[default]
    Text,
    /// One JSON object per line, with `timestamp`, `level`, `target`, `message` and the fields
    /// at the top level.
    Json,
}

/// A log format that is neither `text` nor `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?}: expected text or json")]
pub struct UnknownLogFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(UnknownLogFormat(other.to_owned())),
        }
    }
}

/// A subscriber writing to `writer` in `format`, keeping what `filter` lets through.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    fn log_through(format: LogFormat) -> String {
        let buffer = Buffer::default();
        let subscriber = subscriber(format, EnvFilter::new("info"), buffer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("filtered out");
            tracing::warn!(worker = "w-1", "partitions revoked");
        });
        let bytes = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn json_lines_carry_level_message_and_fields() {
        let output = log_through(LogFormat::Json);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 1, "{output}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).expect("one JSON object");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "partitions revoked");
        assert_eq!(line["worker"], "w-1");
        assert!(line["timestamp"].is_string(), "{line}");
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn librdkafka_messages_carry_client_and_facility() {
        use crate::kafka::librdkafka;
        use rdkafka::config::RDKafkaLogLevel;
        let buffer = Buffer::default();
        let subscriber = subscriber(LogFormat::Json, EnvFilter::new("info"), buffer.clone());
        tracing::subscriber::with_default(subscriber, || {
            librdkafka(
                "app-1-consumer",
                RDKafkaLogLevel::Warning,
                "CONFWARN",
                "ignored",
            );
            librdkafka(
                "app-1-consumer",
                RDKafkaLogLevel::Error,
                "FAIL",
                "broker down",
            );
        });
        let bytes = buffer.0.lock().expect("buffer").clone();
        let output = String::from_utf8(bytes).expect("utf-8");
        let lines: Vec<serde_json::Value> = output
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON"))
            .collect();
        assert_eq!(lines.len(), 1, "{output}");
        assert_eq!(lines[0]["target"], "librdkafka");
        assert_eq!(lines[0]["level"], "ERROR");
        assert_eq!(lines[0]["fac"], "FAIL");
        assert_eq!(lines[0]["client"], "app-1-consumer");
        assert_eq!(lines[0]["message"], "broker down");
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn text_lines_are_not_json() {
        let output = log_through(LogFormat::Text);
        assert!(output.contains("WARN"), "{output}");
        assert!(output.contains("partitions revoked"), "{output}");
        assert!(serde_json::from_str::<serde_json::Value>(output.trim()).is_err());
    }
}
