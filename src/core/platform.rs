//! The platform's own conversions, where the shipped wasm has them for free:
//! a number as text (JavaScript's `String(n)`), text as a number (`Number(text)`)
//! and epoch milliseconds as ISO 8601 (`Date.prototype.toISOString`).
//!
//! These are pure functions, no state and no I/O, and the one place the core
//! reaches the host: in the shipped modules (feature `pkg` on wasm32) they are
//! imports answered by `js/boundary.js`; everywhere else (`cargo test`, tools)
//! they are the Rust versions in [`json`](super::json) and [`time`](super::time).
//! The platform's are exact where the Rust ones approximate (numbers beyond 15
//! significant digits or with large exponents), and what the page loads is
//! smaller with them: 841 B less before any call works and 442 B less for the
//! content module, gzipped, glue included (measured when this replaced them). The browser tests check the shipped ones
//! (`tests/e2e/identity.test.mjs`).
//!
//! Callers decide what may be converted: a finite number, a text that is
//! already a number's (the syntax check is [`json::parse_f64`](super::json::parse_f64)'s),
//! a time a JavaScript `Date` holds (at most [`MAX_DATE_MS`]).

#[allow(unused_imports)]
use crate::prelude::*;

/// The last millisecond a JavaScript `Date` holds (year 275760).
pub const MAX_DATE_MS: u64 = 8_640_000_000_000_000;

#[cfg(all(feature = "pkg", target_arch = "wasm32"))]
mod host {
    #[link(wasm_import_module = "s")]
    extern "C" {
        /// Writes `String(n)` at `to` (at most 32 bytes, ASCII); its length.
        pub fn num_text(n: f64, to: *mut u8) -> i32;
        /// `Number(text)`.
        pub fn num_value(p: *const u8, n: usize) -> f64;
        /// Writes `new Date(ms).toISOString()` at `to` (at most 32 bytes, ASCII);
        /// its length.
        pub fn iso_text(ms: f64, to: *mut u8) -> i32;
    }
}

/// Appends what the host wrote into a 32-byte buffer (ASCII); `false` when it
/// failed (an import that threw answers -1) or the text did not fit.
#[cfg(all(feature = "pkg", target_arch = "wasm32"))]
fn put(write: impl FnOnce(*mut u8) -> i32, out: &mut String) -> bool {
    let mut buf = [0u8; 32];
    let n = write(buf.as_mut_ptr());
    match buf.get(..n.max(0) as usize) {
        Some(text) if n > 0 => {
            out.extend(text.iter().map(|&b| b as char));
            true
        }
        _ => false,
    }
}

/// Appends the text of the finite number `n`, as JavaScript writes it.
pub fn number_text(n: f64, out: &mut String) {
    #[cfg(all(feature = "pkg", target_arch = "wasm32"))]
    // SAFETY: the import writes at most 32 bytes at the pointer it is given.
    if !put(|to| unsafe { host::num_text(n, to) }, out) {
        out.push('0');
    }
    #[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
    super::json::rust_number_text(n, out);
}

/// The value of `text`, which has a JSON number's syntax (a leading `+` allowed);
/// infinite when out of range.
pub fn number_value(text: &str) -> f64 {
    #[cfg(all(feature = "pkg", target_arch = "wasm32"))]
    // SAFETY: the import reads `text.len()` bytes at its pointer.
    return unsafe { host::num_value(text.as_ptr(), text.len()) };
    #[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
    super::json::rust_number_value(text)
}

/// Appends `epoch_ms` (at most [`MAX_DATE_MS`]) in ISO 8601, as
/// `Date.prototype.toISOString` writes it.
pub fn iso8601(epoch_ms: u64, out: &mut String) {
    #[cfg(all(feature = "pkg", target_arch = "wasm32"))]
    // SAFETY: the import writes at most 32 bytes at the pointer it is given.
    put(|to| unsafe { host::iso_text(epoch_ms as f64, to) }, out);
    #[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
    super::time::rust_iso8601(epoch_ms, out);
}
