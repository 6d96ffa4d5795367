//! `ferrobeat-processor describe` from the command line: the three formats, and the README's
//! picture (`docs/metric-topology.dot`, drawn by `docs/render-topology.sh`) matching the code.

use std::process::Command;

fn describe(format: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ferrobeat-processor"))
        .args(["describe", "--format", format])
        .output()
        .expect("run ferrobeat-processor describe");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn every_format_names_every_topic() {
    for format in ["text", "dot", "mermaid"] {
        let description = describe(format);
        for topic in [
            "metric.all",
            "metric.cpu",
            "metric.memory",
            "metric.cpu.alert",
        ] {
            assert!(
                description.contains(topic),
                "{format} lacks {topic}:\n{description}"
            );
        }
    }
    assert!(describe("text").starts_with("Topologies:\n   Sub-topology: 0\n"));
    assert!(describe("dot").starts_with("digraph topology {"));
    assert!(describe("mermaid").starts_with("flowchart"));
}

#[test]
fn the_readme_picture_is_drawn_from_the_current_topology() {
    let committed = include_str!("../../docs/metric-topology.dot");
    assert_eq!(
        describe("dot"),
        committed,
        "the topology changed: run docs/render-topology.sh and commit docs/metric-topology.*"
    );
}
