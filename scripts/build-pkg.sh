#!/usr/bin/env bash
# Builds pkg/ (the npm package): the loader (js/loader.js, the package's entry
# segflow.js) and two wasm modules built from this crate with different features:
#   segflow_core    (feature analytics) loaded at init,
#   segflow_content (feature content)   loaded only when there is content.
# Each is cargo-built for wasm32 and run through wasm-opt. Neither has
# wasm-bindgen: each module's glue (js/core.js, js/content.js, with
# js/boundary.js) instantiates it and answers its imports (see src/web/abi.rs).
# The glue is bundled with esbuild; all JS is minified with terser
# (scripts/minify.mjs says why).
#
# wasm-opt is binaryen's, from the npm registry (pinned in package-lock.json), not
# Debian's older 108 (which corrupted the table exports of earlier builds).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
. scripts/wasm-opt-flags.sh # WASM_OPT_FLAGS

out=pkg
work=target/pkg-build
rm -rf "$work"
mkdir -p "$work" "$out"

# (Cargo builds into $CARGO_TARGET_DIR when it is set.)
wasm=${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/segflow.wasm
build() { # build <feature>
  cargo build --release --target wasm32-unknown-unknown --lib --no-default-features --features "$1,pkg" >&2
}
optimise() { # optimise <in> <out>
  node_modules/.bin/wasm-opt $WASM_OPT_FLAGS "$1" -o "$2"
}
build analytics
optimise "$wasm" "$work/segflow_core_bg.wasm"
build content
optimise "$wasm" "$work/segflow_content_bg.wasm"

# The package, assembled beside pkg/ and then put in its place (so that a test
# reading pkg/ meanwhile never sees half of it): minified JS (export names are
# kept), the wasm, types, metadata. Each module's glue is bundled with the JS
# helpers it imports (js/boundary.js and js/glue.js), so a module is one JS file
# and its wasm: one request and one round trip fewer before the core is ready
# (and 0.7 KB less to load first than three files; the content module carries
# its own copy of the helpers).
next="$work/pkg"
mkdir -p "$next"
for entry in js/core.js:segflow_core js/content.js:segflow_content; do
  node_modules/.bin/esbuild "${entry%%:*}" --bundle --format=esm --log-level=warning --outfile="$work/${entry#*:}.js"
  node scripts/minify.mjs "$work/${entry#*:}.js" "$next/${entry#*:}.js"
done
node scripts/minify.mjs js/loader.js "$next/segflow.js"
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
