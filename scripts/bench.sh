#!/usr/bin/env bash
# The benchmark (`make bench`): segflow and Segment's analytics-next side by side in one
# headless Chromium run against the local collector; prints the table and writes
# docs/benchmarks.md (see there for what each row measures).
# Installs and builds what is missing first: npm dev dependencies (npm ci), pkg/
# (scripts/build-pkg.sh), the release collector, Debian's Chromium. Arguments go to
# bench/compare.mjs (--json, --no-write, --quick, --rounds N, ...).
# SEGFLOW_PKG_DIR benchmarks another build of the package (nothing is built then).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

for dep in playwright-core esbuild terser @segment/analytics-next; do
  if [ ! -f "node_modules/$dep/package.json" ]; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
    break
  fi
done

pkg_dir=${SEGFLOW_PKG_DIR:-pkg}
if [ ! -f "$pkg_dir/segflow.js" ] || [ ! -f "$pkg_dir/package.json" ]; then
  [ "$pkg_dir" = pkg ] || { echo "no package in $pkg_dir" >&2; exit 1; }
  bash scripts/build-pkg.sh
fi

# Rebuilds the collector when its sources changed (quick when they did not).
cargo build --release -q -p segflow-collector
command -v chromium >/dev/null 2>&1 || [ -x "${SEGFLOW_CHROMIUM:-/usr/bin/chromium}" ] || bash scripts/setup.sh --test

SEGFLOW_PKG_DIR="$pkg_dir" node bench/compare.mjs "$@"
