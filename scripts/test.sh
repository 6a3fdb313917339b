#!/usr/bin/env bash
# The README's test command (`make test`): installs what is missing, then runs
# formatting, clippy (host and wasm32), native tests, browser tests in headless
# Chromium against a real collector, and end-to-end tests of the built package.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
start=$(date +%s)
step() { printf '\n\033[1;32m==> %s\033[0m (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "setup"
bash scripts/setup.sh --test

step "rustfmt"
cargo fmt --all -- --check

step "clippy (host)"
cargo clippy --workspace --all-targets -- -D warnings

step "clippy (wasm32: both modules together, the core module, the content module, as shipped)"
cargo clippy -p segflow --all-targets --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p segflow --all-targets --target wasm32-unknown-unknown --no-default-features --features analytics -- -D warnings
cargo clippy -p segflow --all-targets --target wasm32-unknown-unknown --no-default-features --features content -- -D warnings
# ... and as shipped (no_std, feature pkg; the library only: test harnesses bring std)
cargo clippy -p segflow --lib --target wasm32-unknown-unknown --no-default-features --features analytics,pkg -- -D warnings
cargo clippy -p segflow --lib --target wasm32-unknown-unknown --no-default-features --features content,pkg -- -D warnings

step "native tests: core and collector"
cargo test --workspace
# Optimised, as shipped: Markdown renders a megabyte of adversarial input in well
# under 100 ms (the plain run above checks a debug build's looser bound).
cargo test --release --lib adversarial_input_renders_in_linear_time

tmp=$(mktemp -d)
cleanup() { [ -n "${COLLECTOR_PID:-}" ] && kill "$COLLECTOR_PID" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

step "browser tests (wasm-bindgen-test in headless Chromium)"
# The test page reads /api/events back from another origin: the runner gets a
# free port we choose, and only that origin may read the collector's read side.
runner_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$runner_port"
start_collector "$tmp/collector.log" --db "$tmp/browser.db" --write-key browser-test-key \
  --read-origin "http://127.0.0.1:$runner_port"
export SEGFLOW_COLLECTOR_URL="$COLLECTOR_URL"
CHROMEDRIVER=$(command -v chromedriver) wasm-pack test --headless --chrome --mode no-install . --test web
kill "$COLLECTOR_PID"; COLLECTOR_PID=
unset WASM_BINDGEN_TEST_ADDRESS

step "TypeScript types and end-to-end tests (built package, collector, Chromium)"
bash scripts/build-pkg.sh
node scripts/check-size.mjs
npx tsc -p tests/types
node --test tests/e2e/

step "all tests passed in $(( $(date +%s) - start ))s"
