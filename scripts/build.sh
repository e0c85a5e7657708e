#!/usr/bin/env bash
# Builds dist/tether, the single executable (see scripts/build.mjs for the steps and options).
#   scripts/build.sh [--force] [--selftest] [--no-minify] [--no-strip] [--quiet]
# Incremental: does nothing when dist/tether is newer than every input, unless --force.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/dist"
# One build at a time (parallel runs share dist/).
exec 9>"$root/dist/.build.lock"
flock 9
exec node "$root/scripts/build.mjs" "$@"
