//! Q4_0 weights × Q8 activations ([`Q8Rows`]): per block of 32,
//! `Σ_j (nibble_j − 8)·q_j` in integers, times `d_w·d_x` in f32 (ggml's `vec_dot_q4_0_q8_0`).

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::{read_u16, Q4_0_BYTES, QK};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let w = m.row(r);
    let act = m.q8();
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK {
        let blk = w.add(b * Q4_0_BYTES);
        let mut isum = 0i32;
        for j in 0..QK / 2 {
            let byte = *blk.add(2 + j);
            isum += ((byte & 0x0F) as i32 - 8) * act.q(t, b, j) as i32;
            isum += ((byte >> 4) as i32 - 8) * act.q(t, b, j + 16) as i32;
        }
        sum += (f16_to_f32(read_u16(blk)) * act.d(t, b)) * isum as f32;
    }
    sum
}

/// The SIMD tiles (matmul/tiles.rs) over [`Q4Block`] (relaxed-simd).
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
pub type Simd = super::tiles::QTiles<simd::Q4Block>;
/// simd128: decode tiles over [`Q4Scaled`](simd::Q4Scaled), prefill tiles over [`Q4Block`].
#[cfg(all(target_arch = "wasm32", not(target_feature = "relaxed-simd")))]
pub type Simd = super::tiles::Split<simd::Q4Scaled, simd::Q4Block>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    use super::super::tiles::QBlock;
    use crate::ops::quant::Q4_0_BYTES;
    use core::arch::wasm32::*;

    /// Q4_0's integer block dot with unsigned nibbles `n` (the tiles add `−8·Σq`).
    pub struct Q4Block;

    /// relaxed-simd: nibbles as two u8x16 (elements 0..15, 16..31), activations as two i8x16;
    /// `relaxed_dot_i8x16_i7x16_add` is exact here (the i7 operand is in 0..15).
    #[cfg(target_feature = "relaxed-simd")]
    impl QBlock for Q4Block {
        const BYTES: usize = Q4_0_BYTES;
        const OFFSET8: bool = true;
        type W = [v128; 2];
        type A = [v128; 2];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 2] {
            let v = v128_load(p as *const v128);
            [v128_and(v, u8x16_splat(0x0F)), u8x16_shr(v, 4)]
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> [v128; 2] {
            [v128_load(q as *const v128), v128_load(q.add(16) as *const v128)]
        }
        #[inline(always)]
        fn dot(w: &[v128; 2], a: &[v128; 2]) -> v128 {
            i32x4_relaxed_dot_i8x16_i7x16_add(a[0], w[0], i32x4_relaxed_dot_i8x16_i7x16_add(a[1], w[1], i32x4_splat(0)))
        }
    }

    /// simd128: nibbles and activations as four i16x8 each, `i32x4.dot_i16x8_s` (exact).
    /// Byte j holds elements j (low nibble) and j+16 (high). One 16-byte load read as u16
    /// lanes holds bytes 2k, 2k+1 in lane k: `& 15`, `>> 8 & 15`, `>> 4 & 15` and `>> 12`
    /// give elements 2k, 2k+1, 16+2k and 17+2k, which is why the activations of a Q4_0 matmul
    /// are stored in even/odd order ([`Q8Rows::pos`]): 4 sign-extending loads then match.
    /// (One weight load instead of two keeps V8's register pressure down: it schedules all of
    /// an iteration's loads first.)
    ///
    /// [`Q8Rows::pos`]: crate::ops::quant::Q8Rows::pos
    #[cfg(not(target_feature = "relaxed-simd"))]
    impl QBlock for Q4Block {
        const BYTES: usize = Q4_0_BYTES;
        const OFFSET8: bool = true;
        type W = [v128; 4];
        type A = [v128; 4];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 4] {
            let v = v128_load(p as *const v128);
            let m = u16x8_splat(0x0F);
            [v128_and(v, m), v128_and(u16x8_shr(v, 8), m), v128_and(u16x8_shr(v, 4), m), u16x8_shr(v, 12)]
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

    /// simd128 decode: [`Q4Block`] with one op less per unpacked vector. Masking the u16
    /// lanes in place (`& 0x000F`, `& 0x00F0`, `& 0x0F00`, `>> 12`: 4 ops instead of 6) leaves
    /// the nibbles scaled by 1, 16, 256 and 1; the activations are scaled to match (by 256, 16,
    /// 1, 256: `a·256` still fits an i16, −32768..32512), so every product is `256·n·a` and
    /// the block sum is `256·Σ n·a` (|·| ≤ 256·32·15·128 < 2^24), shifted back exactly by the
    /// tiles (`SHR`). The activation shifts are paid once per block for the 8 rows of a decode
    /// tile, the nibble ops per row. Prefill keeps [`Q4Block`] (there the activations are the
    /// per-row loads).
    #[cfg(not(target_feature = "relaxed-simd"))]
    pub struct Q4Scaled;

    #[cfg(not(target_feature = "relaxed-simd"))]
    impl QBlock for Q4Scaled {
        const BYTES: usize = Q4_0_BYTES;
        const OFFSET8: bool = true;
        const SHR: u32 = 8;
        type W = [v128; 4];
        type A = [v128; 4];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 4] {
            let v = v128_load(p as *const v128);
            [v128_and(v, u16x8_splat(0x000F)), v128_and(v, u16x8_splat(0x0F00)), v128_and(v, u16x8_splat(0x00F0)), u16x8_shr(v, 12)]
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> [v128; 4] {
            // Elements 2k (×1 nibble: ×256), 2k+1 (×256 nibble: ×1), 16+2k (×16: ×16), 17+2k (×1: ×256).
            let [a0, a1, a2, a3] = super::super::wasm::load_i16x32(q);
            [i16x8_shl(a0, 8), a1, i16x8_shl(a2, 4), i16x8_shl(a3, 8)]
        }
        #[inline(always)]
        fn dot(w: &[v128; 4], a: &[v128; 4]) -> v128 {
            super::super::wasm::dot_i16x32(w, a)
        }
    }
}
