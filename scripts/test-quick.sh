#!/usr/bin/env bash
# The quick tier (`npm test`), to run before each commit: typecheck + compile, lint, every unit test
# (no root needed), and a short real-kernel smoke (bridge and ptp ADD / traffic / DEL driven through the
# compiled main, never a possibly stale dist/tether; in namespaces the tests create; skipped without root). scripts/test.sh is the full suite.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
bash scripts/lint.sh --cache
node --test build/test/unit/*.test.js
if [ "$(id -u)" -eq 0 ]; then
  TETHER_TEST_BIN=compiled node --test --test-name-pattern="two containers reach each other|^ADD: result = kernel" \
    build/test/e2e/bridge.test.js build/test/e2e/ptp.test.js
else
  echo "test-quick: not root: the real-kernel smoke is skipped" >&2
fi
