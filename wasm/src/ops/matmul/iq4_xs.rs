//! IQ4_XS weights × Q8_K activations: per super-block of 256, with 8 sub-blocks of 32 and signed
//! 6-bit scales `ls − 32`, `isum = Σ_s (ls[s] − 32)·Σ_{j∈s} IQ4NL[q_j]·a_j` in integers
//! (|isum| < 2^28), then `sum += (d·d_x)·isum` in f32 (ggml's `vec_dot_iq4_xs_q8_K`).

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::read_u16;
use crate::ops::quant_k::{iq4_xs_level, scales_iq4_xs, IQ4_XS_BYTES, QK_K};

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let act = m.q8k();
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK_K {
        let blk = m.kblk(r, b, IQ4_XS_BYTES);
        let sc = scales_iq4_xs(blk);
        let mut isum = 0i32;
        for s in 0..8 {
            let mut dot = 0i32;
            for l in 0..32 {
                dot += iq4_xs_level(blk, 32 * s + l) * act.q(t, b, 32 * s + l) as i32;
            }
            isum += sc[s] as i32 * dot;
        }
        sum += (f16_to_f32(read_u16(blk)) * act.d(t, b)) * isum as f32;
    }
    sum
}

#[cfg(target_arch = "wasm32")]
pub type Simd = super::ktiles::KTiles<simd::Iq4Xs>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    use super::super::ktiles::{load_av, splat_at, Av, KBlock, Wv};
    use super::super::nibbles::nibbles;
    use crate::ops::quant32::IQ4NL;
    use crate::ops::quant::read_u16;
    use crate::ops::quant_k::IQ4_XS_BYTES;
    use core::arch::wasm32::*;

    /// IQ4_XS: group `s` (0..8) is the 16 bytes `qs[16s..]` at byte 8 (low nibbles: elements
    /// 0..15, high: 16..31), levels by table lookup (`i8x16.swizzle`) sign-extended to i16 and
    /// `i32x4.dot_i16x8_s` (exact) in both builds: the levels span −127..113 and the activations
    /// −127..127, so relaxed's i8 dot (one operand in 0..127) is not exact here.
    pub struct Iq4Xs;

    /// The 8 signed scales `ls − 32`, as i32 (one `load32_splat` per group).
    #[derive(Clone, Copy)]
    #[repr(C, align(16))]
    pub struct Iq4XsHead {
        sc: [i32; 8],
    }

    /// 32 activations as i16 (the relaxed build loads them as i8).
    #[inline(always)]
    fn a16(a: &Av) -> [v128; 4] {
        #[cfg(not(target_feature = "relaxed-simd"))]
        return *a;
        #[cfg(target_feature = "relaxed-simd")]
        return [i16x8_extend_low_i8x16(a[0]), i16x8_extend_high_i8x16(a[0]), i16x8_extend_low_i8x16(a[1]), i16x8_extend_high_i8x16(a[1])];
    }

    /// 32 levels as i16 (the relaxed build keeps them as i8).
    #[inline(always)]
    fn w16(w: &Wv) -> [v128; 4] {
        #[cfg(not(target_feature = "relaxed-simd"))]
        return *w;
        #[cfg(target_feature = "relaxed-simd")]
        return [i16x8_extend_low_i8x16(w[0]), i16x8_extend_high_i8x16(w[0]), i16x8_extend_low_i8x16(w[1]), i16x8_extend_high_i8x16(w[1])];
    }

    impl KBlock for Iq4Xs {
        const BYTES: usize = IQ4_XS_BYTES;
        const MINS: bool = false;
        const D: usize = 0;
        type H = Iq4XsHead;
        /// SIMD twin of `quant_k::scales_iq4_xs`: lane s of `L·2^(28−4s) >> 28` is nibble s of
        /// the 4 `scales_l` bytes `L` (u32, nibble s = scales_l[s/2] >> 4·(s%2) & 15), lane s of
        /// `H·2^(30−2s) >> 30` bits 2s..2s+1 of `scales_h` (wrapping u32 multiplies as shifts).
        #[inline(always)]
        unsafe fn head(blk: *const u8) -> Iq4XsHead {
            let l = u32x4_splat((blk.add(4) as *const u32).read_unaligned());
            let h = u32x4_splat(read_u16(blk.add(2)) as u32);
            let ls = |cl: v128, ch: v128| {
                let lo = u32x4_shr(i32x4_mul(l, cl), 28);
                let hi = u32x4_shr(i32x4_mul(h, ch), 30);
                i32x4_sub(v128_or(lo, u32x4_shl(hi, 4)), i32x4_splat(32))
            };
            let mut out = Iq4XsHead { sc: [0; 8] };
            let o = out.sc.as_mut_ptr() as *mut v128;
            v128_store(o, ls(u32x4(1 << 28, 1 << 24, 1 << 20, 1 << 16), u32x4(1 << 30, 1 << 28, 1 << 26, 1 << 24)));
            v128_store(o.add(1), ls(u32x4(1 << 12, 1 << 8, 1 << 4, 1), u32x4(1 << 22, 1 << 20, 1 << 18, 1 << 16)));
            out
        }
        #[inline(always)]
        unsafe fn load_w<const S: usize>(blk: *const u8) -> Wv {
            let table = v128_load(&IQ4NL as *const [i8; 16] as *const v128);
            let [a, b] = nibbles(blk.add(8 + 16 * S));
            let (lo, hi) = (i8x16_swizzle(table, a), i8x16_swizzle(table, b));
            #[cfg(not(target_feature = "relaxed-simd"))]
            return [i16x8_extend_low_i8x16(lo), i16x8_extend_high_i8x16(lo), i16x8_extend_low_i8x16(hi), i16x8_extend_high_i8x16(hi)];
            #[cfg(target_feature = "relaxed-simd")]
            return [lo, hi];
        }
        #[inline(always)]
        unsafe fn load_a(q: *const i8) -> Av {
            load_av(q)
        }
        #[inline(always)]
        fn sdot<const S: usize>(h: &Iq4XsHead, w: &Wv, a: &Av) -> v128 {
            let d = super::super::wasm::dot_i16x32(&w16(w), &a16(a));
            unsafe { i32x4_mul(d, splat_at(&h.sc, S)) }
        }
        /// Levels times the group's scale in i16 (|IQ4NL·(ls − 32)| ≤ 127·32, exact).
        #[cfg(not(target_feature = "relaxed-simd"))]
        #[inline(always)]
        fn scale_w<const S: usize>(h: &Iq4XsHead, w: &Wv) -> Wv {
            let s = i16x8_splat(h.sc[S] as i16);
            [i16x8_mul(w[0], s), i16x8_mul(w[1], s), i16x8_mul(w[2], s), i16x8_mul(w[3], s)]
        }
        #[inline(always)]
        unsafe fn mins(_: &Iq4XsHead, _: *const u8) -> v128 {
            i32x4_splat(0)
        }
    }
}
