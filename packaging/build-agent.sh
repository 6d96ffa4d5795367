#!/usr/bin/env bash
# Builds ferrobeat-agent as it ships (the .deb, `cargo bench-pipeline`), sized for a small
# resident set (issue 17: at most 8 MiB peak RSS; docs/runs/2026-12-05-agent-rss.txt measures
# what each part buys):
#
#   * the `release-agent` cargo profile: opt-level "s", fat LTO, one codegen unit (the Rust code
#     is a third smaller, so fewer pages of it are ever mapped);
#   * librdkafka compiled with -Os and -ffunction-sections -fdata-sections, so the linker drops
#     the functions the agent never calls (the mock cluster, the consumer, the admin API, ...),
#     and with WITH_ZSTD_STATIC: zstd is linked statically (zstd-sys), so librdkafka may use
#     zstd's advanced API and tell it each batch's size, and zstd sizes its tables for the batch
#     instead of ~800 KiB for an input of unknown size. librdkafka's build (mklove) takes no
#     flags from the cargo profile, only CFLAGS;
#   * on Linux, OpenSSL linked statically (the `static-openssl` feature: OpenSSL built from
#     source by openssl-src). Merely loading the shared libcrypto and libssl costs 1.7 MiB of
#     resident memory (their own relocations), TLS or not. It reads its configuration and CA
#     certificates from the build machine's OPENSSLDIR (`openssl version -d`; /usr/lib/ssl on
#     Debian and Ubuntu), as the system library does; OPENSSL_CONFIG_DIR overrides it. A
#     static OpenSSL is updated by rebuilding the package (`cargo update -p openssl-src`), as
#     librdkafka and zstd already are;
#   * on Linux, relative relocations packed (`-z pack-relative-relocs`, DT_RELR): the static
#     OpenSSL brings 20 000 of them, whose 24-byte entries (750 KiB) the dynamic loader would
#     read at every start; packed they take 12 KiB. It needs glibc 2.36 at run time (Debian 12,
#     Ubuntu 24.04 or later), which the package's dependencies then say;
#   * on x86-64 Linux, the functions an agent runs laid out together first (packaging/agent.order,
#     written by packaging/agent-order.py, which says why): the kernel maps code in 64 KiB
#     blocks around each page first run, so scattered hot functions make most of the binary's
#     code resident. lld's `--symbol-ordering-file` (rustc links with its own lld on
#     x86_64-unknown-linux-gnu; GNU ld has no such option).
#
#   packaging/build-agent.sh     (honours CARGO_TARGET_DIR; extra CFLAGS are kept)
#
# Prints the path of the binary on stdout; cargo's output goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

features=()
link=()
if [[ "$(uname -s)" == Linux ]]; then
    features=(--features static-openssl)
    link=(-C link-arg=-Wl,-z,pack-relative-relocs)
    if [[ "$(uname -m)" == x86_64 && -f packaging/agent.order ]]; then
        # Passed as a copy named by its content: cargo relinks when the arguments change, and
        # does not look inside the file.
        order=packaging/agent.order
        target_dir="${CARGO_TARGET_DIR:-target}"
        mkdir -p "$target_dir"
        copy="$(cd "$target_dir" && pwd)/agent-order-$(sha256sum "$order" | cut -c1-16).txt"
        cp "$order" "$copy"
        link+=(-C "link-arg=-Wl,--symbol-ordering-file=$copy" -C link-arg=-Wl,--no-warn-symbol-ordering)
    fi
    if [[ -z "${OPENSSL_CONFIG_DIR:-}" ]]; then
        OPENSSL_CONFIG_DIR=$(openssl version -d 2>/dev/null | sed -n 's/^OPENSSLDIR: "\(.*\)"$/\1/p')
        export OPENSSL_CONFIG_DIR="${OPENSSL_CONFIG_DIR:-/usr/lib/ssl}"
    fi
fi
# `cargo rustc`: the link arguments go to the agent's binary only. (The arrays' ${a[@]+...} form:
# empty arrays under `set -u` in macOS's bash 3.2.)
CFLAGS="${CFLAGS:+$CFLAGS }-Os -ffunction-sections -fdata-sections -DWITH_ZSTD_STATIC=1" \
    cargo rustc --profile release-agent --locked -p ferrobeat-agent --bin ferrobeat-agent \
    ${features[@]+"${features[@]}"} -- ${link[@]+"${link[@]}"} >&2
binary="${CARGO_TARGET_DIR:-target}/release-agent/ferrobeat-agent"
if [[ -n "${order:-}" ]]; then
    # A stale order costs memory, never correctness: a warning, or a failure where
    # FERROBEAT_REQUIRE_AGENT_ORDER=1 (packaging/check.sh). Stale: most of its names are gone, or
    # the binary's first function is not one of them (the order was not applied).
    listed=$(grep -cv '^#' "$order")
    found=$(nm "$binary" | awk '{print $NF}' | sort -u | comm -12 - <(grep -v '^#' "$order" | sort -u) | wc -l)
    first=$(nm -n "$binary" | awk '($2 == "t" || $2 == "T") && !seen++ {print $3}')
    if ((found * 2 < listed)) || ! grep -qxF -- "$first" "$order"; then
        problem="$found of the $listed functions in $order are in the agent and its first function is $first:"
        problem+=" its code is laid out as if unordered (more resident memory);"
        problem+=" run python3 packaging/agent-order.py to regenerate the order"
        if [[ "${FERROBEAT_REQUIRE_AGENT_ORDER:-}" == 1 ]]; then
            echo "build-agent.sh: $problem" >&2
            exit 1
        fi
        echo "build-agent.sh: warning: $problem" >&2
    fi
fi
echo "$binary"
