//! What happens to a record the topology cannot process: the pure policy, the dead-letter
//! record and a log rate limiter. The runtime and the test driver apply them.
//!
//! As Kafka Streams' exception handlers (KIP-1033/KIP-1034) but with a better default: a bad
//! record is dead-lettered with headers naming why, and the pipeline goes on.

use std::borrow::Cow;

use serde::Deserialize;

pub use crate::log_limit::LogRateLimiter;
use crate::record::{Header, InputRecord, OutputRecord};
use crate::topology::{ProcessingError, validate_topic_name};

/// Header naming the kind of error (KIP-1034's `__streams.errors.exception`).
pub const HEADER_EXCEPTION: &str = "__streams.errors.exception";
/// Header holding the error message (KIP-1034).
pub const HEADER_MESSAGE: &str = "__streams.errors.message";
/// Header holding where in the topology the error happened (KIP-1034's stack-trace header).
pub const HEADER_STACKTRACE: &str = "__streams.errors.stacktrace";
/// Header holding the source topic (KIP-1034).
pub const HEADER_TOPIC: &str = "__streams.errors.topic";
/// Header holding the source partition, in decimal (KIP-1034).
pub const HEADER_PARTITION: &str = "__streams.errors.partition";
/// Header holding the source offset, in decimal (KIP-1034).
pub const HEADER_OFFSET: &str = "__streams.errors.offset";
/// Header of a dead letter whose value was cut because the record is too large to be written
/// whole: the original value's length in bytes, in decimal.
pub const HEADER_TRUNCATED: &str = "__streams.errors.truncated";

/// Where dead letters go unless configured otherwise.
pub const DEFAULT_DEAD_LETTER_TOPIC: &str = "dead-letters";

/// What to do with a record the topology could not process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorPolicy {
    /// Log (rate-limited), count, and write it to the dead-letter topic; go on.
    #[default]
    DeadLetter,
    /// Log (rate-limited), count, and drop it; go on (no dead-letter topic).
    LogAndContinue,
    /// Stop processing: the error is fatal (Kafka Streams' default).
    Fail,
}

/// The `[errors]` configuration: the policy and the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorHandlingConfig {
    /// `dead-letter` (default), `log-and-continue` or `fail`.
    pub policy: ErrorPolicy,
    /// Where dead letters go (default [`DEFAULT_DEAD_LETTER_TOPIC`]); used by the `dead-letter`
    /// policy only.
    pub dead_letter_topic: String,
}

