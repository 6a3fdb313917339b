//! `trunc`, `round` and `fract` for `f64`, which std has and `core` does not (the
//! shipped wasm modules are `no_std`, see `crate::prelude`). Exact, like std's:
//! below 2^52 the integer part converts to `i64` and back exactly, and the
//! difference to it is exact too; from 2^52 up every `f64` is an integer.
//! A few dozen bytes of wasm, against pulling in libm.

#[allow(unused_imports)]
use crate::prelude::*;

const INTEGRAL: f64 = 4_503_599_627_370_496.0; // 2^52

/// `x` without its fractional part (toward zero); NaN and infinities unchanged.
pub fn trunc(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= INTEGRAL {
        x
    } else {
        let t = (x as i64) as f64;
        // Keep the sign of zero, as std does (-0.5 truncates to -0.0).
        if t == 0.0 && x.is_sign_negative() {
            -0.0
        } else {
            t
        }
    }
}

/// The fractional part of `x` (`x - trunc(x)`).
pub fn fract(x: f64) -> f64 {
    x - trunc(x)
}

/// `x` rounded to the nearest integer, halves away from zero (as std's `round`).
pub fn round(x: f64) -> f64 {
    let t = trunc(x);
    let f = x - t;
    if f >= 0.5 {
        t + 1.0
    } else if f <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
    }

    #[test]
    fn edges_match_std() {
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4503599627370495.5,
            -4503599627370495.5,
            4503599627370496.0,
            9.007_199_254_740_993e15,
            1e300,
            -1e300,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.1,
            0.7,
            999.9995,
            -2.7,
        ] {
            assert!(same(trunc(x), x.trunc()), "trunc({x})");
            assert!(same(round(x), x.round()), "round({x})");
            assert!(same(fract(x), x.fract()), "fract({x})");
        }
    }

    proptest! {
        #[test]
        fn any_finite_value_matches_std(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assert!(same(trunc(x), x.trunc()), "trunc({})", x);
            prop_assert!(same(round(x), x.round()), "round({})", x);
            prop_assert!(same(fract(x), x.fract()), "fract({})", x);
        }

        #[test]
        fn moderate_values_match_std(x in -1e16f64..1e16) {
            prop_assert!(same(trunc(x), x.trunc()));
            prop_assert!(same(round(x), x.round()));
            prop_assert!(same(fract(x), x.fract()));
        }
    }
}
