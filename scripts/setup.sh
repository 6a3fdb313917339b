#!/usr/bin/env bash
# Installs what building and testing segflow needs, skipping anything already present.
#   scripts/setup.sh          toolchain for building (demo)
#   scripts/setup.sh --test   also Debian's chromium (browser and end-to-end tests)
# wasm-opt comes from the npm package binaryen (pinned in package-lock.json), not
# Debian's older binaryen 108, see build-pkg.sh.
# Nothing here downloads a browser, a driver or a toolchain from anywhere but rustup,
# crates.io and Debian's package archive.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--test" ] && want_browser=1

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rustup target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

apt_pkgs=()
if [ "$want_browser" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  log "installing Debian packages: ${apt_pkgs[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
fi

# npm dev dependencies, pinned by package-lock.json: binaryen (wasm-opt), esbuild
# (bundles the package's JS) and terser (minifies it), typescript, playwright-core
# (drives Debian's Chromium; it never downloads a browser), vite and webpack
# (bundler tests), analytics-next (the side-by-side benchmark).
missing_npm=0
for dep in binaryen esbuild terser typescript playwright-core vite webpack @segment/analytics-next axe-core; do
  [ -d "node_modules/$dep" ] || missing_npm=1
done
if [ "$missing_npm" = 1 ]; then
  log "installing npm dev dependencies (package-lock.json)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
log "toolchain ready: $(rustc --version), wasm-opt $(node_modules/.bin/wasm-opt --version | awk '{print $3}')"
