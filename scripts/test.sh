#!/usr/bin/env bash
# The README's test command (`make test`): installs what is missing, then runs
# formatting, clippy (host and wasm32), native tests, then the built package in
# headless Chromium against a real collector: browser tests of the core module's
# shell by itself (tests/e2e/shell.test.mjs) and end-to-end tests of everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
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

step "TypeScript types, browser and end-to-end tests (built package, collector, Chromium)"
cargo build --release -p segflow-collector
bash scripts/build-pkg.sh
node scripts/check-size.mjs
npx tsc -p tests/types
# (The files, not the folder: Node 21 and later read a folder argument as a module.)
node --test tests/e2e/*.test.mjs

step "all tests passed in $(( $(date +%s) - start ))s"
