#!/usr/bin/env bash
# Builds the Debian packages of ferrobeat-agent and ferrobeat-processor with cargo-deb (metadata
# in agent/Cargo.toml and processor/Cargo.toml, units and maintainer scripts in packaging/deb/),
# with the man page and the bash, zsh and fish completions each binary generates.
#
#   packaging/build-debs.sh [OUTPUT_DIR]    (default: target/debian)
#
# Prints the paths of the two .deb files, one a line, on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
out="${1:-target/debian}"
mkdir -p "$out"

if [[ "$(cargo deb --version 2>/dev/null || true)" != *"$CARGO_DEB_VERSION"* ]]; then
    echo "installing cargo-deb $CARGO_DEB_VERSION (once, then cached in ~/.cargo/bin)" >&2
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked >&2
fi

# One release build for both: they share librdkafka and most dependencies.
cargo build --release --locked -p ferrobeat-agent -p ferrobeat-processor --bins >&2
release="${CARGO_TARGET_DIR:-target}/release"
generated="$release/generated"
mkdir -p "$generated"
for package in ferrobeat-agent ferrobeat-processor; do
    # The man page and completions from the binary's clap definitions; the assets in
    # [package.metadata.deb] take them from target/release/generated/.
    "$release/$package" generate man | gzip -9n >"$generated/$package.1.gz"
    "$release/$package" generate complete-bash >"$generated/$package.bash"
    "$release/$package" generate complete-zsh >"$generated/_$package"
    "$release/$package" generate complete-fish >"$generated/$package.fish"
done
for package in ferrobeat-agent ferrobeat-processor; do
    # cargo-deb prints the path of the package it wrote on stdout.
    cargo deb --no-build --strip -p "$package" --output "$out"
done
