#!/usr/bin/env bash
# Builds pkg/ (the npm package) with wasm-pack, then shrinks the wasm with Debian's
# wasm-opt. wasm-pack is told never to install or download anything.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
wasm-pack build --release --target web --mode no-install --out-dir pkg --out-name segflow . >&2
wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
  pkg/segflow_bg.wasm -o pkg/segflow_bg.wasm.opt
mv pkg/segflow_bg.wasm.opt pkg/segflow_bg.wasm
wasm=$(gzip -9 -c pkg/segflow_bg.wasm | wc -c)
js=$(gzip -9 -c pkg/segflow.js | wc -c)
echo "pkg/ built: segflow_bg.wasm $(wc -c < pkg/segflow_bg.wasm) B ($wasm B gzipped), segflow.js $js B gzipped" >&2
