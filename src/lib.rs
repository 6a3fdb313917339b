//! # segflow
//!
//! Onboarding flows and a Segment HTTP API source for the browser, in one small
//! WebAssembly module.
//!
//! The crate has two halves (see `ARCHITECTURE.md` in the shared design notes):
//! - [`core`]: pure Rust that decides everything (identity, message shapes, the
//!   delivery engine). It has no browser dependencies and is tested natively.
//! - `web` (wasm32 only): the thin browser shell: the JS API exported with
//!   plain wasm imports and exports, localStorage and cookies, `fetch`, timers,
//!   page lifecycle and the content module's DOM.
#![deny(missing_docs)]
// The shipped wasm modules (`scripts/build-pkg.sh` builds with feature `pkg`)
// leave std out: its panic machinery alone brings `core::fmt` (several KB per
// module), and a panic here only ever aborts. Everything else builds with std, so
// the code uses `alloc`/`core` paths and [`prelude`] throughout.
#![cfg_attr(feature = "pkg", no_std)]

extern crate alloc;

pub mod core;
pub mod prelude;

#[cfg(target_arch = "wasm32")]
pub mod web;

/// The shipped modules' panic handler: a panic (which a correct build never
/// reaches) traps, as `panic = "abort"` would, without formatting a message.
#[cfg(all(feature = "pkg", target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}

/// The wasm modules' allocator: talc, smaller than the default dlmalloc.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
