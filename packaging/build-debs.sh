#!/usr/bin/env bash
# Builds the Debian packages of ferrobeat-agent and ferrobeat-processor with cargo-deb (metadata
# in agent/Cargo.toml and processor/Cargo.toml, units and maintainer scripts in packaging/deb/),
# with the man page and the bash, zsh and fish completions each binary generates. The agent is
# built by packaging/build-agent.sh (its own profile and flags, for a small resident set).
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

# The processor in the release profile; the agent as it ships, sized for a small resident set
# (packaging/build-agent.sh: the release-agent profile, librdkafka's C flags, static OpenSSL).
cargo build --release --locked -p ferrobeat-processor --bins >&2
bash packaging/build-agent.sh >/dev/null
target="${CARGO_TARGET_DIR:-target}"
profile_of() {
    if [[ $1 == ferrobeat-agent ]]; then echo release-agent; else echo release; fi
}
for package in ferrobeat-agent ferrobeat-processor; do
    # The man page and completions from the binary's clap definitions; the assets in
    # [package.metadata.deb] take them from target/<profile>/generated/.
    built="$target/$(profile_of "$package")"
    generated="$built/generated"
    mkdir -p "$generated"
    "$built/$package" generate man | gzip -9n >"$generated/$package.1.gz"
    "$built/$package" generate complete-bash >"$generated/$package.bash"
    "$built/$package" generate complete-zsh >"$generated/_$package"
    "$built/$package" generate complete-fish >"$generated/$package.fish"
done
for package in ferrobeat-agent ferrobeat-processor; do
    # cargo-deb prints the path of the package it wrote on stdout; it reads the assets'
    # target/release/ paths from the profile it is given.
    cargo deb --no-build --strip -p "$package" --profile "$(profile_of "$package")" --output "$out"
done
