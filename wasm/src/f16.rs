//! IEEE half (f16) and bfloat16 conversions, bit-compatible with ggml.
//!
//! - `f32_to_f16`: round to nearest, ties to even (ggml's `GGML_FP32_TO_FP16`, x86 F16C
//!   `_cvtss_sh(x, 0)`); NaN becomes the quiet NaN `sign | 0x7E00` (ggml's generic path).
//! - `f16_to_f32`: exact for every input.
//! - `f32_to_bf16`: ggml's `ggml_compute_fp32_to_bf16` (ties to even, NaN forced quiet).
//! - `bf16_to_f32`: exact (the bits shifted up).
//!
//! The functions are branch-free float/integer arithmetic so that loops over them vectorize.

#[inline(always)]
fn bits(x: f32) -> u32 {
    x.to_bits()
}

#[inline(always)]
fn from_bits(b: u32) -> f32 {
    f32::from_bits(b)
}

/// f32 -> f16 bits, round to nearest even (Maratyszcza's FP16 algorithm, as in ggml).
#[inline]
pub fn f32_to_f16(f: f32) -> u16 {
    // 2^112 and 2^-110: the first pushes values past f16's range to infinity, the second
    // brings the result back so that the addition below rounds at f16's precision.
    let scale_to_inf = from_bits(0x7780_0000);
    let scale_to_zero = from_bits(0x0880_0000);
    let mut base = (f.abs() * scale_to_inf) * scale_to_zero;
    let w = bits(f);
    let shl1_w = w.wrapping_add(w);
    let sign = w & 0x8000_0000;
    let mut bias = shl1_w & 0xFF00_0000;
    if bias < 0x7100_0000 {
        bias = 0x7100_0000;
    }
    base = from_bits((bias >> 1) + 0x0780_0000) + base;
    let b = bits(base);
    let exp_bits = (b >> 13) & 0x0000_7C00;
    let mantissa_bits = b & 0x0000_0FFF;
    let nonsign = exp_bits + mantissa_bits;
    ((sign >> 16) | if shl1_w > 0xFF00_0000 { 0x7E00 } else { nonsign }) as u16
}

/// f16 bits -> f32, exact (normals, subnormals, infinities, NaN payloads).
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    let w = (h as u32) << 16;
    let sign = w & 0x8000_0000;
    let two_w = w.wrapping_add(w);
    let exp_offset: u32 = 0xE0 << 23;
    let exp_scale = from_bits(0x0780_0000); // 2^-112
    let normalized = from_bits((two_w >> 4) + exp_offset) * exp_scale;
    let magic_mask: u32 = 126 << 23;
    let denormalized = from_bits((two_w >> 17) | magic_mask) - 0.5;
    let denormalized_cutoff: u32 = 1 << 27;
    let r = if two_w < denormalized_cutoff { bits(denormalized) } else { bits(normalized) };
    from_bits(sign | r)
}

/// bf16 bits -> f32, exact.
#[inline(always)]
pub fn bf16_to_f32(h: u16) -> f32 {
    from_bits((h as u32) << 16)
}

/// f32 -> bf16 bits, round to nearest even; NaN keeps its top bits and is forced quiet.
#[inline]
pub fn f32_to_bf16(x: f32) -> u16 {
    let u = bits(x);
    if (u & 0x7FFF_FFFF) > 0x7F80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    (u.wrapping_add(0x7FFF + ((u >> 16) & 1)) >> 16) as u16
}

/// `dst[i] = f32_to_f16(src[i])`. `dst.len()` must equal `src.len()`.
pub fn f32_to_f16_row(src: &[f32], dst: &mut [u16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f32_to_f16(*s);
    }
}

/// `dst[i] = f16_to_f32(src[i])`.
pub fn f16_to_f32_row(src: &[u16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f16_to_f32(*s);
    }
}

/// `dst[i] = f32_to_bf16(src[i])`.
pub fn f32_to_bf16_row(src: &[f32], dst: &mut [u16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f32_to_bf16(*s);
    }
}

