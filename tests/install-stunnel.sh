#!/usr/bin/env bash
# Makes sure `stunnel` (Debian's `stunnel4` package) is installed: the TLS tests put it in front
# of the test broker (Tansu 0.6.0 has no working TLS listener, see docs/security.md).
# Idempotent: does nothing when stunnel is on PATH; runs `apt-get update` only when the install
# fails without it. Installing needs root (CI runs as root). Prints stunnel's path on stdout.
set -euo pipefail

if ! command -v stunnel >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "stunnel is missing and installing the stunnel4 package needs root" >&2
    exit 1
  fi
  # One installer at a time: test binaries may ask for it concurrently.
  exec 9>/var/lock/ferrobeat-stunnel.lock
  flock 9
  if ! command -v stunnel >/dev/null 2>&1; then
    echo "installing Debian's stunnel4 package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends stunnel4 >&2 \
      || { apt-get update >&2 && apt-get install -y --no-install-recommends stunnel4 >&2; }
  fi
fi
command -v stunnel
