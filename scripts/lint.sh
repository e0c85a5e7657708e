#!/usr/bin/env bash
# typescript-eslint over src/, test/ and scripts/*.ts (rules: tools/lint/eslint.config.mjs). tools/lint
# is a package of its own (typescript-eslint needs the JS TypeScript 5 API; the project compiles with
# TypeScript 7, which has none); its dependencies are installed here on first use.
# --cache: reuse results for unchanged files (the quick tier); the full suite runs without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x tools/lint/node_modules/.bin/eslint ]; then
  npm ci --prefix tools/lint --no-audit --no-fund >&2
fi
cache=()
if [ "${1:-}" = "--cache" ]; then
  cache=(--cache --cache-location build/.eslintcache)
fi
exec tools/lint/node_modules/.bin/eslint -c tools/lint/eslint.config.mjs --max-warnings 0 "${cache[@]}" .
