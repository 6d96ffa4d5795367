//! End-to-end latency at a steady rate: documents (probes) are produced to a child's input one by
//! one (`linger.ms=0`, `acks=all`), and what each makes on the child's output — the processor's
//! alert for a hot cpu probe, the passthrough's copy of any probe — is timed from the moment the
//! probe was handed to the producer to the moment an independent consumer receives it. The send
//! time travels in the probe's host name (`lat-<ns since start>`), which alerts and copies keep,
//! so no clock other than this process's monotonic one is involved.

use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrobeat_tests::TestKafka;
use rdkafka::Offset;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::documents::DocumentGenerator;
use crate::drain::OutputWatch;

/// At most this many warm-up probes (one a second) are sent until the child answers.
pub(crate) const WARM_UP_PROBES_MAX: usize = 60;

/// Host-name prefix marking a latency probe.
const PROBE_PREFIX: &str = "lat-";

/// Which record a probe makes on the measured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeOutput {
    /// A copy of every probe (the passthrough): its `host.name` carries the send time.
    Copy,
    /// An alert for each hot cpu probe (the processor): its `name` carries the send time.
    Alert,
}

/// The latency run's figures.
#[derive(Debug, Clone)]
pub(crate) struct LatencyReport {
    /// Documents produced.
    pub(crate) sent: usize,
    /// Rate asked for, records/s.
    pub(crate) rate: u32,
    /// Outputs expected: alerts for the hot cpu probes, or a copy of each probe.
    pub(crate) expected_outputs: usize,
    /// Produce → output latencies of the first copy of each output, sorted, in µs.
    pub(crate) latencies_us: Vec<u64>,
    /// Outputs written more than once (at-least-once duplicates, at other offsets).
    pub(crate) duplicates: usize,
    /// Records the broker returned to the watching consumer more than once (same offset).
    pub(crate) read_again: usize,
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

/// Produces `rate` documents/s to `input` for `duration` and times what they make on `output`.
pub(crate) fn measure(
    kafka: &TestKafka,
    generator: &DocumentGenerator,
    input: &str,
    (output, kind): (&str, ProbeOutput),
    partitions: i32,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<LatencyReport> {
    let mut watch = OutputWatch::new(kafka, &[output], partitions, Offset::End)?;
    let producer: BaseProducer = kafka
        .client_config()
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()
        .context("creating the latency producer")?;
    warm_up(&producer, generator, input, &mut watch)?;
    let base = Instant::now();
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    // Known once every probe is sent; the receiver stops when it has them all (or at its grace).
    let expected_alerts = AtomicUsize::new(usize::MAX);
    let (sent, probes) = std::thread::scope(|scope| {
        let receiver = scope.spawn(|| receive_probes(&mut watch, base, kind, &expected_alerts));
        let sent = send_probes(&producer, generator, input, (base, interval), total, kind);
        expected_alerts.store(
            *sent.as_ref().unwrap_or(&0),
            std::sync::atomic::Ordering::SeqCst,
        );
        let probes = receiver.join().expect("the probe receiver does not panic");
        (sent, probes)
    });
    let expected_alerts = sent?;
    let mut probes = probes?;
    probes.latencies_us.sort_unstable();
    Ok(LatencyReport {
        sent: total,
        rate,
        expected_outputs: expected_alerts,
        latencies_us: probes.latencies_us,
        duplicates: probes.duplicates,
        read_again: probes.read_again,
    })
}

/// Sends a hot cpu document (not a probe) every second until the child's output for one arrives:
/// the child has joined its group and is processing.
fn warm_up(
    producer: &BaseProducer,
    generator: &DocumentGenerator,
    input: &str,
    watch: &mut OutputWatch,
) -> anyhow::Result<()> {
    for _ in 0..WARM_UP_PROBES_MAX {
        // Index 0 of the generator's cycle is a hot cpu event: it makes an alert and a copy.
        let (document, _) = generator.document(0, "warm-up", chrono::Utc::now().timestamp_millis());
        crate::send::send(
            producer,
            BaseRecord::<(), [u8]>::to(input).payload(&document),
        )
        .with_context(|| format!("producing a warm-up document to {input}"))?;
        producer
            .flush(Duration::from_secs(10))
            .context("flushing a warm-up document")?;
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if watch.next_value(Duration::from_millis(50))?.is_some() {
                return Ok(());
            }
        }
    }
    bail!("the child made no output for {WARM_UP_PROBES_MAX} warm-up documents, one a second")
}

/// Sends `total` probes, one every `interval` from `base`, and waits for their acknowledgements.
/// Returns how many outputs of `kind` they make.
fn send_probes(
    producer: &BaseProducer,
    generator: &DocumentGenerator,
    input: &str,
    (base, interval): (Instant, Duration),
    total: usize,
    kind: ProbeOutput,
) -> anyhow::Result<usize> {
    let mut expected_outputs = 0;
    for index in 0..total {
        let due = base + interval * index as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let host = format!("{PROBE_PREFIX}{}", base.elapsed().as_nanos());
        let epoch_ms = chrono::Utc::now().timestamp_millis();
        let (document, hot) = generator.document(index, &host, epoch_ms);
        expected_outputs += usize::from(hot || kind == ProbeOutput::Copy);
        crate::send::send(
            producer,
            BaseRecord::<(), [u8]>::to(input).payload(&document),
        )
        .with_context(|| format!("producing a latency probe to {input}"))?;
    }
    producer
        .flush(Duration::from_secs(30))
        .context("flushing the latency probes")?;
    Ok(expected_outputs)
}

/// Receives probe alerts until `expected` of them arrived, or for at most 10 s after `expected`
/// became known.
fn receive_probes(
    watch: &mut OutputWatch,
    base: Instant,
    kind: ProbeOutput,
    expected: &AtomicUsize,
) -> anyhow::Result<ProbeArrivals> {
    const GRACE: Duration = Duration::from_secs(10);
    let mut probes = ProbeArrivals::default();
    let mut known_at = None;
    loop {
        let expected = expected.load(std::sync::atomic::Ordering::SeqCst);
        if expected != usize::MAX {
            let known_at = *known_at.get_or_insert_with(Instant::now);
            if probes.latencies_us.len() >= expected || known_at.elapsed() > GRACE {
                probes.read_again = watch.read_again();
                return Ok(probes);
            }
        }
        if let Some(value) = watch.next_value(Duration::from_millis(50))? {
            probes.receive(base, kind, &value);
        }
    }
}

/// The probes' alerts received so far.
#[derive(Debug, Default)]
struct ProbeArrivals {
    seen: HashSet<u64>,
    latencies_us: Vec<u64>,
    duplicates: usize,
    read_again: usize,
}

impl ProbeArrivals {
    /// Times a received alert against `base`; a second copy of an alert counts as a duplicate.
    fn receive(&mut self, base: Instant, kind: ProbeOutput, output: &[u8]) {
        let Some(sent_ns) = probe_send_time(kind, output) else {
            return;
        };
        if !self.seen.insert(sent_ns) {
            self.duplicates += 1;
            return;
        }
        let now = base.elapsed().as_nanos() as u64;
        self.latencies_us.push(now.saturating_sub(sent_ns) / 1000);
    }
}

/// The send time (ns since the run's start) a probe's output carries in its host name, or
/// `None` for an output that is not from a probe.
fn probe_send_time(kind: ProbeOutput, output: &[u8]) -> Option<u64> {
    let output: serde_json::Value = serde_json::from_slice(output).ok()?;
    let name = match kind {
        ProbeOutput::Copy => &output["host"]["name"],
        ProbeOutput::Alert => &output["name"],
    };
    name.as_str()?.strip_prefix(PROBE_PREFIX)?.parse().ok()
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
        let alert = br#"{"name":"lat-1234","cpu":{"usage":0.9},"timestamp":"x"}"#;
        assert_eq!(probe_send_time(ProbeOutput::Alert, alert), Some(1234));
        assert_eq!(probe_send_time(ProbeOutput::Copy, alert), None);
        let copy = br#"{"agent":{"name":"lat-1"},"host":{"name":"lat-99"}}"#;
        assert_eq!(probe_send_time(ProbeOutput::Copy, copy), Some(99));
        let other = br#"{"name":"bench-host-01"}"#;
        assert_eq!(probe_send_time(ProbeOutput::Alert, other), None);
        assert_eq!(probe_send_time(ProbeOutput::Alert, b"not json"), None);
    }
}
