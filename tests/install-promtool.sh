#!/usr/bin/env bash
# Makes sure `promtool` (Debian's `prometheus` package) is installed, to check the programs'
# /metrics output with `promtool check metrics`. Idempotent: does nothing when promtool is on
# PATH. Installing needs root (CI runs as root). Prints promtool's path on stdout.
set -euo pipefail

if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "promtool is missing and installing the prometheus package needs root" >&2
    exit 1
  fi
  # One installer at a time: test binaries may ask for it concurrently.
  exec 9>/var/lock/ferrobeat-promtool.lock
  flock 9
  if ! command -v promtool >/dev/null 2>&1; then
    echo "installing Debian's prometheus package for promtool" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends prometheus >&2 \
      || { apt-get update >&2 && apt-get install -y --no-install-recommends prometheus >&2; }
  fi
fi
command -v promtool
