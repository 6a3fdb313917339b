//! The wasm modules' stack: 256 KiB instead of the linker's 1 MiB default, which
//! each module's linear memory would hold from the start (1.5 MiB of a page with
//! both). The deepest recursion the limits allow needs under 64 KiB: a regular
//! expression in content with groups nested 50 deep (MAX_GROUP_DEPTH) fails with
//! 32 KiB and passes with 64 KiB; JSON nested 127 deep, conditions nested 32 deep and
//! properties nested 64 deep pass with 16 KiB (tests/e2e/hostile.test.mjs, "nested").
//! The stack comes first in memory, so an overflow traps rather than overwriting data.
//! Smaller addresses also make the code smaller (about 0.1 KB gzipped per module).
//!
//! Here rather than in `.cargo/config.toml`: a `RUSTFLAGS` in the environment (CI
//! systems often set one) replaces the config's `rustflags`, and the modules
//! silently got the 1 MiB stack. `scripts/check-wasm.mjs` checks what was built.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=262144");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
