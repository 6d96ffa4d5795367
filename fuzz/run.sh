#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) with cargo-fuzz on the stable toolchain.
#
#   fuzz/run.sh [SECONDS]
#
# cargo-fuzz passes nightly-only flags to rustc; RUSTC_BOOTSTRAP=1 lets the stable 1.95.0
# compiler accept them, and `--sanitizer none` avoids -Zsanitizer=address (the stable toolchain
# ships no ASan runtime). Coverage guidance (SanitizerCoverage) and libFuzzer work as usual.
# Install once: cargo install cargo-fuzz --locked
# Inputs that crash are kept in fuzz/artifacts/TARGET/; replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
# Seeds are the repository's own test inputs (read, never written): the malformed-input corpus
# for the processor, the /proc fixtures for the agent. What a run discovers goes to
# fuzz/corpus/TARGET (not committed).
declare -A seeds=(
    [metric_record]="../processor/tests/corpus ../shared/schema/tests/documents"
    [proc_parsers]="../agent/tests/fixtures/real ../agent/tests/fixtures/edge"
)
cargo fuzz build --sanitizer none
for target in metric_record proc_parsers; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds}s"
    # shellcheck disable=SC2086 # the seed list is meant to split
    cargo fuzz run --sanitizer none "$target" "corpus/$target" ${seeds[$target]} -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1
done
