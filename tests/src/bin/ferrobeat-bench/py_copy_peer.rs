//! The byte copy in Python beside the processor's drain (`--peers`): `tests/peers/byte_copy.py`,
//! a consume → produce copy with confluent-kafka and librdkafka's defaults — the reference issue
//! 17 measured the processor against — drains the same batched backlog on the same broker and is
//! measured as the Rust byte copy is (its copies by an independent consumer; CPU seconds and
//! peak RSS of the Python process from `/proc` once the last copy arrived).

use std::process::{Command, Stdio};

use anyhow::Context as _;
use rdkafka::Offset;

use crate::drain::OutputWatch;
use crate::report::Throughput;
use crate::{Children, PARTITIONS, Topics, measure_drain_until_stdin_closes, peers};

impl Children<'_> {
    /// The Python byte copy's drain of `records` records of `topics.input` into `topics.copy`.
    pub(crate) fn drain_python_copy(
        &self,
        topics: &Topics,
        records: usize,
    ) -> anyhow::Result<Throughput> {
        let python = peers::python()?;
        let mut watch =
            OutputWatch::new(self.kafka, &[&topics.copy], PARTITIONS, Offset::Beginning)?;
        let log = self.scratch.join("python-copy.log");
        let mut copier = Command::new(&python)
            .arg(peers::script("byte_copy.py"))
            .args(self.copy_args(topics, records, "bench-python-copy"))
            // It exits once its standard input closes, as the Rust byte copy does.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).context("creating the Python byte copy's log")?)
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let drained = measure_drain_until_stdin_closes(
            &mut copier,
            &mut watch,
            records,
            "the Python byte copy",
        );
        drained.with_context(|| format!("the Python byte copy failed{}", crate::log_tail(&log)))
    }
}
