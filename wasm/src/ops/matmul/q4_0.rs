//! Q4_0 weights × Q8 activations ([`Q8Rows`]): per block of 32,
//! `Σ_j (nibble_j − 8)·q_j` in integers, times `d_w·d_x` in f32 (ggml's `vec_dot_q4_0_q8_0`).

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::{read_u16, Q4_0_BYTES, QK};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let w = m.row(r);
    let act = m.q8();
    let qs = act.qs(t);
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK {
        let blk = w.add(b * Q4_0_BYTES);
        let q = qs.add(b * QK);
        let mut isum = 0i32;
        for j in 0..QK / 2 {
            let byte = *blk.add(2 + j);
            isum += ((byte & 0x0F) as i32 - 8) * *q.add(j) as i32;
            isum += ((byte >> 4) as i32 - 8) * *q.add(j + 16) as i32;
        }
        sum += (f16_to_f32(read_u16(blk)) * act.d(t, b)) * isum as f32;
    }
    sum
}

#[cfg(target_arch = "wasm32")]
pub use simd::Simd;

#[cfg(target_arch = "wasm32")]
mod simd {
    use super::super::wasm::{fma, hsum, lane_splat, scales};
    use super::super::{Mm, Tiles};
    use crate::ops::quant::{Q4_0_BYTES, QK};
    use core::arch::wasm32::*;

    pub struct Simd;

    impl Tiles for Simd {
        #[inline(always)]
        unsafe fn tile<const R: usize, const T: usize>(&self, m: &Mm, r0: usize, t0: usize) {
            let act = m.q8();
            let mut wrow = [core::ptr::null::<u8>(); R];
            for (r, p) in wrow.iter_mut().enumerate() {
                *p = m.row(r0 + r);
            }
            let mut yq = [core::ptr::null::<i8>(); T];
            let mut yd = [core::ptr::null::<u8>(); T];
            unroll!(t < T, {
                yq[t] = act.qs(t0 + t);
                yd[t] = act.ds(t0 + t);
            });
            let mut acc = [[f32x4_splat(0.0); T]; R];
            for b in 0..m.n_in / QK {
                let mut dwp = [core::ptr::null::<u8>(); R];
                let mut dxp = [core::ptr::null::<u8>(); T];
                unroll!(r < R, {
                    dwp[r] = wrow[r].add(b * Q4_0_BYTES);
                });
                unroll!(t < T, {
                    dxp[t] = yd[t].add(2 * b);
                });
                let sc = scales(&dwp, &dxp);
                if T == 1 {
                    // Decode: the activations first, then each row's block used once, at once
                    // (keeps few vectors live).
                    let (y, corr) = Block::load_acts(yq[0].add(b * QK));
                    unroll!(r < R, {
                        let w = Block::load_weights(wrow[r].add(b * Q4_0_BYTES + 2));
                        acc[r][0] = fma(f32x4_convert_i32x4(w.dot(&y, corr)), lane_splat(sc[r], 0), acc[r][0]);
                    });
                } else {
                    // Prefill: each row's block is decoded once and used for the T tokens.
                    let mut wv = [Block::ZERO; R];
                    unroll!(r < R, {
                        wv[r] = Block::load_weights(wrow[r].add(b * Q4_0_BYTES + 2));
                    });
                    unroll!(t < T, {
                        let (y, corr) = Block::load_acts(yq[t].add(b * QK));
                        unroll!(r < R, {
                            acc[r][t] = fma(f32x4_convert_i32x4(wv[r].dot(&y, corr)), lane_splat(sc[r], t), acc[r][t]);
                        });
                    });
                }
            }
            unroll!(r < R, {
                unroll!(t < T, {
                    m.set_out(t0 + t, r0 + r, hsum(acc[r][t]));
                });
            });
        }
    }

    /// One block's 32 values, in the form the integer dot wants.
    /// relaxed-simd: two u8x16 of nibbles 0..15 (weights) or two i8x16 (activations);
    /// plain simd128: four i16x8.
    #[derive(Clone, Copy)]
    struct Block([v128; N]);

    #[cfg(target_feature = "relaxed-simd")]
    const N: usize = 2;
    #[cfg(not(target_feature = "relaxed-simd"))]
    const N: usize = 4;

    impl Block {
        const ZERO: Block = Block([unsafe { core::mem::transmute::<[u32; 4], v128>([0; 4]) }; N]);
    }

    #[cfg(target_feature = "relaxed-simd")]
    impl Block {
        /// `p`: the 16 nibble bytes. Lanes: elements 0..15, then 16..31, values 0..15.
        #[inline(always)]
        unsafe fn load_weights(p: *const u8) -> Block {
            let v = v128_load(p as *const v128);
            Block([v128_and(v, u8x16_splat(0x0F)), u8x16_shr(v, 4)])
        }
        /// The activations and the −8·Σq correction (per lane group) that turns the dot with
        /// unsigned nibbles into the dot with `nibble − 8`.
        #[inline(always)]
        unsafe fn load_acts(q: *const i8) -> (Block, v128) {
            let lo = v128_load(q as *const v128);
            let hi = v128_load(q.add(16) as *const v128);
            let eight = u8x16_splat(8);
            let s8 = i32x4_relaxed_dot_i8x16_i7x16_add(lo, eight, i32x4_relaxed_dot_i8x16_i7x16_add(hi, eight, i32x4_splat(0)));
            (Block([lo, hi]), i32x4_neg(s8))
        }
        /// Exact: the i7 operand (nibbles) is in 0..15 and pair sums stay far inside i16.
        #[inline(always)]
        fn dot(&self, y: &Block, corr: v128) -> v128 {
            i32x4_relaxed_dot_i8x16_i7x16_add(y.0[0], self.0[0], i32x4_relaxed_dot_i8x16_i7x16_add(y.0[1], self.0[1], corr))
        }
    }

    #[cfg(not(target_feature = "relaxed-simd"))]
    impl Block {
        /// `p`: the 16 nibble bytes. Lanes (i16): elements 0..7, 8..15, 16..23, 24..31.
        #[inline(always)]
        unsafe fn load_weights(p: *const u8) -> Block {
            let a = u16x8_load_extend_u8x8(p);
            let c = u16x8_load_extend_u8x8(p.add(8));
            let m = u16x8_splat(0x0F);
            Block([v128_and(a, m), v128_and(c, m), u16x8_shr(a, 4), u16x8_shr(c, 4)])
        }
        /// The activations as i16 and the −8·Σq correction for the unsigned nibbles.
        #[inline(always)]
        unsafe fn load_acts(q: *const i8) -> (Block, v128) {
            let y = [
                i16x8_load_extend_i8x8(q),
                i16x8_load_extend_i8x8(q.add(8)),
                i16x8_load_extend_i8x8(q.add(16)),
                i16x8_load_extend_i8x8(q.add(24)),
            ];
            let s = i16x8_add(i16x8_add(y[0], y[1]), i16x8_add(y[2], y[3])); // |lane| ≤ 508
            (Block(y), i32x4_dot_i16x8(s, i16x8_splat(-8)))
        }
        #[inline(always)]
        fn dot(&self, y: &Block, corr: v128) -> v128 {
            let a = i32x4_add(i32x4_dot_i16x8(self.0[0], y.0[0]), i32x4_dot_i16x8(self.0[1], y.0[1]));
            let b = i32x4_add(i32x4_dot_i16x8(self.0[2], y.0[2]), i32x4_dot_i16x8(self.0[3], y.0[3]));
            i32x4_add(i32x4_add(a, b), corr)
        }
    }
}
