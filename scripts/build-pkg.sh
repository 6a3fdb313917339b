#!/usr/bin/env bash
# Builds pkg/ (the npm package) with wasm-pack, shrinks the wasm with wasm-opt, and
# checks that the result still instantiates. wasm-pack is told never to install or
# download anything.
#
# wasm-opt is binaryen's, from the npm registry (pinned in package-lock.json), not
# Debian's: Debian's binaryen 108 rewrites the export of wasm-bindgen's externref
# table to point at the function table (even with no passes at all), and the module
# then fails at load with "WebAssembly.Table.set(): Argument 1 is invalid for table".
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
wasm-pack build --release --target web --mode no-install --out-dir pkg --out-name segflow . >&2
node_modules/.bin/wasm-opt -Oz pkg/segflow_bg.wasm -o pkg/segflow_bg.wasm.opt
mv pkg/segflow_bg.wasm.opt pkg/segflow_bg.wasm
node scripts/check-wasm.mjs pkg
wasm=$(gzip -9 -c pkg/segflow_bg.wasm | wc -c)
js=$(gzip -9 -c pkg/segflow.js | wc -c)
echo "pkg/ built: segflow_bg.wasm $(wc -c < pkg/segflow_bg.wasm) B ($wasm B gzipped), segflow.js $js B gzipped" >&2
