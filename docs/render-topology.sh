#!/usr/bin/env bash
# Redraws the metric topology's picture for the README from `ferrobeat-processor describe`:
# docs/metric-topology.dot (the DOT text, checked against the code by
# processor/tests/describe_cli.rs) and docs/metric-topology.svg (rendered by Graphviz).
# Installs Debian's graphviz once if `dot` is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dot >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y --no-install-recommends graphviz
fi
cargo run --quiet -p ferrobeat-processor -- describe --format dot > docs/metric-topology.dot
dot -Tsvg docs/metric-topology.dot > docs/metric-topology.svg
echo "wrote docs/metric-topology.dot and docs/metric-topology.svg"
