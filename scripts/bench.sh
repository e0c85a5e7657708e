#!/usr/bin/env bash
# Benchmarks dist/tether against the reference plugins and baselines, side by side in one run
# (see scripts/bench.mjs for workloads and options).
#   scripts/bench.sh [--quick] [--workload version,bridge-add,...] [--skip ipam] [--runs 30] [--rss-runs 5] [--list]
#                    [--versus-node /usr/bin/node]  (a build on another Node, e.g. Node 20, side by side)
# --quick is a smoke run of a few minutes; the default follows issue 7's numbers. The IPAM workload
# (scripts/bench-ipam.mjs, run in-process) is part of it; BENCH_IPAM=0 skips it.
# Builds first (incremental; BENCH_NO_BUILD=1 skips). Runs inside a "node" network namespace of its
# own, so the kernel workloads never touch the root namespace. Run as root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
if [[ "${BENCH_NO_BUILD:-}" != 1 ]]; then
  bash "$root/scripts/build.sh" --quiet
fi
ns="tether-bench-$$"
# Every store, scratch file and FIFO of the run lives under this directory (TMPDIR of the bench only:
# contenders get PATH and CNI_* alone).
tmp="$(mktemp -d /tmp/tether-bench-run.XXXXXX)"
cleanup() {
  # container namespaces the bench made and could not remove (an interrupted run); deleting the node
  # namespace deletes every link the bench made (bridges, veths).
  for n in $(ip netns list | awk '{print $1}' | grep "^tb$$-" || true); do ip netns del "$n" || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
args=("$@")
[[ "${BENCH_IPAM:-1}" == 1 ]] || args+=(--skip ipam)
ip netns exec "$ns" env TETHER_BENCH_TAG=$$ TMPDIR="$tmp" node "$root/scripts/bench.mjs" "${args[@]}"
