//! IQ4_NL weights × Q8 activations ([`Q8Rows`], Q8_0 kind): per block of 32,
//! `Σ_j IQ4NL[nibble_j]·q_j` in integers, times `d_w·d_x` in f32 (ggml's `vec_dot_iq4_nl_q8_0`).
//!
//! [`Q8Rows`]: crate::ops::quant::Q8Rows

use super::Mm;
use crate::ops::quant32::{IQ4_NL, IQ4_NL_BYTES};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    super::blocks32::dot_scalar(m, r, t, IQ4_NL, IQ4_NL_BYTES)
}

/// The SIMD tiles (matmul/tiles.rs) over [`Iq4NlBlock`](simd::Iq4NlBlock).
#[cfg(target_arch = "wasm32")]
pub type Simd = super::tiles::QTiles<simd::Iq4NlBlock>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    use super::super::nibbles::{nibbles, widen_i8};
    use super::super::tiles::QBlock;
    use super::super::wasm::{dot_i16x32, load_i16x32};
    use crate::ops::quant32::{IQ4NL, IQ4_NL_BYTES};
    use core::arch::wasm32::*;

    /// The levels by table lookup (`i8x16.swizzle`), sign-extended to i16, `i32x4.dot_i16x8_s`
    /// (exact). Both builds: the levels span −127..113 and the activations −127..127, so
    /// relaxed's i8 dot (one operand in 0..127) is not exact here.
    pub struct Iq4NlBlock;

    impl QBlock for Iq4NlBlock {
        const BYTES: usize = IQ4_NL_BYTES;
        const OFFSET8: bool = false;
        type W = [v128; 4];
        type A = [v128; 4];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 4] {
            let table = v128_load(&IQ4NL as *const [i8; 16] as *const v128);
            let [a, b] = nibbles(p);
            widen_i8([i8x16_swizzle(table, a), i8x16_swizzle(table, b)])
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> [v128; 4] {
            load_i16x32(q)
        }
        wide_a!();
        #[inline(always)]
        fn dot(w: &[v128; 4], a: &[v128; 4]) -> v128 {
            dot_i16x32(w, a)
        }
    }
}
