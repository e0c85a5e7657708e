#!/usr/bin/env bash
# Runs every test: unit (no root), netns (real kernel, in namespaces the tests create) and e2e
# (dist/tether driven as a runtime would). Installs what it needs first. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test: run as root (the netns and e2e tests create network namespaces)" >&2
  exit 1
fi
bash scripts/setup.sh
rm -rf build
npx tsc -p tsconfig.json
bash scripts/lint.sh
bash scripts/build.sh --selftest --faults

mapfile -t files < <(find build/test -name '*.test.js' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "test: no test files found" >&2
  exit 1
fi
exec node --test --test-reporter=spec "${files[@]}"