/// `dst[i] = bf16_to_f32(src[i])`.
pub fn bf16_to_f32_row(src: &[u16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = bf16_to_f32(*s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent reference: the exact value of an f16 bit pattern, from its fields.
    fn f16_value(h: u16) -> f64 {
        let s = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let e = ((h >> 10) & 0x1F) as i32;
        let m = (h & 0x3FF) as f64;
        match e {
            0 => s * m * 2f64.powi(-24),
            31 => {
                if m == 0.0 {
                    s * f64::INFINITY
                } else {
                    f64::NAN
                }
            }
            _ => s * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
        }
    }

    /// Independent reference: round an f32 to the nearest f16 (ties to even) by searching the
    /// ordered list of finite f16 magnitudes.
    fn f16_round_ref(x: f32) -> u16 {
        let sign: u16 = if x.is_sign_negative() { 0x8000 } else { 0 };
        if x.is_nan() {
            return sign | 0x7E00;
        }
        let a = (x as f64).abs();
        // Largest finite f16 is 65504; values at or above 65520 round to infinity.
        if a >= 65520.0 {
            return sign | 0x7C00;
        }
        // Binary search the magnitudes 0..=0x7BFF (monotonic in the bit pattern).
        let (mut lo, mut hi) = (0u16, 0x7BFFu16);
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            if f16_value(mid) <= a {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let below = lo;
        if f16_value(below) == a || below == 0x7BFF {
            return sign | below;
        }
        let above = below + 1;
        let (db, da) = (a - f16_value(below), f16_value(above) - a);
        let pick = if db < da {
            below
        } else if da < db {
            above
        } else if below & 1 == 0 {
            below
        } else {
            above
        };
        sign | pick
    }

    #[test]
    fn f16_to_f32_is_exact_for_all_patterns() {
        for h in 0..=u16::MAX {
            let got = f16_to_f32(h);
            let want = f16_value(h);
            if want.is_nan() {
                assert!(got.is_nan(), "{h:#06x}");
                // The payload survives (the float arithmetic may set the quiet bit).
                assert_eq!((got.to_bits() >> 13) & 0x1FF, (h & 0x1FF) as u32, "{h:#06x}");
            } else {
                assert_eq!(got as f64, want, "{h:#06x}");
                assert_eq!(got.is_sign_negative(), h & 0x8000 != 0, "{h:#06x}");
            }
        }
    }

    #[test]
    fn f32_to_f16_round_trips_every_half() {
        for h in 0..=u16::MAX {
            let f = f16_to_f32(h);
            if f.is_nan() {
                assert_eq!(f32_to_f16(f) & 0x7C00, 0x7C00);
                continue;
            }
            assert_eq!(f32_to_f16(f), h, "{h:#06x}");
        }
    }

    #[test]
    fn f32_to_f16_rounds_to_nearest_even() {
        // Every midpoint between adjacent halves, the points just beside it, plus a sweep.
        for h in 0..0x7BFFu16 {
            let a = f16_value(h);
            let b = f16_value(h + 1);
            let mid = ((a + b) / 2.0) as f32; // exact in f32: halves have 11 significant bits
            for x in [mid, f32::from_bits(mid.to_bits() - 1), f32::from_bits(mid.to_bits() + 1)] {
                assert_eq!(f32_to_f16(x), f16_round_ref(x), "{x:e}");
                assert_eq!(f32_to_f16(-x), f16_round_ref(-x), "{:e}", -x);
            }
        }
        let mut u: u32 = 0;
        while u < 0x8000_0000 {
            let x = f32::from_bits(u);
            assert_eq!(f32_to_f16(x), f16_round_ref(x), "{u:#010x}");
            u = u.wrapping_add(0x0001_2345);
        }
        assert_eq!(f32_to_f16(f32::INFINITY), 0x7C00);
        assert_eq!(f32_to_f16(f32::NEG_INFINITY), 0xFC00);
        assert_eq!(f32_to_f16(65519.99), 0x7BFF);
        assert_eq!(f32_to_f16(65520.0), 0x7C00);
        assert_eq!(f32_to_f16(f32::NAN) & 0x7FFF, 0x7E00);
        assert_eq!(f32_to_f16(-0.0), 0x8000);
    }

    #[test]
    fn bf16_conversions() {
        // Reference: round the f32 to 8 significant bits, ties to even, in integer arithmetic.
        let reference = |x: f32| -> u16 {
            let u = x.to_bits();
            if x.is_nan() {
                return ((u >> 16) | 0x40) as u16;
            }
            let (hi, lo) = (u >> 16, u & 0xFFFF);
            let up = lo > 0x8000 || (lo == 0x8000 && hi & 1 == 1);
            (hi + up as u32) as u16
        };
        let mut u: u32 = 0;
        loop {
            let x = f32::from_bits(u);
            assert_eq!(f32_to_bf16(x), reference(x), "{u:#010x}");
            let (n, overflow) = u.overflowing_add(0x0000_7F13);
            if overflow {
                break;
            }
            u = n;
        }
        assert_eq!(f32_to_bf16(1.0), 0x3F80);
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_8000)), 0x3F80); // tie, even stays
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F81_8000)), 0x3F82); // tie, odd rounds up
        assert_eq!(f32_to_bf16(f32::from_bits(0x7F80_0001)), 0x7FC0); // signalling NaN -> quiet
        for h in 0..=u16::MAX {
            assert_eq!(bf16_to_f32(h).to_bits(), (h as u32) << 16);
            if !bf16_to_f32(h).is_nan() {
                assert_eq!(f32_to_bf16(bf16_to_f32(h)), h);
            }
        }
    }

    #[test]
    fn row_converters_match_scalar() {
        let src: [f32; 5] = [0.1, -2.5, 65504.0, 1e-7, 3.0e38];
        let mut h = [0u16; 5];
        let mut back = [0f32; 5];
        f32_to_f16_row(&src, &mut h);
        f16_to_f32_row(&h, &mut back);
        for i in 0..5 {
            assert_eq!(h[i], f32_to_f16(src[i]));
            assert_eq!(back[i].to_bits(), f16_to_f32(h[i]).to_bits());
        }
        f32_to_bf16_row(&src, &mut h);
        bf16_to_f32_row(&h, &mut back);
        for i in 0..5 {
            assert_eq!(h[i], f32_to_bf16(src[i]));
            assert_eq!(back[i].to_bits(), bf16_to_f32(h[i]).to_bits());
        }
    }
}
