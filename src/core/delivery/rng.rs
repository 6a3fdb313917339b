//! A tiny seeded random source (SplitMix64) for backoff jitter: deterministic
//! in tests, no dependency, a few instructions in wasm.

#[allow(unused_imports)]
use crate::prelude::*;

/// SplitMix64 generator (Steele, Lea & Flood 2014).
#[derive(Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator that starts from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub(crate) fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}
