#!/usr/bin/env bash
# Benchmarks dist/tether against the reference plugins and baselines, side by side in one run
# (see scripts/bench.mjs for workloads and options).
#   scripts/bench.sh [--workload version,bridge-add,bridge-del] [--runs 30] [--rss-runs 5] [--list]
# Builds first (incremental; BENCH_NO_BUILD=1 skips). Runs inside a "node" network namespace of its
# own, so the kernel workloads never touch the root namespace. Run as root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
if [[ "${BENCH_NO_BUILD:-}" != 1 ]]; then
  bash "$root/scripts/build.sh" --quiet
fi
ns="tether-bench-$$"
cleanup() {
  # container namespaces the bench made and could not remove (an interrupted run)
  for n in $(ip netns list | awk '{print $1}' | grep "^tb$$-" || true); do ip netns del "$n" || true; done
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" env TETHER_BENCH_TAG=$$ node "$root/scripts/bench.mjs" "$@"
# IPAM at 0/1k/10k/50k addresses, tether-ipam vs host-local (scripts/bench-ipam.mjs: its own namespace
# and stores). BENCH_IPAM=0 skips it; BENCH_IPAM_ARGS="--runs 9" passes options.
if [[ "${BENCH_IPAM:-1}" == 1 && " $* " != *" --list "* ]]; then
  node "$root/scripts/bench-ipam.mjs" ${BENCH_IPAM_ARGS:-}
fi
