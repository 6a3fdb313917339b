#!/usr/bin/env bash
# Builds pkg/ (the npm package): the loader (js/loader.js, the package's entry
# segflow.js) and two wasm modules built from this crate with different features:
#   segflow_core    (feature analytics) loaded at init,
#   segflow_content (feature content)   loaded only when there is content.
# Each is cargo-built for wasm32 and run through wasm-opt. The core module has no
# wasm-bindgen: js/core.js instantiates it and answers its imports (see
# src/web/abi.rs). The content module goes through wasm-bindgen (the CLI on PATH,
# whose version must equal Cargo.lock's). All JS is minified with esbuild.
#
# wasm-opt is binaryen's, from the npm registry (pinned in package-lock.json), not
# Debian's: Debian's binaryen 108 rewrites the export of wasm-bindgen's externref
# table to point at the function table (even with no passes at all), and the module
# then fails at load with "WebAssembly.Table.set(): Argument 1 is invalid for table".
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# wasm-opt: size first; --zero-filled-memory and --converge are safe for a fresh
# instance; no inlining of functions with one caller (-ocimfs 0) is larger before
# gzip and smaller after it (measured: -1.7 KB on the core module, -0.7 KB on the
# content module); producers and target-features sections are dropped.
WASM_OPT_FLAGS="-Oz --converge --zero-filled-memory --strip-producers --strip-target-features -ocimfs 0"

out=pkg
work=target/pkg-build
rm -rf "$work"
mkdir -p "$work" "$out"

wasm=target/wasm32-unknown-unknown/release/segflow.wasm
build() { # build <feature>
  cargo build --release --target wasm32-unknown-unknown --lib --no-default-features --features "$1,pkg" >&2
}
optimise() { # optimise <in> <out>
  node_modules/.bin/wasm-opt $WASM_OPT_FLAGS "$1" -o "$2"
}
build analytics
optimise "$wasm" "$work/segflow_core_bg.wasm"
build content
wasm-bindgen --target web --no-typescript --out-dir "$work" --out-name segflow_content "$wasm"
optimise "$work/segflow_content_bg.wasm" "$work/segflow_content_bg.wasm.opt"
mv "$work/segflow_content_bg.wasm.opt" "$work/segflow_content_bg.wasm"
node scripts/shorten-imports.mjs "$work" segflow_content

# The package, assembled beside pkg/ and then put in its place (so that a test
# reading pkg/ meanwhile never sees half of it): minified JS (export names are
# kept), the wasm, types, metadata. Each module's glue is bundled with the JS
# helpers it imports (js/core.js is the core module's glue; the content module's
# wasm-bindgen glue imports js/content.js; both import js/glue.js), so a module
# is one JS file and its wasm: one request and one round trip fewer before the
# core is ready (and 0.7 KB less to load first than three files; the content
# module carries its own copy of js/glue.js, 0.35 KB).
next="$work/pkg"
mkdir -p "$next"
for entry in js/core.js:segflow_core "$work/segflow_content.js":segflow_content; do
  node_modules/.bin/esbuild "${entry%%:*}" --bundle --minify --format=esm --log-level=warning --outfile="$next/${entry#*:}.js"
done
node_modules/.bin/esbuild js/loader.js --minify --format=esm --log-level=warning --outfile="$next/segflow.js"
cp "$work"/*.wasm "$next/"
cp js/segflow.d.ts "$next/segflow.d.ts"
cp js/package.json "$next/package.json"
cp README.md "$next/README.md"
printf '*\n' > "$next/.gitignore"
node scripts/check-wasm.mjs "$next"
rm -rf "$out.old"
mv "$out" "$out.old"
mv "$next" "$out"
rm -rf "$out.old"
for f in segflow.js segflow_core_bg.wasm segflow_content_bg.wasm; do
  echo "pkg/$f: $(wc -c < "$out/$f") B, $(gzip -9 -c "$out/$f" | wc -c) B gzipped" >&2
done
