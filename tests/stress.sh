#!/usr/bin/env bash
# Runs the broker tests of tests/tests (those that start Tansu, librdkafka's mock cluster or the
# quickstart's embedded broker; the pure ones are skipped) N times each and prints, per test,
# how often it passed and failed. Exits 1 when any run failed, 2 when the time bound stopped the
# loop before N rounds (the table then shows how far it got), 0 otherwise.
#
#   tests/stress.sh 5                              # every broker test binary, 5 rounds
#   tests/stress.sh --tests smoke,tls 20           # only these test files (tests/tests/<name>.rs)
#   tests/stress.sh --max-minutes 30 5 -- --ignored  # arguments after -- go to every test binary
#
# Builds once (`cargo test --no-run`, the agent's and processor's binaries and the streams examples the tests spawn),
# then runs the compiled test binaries directly, one after the other as `cargo test` does (each
# binary runs its tests in parallel, as under `cargo test`). The output of every failed run is
# kept in the log directory (default target/stress/<UTC time>, or --logs DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

max_minutes=60
only=""
logs=""
rounds=""
test_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --max-minutes) max_minutes="${2:?--max-minutes needs a number}"; shift 2 ;;
    --tests) only="${2:?--tests needs a list}"; shift 2 ;;
    --logs) logs="${2:?--logs needs a directory}"; shift 2 ;;
    --) shift; test_args=("$@"); break ;;
    -h|--help) usage ;;
    *) [ -z "$rounds" ] || usage; rounds="$1"; shift ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage
[[ "$max_minutes" =~ ^[1-9][0-9]*$ ]] || usage
logs="${logs:-target/stress/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$logs"

# The test files that talk to a broker.
broker_tests=()
for file in tests/tests/*.rs; do
  name="$(basename "$file" .rs)"
  if [ -n "$only" ]; then
    [[ ",$only," == *",$name,"* ]] || continue
  elif ! grep -qE 'TestKafka::|MockCluster|mock::|ferrobeat-quickstart' "$file"; then
    continue
  fi
  broker_tests+=("$name")
done
[ ${#broker_tests[@]} -gt 0 ] || { echo "stress: no test file matches --tests $only" >&2; exit 64; }

echo "stress: building once" >&2
cargo build --quiet -p ferrobeat-agent -p ferrobeat-processor --bins
cargo build --quiet -p ferrobeat-streams --examples
declare -A binary=()
while IFS= read -r line; do
  [[ "$line" == *'"reason":"compiler-artifact"'* && "$line" == *'"kind":["test"]'* ]] || continue
  [[ "$line" =~ \"executable\":\"([^\"]+)\" ]] || continue
  path="${BASH_REMATCH[1]}"
  [[ "$line" =~ \"target\":\{[^}]*\"name\":\"([^\"]+)\" ]] || continue
  binary["${BASH_REMATCH[1]}"]="$path"
done < <(cargo test -p ferrobeat-tests --no-run --message-format=json 2>/dev/null)
for name in "${broker_tests[@]}"; do
  [ -n "${binary[$name]:-}" ] || { echo "stress: cargo built no test binary for $name" >&2; exit 1; }
done

declare -A passed=() failed=()
deadline=$(( $(date +%s) + max_minutes * 60 ))
completed=0
failed_runs=0
stopped=""
started=$(date +%s)
for round in $(seq 1 "$rounds"); do
  for name in "${broker_tests[@]}"; do
    remaining=$(( deadline - $(date +%s) ))
    if [ "$remaining" -le 0 ]; then stopped="the ${max_minutes}-minute bound"; break 2; fi
    log="$logs/$name-$round.log"
    # Tests run from their package's directory, as under cargo.
    set +e
    (cd tests && timeout --kill-after=10 "$remaining" "${binary[$name]}" "${test_args[@]}") >"$log" 2>&1
    status=$?
    set -e
    ok=0 bad=0
    while IFS= read -r result; do
      test="${result#test }"; test="${test% ... *}"
      key="$name::$test"
      passed[$key]=${passed[$key]:-0}; failed[$key]=${failed[$key]:-0}
      if [[ "$result" == *" ... ok" ]]; then
        passed[$key]=$(( passed[$key] + 1 )); ok=$((ok + 1))
      else
        failed[$key]=$(( failed[$key] + 1 )); bad=$((bad + 1))
      fi
    done < <(grep -E '^test .+ \.\.\. (ok|FAILED)$' "$log" || true)
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
      # Killed by the time bound or crashed before reporting a test: the run counts as failed.
      key="$name::(run exited $status before reporting a failure)"
      failed[$key]=$(( ${failed[$key]:-0} + 1 )); bad=1
    fi
    printf 'round %d/%d %-28s %3d passed %3d failed (%ds)\n' "$round" "$rounds" "$name" \
      "$ok" "$bad" "$(( $(date +%s) - started ))" >&2
    if [ "$bad" -eq 0 ]; then rm -f "$log"; else failed_runs=$((failed_runs + 1)); fi
  done
  completed=$round
done

echo
echo "stress: $completed of $rounds rounds in $(( ($(date +%s) - started) / 60 )) min, $(uname -n), $(date -u +%FT%TZ)"
printf '%-90s %6s %6s\n' "test" "passed" "failed"
while IFS= read -r key; do
  [ -n "$key" ] || continue
  printf '%-90s %6d %6d\n' "$key" "${passed[$key]:-0}" "${failed[$key]:-0}"
done < <(printf '%s\n' "${!passed[@]}" "${!failed[@]}" | sort -u)
if [ "$failed_runs" -gt 0 ]; then
  echo "stress: $failed_runs run(s) failed; their output is in $logs"
  exit 1
fi
if [ -n "$stopped" ]; then
  echo "stress: stopped by $stopped after $completed of $rounds rounds"
  exit 2
fi
echo "stress: no failure"
