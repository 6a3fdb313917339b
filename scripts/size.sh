#!/usr/bin/env bash
# `make size`: where the bytes of both wasm modules go. Builds each module as
# scripts/build-pkg.sh does (same features, same wasm-opt -Oz) but keeps the
# function names (-g), then prints, per module, the gzipped size as shipped, a
# breakdown by source module (crate paths grouped) and twiggy's top items.
# Needs twiggy (`cargo install twiggy`; installed on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
. scripts/wasm-opt-flags.sh # WASM_OPT_FLAGS
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
