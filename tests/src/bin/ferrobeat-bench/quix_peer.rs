//! The processor's drain beside Quix Streams' (`--peers`): `tests/peers/quix_topology.py`, the
//! processor's stateless metric topology written with Quix Streams, drains the same batched
//! backlog on the same broker with Quix Streams' own defaults, and is measured as the processor
//! is (its outputs on the cpu, memory and alert topics by an independent consumer; CPU seconds
//! and peak RSS of the Python process from `/proc`).

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::Offset;

use crate::drain::OutputWatch;
use crate::report::Throughput;
use crate::{Children, PARTITIONS, Topics, documents, measure_drain, peers, process};

impl Children<'_> {
    /// Quix Streams' drain of `records` records of `topics.input` into `outputs` outputs.
    pub(crate) fn drain_quix(
        &self,
        topics: &Topics,
        records: usize,
        outputs: usize,
    ) -> anyhow::Result<Throughput> {
        let python = peers::python()?;
        let mut watch = OutputWatch::new(
            self.kafka,
            &[&topics.cpu, &topics.memory, &topics.alert],
            PARTITIONS,
            Offset::Beginning,
        )?;
        let log = self.scratch.join("quix.log");
        let mut quix = Command::new(&python)
            .arg(peers::script("quix_topology.py"))
            .args(["--bootstrap-servers", self.kafka.bootstrap_servers()])
            .args(["--group", &self.kafka.unique_topic("bench-quix")])
            .args(["--input", &topics.input, "--cpu", &topics.cpu])
            .args(["--memory", &topics.memory, "--alert", &topics.alert])
            .args(["--threshold", &documents::ALERT_THRESHOLD.to_string()])
            // The bench's settings for the test broker only, as the byte copy gets them.
            .args(self.broker_property_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).context("creating the Quix Streams log")?)
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let drained = measure_drain(&mut quix, &mut watch, records, outputs);
        let stopped = process::terminate(&mut quix, Duration::from_secs(30));
        let drained =
            drained.with_context(|| format!("measuring Quix Streams{}", crate::log_tail(&log)))?;
        stopped.with_context(|| format!("stopping Quix Streams{}", crate::log_tail(&log)))?;
        Ok(drained)
    }
}
