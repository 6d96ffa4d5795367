#!/usr/bin/env bash
# Makes sure the Python virtual environment of the bench's peers (tests/peers/requirements.txt,
# from PyPI) is installed; creates it once and reuses it while the requirements are unchanged.
# Prints the environment's python on stdout.
#
#   FERROBEAT_PEERS_VENV  where the environment lives (default ~/.cache/ferrobeat/peers-venv)
set -euo pipefail
cd "$(dirname "$0")"

requirements="$PWD/peers/requirements.txt"
venv="${FERROBEAT_PEERS_VENV:-$HOME/.cache/ferrobeat/peers-venv}"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
stamp="$venv/.ferrobeat-requirements"

mkdir -p "$(dirname "$venv")"
# One installer at a time.
exec 9>"$venv.lock"
flock 9
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing the bench's Python peers into $venv (once)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
