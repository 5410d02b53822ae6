//! Q2_K weights × Q8_K activations: per super-block of 256, with 16 sub-blocks of 16, 4-bit
//! scales `sc[s]` and mins `m[s]`, `isum = Σ_s sc[s]·Σ_{j∈s} q_j·a_j` and
//! `imin = Σ_s m[s]·Σ_{j∈s} a_j` in integers (q in 0..3; the activation sums from the block's
//! `bsums`), then `sum += (d·d_x)·isum; sum −= (dmin·d_x)·imin` in f32 (ggml's
//! `vec_dot_q2_K_q8_K`; the f32 update of Q4_K's in q4_k.rs).

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::read_u16;
use crate::ops::quant_k::{q2_level, Q2_K_BYTES, QK_K};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let act = m.q8k();
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK_K {
        let blk = m.kblk(r, b, Q2_K_BYTES);
        let (mut isum, mut imin) = (0i32, 0i32);
        for s in 0..16 {
            let sm = *blk.add(s) as i32;
            let mut dot = 0i32;
            for l in 0..16 {
                dot += q2_level(blk, 16 * s + l) * act.q(t, b, 16 * s + l) as i32;
            }
            isum += (sm & 15) * dot;
            imin += (sm >> 4) * act.bsum(t, b, s);
        }
        let dx = act.d(t, b);
        sum += (f16_to_f32(read_u16(blk.add(80))) * dx) * isum as f32;
        sum -= (f16_to_f32(read_u16(blk.add(82))) * dx) * imin as f32;
    }
    sum
}

#[cfg(target_arch = "wasm32")]
pub type Simd = super::ktiles::KTiles<simd::Q2K>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    #[cfg(not(target_feature = "relaxed-simd"))]
    use super::super::ktiles::scale_i16;
    use super::super::ktiles::{dot_i8x16_bsums, load_av, sdot16x2, Av, FromU8, KBlock, S16Head, Wv};
    use crate::ops::quant_k::Q2_K_BYTES;
    use core::arch::wasm32::*;

    /// Q2_K: 32-value group `s` (0..8) is half `h = s/4`, shift group `g = s%4`:
    /// `qs[32h..][..32] >> 2g & 3` (Q3_K's low bits, at byte 16); scales `sc[2s]`, `sc[2s+1]`.
    pub struct Q2K;

    /// The 16 scales (`s`) and the 16 mins (`m`, bytes).
    #[derive(Clone, Copy)]
    pub struct Q2Head {
        s: S16Head,
        m: v128,
    }

    impl KBlock for Q2K {
        const BYTES: usize = Q2_K_BYTES;
        const MINS: bool = true;
        const D: usize = 80;
        const DMIN: usize = 82;
        type H = Q2Head;
        #[inline(always)]
        unsafe fn head(blk: *const u8) -> Q2Head {
            let v = v128_load(blk as *const v128);
            Q2Head { s: S16Head::new(v128_and(v, u8x16_splat(15))), m: u8x16_shr(v, 4) }
        }
        #[inline(always)]
        unsafe fn load_w<const S: usize>(blk: *const u8) -> Wv {
            let (h, g) = (S / 4, S % 4);
            let p = blk.add(16 + 32 * h);
            let (v0, v1) = (v128_load(p as *const v128), v128_load(p.add(16) as *const v128));
            // 16-bit shifts: bits moved across bytes are masked off.
            let lo = |v: v128| v128_and(u16x8_shr(v, 2 * g as u32), u8x16_splat(3));
            Wv::from_u8(lo(v0), lo(v1))
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> Av {
            load_av(q)
        }
        #[inline(always)]
        fn sdot<const S: usize>(h: &Q2Head, w: &Wv, a: &Av) -> v128 {
            unsafe { sdot16x2(w, a, h.s.splat(2 * S), h.s.splat(2 * S + 1)) }
        }
        #[cfg(not(target_feature = "relaxed-simd"))]
        #[inline(always)]
        fn scale_w<const S: usize>(h: &Q2Head, w: &Wv) -> Wv {
            scale_i16(w, h.s.raw[2 * S] as i32, h.s.raw[2 * S + 1] as i32)
        }
        /// `Σ_s m[s]·bsums[s]` (lanes sum to it; mins 0..15).
        #[inline(always)]
        unsafe fn mins(h: &Q2Head, bsums: *const u8) -> v128 {
            dot_i8x16_bsums(h.m, bsums)
        }
    }
}
