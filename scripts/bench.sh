#!/usr/bin/env bash
# Benchmarks dist/tether against baselines (see scripts/bench.mjs for workloads and options).
#   scripts/bench.sh [--workload version] [--runs 30] [--rss-runs 5] [--out DIR] [--list]
# Builds first (incremental, a no-op when dist/tether is fresh); set BENCH_NO_BUILD=1 to skip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${BENCH_NO_BUILD:-}" != 1 ]]; then
  bash "$root/scripts/build.sh" --quiet
fi
exec node "$root/scripts/bench.mjs" "$@"
