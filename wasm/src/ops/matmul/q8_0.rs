//! Q8_0 weights × Q8 activations ([`Q8Rows`]): per block of 32, `Σ_j w_j·q_j` in integers,
//! times `d_w·d_x` in f32 (ggml's `vec_dot_q8_0_q8_0`).

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::{read_u16, Q8_0_BYTES, QK};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let w = m.row(r);
    let act = m.q8();
    let qs = act.qs(t);
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK {
        let blk = w.add(b * Q8_0_BYTES);
        let q = qs.add(b * QK);
        let mut isum = 0i32;
        for j in 0..QK {
            isum += (*blk.add(2 + j) as i8) as i32 * *q.add(j) as i32;
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
    use crate::ops::quant::{Q8_0_BYTES, QK};
    use core::arch::wasm32::*;

    pub struct Simd;

    /// 32 i8 values sign-extended to four i16x8 (elements 0..7, 8..15, 16..23, 24..31).
    #[inline(always)]
    unsafe fn load_i16(p: *const u8) -> [v128; 4] {
        [
            i16x8_load_extend_i8x8(p as *const i8),
            i16x8_load_extend_i8x8(p.add(8) as *const i8),
            i16x8_load_extend_i8x8(p.add(16) as *const i8),
            i16x8_load_extend_i8x8(p.add(24) as *const i8),
        ]
    }

    /// Exact: i8·i8 products summed in pairs fit i32 (`i32x4.dot_i16x8_s`).
    #[inline(always)]
    fn dot(w: &[v128; 4], y: &[v128; 4]) -> v128 {
        let a = i32x4_add(i32x4_dot_i16x8(w[0], y[0]), i32x4_dot_i16x8(w[1], y[1]));
        let b = i32x4_add(i32x4_dot_i16x8(w[2], y[2]), i32x4_dot_i16x8(w[3], y[3]));
        i32x4_add(a, b)
    }

    impl Tiles for Simd {
        #[inline(always)]
        unsafe fn tile<const R: usize, const T: usize>(&self, m: &Mm, r0: usize, t0: usize) {
            let act = m.q8();
            let mut wrow = [core::ptr::null::<u8>(); R];
            for (r, p) in wrow.iter_mut().enumerate() {
                *p = m.row(r0 + r);
            }
            let mut yq = [core::ptr::null::<u8>(); T];
            let mut yd = [core::ptr::null::<u8>(); T];
            unroll!(t < T, {
                yq[t] = act.qs(t0 + t) as *const u8;
                yd[t] = act.ds(t0 + t);
            });
            let mut acc = [[f32x4_splat(0.0); T]; R];
            for b in 0..m.n_in / QK {
                let mut dwp = [core::ptr::null::<u8>(); R];
                let mut dxp = [core::ptr::null::<u8>(); T];
                unroll!(r < R, {
                    dwp[r] = wrow[r].add(b * Q8_0_BYTES);
                });
                unroll!(t < T, {
                    dxp[t] = yd[t].add(2 * b);
                });
                let sc = scales(&dwp, &dxp);
                if T == 1 {
                    // Decode: the activations first, then each row's block used once, at once
                    // (keeps few vectors live).
                    let y = load_i16(yq[0].add(b * QK));
                    unroll!(r < R, {
                        let w = load_i16(wrow[r].add(b * Q8_0_BYTES + 2));
                        acc[r][0] = fma(f32x4_convert_i32x4(dot(&w, &y)), lane_splat(sc[r], 0), acc[r][0]);
                    });
                } else {
                    // Prefill: each row's block is decoded once and used for the T tokens.
                    let mut wv = [[i32x4_splat(0); 4]; R];
                    unroll!(r < R, {
                        wv[r] = load_i16(wrow[r].add(b * Q8_0_BYTES + 2));
                    });
                    unroll!(t < T, {
                        let y = load_i16(yq[t].add(b * QK));
                        unroll!(r < R, {
                            acc[r][t] = fma(f32x4_convert_i32x4(dot(&wv[r], &y)), lane_splat(sc[r], t), acc[r][t]);
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
}
