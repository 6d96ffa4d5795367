//! What to do with an output whose delivery failed, pure: retry it, dead-letter it, skip it or
//! fail the worker. At least once holds throughout: an output is given up on (skipped, its input
//! offset committable) only when it can never be written and the operator chose
//! `log-and-continue`; every other output that cannot be written stops the worker, whose
//! partition offsets then stay before it, so the group's next owner tries it again.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::errors::ErrorPolicy;

/// Bytes of a value kept in the dead letter of an output too large to be written.
pub const TRUNCATED_VALUE_BYTES: usize = 16 * 1024;

/// Whether a failed delivery may succeed if the record is sent again: the broker or the network
/// was briefly unable (leadership moved, a timeout, a full local queue), not the record itself.
pub fn is_retriable(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(
            MessageTimedOut
                | QueueFull
                | RequestTimedOut
                | NotLeaderForPartition
                | LeaderNotAvailable
                | NetworkException
                | BrokerTransportFailure
                | AllBrokersDown
                | NotEnoughReplicas
                | NotEnoughReplicasAfterAppend
                | NotCoordinator
                | CoordinatorLoadInProgress
                | BrokerNotAvailable
                | OperationTimedOut
                | ThrottlingQuotaExceeded
                | KafkaStorageError
                | UnknownTopicOrPartition
        )
    )
}

/// Whether the record can never be written as it is: it is larger than a broker or the producer
/// accepts (`message.max.bytes`).
pub fn is_too_large(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(MessageSizeTooLarge | MessageBatchTooLarge | InvalidMessageSize)
    )
}

/// One failed delivery, as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedDelivery {
    /// Whether sending it again may succeed ([`is_retriable`]).
    pub retriable: bool,
    /// Whether it can never be written as it is ([`is_too_large`]).
    pub too_large: bool,
    /// Attempts made so far, from 0 for the first send.
    pub attempt: u32,
    /// Whether it was going to the dead-letter topic already.
    pub dead_letter: bool,
}

impl FailedDelivery {
    /// `error` on attempt `attempt` of an output, `dead_letter` if it was a dead letter.
    pub fn of(error: &KafkaError, attempt: u32, dead_letter: bool) -> Self {
        FailedDelivery {
            retriable: is_retriable(error),
            too_large: is_too_large(error),
            attempt,
            dead_letter,
        }
    }
}

/// What the worker does with a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryDecision {
    /// Send it again as it is (attempt + 1).
    Retry,
    /// Send it to the dead-letter topic with headers naming the error; `truncate` cuts the value
    /// to [`TRUNCATED_VALUE_BYTES`] and says so in a header.
    DeadLetter {
        /// Whether the value must be cut to be writable at all.
        truncate: bool,
    },
    /// Give up on it, counted and logged; its input offset becomes committable.
    Skip,
    /// Stop the worker without committing past its input record.
    Fail,
}

/// Decides for `failure` under `policy`, with `retries` re-sends allowed per destination.
pub fn decide(failure: FailedDelivery, retries: u32, policy: ErrorPolicy) -> DeliveryDecision {
    if failure.retriable && failure.attempt < retries {
        return DeliveryDecision::Retry;
    }
    if failure.dead_letter {
        // The dead letter itself cannot be written: nothing safe is left but to stop.
        return DeliveryDecision::Fail;
    }
    match policy {
        ErrorPolicy::DeadLetter => DeliveryDecision::DeadLetter {
            truncate: failure.too_large,
        },
        ErrorPolicy::LogAndContinue if failure.too_large => DeliveryDecision::Skip,
        ErrorPolicy::LogAndContinue | ErrorPolicy::Fail => DeliveryDecision::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produce(code: RDKafkaErrorCode) -> KafkaError {
        KafkaError::MessageProduction(code)
    }

    #[test]
    fn broker_trouble_is_retriable_and_bad_records_are_not() {
        assert!(is_retriable(&produce(
            RDKafkaErrorCode::NotLeaderForPartition
        )));
        assert!(is_retriable(&produce(RDKafkaErrorCode::RequestTimedOut)));
        assert!(is_retriable(&produce(RDKafkaErrorCode::MessageTimedOut)));
        assert!(!is_retriable(&produce(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(!is_retriable(&produce(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )));
        assert!(!is_retriable(&produce(RDKafkaErrorCode::InvalidRecord)));
        assert!(is_too_large(&produce(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(!is_too_large(&produce(RDKafkaErrorCode::MessageTimedOut)));
    }

    const TIMED_OUT: FailedDelivery = FailedDelivery {
        retriable: true,
        too_large: false,
        attempt: 0,
        dead_letter: false,
    };
    const TOO_LARGE: FailedDelivery = FailedDelivery {
        retriable: false,
        too_large: true,
        attempt: 0,
        dead_letter: false,
    };

    #[test]
    fn retriable_errors_are_retried_up_to_the_limit() {
        for policy in [
            ErrorPolicy::DeadLetter,
            ErrorPolicy::LogAndContinue,
            ErrorPolicy::Fail,
        ] {
            for attempt in 0..3 {
                let failure = FailedDelivery {
                    attempt,
                    ..TIMED_OUT
                };
                assert_eq!(decide(failure, 3, policy), DeliveryDecision::Retry);
                let dead_letter = FailedDelivery {
                    dead_letter: true,
                    ..failure
                };
                assert_eq!(decide(dead_letter, 3, policy), DeliveryDecision::Retry);
            }
        }
    }

    #[test]
    fn an_output_that_is_not_written_is_never_skipped_unless_it_never_can_be() {
        let exhausted = FailedDelivery {
            attempt: 3,
            ..TIMED_OUT
        };
        assert_eq!(
            decide(exhausted, 3, ErrorPolicy::DeadLetter),
            DeliveryDecision::DeadLetter { truncate: false }
        );
        assert_eq!(
            decide(exhausted, 3, ErrorPolicy::LogAndContinue),
            DeliveryDecision::Fail,
            "log-and-continue is for bad records, not for a broker that cannot be reached"
        );
        assert_eq!(
            decide(exhausted, 3, ErrorPolicy::Fail),
            DeliveryDecision::Fail
        );
        let failed_dead_letter = FailedDelivery {
            dead_letter: true,
            ..exhausted
        };
        assert_eq!(
            decide(failed_dead_letter, 3, ErrorPolicy::DeadLetter),
            DeliveryDecision::Fail,
            "a dead letter that cannot be written is not dropped"
        );
    }

    #[test]
    fn a_record_too_large_to_write_is_dead_lettered_truncated_skipped_or_fatal_by_policy() {
        assert_eq!(
            decide(TOO_LARGE, 3, ErrorPolicy::DeadLetter),
            DeliveryDecision::DeadLetter { truncate: true }
        );
        assert_eq!(
            decide(TOO_LARGE, 3, ErrorPolicy::LogAndContinue),
            DeliveryDecision::Skip
        );
        assert_eq!(
            decide(TOO_LARGE, 3, ErrorPolicy::Fail),
            DeliveryDecision::Fail
        );
    }
}
