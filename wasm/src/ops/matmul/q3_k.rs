//! Q3_K weights × Q8_K activations: per super-block of 256, with 16 sub-blocks of 16 and signed
//! 6-bit scales `sc[s]` (−32..31), `v = Σ_s sc[s]·Σ_{j∈s} q_j·a_j − 4·Σ_s sc[s]·Σ_{j∈s} a_j` in
//! integers (q in 0..7, the −4 offset through the block's `bsums`; |v| < 2^24), then
//! `sum += (d·d_x)·v` in f32 (ggml's `vec_dot_q3_K_q8_K`, as Q6_K's in q6_k.rs).

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::read_u16;
use crate::ops::quant_k::{q3_level, scales_q3, Q3_K_BYTES, QK_K};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let act = m.q8k();
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK_K {
        let blk = m.kblk(r, b, Q3_K_BYTES);
        let sc = scales_q3(blk.add(96));
        let (mut isum, mut imin) = (0i32, 0i32);
        for s in 0..16 {
            let mut dot = 0i32;
            for l in 0..16 {
                dot += q3_level(blk, 16 * s + l) * act.q(t, b, 16 * s + l) as i32;
            }
            isum += sc[s] as i32 * dot;
            imin += sc[s] as i32 * act.bsum(t, b, s);
        }
        sum += (f16_to_f32(read_u16(blk.add(108))) * act.d(t, b)) * (isum - 4 * imin) as f32;
    }
    sum
}

#[cfg(target_arch = "wasm32")]
pub type Simd = super::ktiles::KTiles<simd::Q3K>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    #[cfg(not(target_feature = "relaxed-simd"))]
    use super::super::ktiles::scale_i16;
    use super::super::ktiles::{load_av, sdot16x2, Av, FromU8, KBlock, S16Head, Wv};
    use crate::ops::quant_k::Q3_K_BYTES;
    use core::arch::wasm32::*;

    /// Q3_K: 32-value group `s` (0..8) is half `h = s/4`, shift group `g = s%4`: low bits
    /// `qs[32h..][..32] >> 2g & 3`, high bit `hmask[0..32] >> s & 1` (to bit 2); scales `sc[2s]`
    /// (first 16) and `sc[2s+1]`.
    pub struct Q3K;

    /// SIMD twin of `quant_k::scales_q3` (the same 16 signed bytes) from the 12 bytes at `p`:
    /// with `a0, a1, t` its 3 words, lanes (as u32) `a0 & M4 | (t & M2) << 4`,
    /// `a1 & M4 | (t >> 2 & M2) << 4`, `a0 >> 4 & M4 | (t >> 4 & M2) << 4`,
    /// `a1 >> 4 & M4 | (t >> 6 & M2) << 4`, then −32 per byte.
    #[inline(always)]
    unsafe fn scales_q3_simd(p: *const u8) -> v128 {
        let a = v128_load64_splat(p as *const u64); // a0, a1, a0, a1
        let m4 = u32x4_splat(0x0F0F_0F0F);
        let lo = i32x4_shuffle::<0, 1, 6, 7>(v128_and(a, m4), v128_and(u32x4_shr(a, 4), m4));
        let t = u32x4_splat((p.add(8) as *const u32).read_unaligned());
        let t02 = i32x4_shuffle::<0, 5, 2, 7>(t, u32x4_shr(t, 2));
        let t46 = i32x4_shuffle::<0, 5, 2, 7>(u32x4_shr(t, 4), u32x4_shr(t, 6));
        let th = i32x4_shuffle::<0, 1, 6, 7>(t02, t46); // t, t >> 2, t >> 4, t >> 6
        let hi = u32x4_shl(v128_and(th, u32x4_splat(0x0303_0303)), 4);
        i8x16_sub(v128_or(lo, hi), i8x16_splat(32))
    }

    impl KBlock for Q3K {
        const BYTES: usize = Q3_K_BYTES;
        const MINS: bool = false;
        const D: usize = 108;
        type H = S16Head;
        #[inline(always)]
        unsafe fn head(blk: *const u8) -> S16Head {
            S16Head::new(scales_q3_simd(blk.add(96)))
        }
        #[inline(always)]
        unsafe fn load_w<const S: usize>(blk: *const u8) -> Wv {
            let (h, g) = (S / 4, S % 4);
            let p = blk.add(32 + 32 * h);
            let (v0, v1) = (v128_load(p as *const v128), v128_load(p.add(16) as *const v128));
            // 16-bit shifts: bits moved across bytes are masked off.
            let lo = |v: v128| v128_and(u16x8_shr(v, 2 * g as u32), u8x16_splat(3));
            let (m0, m1) = (v128_load(blk as *const v128), v128_load(blk.add(16) as *const v128));
            let hi = |v: v128| {
                let v = if S >= 2 { u16x8_shr(v, S as u32 - 2) } else { u16x8_shl(v, 2 - S as u32) };
                v128_and(v, u8x16_splat(4))
            };
            Wv::from_u8(v128_or(lo(v0), hi(m0)), v128_or(lo(v1), hi(m1)))
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> Av {
            load_av(q)
        }
        #[inline(always)]
        fn sdot<const S: usize>(h: &S16Head, w: &Wv, a: &Av) -> v128 {
            unsafe { sdot16x2(w, a, h.splat(2 * S), h.splat(2 * S + 1)) }
        }
        #[cfg(not(target_feature = "relaxed-simd"))]
        #[inline(always)]
        fn scale_w<const S: usize>(h: &S16Head, w: &Wv) -> Wv {
            scale_i16(w, h.raw[2 * S] as i32, h.raw[2 * S + 1] as i32)
        }
        /// `4·Σ_s sc[s]·bsums[s]` (lanes sum to it).
        #[inline(always)]
        unsafe fn mins(h: &S16Head, bsums: *const u8) -> v128 {
            i32x4_shl(h.dot_bsums(bsums), 2)
        }
    }
}
