#!/usr/bin/env bash
# `make size`: where the bytes of both wasm modules go. Builds each module as
# scripts/build-pkg.sh does (same features, same wasm-opt -Oz) but keeps the
# function names (-g), then prints, per module, the gzipped size as shipped, a
# breakdown by source module (crate paths grouped) and twiggy's top items.
# Needs twiggy (`cargo install twiggy`; installed on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# wasm-opt: size first; --zero-filled-memory and --converge are safe for a fresh
# instance; no inlining of functions with one caller (-ocimfs 0) is larger before
# gzip and smaller after it (measured: -1.7 KB on the core module, -0.7 KB on the
# content module); producers and target-features sections are dropped.
# --low-memory-unused lets it fold address arithmetic into load/store offsets: safe
# because the stack comes first (build.rs) and the deepest recursion the limits
# allow stays far above address 1024. Two rounds of --flatten --rereloop -Oz
# restructure control flow (measured with it: core -643 B, content -547 B gzipped).
WASM_OPT_FLAGS="-Oz --converge --zero-filled-memory --strip-producers --strip-target-features -ocimfs 0 --low-memory-unused --flatten --rereloop -Oz --flatten --rereloop -Oz"
command -v twiggy >/dev/null 2>&1 || cargo install twiggy --locked
[ -x node_modules/.bin/wasm-opt ] || bash scripts/setup.sh
work=target/size
rm -rf "$work"
mkdir -p "$work"
for spec in segflow_core:analytics segflow_content:content; do
  name=${spec%%:*}
  feature=${spec#*:}
  cargo build --release --target wasm32-unknown-unknown --lib --no-default-features --features "$feature,pkg" >&2
  cp "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/segflow.wasm" "$work/${name}_bg.wasm"
  node_modules/.bin/wasm-opt $WASM_OPT_FLAGS "$work/${name}_bg.wasm" -o "$work/$name.opt.wasm"
  node_modules/.bin/wasm-opt $WASM_OPT_FLAGS -g "$work/${name}_bg.wasm" -o "$work/$name.named.wasm"
  twiggy top -n 100000 "$work/$name.named.wasm" > "$work/$name.top.txt"
  node scripts/size-report.mjs "$name" "$work/$name.opt.wasm" "$work/$name.top.txt"
  echo "twiggy top 25 (bytes of code and data, before gzip; names kept):"
  twiggy top -n 25 "$work/$name.named.wasm" | grep -v '"function names"'
  echo
done
