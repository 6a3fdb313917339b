# Sourced by scripts/build-pkg.sh and scripts/size.sh: the one list of wasm-opt
# flags, so the shipped modules and `make size` are optimised alike.
# wasm-opt: size first; --zero-filled-memory and --converge are safe for a fresh
# instance; no inlining of functions with one caller (-ocimfs 0) is larger before
# gzip and smaller after it (measured: -1.7 KB on the core module, -0.7 KB on the
# content module); producers and target-features sections are dropped.
# --low-memory-unused lets it fold address arithmetic into load/store offsets: safe
# because the stack comes first (build.rs) and the deepest recursion the limits
# allow stays far above address 1024. Two rounds of --flatten --rereloop -Oz
# restructure control flow (measured with it: core -643 B, content -547 B gzipped).
WASM_OPT_FLAGS="-Oz --converge --zero-filled-memory --strip-producers --strip-target-features -ocimfs 0 --low-memory-unused --flatten --rereloop -Oz --flatten --rereloop -Oz"
