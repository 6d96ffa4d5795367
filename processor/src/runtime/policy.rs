//! Pure decision of the runtime: which production errors are worth a retry.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_trouble_is_retriable_and_bad_records_are_not() {
        let produce = |code| KafkaError::MessageProduction(code);
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
    }
}
