//! Realistic ~1 KB Metricbeat documents for the benchmark: the schema crate's reference
//! documents with a host object as Metricbeat's `add_host_metadata` writes it, a host name and a
//! timestamp per record, and cpu events alternately above and below the alert threshold.

/// The host object's members after `"name":"…"`, as `add_host_metadata` writes them.
const HOST_DETAILS: &str = r#""hostname":"bench","architecture":"x86_64","os":{"type":"linux","platform":"debian","family":"debian","name":"Debian GNU/Linux","version":"12 (bookworm)","kernel":"6.1.0-18-amd64","codename":"bookworm"},"id":"8f3c1e2d4b5a69788796a5b4c3d2e1f0","ip":["10.0.0.5","fe80::216:3eff:fe12:3456"],"mac":["00-16-3E-12-34-56"],"containerized":false"#;

/// Placeholders filled per record.
const HOST: &str = "{{HOST}}";
const TIMESTAMP: &str = "{{TIMESTAMP}}";
const NORM: &str = "{{NORM}}";

/// The alert threshold the generated cpu events straddle (the production default).
pub(crate) const ALERT_THRESHOLD: f64 = 0.5;

/// What one template becomes in the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cpu,
    Memory,
    Other,
}

/// A reference document with placeholders for the host name, the timestamp and (cpu) the
/// normalised total.
#[derive(Debug)]
struct Template {
    kind: Kind,
    text: String,
}

/// Generates documents in a fixed cycle of ten: four cpu (two hot, two cold), two memory, one
/// each of network, diskio, load and filesystem — the mix of the processor's criterion bench.
#[derive(Debug)]
pub(crate) struct DocumentGenerator {
    templates: Vec<Template>,
}

/// How many records of each output a set of generated documents makes the processor write.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExpectedOutputs {
    /// Records copied to the cpu topic.
    pub(crate) cpu: usize,
    /// Records copied to the memory topic.
    pub(crate) memory: usize,
    /// Alerts (cpu records above the threshold).
    pub(crate) alerts: usize,
}

impl ExpectedOutputs {
    /// All output records.
    pub(crate) fn total(&self) -> usize {
        self.cpu + self.memory + self.alerts
    }
}

/// Hosts the documents come from: the keys of the stateful drain's per-host state and
/// one-minute windows.
pub(crate) const HOSTS: usize = 1000;

/// The host of document `index`.
pub(crate) fn host_name(index: usize) -> String {
    format!("bench-host-{:02}", index % HOSTS)
}

impl DocumentGenerator {
    /// Builds the templates from the schema crate's reference documents.
    pub(crate) fn new() -> DocumentGenerator {
        let ticks = include_str!("../../../../shared/schema/tests/documents/linux-cpu-ticks.json")
            .replace("0.6125", NORM);
        let mission = include_str!("../../../../shared/schema/tests/documents/mission-cpu.json")
            .replace("0.1889", NORM);
        let cpu = [ticks.clone(), mission.clone(), ticks, mission].map(|t| (Kind::Cpu, t));
        let memory = [
            include_str!("../../../../shared/schema/tests/documents/linux-memory.json"),
            include_str!("../../../../shared/schema/tests/documents/mission-memory.json"),
        ]
        .map(|t| (Kind::Memory, t.to_owned()));
        let others = [
            include_str!("../../../../shared/schema/tests/documents/linux-network.json"),
            include_str!("../../../../shared/schema/tests/documents/linux-diskio.json"),
            include_str!("../../../../shared/schema/tests/documents/linux-load.json"),
            include_str!("../../../../shared/schema/tests/documents/linux-filesystem.json"),
        ]
        .map(|t| (Kind::Other, t.to_owned()));
        let templates = cpu
            .into_iter()
            .chain(memory)
            .chain(others)
            .map(|(kind, text)| Template {
                kind,
                text: with_placeholders(&text),
            })
            .collect();
        DocumentGenerator { templates }
    }

