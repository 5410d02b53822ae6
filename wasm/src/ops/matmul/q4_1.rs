//! Q4_1 weights × Q8_1 activations ([`Q8Rows`] with `q8_1`): per block of 32,
//! `d_w·d_x·Σ_j nibble_j·q_j + m_w·s_x` (ggml's `vec_dot_q4_1_q8_1`).
//!
//! [`Q8Rows`]: crate::ops::quant::Q8Rows

use super::Mm;
use crate::ops::quant32::{Q4_1, Q4_1_BYTES};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    super::blocks32::dot_scalar(m, r, t, Q4_1, Q4_1_BYTES)
}

/// The SIMD tiles (matmul/tiles.rs) over [`Q4_1Block`](simd::Q4_1Block).
#[cfg(target_arch = "wasm32")]
pub type Simd = super::tiles::QTiles<simd::Q4_1Block>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    use super::super::nibbles::*;
    use super::super::tiles::QBlock;
    use crate::ops::quant32::Q4_1_BYTES;
    use core::arch::wasm32::*;

    /// Unsigned nibbles; the tiles add `m·s`.
    pub struct Q4_1Block;

    /// relaxed-simd: nibbles as u8 (the i7 operand, exact), activations as i8.
    #[cfg(target_feature = "relaxed-simd")]
    impl QBlock for Q4_1Block {
        const BYTES: usize = Q4_1_BYTES;
        const OFFSET8: bool = false;
        const MIN: bool = true;
        type W = [v128; 2];
        type A = [v128; 2];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 2] {
            nibbles(p.add(2))
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> [v128; 2] {
            load_i8x32(q)
        }
        #[inline(always)]
        fn dot(w: &[v128; 2], a: &[v128; 2]) -> v128 {
            dot_u7_i8(w, a)
        }
    }

    /// simd128: nibbles and activations widened to i16, `i32x4.dot_i16x8_s` (exact).
    #[cfg(not(target_feature = "relaxed-simd"))]
    impl QBlock for Q4_1Block {
        const BYTES: usize = Q4_1_BYTES;
        const OFFSET8: bool = false;
        const MIN: bool = true;
        type W = [v128; 4];
        type A = [v128; 4];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 4] {
            widen_u8(nibbles(p.add(2)))
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> [v128; 4] {
            super::super::wasm::load_i16x32(q)
        }
        wide_a!();
        #[inline(always)]
        fn dot(w: &[v128; 4], a: &[v128; 4]) -> v128 {
            super::super::wasm::dot_i16x32(w, a)
        }
    }
}
