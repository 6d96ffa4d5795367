#!/usr/bin/env bash
# Makes sure the test broker, Tansu 0.6.0, is installed; builds it once (about 12 minutes on 2 cores)
# and reuses it afterwards. Prints the binary's path on stdout.
#
#   FERROBEAT_TANSU_BIN  use this binary instead (must be Tansu 0.6.0)
#   CARGO_HOME           where `cargo install` puts it (default ~/.cargo)
set -euo pipefail

want="0.6.0"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

is_wanted() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q " $want"; }

if [ -n "${FERROBEAT_TANSU_BIN:-}" ]; then
  is_wanted "$FERROBEAT_TANSU_BIN" || { echo "FERROBEAT_TANSU_BIN=$FERROBEAT_TANSU_BIN is not Tansu $want" >&2; exit 1; }
  echo "$FERROBEAT_TANSU_BIN"; exit 0
fi

bin="$cargo_home/bin/tansu"
mkdir -p "$cargo_home"
# One installer at a time: test binaries may ask for the broker concurrently.
exec 9>"$cargo_home/.ferrobeat-tansu.lock"
flock 9
if ! is_wanted "$bin"; then
  echo "installing Tansu $want into $cargo_home/bin (once; about 12 minutes)" >&2
  # Without dynostore there is no memory storage engine (the broker exits with FeatureNotEnabled).
  cargo install tansu --version "$want" --locked --features dynostore,libsql --root "$cargo_home" >&2
fi
is_wanted "$bin" || { echo "Tansu $want did not install to $bin" >&2; exit 1; }
echo "$bin"