impl Default for ErrorHandlingConfig {
    fn default() -> Self {
        Self {
            policy: ErrorPolicy::default(),
            dead_letter_topic: DEFAULT_DEAD_LETTER_TOPIC.to_owned(),
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{key}`: {reason}")]
pub struct ErrorConfigError {
    /// The offending key.
    pub key: &'static str,
    /// Why it is refused.
    pub reason: String,
}

/// What the caller must do with a failed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorAction<'a> {
    /// Produce this record (to the dead-letter topic), then go on.
    DeadLetter(OutputRecord<'a>),
    /// Drop the record and go on.
    Skip,
    /// Stop: the error is fatal.
    Fail,
}

impl ErrorHandlingConfig {
    /// Checks the dead-letter topic name when the policy uses it.
    ///
    /// # Errors
    /// [`ErrorConfigError`] naming `dead_letter_topic` and why it is not a valid topic name.
    pub fn validate(&self) -> Result<(), ErrorConfigError> {
        if self.policy != ErrorPolicy::DeadLetter {
            return Ok(());
        }
        validate_topic_name(&self.dead_letter_topic).map_err(|reason| ErrorConfigError {
            key: "dead_letter_topic",
            reason,
        })
    }

    /// The topic dead letters go to, if this policy writes any.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        (self.policy == ErrorPolicy::DeadLetter).then_some(self.dead_letter_topic.as_str())
    }

    /// Decides what to do with `input`, which failed with `error`.
    pub fn action<'a>(
        &'a self,
        input: &InputRecord<'a>,
        error: &ProcessingError,
    ) -> ErrorAction<'a> {
        match self.policy {
            ErrorPolicy::DeadLetter => {
                ErrorAction::DeadLetter(dead_letter_record(input, error, &self.dead_letter_topic))
            }
            ErrorPolicy::LogAndContinue => ErrorAction::Skip,
            ErrorPolicy::Fail => ErrorAction::Fail,
        }
    }
}

/// The dead letter of `input`: its key, value, timestamp and headers, plus KIP-1034's
/// `__streams.errors.*` headers naming the error kind, message, node, source topic,
/// partition and offset.
pub fn dead_letter_record<'a>(
    input: &InputRecord<'a>,
    error: &ProcessingError,
    topic: &'a str,
) -> OutputRecord<'a> {
    let header = |key: &'static str, value: String| Header {
        key: Cow::Borrowed(key),
        value: Some(Cow::Owned(value.into_bytes())),
    };
    let mut headers = input.headers.clone();
    headers.extend([
        header(HEADER_EXCEPTION, error.kind.as_str().to_owned()),
        header(HEADER_MESSAGE, error.message.clone()),
        header(HEADER_STACKTRACE, error.to_string()),
        header(HEADER_TOPIC, input.source.topic.to_owned()),
        header(HEADER_PARTITION, input.source.partition.to_string()),
        header(HEADER_OFFSET, input.source.offset.to_string()),
    ]);
    OutputRecord {
        topic: Cow::Borrowed(topic),
        key: input.key.map(Cow::Borrowed),
        value: input.value.map(Cow::Borrowed),
        timestamp: input.timestamp,
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SourcePosition;
    use crate::topology::ProcessingErrorKind;

    fn input() -> InputRecord<'static> {
        InputRecord {
            source: SourcePosition {
                topic: "metric.all",
                partition: 2,
                offset: 41,
            },
            timestamp: 1_700_000_000_000,
            key: Some(b"k"),
            value: Some(b"{oops"),
            headers: vec![Header {
                key: Cow::Borrowed("trace"),
                value: None,
            }],
        }
    }

    fn error() -> ProcessingError {
        ProcessingError::new(
            ProcessingErrorKind::Deserialization,
            "KSTREAM-SOURCE-0000000000",
            "bad JSON",
        )
    }

    #[test]
    fn dead_letter_keeps_the_record_and_names_the_error() {
        let input = input();
        let letter = dead_letter_record(&input, &error(), "dead-letters");
        assert_eq!(letter.topic, "dead-letters");
        assert_eq!(letter.key.as_deref(), Some(b"k".as_slice()));
        assert_eq!(letter.value.as_deref(), Some(b"{oops".as_slice()));
        assert_eq!(letter.timestamp, input.timestamp);
        let headers: Vec<(&str, Option<&str>)> = letter
            .headers
            .iter()
            .map(|h| {
                (
                    &*h.key,
                    h.value
                        .as_deref()
                        .map(|v| std::str::from_utf8(v).unwrap_or("?")),
                )
            })
            .collect();
        assert_eq!(
            headers,
            [
                ("trace", None),
                (HEADER_EXCEPTION, Some("deserialization")),
                (HEADER_MESSAGE, Some("bad JSON")),
                (
                    HEADER_STACKTRACE,
                    Some("deserialization error in node KSTREAM-SOURCE-0000000000: bad JSON")
                ),
                (HEADER_TOPIC, Some("metric.all")),
                (HEADER_PARTITION, Some("2")),
                (HEADER_OFFSET, Some("41")),
            ]
        );
    }

    #[test]
    fn dead_letter_borrows_the_input_headers() {
        let value = b"span-1".to_vec();
        let input = InputRecord {
            headers: vec![Header {
                key: Cow::Borrowed("trace"),
                value: Some(Cow::Borrowed(&value)),
            }],
            ..input()
        };
        let letter = dead_letter_record(&input, &error(), "dead-letters");
        assert!(
            matches!(&letter.headers[0].value, Some(Cow::Borrowed(v)) if std::ptr::eq(*v, value.as_slice())),
            "{:?}",
            letter.headers[0]
        );
    }

    #[test]
    fn policies_decide() {
        let input = input();
        let mut config = ErrorHandlingConfig::default();
        assert!(
            matches!(config.action(&input, &error()), ErrorAction::DeadLetter(r) if r.topic == "dead-letters")
        );
        config.policy = ErrorPolicy::LogAndContinue;
        assert_eq!(config.action(&input, &error()), ErrorAction::Skip);
        assert_eq!(config.dead_letter_topic(), None);
        config.policy = ErrorPolicy::Fail;
        assert_eq!(config.action(&input, &error()), ErrorAction::Fail);
    }

    #[test]
    fn config_parses_and_refuses_unknown_keys_and_bad_topics() {
        let config: ErrorHandlingConfig =
            toml::from_str("policy = \"log-and-continue\"").expect("valid config");
        assert_eq!(config.policy, ErrorPolicy::LogAndContinue);
        assert_eq!(config.dead_letter_topic, "dead-letters");
        let err = toml::from_str::<ErrorHandlingConfig>("policy = \"dead-letter\"\ndlq = \"x\"")
            .expect_err("unknown key");
        assert!(err.to_string().contains("unknown field `dlq`"), "{err}");
        let bad = ErrorHandlingConfig {
            dead_letter_topic: "bad topic".to_owned(),
            ..Default::default()
        };
        let err = bad.validate().expect_err("space in topic");
        assert_eq!(err.key, "dead_letter_topic");
        assert!(err.reason.contains("' '"), "{}", err.reason);
    }
}