    /// Record `index` of the cycle: host `host_name`, `@timestamp` from `epoch_ms`. Returns the
    /// document and whether it is a hot cpu event (one that makes an alert).
    pub(crate) fn document(&self, index: usize, host_name: &str, epoch_ms: i64) -> (Vec<u8>, bool) {
        let template = &self.templates[index % self.templates.len()];
        // Cpu templates come first in the cycle: even ones hot, odd ones cold.
        let hot = template.kind == Kind::Cpu && index.is_multiple_of(2);
        let norm = if hot {
            ALERT_THRESHOLD + 0.05 + (index % 40) as f64 * 0.01
        } else {
            ALERT_THRESHOLD - 0.05 - (index % 40) as f64 * 0.01
        };
        let text = template
            .text
            .replace(HOST, host_name)
            .replace(TIMESTAMP, &format_timestamp(epoch_ms))
            .replace(NORM, &format!("{norm:.4}"));
        (text.into_bytes(), hot)
    }

    /// `count` documents over [`HOSTS`] hosts, one second apart, and what the processor makes of
    /// them.
    pub(crate) fn batch(&self, count: usize) -> (Vec<Vec<u8>>, ExpectedOutputs) {
        const START_MS: i64 = 1_738_310_400_000;
        let mut expected = ExpectedOutputs::default();
        let documents = (0..count)
            .map(|index| {
                let host = host_name(index);
                let (document, hot) = self.document(index, &host, START_MS + index as i64 * 1000);
                match self.templates[index % self.templates.len()].kind {
                    Kind::Cpu => expected.cpu += 1,
                    Kind::Memory => expected.memory += 1,
                    Kind::Other => {}
                }
                expected.alerts += usize::from(hot);
                document
            })
            .collect();
        (documents, expected)
    }
}

/// Replaces the reference document's host name (also the agent's name) and timestamp with
/// placeholders, and enriches a bare host object with `add_host_metadata`'s members.
fn with_placeholders(text: &str) -> String {
    let enriched = [
        r#""name":"web-1"}"#,
        r#""name":"Aaronui-MacBookPro.local"}"#,
    ]
    .into_iter()
    .fold(text.to_owned(), |text, bare| {
        text.replace(bare, &format!(r#""name":"{HOST}",{HOST_DETAILS}}}"#))
    });
    let named = [r#""web-1""#, r#""Aaronui-MacBookPro.local""#]
        .into_iter()
        .fold(enriched, |text, name| {
            text.replace(name, &format!("\"{HOST}\""))
        });
    const KEY: &str = r#""@timestamp":""#;
    let start = named
        .find(KEY)
        .expect("every reference document has a @timestamp")
        + KEY.len();
    let end = start
        + named[start..]
            .find('"')
            .expect("the @timestamp string closes");
    format!("{}{TIMESTAMP}{}", &named[..start], &named[end..])
}

/// `epoch_ms` as Metricbeat writes `@timestamp`: UTC, milliseconds, `Z`.
fn format_timestamp(epoch_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_about_a_kilobyte_valid_and_half_the_cpu_ones_hot() {
        let generator = DocumentGenerator::new();
        let (documents, expected) = generator.batch(1000);
        assert_eq!(
            expected,
            ExpectedOutputs {
                cpu: 400,
                memory: 200,
                alerts: 200
            }
        );
        let mean = documents.iter().map(Vec::len).sum::<usize>() / documents.len();
        assert!((800..=1200).contains(&mean), "mean size {mean} bytes");
        let mut hot = 0;
        for (index, document) in documents.iter().enumerate() {
            let text = std::str::from_utf8(document).expect("UTF-8");
            assert!(!text.contains("{{"), "placeholder left in {text}");
            let event: serde_json::Value = serde_json::from_slice(document)
                .unwrap_or_else(|e| panic!("document {index} is not JSON ({e}): {text}"));
            serde_json::from_slice::<ferrobeat_schema::Event>(document)
                .unwrap_or_else(|e| panic!("document {index} is not an Event ({e}): {text}"));
            assert_eq!(event["host"]["name"], host_name(index));
            if let Some(norm) = event["system"]["cpu"]["total"]["norm"]["pct"].as_f64() {
                hot += usize::from(norm > ALERT_THRESHOLD);
            }
        }
        assert_eq!(hot, expected.alerts);
    }
}
