//! Q4_K weights × Q8_K activations ([`Q8KRows`]): per super-block of 256,
//! `isum = Σ_s sc[s]·Σ_{j∈s} q_j·a_j` and `imin = Σ_s m[s]·Σ_{j∈s} a_j` in integers (sub-blocks
//! `s` of 32; the activation sums come from the block's `bsums`), then
//! `sum += (d·d_x)·isum; sum −= (dmin·d_x)·imin` in f32 (ggml's `vec_dot_q4_K_q8_K`).
//!
//! [`Q8KRows`]: crate::ops::quant_k::Q8KRows

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::read_u16;
use crate::ops::quant_k::{q45_level, scales_k4, Q4_K_BYTES, QK_K};

/// Scalar twin of Q4_K (`five` false) and Q5_K (`five` true, see q5_k.rs): `out[t][r]`.
pub unsafe fn dot_scalar_45(m: &Mm, r: usize, t: usize, five: bool, bytes: usize) -> f32 {
    let act = m.q8k();
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK_K {
        let blk = m.kblk(r, b, bytes);
        let sm = scales_k4(blk.add(4));
        let (mut isum, mut imin) = (0i32, 0i32);
        for s in 0..8 {
            let mut dot = 0i32;
            for l in 0..32 {
                dot += q45_level(blk, 32 * s + l, five) * act.q(t, b, 32 * s + l) as i32;
            }
            isum += sm[s] as i32 * dot;
            imin += sm[8 + s] as i32 * (act.bsum(t, b, 2 * s) + act.bsum(t, b, 2 * s + 1));
        }
        let dx = act.d(t, b);
        sum += (f16_to_f32(read_u16(blk)) * dx) * isum as f32;
        sum -= (f16_to_f32(read_u16(blk.add(2))) * dx) * imin as f32;
    }
    sum
}

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    dot_scalar_45(m, r, t, false, Q4_K_BYTES)
}

#[cfg(target_arch = "wasm32")]
pub type Simd = super::ktiles::KTiles<simd::Q4K>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    #[cfg(not(target_feature = "relaxed-simd"))]
    use super::super::ktiles::scale_i16;
    #[cfg(target_feature = "relaxed-simd")]
    use super::super::ktiles::FromU8;
    use super::super::ktiles::{load_av, mins_k4, sdot32, splat_at, Av, K4Head, KBlock, Wv};
    use crate::ops::quant_k::Q4_K_BYTES;
    use core::arch::wasm32::*;

    /// Q4_K: sub-block `s` (32 values) is the low (`s` even) or high (`s` odd) nibbles of
    /// `qs[32·(s/2)..][..32]`, in element order.
    pub struct Q4K;

    impl KBlock for Q4K {
        const BYTES: usize = Q4_K_BYTES;
        const MINS: bool = true;
        type H = K4Head;
        #[inline(always)]
        unsafe fn head(blk: *const u8) -> K4Head {
            K4Head::load(blk.add(4))
        }
        /// simd128: the activations are in even/odd order ([`Q8KRows::pos`]), so the levels
        /// come out of 16 bytes read as u16 lanes (bytes 2k, 2k+1 in lane k) without widening:
        /// `& 15` and `>> 8 & 15` are elements 2k and 2k+1 of group `S` even (low nibbles),
        /// `>> 4 & 15` and `>> 12` those of `S` odd (high nibbles).
        ///
        /// [`Q8KRows::pos`]: crate::ops::quant_k::Q8KRows::pos
        #[cfg(not(target_feature = "relaxed-simd"))]
        #[inline(always)]
        unsafe fn load_w<const S: usize>(blk: *const u8) -> Wv {
            let p = blk.add(16 + 32 * (S / 2));
            let (v0, v1) = (v128_load(p as *const v128), v128_load(p.add(16) as *const v128));
            let m = u16x8_splat(15);
            if S % 2 == 0 {
                [v128_and(v0, m), v128_and(u16x8_shr(v0, 8), m), v128_and(v1, m), v128_and(u16x8_shr(v1, 8), m)]
            } else {
                [v128_and(u16x8_shr(v0, 4), m), u16x8_shr(v0, 12), v128_and(u16x8_shr(v1, 4), m), u16x8_shr(v1, 12)]
            }
        }
        #[cfg(target_feature = "relaxed-simd")]
        #[inline(always)]
        unsafe fn load_w<const S: usize>(blk: *const u8) -> Wv {
            let p = blk.add(16 + 32 * (S / 2));
            let (v0, v1) = (v128_load(p as *const v128), v128_load(p.add(16) as *const v128));
            let m = u8x16_splat(15);
            if S % 2 == 0 {
                Wv::from_u8(v128_and(v0, m), v128_and(v1, m))
            } else {
                // u16 lanes: the bits a 16-bit shift moves across bytes are masked off.
                Wv::from_u8(v128_and(u16x8_shr(v0, 4), m), v128_and(u16x8_shr(v1, 4), m))
            }
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> Av {
            load_av(q)
        }
        #[inline(always)]
        fn sdot<const S: usize>(h: &K4Head, w: &Wv, a: &Av) -> v128 {
            unsafe { sdot32(w, a, splat_at(&h.sc, S)) }
        }
        #[cfg(not(target_feature = "relaxed-simd"))]
        #[inline(always)]
        fn scale_w<const S: usize>(h: &K4Head, w: &Wv) -> Wv {
            scale_i16(w, h.sm[S] as i32, h.sm[S] as i32)
        }
        #[inline(always)]
        unsafe fn mins(h: &K4Head, bsums: *const u8) -> v128 {
            mins_k4(&h.sm, bsums)
        }
    }
}
