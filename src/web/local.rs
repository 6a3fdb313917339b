//! The shell's global state: statics that the page's single thread uses, with
//! the same `NAME.with(|value| ...)` shape as `std::thread_local!` (which needs
//! std; the shipped modules are `no_std`, see `crate::prelude`).
//!
//! Each holds a `RefCell` or `Cell`, so every access is still borrow-checked at
//! run time; `Local` only asserts that there is one thread.

#[allow(unused_imports)]
use crate::prelude::*;

#[cfg(target_feature = "atomics")]
compile_error!("segflow's wasm shell assumes one thread: build without the atomics target feature");

/// A value shared by the page's one thread (see the module docs).
pub struct Local<T>(T);

// SAFETY: wasm32 without the atomics feature (checked above) has no threads, so a
// `Local` is never reached from two threads; `T` is only ever used where it was
// made.
unsafe impl<T> Sync for Local<T> {}

impl<T> Local<T> {
    /// A local holding `value`.
    pub const fn new(value: T) -> Self {
        Local(value)
    }

    /// Runs `f` with the value.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}
