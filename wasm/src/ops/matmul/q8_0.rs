//! Q8_0 weights × Q8 activations ([`Q8Rows`]): per block of 32, `Σ_j w_j·q_j` in integers,
//! times `d_w·d_x` in f32 (ggml's `vec_dot_q8_0_q8_0`).

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::{read_u16, Q8_0_BYTES, QK};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let w = m.row(r);
    let act = m.q8();
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK {
        let blk = w.add(b * Q8_0_BYTES);
        let mut isum = 0i32;
        for j in 0..QK {
            isum += (*blk.add(2 + j) as i8) as i32 * act.q(t, b, j) as i32;
        }
        sum += (f16_to_f32(read_u16(blk)) * act.d(t, b)) * isum as f32;
    }
    sum
}

/// The SIMD tiles (matmul/tiles.rs) over [`Q8Block`].
#[cfg(target_arch = "wasm32")]
pub type Simd = super::tiles::QTiles<simd::Q8Block>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    use super::super::tiles::QBlock;
    use super::super::wasm::{dot_i16x32, load_i16x32};
    use crate::ops::quant::Q8_0_BYTES;
    use core::arch::wasm32::v128;

    /// Q8_0's integer block dot: weights and activations sign-extended to i16,
    /// `i32x4.dot_i16x8_s` (exact; both builds: relaxed's i8 dot needs one operand in 0..127).
    pub struct Q8Block;

    impl QBlock for Q8Block {
        const BYTES: usize = Q8_0_BYTES;
        const OFFSET8: bool = false;
        type W = [v128; 4];
        type A = [v128; 4];
        #[inline(always)]
        unsafe fn load_w(p: *const u8) -> [v128; 4] {
            load_i16x32(p as *const i8)
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
