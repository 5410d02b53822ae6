//! Q5_0 weights × Q8 activations ([`Q8Rows`], Q8_0 kind): per block of 32,
//! `Σ_j (code_j − 16)·q_j` in integers, times `d_w·d_x` in f32 (ggml's `vec_dot_q5_0_q8_0`).
//!
//! [`Q8Rows`]: crate::ops::quant::Q8Rows

use super::Mm;
use crate::ops::quant32::{Q5_0, Q5_0_BYTES};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    super::blocks32::dot_scalar(m, r, t, Q5_0, Q5_0_BYTES)
}

/// The SIMD tiles (matmul/tiles.rs) over [`Q5Block`](simd::Q5Block).
#[cfg(target_arch = "wasm32")]
pub type Simd = super::tiles::QTiles<simd::Q5Block>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    use super::super::nibbles::*;
    use super::super::tiles::QBlock;
    use crate::ops::quant32::Q5_0_BYTES;
    use core::arch::wasm32::*;

    /// Unsigned 5-bit codes `c` (the tiles add `2·(−8·Σq)` for the −16).
    pub struct Q5Block;

    /// relaxed-simd: codes as u8 (0..31: the i7 operand, exact), activations as i8.
    #[cfg(target_feature = "relaxed-simd")]
    impl QBlock for Q5Block {
        const BYTES: usize = Q5_0_BYTES;
        const OFFSET8: bool = true;
        const OFF_SHL: u32 = 1;
        type W = [v128; 2];
        type A = [v128; 2];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 2] {
            codes5(p.add(4), p)
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

    /// simd128: codes and activations widened to i16, `i32x4.dot_i16x8_s` (exact).
    #[cfg(not(target_feature = "relaxed-simd"))]
    impl QBlock for Q5Block {
        const BYTES: usize = Q5_0_BYTES;
        const OFFSET8: bool = true;
        const OFF_SHL: u32 = 1;
        type W = [v128; 4];
        type A = [v128; 4];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 4] {
            widen_u8(codes5(p.add(4), p))
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
