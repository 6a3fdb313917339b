#!/usr/bin/env bash
# The README's benchmark (`make bench`): track() cost per call, requests per 1,000
# events and the gzipped bundle size, in headless Chromium against a local collector.
# Builds pkg/ and the collector when missing; extra arguments go to bench/track.mjs
# (e.g. --rounds 50 --json). SEGFLOW_PKG_DIR benchmarks another build of the package.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

pkg_dir=${SEGFLOW_PKG_DIR:-pkg}
if [ ! -f "$pkg_dir/segflow.js" ] || [ ! -f "$pkg_dir/segflow_bg.wasm" ]; then
  [ "$pkg_dir" = pkg ] || { echo "no package in $pkg_dir" >&2; exit 1; }
  bash scripts/build-pkg.sh
fi
if [ ! -d node_modules/playwright-core ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
command -v chromium >/dev/null 2>&1 || bash scripts/setup.sh --test

tmp=$(mktemp -d)
cleanup() {
  if [ -n "${COLLECTOR_PID:-}" ]; then kill "$COLLECTOR_PID" 2>/dev/null || true; wait "$COLLECTOR_PID" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_collector builds the collector when it is missing or stale.
start_collector "$tmp/collector.log" --db "$tmp/bench.db" --write-key bench-key \
  --static "/=bench" --static "/pkg=$pkg_dir"
SEGFLOW_COLLECTOR_URL="$COLLECTOR_URL" SEGFLOW_PKG_DIR="$pkg_dir" SEGFLOW_BENCH_WRITE_KEY=bench-key \
  node bench/track.mjs "$@"
