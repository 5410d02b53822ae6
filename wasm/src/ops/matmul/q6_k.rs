//! Q6_K weights × Q8_K activations: per super-block of 256, with 16 sub-blocks of 16 and
//! signed 8-bit scales, `v = Σ_s sc[s]·Σ_{j∈s} q_j·a_j − 32·Σ_s sc[s]·Σ_{j∈s} a_j` in integers
//! (q in 0..63, the −32 offset through the block's `bsums`; |v| < 2^29), then
//! `sum += (d·d_x)·v` in f32 (ggml's `vec_dot_q6_K_q8_K`).

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::read_u16;
use crate::ops::quant_k::{q6_level, Q6_K_BYTES, QK_K};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let act = m.q8k();
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK_K {
        let blk = m.kblk(r, b, Q6_K_BYTES);
        let (mut isum, mut imin) = (0i32, 0i32);
        for s in 0..16 {
            let sc = *blk.add(192 + s) as i8 as i32;
            let mut dot = 0i32;
            for l in 0..16 {
                dot += q6_level(blk, 16 * s + l) * act.q(t, b, 16 * s + l) as i32;
            }
            isum += sc * dot;
            imin += sc * act.bsum(t, b, s);
        }
        sum += (f16_to_f32(read_u16(blk.add(208))) * act.d(t, b)) * (isum - 32 * imin) as f32;
    }
    sum
}

#[cfg(target_arch = "wasm32")]
pub type Simd = super::ktiles::KTiles<simd::Q6K>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    #[cfg(not(target_feature = "relaxed-simd"))]
    use super::super::ktiles::scale_i16;
    use super::super::ktiles::{load_av, sdot16x2, splat_at, Av, FromU8, KBlock, Wv};
    use crate::ops::quant_k::Q6_K_BYTES;
    use core::arch::wasm32::*;

    /// Q6_K: 32-value group `s` (0..8) is half `h = s/4`, group `g = s%4`: low bits
    /// `ql[64h + 32(g&1)..][..32] >> 4(g>>1) & 15`, high bits `qh[128 + 32h..][..32] >> 2g & 3`;
    /// scales `sc[2s]` (first 16) and `sc[2s+1]`.
    pub struct Q6K;

    /// The 16 signed scales, as bytes (`raw`) and as i32 (`sc`, one `load32_splat` per use).
    #[derive(Clone, Copy)]
    #[repr(C, align(16))]
    pub struct Q6Head {
        raw: [i8; 16],
        sc: [i32; 16],
    }

    impl KBlock for Q6K {
        const BYTES: usize = Q6_K_BYTES;
        const MINS: bool = false;
        const D: usize = 208;
        type H = Q6Head;
        #[inline(always)]
        unsafe fn head(blk: *const u8) -> Q6Head {
            let v = v128_load(blk.add(192) as *const v128);
            let (lo, hi) = (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v));
            let mut h = Q6Head { raw: [0; 16], sc: [0; 16] };
            v128_store(h.raw.as_mut_ptr() as *mut v128, v);
            let sc = h.sc.as_mut_ptr() as *mut v128;
            v128_store(sc, i32x4_extend_low_i16x8(lo));
            v128_store(sc.add(1), i32x4_extend_high_i16x8(lo));
            v128_store(sc.add(2), i32x4_extend_low_i16x8(hi));
            v128_store(sc.add(3), i32x4_extend_high_i16x8(hi));
            h
        }
        #[inline(always)]
        unsafe fn load_w<const S: usize>(blk: *const u8) -> Wv {
            let (h, g) = (S / 4, S % 4);
            let p = blk.add(64 * h + 32 * (g & 1));
            let (v0, v1) = (v128_load(p as *const v128), v128_load(p.add(16) as *const v128));
            let m = u8x16_splat(15);
            let (l0, l1) = if g < 2 {
                (v128_and(v0, m), v128_and(v1, m))
            } else {
                (v128_and(u16x8_shr(v0, 4), m), v128_and(u16x8_shr(v1, 4), m))
            };
            let q = blk.add(128 + 32 * h);
            let (q0, q1) = (v128_load(q as *const v128), v128_load(q.add(16) as *const v128));
            // Bits 2g, 2g+1 of each qh byte moved to bits 4, 5 (16-bit shifts; bits crossing
            // bytes are masked off).
            let hb = |v: v128| {
                let v = match g {
                    0 => u16x8_shl(v, 4),
                    1 => u16x8_shl(v, 2),
                    2 => v,
                    _ => u16x8_shr(v, 2),
                };
                v128_and(v, u8x16_splat(0x30))
            };
            Wv::from_u8(v128_or(l0, hb(q0)), v128_or(l1, hb(q1)))
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> Av {
            load_av(q)
        }
        #[inline(always)]
        fn sdot<const S: usize>(h: &Q6Head, w: &Wv, a: &Av) -> v128 {
            unsafe { sdot16x2(w, a, splat_at(&h.sc, 2 * S), splat_at(&h.sc, 2 * S + 1)) }
        }
        /// `32·Σ_s sc[s]·bsums[s]` (lanes sum to it): scales and sums as i16, `dot_i16x8`
        /// (|sc·bsum| ≤ 128·2032, exact).
        #[cfg(not(target_feature = "relaxed-simd"))]
        #[inline(always)]
        fn scale_w<const S: usize>(h: &Q6Head, w: &Wv) -> Wv {
            scale_i16(w, h.raw[2 * S] as i32, h.raw[2 * S + 1] as i32)
        }
        #[inline(always)]
        unsafe fn mins(h: &Q6Head, bsums: *const u8) -> v128 {
            let sc = v128_load(h.raw.as_ptr() as *const v128);
            let (b0, b1) = (v128_load(bsums as *const v128), v128_load(bsums.add(16) as *const v128));
            let d = i32x4_add(i32x4_dot_i16x8(i16x8_extend_low_i8x16(sc), b0), i32x4_dot_i16x8(i16x8_extend_high_i8x16(sc), b1));
            i32x4_shl(d, 5)
        }
    }
}
