//! End-to-end latency at a steady rate: documents are produced to the processor's input one by
//! one (`linger.ms=0`, `acks=all`), and each hot cpu document's alert is timed from the moment
//! the document was handed to the producer to the moment an independent consumer receives the
//! alert. The send time travels in the document's host name (`lat-<ns since start>`), which the
//! alert copies, so no clock other than this process's monotonic one is involved.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrobeat_tests::TestKafka;
use rdkafka::Offset;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::documents::DocumentGenerator;
use crate::drain::OutputWatch;

/// Host-name prefix marking a latency probe.
const PROBE_PREFIX: &str = "lat-";

/// The latency run's figures.
#[derive(Debug, Clone)]
pub(crate) struct LatencyReport {
    /// Documents produced.
    pub(crate) sent: usize,
    /// Rate asked for, records/s.
    pub(crate) rate: u32,
    /// Alerts expected (hot cpu documents sent).
    pub(crate) expected_alerts: usize,
    /// Produce → alert latencies, sorted, in µs.
    pub(crate) latencies_us: Vec<u64>,
}

impl LatencyReport {
    /// The `quantile` (0..=1) latency in ms, nearest rank.
    pub(crate) fn percentile_ms(&self, quantile: f64) -> f64 {
        percentile(&self.latencies_us, quantile) as f64 / 1000.0
    }
}

/// The nearest-rank `quantile` of sorted `values` (0 when empty).
fn percentile(sorted: &[u64], quantile: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Produces `rate` documents/s to `input` for `duration` and times the alerts on `alert_topic`.
pub(crate) fn measure(
    kafka: &TestKafka,
    generator: &DocumentGenerator,
    input: &str,
    alert_topic: &str,
    partitions: i32,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<LatencyReport> {
    let watch = OutputWatch::new(kafka, &[alert_topic], partitions, Offset::End)?;
    // Let the watch take its position before the first probe.
    watch.next_value(Duration::from_millis(500))?;
    let producer: BaseProducer = kafka
        .client_config()
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()
        .context("creating the latency producer")?;
    let base = Instant::now();
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut expected_alerts = 0;
    let mut latencies_us = Vec::new();
    let receive = |latencies_us: &mut Vec<u64>, value: &[u8]| {
        if let Some(sent_ns) = probe_send_time(value) {
            let now = base.elapsed().as_nanos() as u64;
            latencies_us.push(now.saturating_sub(sent_ns) / 1000);
        }
    };
    for index in 0..total {
        let due = base + interval * index as u32;
        // Receive alerts while waiting for the next send.
        while let Some(wait) = due.checked_duration_since(Instant::now()) {
            producer.poll(Duration::ZERO);
            if let Some(value) = watch.next_value(wait.min(Duration::from_millis(5)))? {
                receive(&mut latencies_us, &value);
            }
        }
        let host = format!("{PROBE_PREFIX}{}", base.elapsed().as_nanos());
        let epoch_ms = chrono::Utc::now().timestamp_millis();
        let (document, hot) = generator.document(index, &host, epoch_ms);
        expected_alerts += usize::from(hot);
        let mut record = BaseRecord::<(), [u8]>::to(input).payload(&document);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(1));
                    record = back;
                }
                Err((e, _)) => bail!("producing a latency probe to {input}: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .context("flushing the latency probes")?;
    let grace = Instant::now() + Duration::from_secs(10);
    while latencies_us.len() < expected_alerts && Instant::now() < grace {
        if let Some(value) = watch.next_value(Duration::from_millis(100))? {
            receive(&mut latencies_us, &value);
        }
    }
    latencies_us.sort_unstable();
    Ok(LatencyReport {
        sent: total,
        rate,
        expected_alerts,
        latencies_us,
    })
}

/// The send time (ns since the run's start) a probe's alert carries in its host name, or `None`
/// for an alert that is not a probe.
fn probe_send_time(alert: &[u8]) -> Option<u64> {
    let alert: serde_json::Value = serde_json::from_slice(alert).ok()?;
    alert["name"]
        .as_str()?
        .strip_prefix(PROBE_PREFIX)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&values, 1.0), 100);
        assert_eq!(percentile(&values, 0.0), 1);
        assert_eq!(percentile(&[], 0.99), 0);
    }

    #[test]
    fn probes_are_recognised_by_their_host_name() {
        assert_eq!(
            probe_send_time(br#"{"name":"lat-1234","cpu":{"usage":0.9},"timestamp":"x"}"#),
            Some(1234)
        );
        assert_eq!(probe_send_time(br#"{"name":"bench-host-01"}"#), None);
        assert_eq!(probe_send_time(b"not json"), None);
    }
}
