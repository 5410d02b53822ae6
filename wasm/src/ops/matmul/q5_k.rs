//! Q5_K weights × Q8_K activations: as Q4_K (q4_k.rs) with levels 0..31 (the 5th bit from `qh`).

use super::Mm;
use crate::ops::quant_k::Q5_K_BYTES;

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    super::q4_k::dot_scalar_45(m, r, t, true, Q5_K_BYTES)
}

#[cfg(target_arch = "wasm32")]
pub type Simd = super::ktiles::KTiles<simd::Q5K>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    #[cfg(not(target_feature = "relaxed-simd"))]
    use super::super::ktiles::scale_i16;
    use super::super::ktiles::{load_av, mins_k4, sdot32, splat_at, Av, FromU8, K4Head, KBlock, Wv};
    use crate::ops::quant_k::Q5_K_BYTES;
    use core::arch::wasm32::*;

    /// Q5_K: sub-block `s` = Q4_K's nibbles of `qs[32·(s/2)..]` plus bit `s` of `qh[0..32]` as 16.
    pub struct Q5K;

    impl KBlock for Q5K {
        const BYTES: usize = Q5_K_BYTES;
        const MINS: bool = true;
        type H = K4Head;
        #[inline(always)]
        unsafe fn head(blk: *const u8) -> K4Head {
            K4Head::load(blk.add(4))
        }
        #[inline(always)]
        unsafe fn load_w<const S: usize>(blk: *const u8) -> Wv {
            let p = blk.add(48 + 32 * (S / 2));
            let (v0, v1) = (v128_load(p as *const v128), v128_load(p.add(16) as *const v128));
            let (h0, h1) = (v128_load(blk.add(16) as *const v128), v128_load(blk.add(32) as *const v128));
            let m = u8x16_splat(15);
            // Bit S of each qh byte moved to bit 4 (16-bit shifts: bits crossing bytes are masked off,
            // a right shift by ≤ 3 reads bit 4 + k ≤ 7 of the same byte).
            let hb = |h: v128| {
                let v = if S <= 4 { u16x8_shl(h, (4 - S) as u32) } else { u16x8_shr(h, (S - 4) as u32) };
                v128_and(v, u8x16_splat(0x10))
            };
            let (l0, l1) = if S % 2 == 0 {
                (v128_and(v0, m), v128_and(v1, m))
            } else {
                (v128_and(u16x8_shr(v0, 4), m), v128_and(u16x8_shr(v1, 4), m))
            };
            Wv::from_u8(v128_or(l0, hb(h0)), v128_or(l1, hb(h1)))
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
