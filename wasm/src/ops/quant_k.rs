//! K-quant weight types (256 values per super-block; ggml-common.h) and their activation
//! format Q8_K: layouts, row dequantization (GET_ROWS) and activation quantization (MATMUL's
//! phase 1). Type ids and row sizes are registered in `quant`.
//!
//! Block formats (ggml, little-endian, packed, read unaligned):
//! - `Q4_K` (144 B): `{ f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }`. Sub-block `s` (32 values)
//!   has 6-bit scale `sc[s]` and min `m[s]` ([`scales_k4`]); value `d·sc[s]·q − dmin·m[s]`,
//!   q in 0..15; byte `qs[32p + l]` holds element `64p + l` (low nibble) and `64p + 32 + l` (high).
//! - `Q5_K` (176 B): `{ f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }`: Q4_K plus a 5th
//!   bit: element `64p + l` gets bit `2p` of `qh[l]`, element `64p + 32 + l` bit `2p + 1` (q in 0..31).
//! - `Q6_K` (210 B): `{ u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }`: value `d·scales[e/16]·(q − 32)`,
//!   q in 0..63; for half `h` (128 values) and `l < 32`, with `ql' = ql + 64h`, `qh' = qh + 32h`,
//!   element `128h + 32g + l` (g = 0..3) has low bits `ql'[l + 32(g&1)] >> 4(g>>1) & 15` and high
//!   bits `qh'[l] >> 2g & 3`.
//!
//! - `Q3_K` (110 B): `{ u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }`: value
//!   `d·(sc[e/16] − 32)·(q − 4)`, q in 0..7 ([`q3_level`]); 6-bit scales packed as [`scales_q3`].
//! - `Q2_K` (84 B): `{ u8 scales[16]; u8 qs[64]; f16 d; f16 dmin }`: value
//!   `d·(scales[e/16] & 15)·q − dmin·(scales[e/16] >> 4)`, q in 0..3 ([`q2_level`]: Q3_K's low bits).
//! - `IQ4_XS` (136 B): `{ f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }`: value
//!   `d·(ls[e/32] − 32)·IQ4NL[nibble]` ([`scales_iq4_xs`], [`iq4_xs_level`]); byte `qs[16s + j]`
//!   holds element `32s + j` (low nibble) and `32s + 16 + j` (high nibble).
//!
//! Activations: [`Q8KRows`], ggml's block_q8_K numerics in our own field order.

use super::quant::{read_u16, IQ4_XS, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K};
use crate::f16::f16_to_f32;

/// Values per super-block.
pub const QK_K: usize = 256;
pub const Q4_K_BYTES: usize = 144;
pub const Q5_K_BYTES: usize = 176;
pub const Q6_K_BYTES: usize = 210;
pub const Q3_K_BYTES: usize = 110;
pub const Q2_K_BYTES: usize = 84;
pub const IQ4_XS_BYTES: usize = 136;

/// The 8 six-bit scales (bytes 0..8) and mins (bytes 8..16) of a Q4_K/Q5_K super-block from its
/// 12 packed bytes at `p` (ggml's `get_scale_min_k4`, for all 8 sub-blocks at once):
/// `j < 4`: `sc = p[j] & 63`, `m = p[j+4] & 63`; `j ≥ 4`: `sc = p[j+4] & 15 | (p[j−4] >> 6) << 4`,
/// `m = p[j+4] >> 4 | (p[j] >> 6) << 4`.
#[inline(always)]
pub unsafe fn scales_k4(p: *const u8) -> [u8; 16] {
    let u = |i: usize| (p.add(4 * i) as *const u32).read_unaligned();
    let (u0, u1, u2) = (u(0), u(1), u(2));
    const M6: u32 = 0x3F3F_3F3F;
    const M4: u32 = 0x0F0F_0F0F;
    const M2: u32 = 0x0303_0303;
    let sc_lo = u0 & M6;
    let sc_hi = (u2 & M4) | (((u0 >> 6) & M2) << 4);
    let m_lo = u1 & M6;
    let m_hi = ((u2 >> 4) & M4) | (((u1 >> 6) & M2) << 4);
    let mut out = [0u8; 16];
    for (k, w) in [sc_lo, sc_hi, m_lo, m_hi].iter().enumerate() {
        out[4 * k..4 * k + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// The 16 signed sub-block scales `sc − 32` (−32..31) of a Q3_K super-block from its 12 packed
/// bytes at `p` (ggml's `dequantize_row_q3_K` unpacking): scale `j` has low 4 bits `p[j] & 15`
/// (`j < 8`) or `p[j − 8] >> 4`, high 2 bits `p[8 + j%4] >> 2·(j/4) & 3`.
#[inline(always)]
pub unsafe fn scales_q3(p: *const u8) -> [i8; 16] {
    let u = |i: usize| (p.add(4 * i) as *const u32).read_unaligned();
    let (a0, a1, t) = (u(0), u(1), u(2));
    const M4: u32 = 0x0F0F_0F0F;
    const M2: u32 = 0x0303_0303;
    let w = [
        (a0 & M4) | ((t & M2) << 4),
        (a1 & M4) | (((t >> 2) & M2) << 4),
        ((a0 >> 4) & M4) | (((t >> 4) & M2) << 4),
        ((a1 >> 4) & M4) | (((t >> 6) & M2) << 4),
    ];
    let mut out = [0i8; 16];
    for (k, v) in w.iter().enumerate() {
        for (i, b) in v.to_le_bytes().iter().enumerate() {
            out[4 * k + i] = *b as i8 - 32;
        }
    }
    out
}

/// Level `q` (0..7) of element `e` (0..256) of the Q3_K super-block at `blk`: low bits
/// `qs[32·(e/128) + e%32] >> 2·(e%128/32) & 3`, high bit `hmask[e%32] >> e/32 & 1`.
#[inline(always)]
pub unsafe fn q3_level(blk: *const u8, e: usize) -> i32 {
    let lo = (*blk.add(32 + 32 * (e / 128) + e % 32) >> (2 * ((e % 128) / 32))) & 3;
    let hi = (*blk.add(e % 32) >> (e / 32)) & 1;
    (lo | hi << 2) as i32
}

/// Level `q` (0..3) of element `e` of the Q2_K super-block at `blk` (`qs` at byte 16).
#[inline(always)]
pub unsafe fn q2_level(blk: *const u8, e: usize) -> i32 {
    ((*blk.add(16 + 32 * (e / 128) + e % 32) >> (2 * ((e % 128) / 32))) & 3) as i32
}

/// The 8 signed sub-block scales `ls − 32` (−32..31) of the IQ4_XS super-block at `blk`:
/// `ls[s] = scales_l[s/2] >> 4·(s%2) & 15 | (scales_h >> 2s & 3) << 4`.
#[inline(always)]
pub unsafe fn scales_iq4_xs(blk: *const u8) -> [i8; 8] {
    let h = read_u16(blk.add(2)) as u32;
    let mut out = [0i8; 8];
    for (s, o) in out.iter_mut().enumerate() {
        let l = (*blk.add(4 + s / 2) >> (4 * (s % 2))) & 15;
        *o = (l as u32 | ((h >> (2 * s)) & 3) << 4) as i8 - 32;
    }
    out
}

/// Level `IQ4NL[nibble]` (−127..113) of element `e` of the IQ4_XS super-block at `blk`.
#[inline(always)]
pub unsafe fn iq4_xs_level(blk: *const u8, e: usize) -> i32 {
    let (s, j) = (e / 32, e % 32);
    let byte = *blk.add(8 + 16 * s + j % 16);
    super::quant32::IQ4NL[((byte >> (4 * (j / 16))) & 15) as usize] as i32
}

/// Level `q` (0..63) of element `e` (0..256) of the Q6_K super-block at `blk`.
#[inline(always)]
pub unsafe fn q6_level(blk: *const u8, e: usize) -> i32 {
    let (h, g, l) = (e / 128, (e % 128) / 32, e % 32);
    let lo = (*blk.add(64 * h + l + 32 * (g & 1)) >> (4 * (g >> 1))) & 15;
    let hi = (*blk.add(128 + 32 * h + l) >> (2 * g)) & 3;
    (lo | hi << 4) as i32
}

/// Level `q` of element `e` of the Q4_K (`bits` 4) or Q5_K (`bits` 5) super-block at `blk`.
#[inline(always)]
pub unsafe fn q45_level(blk: *const u8, e: usize, five: bool) -> i32 {
    let (p, hi, l) = (e / 64, (e % 64) / 32, e % 32);
    let qs = if five { 48 } else { 16 };
    let mut q = (*blk.add(qs + 32 * p + l) >> (4 * hi)) & 15;
    if five {
        q |= ((*blk.add(16 + l) >> (2 * p + hi)) & 1) << 4;
    }
    q as i32
}

/// Dequantizes `dst.len()` values (a multiple of 256) of K type `t` at `src`.
pub unsafe fn dequantize_row_k(t: u32, src: *const u8, dst: &mut [f32]) {
    for b in 0..dst.len() / QK_K {
        let out = &mut dst[b * QK_K..(b + 1) * QK_K];
        match t {
            Q4_K | Q5_K => {
                let five = t == Q5_K;
                let blk = src.add(b * if five { Q5_K_BYTES } else { Q4_K_BYTES });
                let (d, dmin) = (f16_to_f32(read_u16(blk)), f16_to_f32(read_u16(blk.add(2))));
                let sm = scales_k4(blk.add(4));
                for (e, o) in out.iter_mut().enumerate() {
                    let s = e / 32;
                    *o = d * sm[s] as f32 * q45_level(blk, e, five) as f32 - dmin * sm[8 + s] as f32;
                }
            }
            Q6_K => {
                let blk = src.add(b * Q6_K_BYTES);
                let d = f16_to_f32(read_u16(blk.add(208)));
                for (e, o) in out.iter_mut().enumerate() {
                    let sc = *blk.add(192 + e / 16) as i8;
                    *o = d * sc as f32 * (q6_level(blk, e) - 32) as f32;
                }
            }
            Q3_K => {
                let blk = src.add(b * Q3_K_BYTES);
                let d = f16_to_f32(read_u16(blk.add(108)));
                let sc = scales_q3(blk.add(96));
                for (e, o) in out.iter_mut().enumerate() {
                    *o = (d * sc[e / 16] as f32) * (q3_level(blk, e) - 4) as f32;
                }
            }
            Q2_K => {
                let blk = src.add(b * Q2_K_BYTES);
                let (d, dmin) = (f16_to_f32(read_u16(blk.add(80))), f16_to_f32(read_u16(blk.add(82))));
                for (e, o) in out.iter_mut().enumerate() {
                    let sm = *blk.add(e / 16);
                    *o = (d * (sm & 15) as f32) * q2_level(blk, e) as f32 - dmin * (sm >> 4) as f32;
                }
            }
            IQ4_XS => {
                let blk = src.add(b * IQ4_XS_BYTES);
                let d = f16_to_f32(read_u16(blk));
                let sc = scales_iq4_xs(blk);
                for (e, o) in out.iter_mut().enumerate() {
                    *o = (d * sc[e / 32] as f32) * iq4_xs_level(blk, e) as f32;
                }
            }
            _ => return,
        }
    }
}

/// Activations quantized to 8 bits for the K-quant dot products, `n_tok` rows of `n` values
/// (n a multiple of 256), as blocks of [`Q8KRows::BLOCK`] = 292 bytes, block `b` of row `t` at
/// `base + (t·n/256 + b)·292`: `{ i8 qs[256]; f32 d; i16 bsums[16] }` (ggml's block_q8_K fields,
/// values first like [`Q8Rows`](super::quant::Q8Rows); unaligned), `bsums[j] = Σ qs[16j..16j+16]`.
/// With `even_odd`, each 16 values of `qs` are stored even elements first (0, 2, …, 14, 1, 3, …,
/// 15 of the 16; see [`Q8KRows::pos`]), the order simd128's Q4_K kernel unpacks its nibbles in
/// (matmul/q4_k.rs); `bsums` are unchanged by that order.
///
/// `wide` (null when absent): as [`Q8Rows`](super::quant::Q8Rows)' i16 copy, for the wasm
/// prefill tiles (simd128 widens every activation load otherwise): for whole groups of 4 tokens
/// (`wide_toks`), per group `g`, super-block `b` and 32-value group `s`, the 4 tokens' values
/// `i16 [4][32]` (stored order, as `qs`), 256 bytes at [`Q8KRows::wide_at`].
#[derive(Clone, Copy)]
pub struct Q8KRows {
    pub base: *mut u8,
    pub n: usize,
    pub even_odd: bool,
    pub wide: *mut u8,
    pub wide_toks: usize,
}

impl Q8KRows {
    pub const BLOCK: usize = 292;
    /// Byte offsets of `d` and `bsums` in a block.
    pub const D: usize = 256;
    pub const BSUMS: usize = 260;

    pub const fn bytes(n_tok: usize, n: usize) -> usize {
        n_tok * n / QK_K * Self::BLOCK
    }
    #[inline(always)]
    pub unsafe fn blk(&self, t: usize, b: usize) -> *mut u8 {
        self.base.add((t * (self.n / QK_K) + b) * Self::BLOCK)
    }
    /// Bytes of the i16 copy of `n_tok` rows of `n` values (whole groups of 4 tokens).
    pub const fn wide_bytes(n_tok: usize, n: usize) -> usize {
        n_tok / 4 * 4 * n * 2
    }
    /// The 4 tokens' values of 32-value group `s` of super-block `b` of token group `g`.
    #[inline(always)]
    pub unsafe fn wide_at(&self, g: usize, b: usize, s: usize) -> *mut u8 {
        self.wide.add(((g * (self.n / QK_K) + b) * 8 + s) * 256)
    }
    /// Writes the i16 copy of super-blocks `b0..b1` of row `t` (nothing past `wide_toks`).
    #[inline]
    pub unsafe fn widen(&self, t: usize, b0: usize, b1: usize) {
        if t >= self.wide_toks {
            return;
        }
        for b in b0..b1 {
            let src = self.blk(t, b) as *const i8;
            for s in 0..8 {
                let dst = self.wide_at(t / 4, b, s).add(64 * (t % 4)) as *mut i16;
                for k in 0..32 {
                    dst.add(k).write_unaligned(*src.add(32 * s + k) as i16);
                }
            }
        }
    }
    /// Where element `j` (0..256) of a block is stored.
    #[inline(always)]
    pub fn pos(&self, j: usize) -> usize {
        if self.even_odd {
            (j & !15) | ((j & 1) << 3) | ((j & 15) >> 1)
        } else {
            j
        }
    }
    /// Element `j` of block `b` of row `t`.
    #[inline(always)]
    pub unsafe fn q(&self, t: usize, b: usize, j: usize) -> i8 {
        *(self.blk(t, b) as *const i8).add(self.pos(j))
    }
    #[inline(always)]
    pub unsafe fn d(&self, t: usize, b: usize) -> f32 {
        (self.blk(t, b).add(Self::D) as *const f32).read_unaligned()
    }
    /// `Σ qs[16j..16j+16]` of block `b` of row `t`.
    #[inline(always)]
    pub unsafe fn bsum(&self, t: usize, b: usize, j: usize) -> i32 {
        (self.blk(t, b).add(Self::BSUMS + 2 * j) as *const i16).read_unaligned() as i32
    }
}

/// Quantizes one super-block like ggml's `quantize_row_q8_K_ref` (what llama.cpp's x86 CPU
/// build runs): `max` = the value of largest magnitude (the first one on ties), `iscale =
/// −127/max`, `q = min(127, nearest_int(iscale·x))` (round half even), `d = 1/iscale`; all
/// zero when max = 0. Writes `q` and returns `d`.
#[inline]
pub fn quantize_block_q8_k(x: &[f32], q: &mut [i8]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in &x[..QK_K] {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        q[..QK_K].fill(0);
        return 0.0;
    }
    let iscale = -127.0 / max;
    for j in 0..QK_K {
        q[j] = (super::quant::round_even(iscale * x[j]) as i32).min(127) as i8;
    }
    1.0 / iscale
}

/// Quantizes row `t` of `x` (`n` f32 values) into row `t` of `dst`, super-blocks `b0..b1`.
/// `scalar` selects the scalar twin (the SIMD version writes the same bytes).
pub unsafe fn quantize_row_q8_k(x: *const f32, dst: &Q8KRows, t: usize, b0: usize, b1: usize, scalar: bool) {
    #[cfg(target_arch = "wasm32")]
    if !scalar {
        return simd::quantize_blocks(x, dst, t, b0, b1);
    }
    let _ = scalar;
    for b in b0..b1 {
        let xs = core::slice::from_raw_parts(x.add(b * QK_K), QK_K);
        let blk = dst.blk(t, b);
        let q = core::slice::from_raw_parts_mut(blk as *mut i8, QK_K);
        let d = quantize_block_q8_k(xs, q);
        (blk.add(Q8KRows::D) as *mut f32).write_unaligned(d);
        for j in 0..16 {
            let s: i32 = q[16 * j..16 * j + 16].iter().map(|&v| v as i32).sum();
            (blk.add(Q8KRows::BSUMS + 2 * j) as *mut i16).write_unaligned(s as i16);
        }
        if dst.even_odd {
            let mut e = [0i8; QK_K];
            for (j, &v) in q.iter().enumerate() {
                e[dst.pos(j)] = v;
            }
            q.copy_from_slice(&e);
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod simd {
    use super::{Q8KRows, QK_K};
    use core::arch::wasm32::*;

    /// SIMD twin of the scalar loop: `pmax` of |x| finds amax; the first value whose |x| equals
    /// it is the scalar loop's `max` (it only replaces on a strictly larger magnitude); then the
    /// same f32 multiply and `nearest` (round half even) lane-wise, so the same bytes.
    #[inline(never)]
    pub unsafe fn quantize_blocks(x: *const f32, dst: &Q8KRows, t: usize, b0: usize, b1: usize) {
        for b in b0..b1 {
            let xp = x.add(b * QK_K);
            let mut am = f32x4_splat(0.0);
            for k in 0..QK_K / 4 {
                am = f32x4_pmax(am, f32x4_abs(v128_load(xp.add(4 * k) as *const v128)));
            }
            am = f32x4_pmax(am, i32x4_shuffle::<2, 3, 0, 1>(am, am));
            am = f32x4_pmax(am, i32x4_shuffle::<1, 0, 3, 2>(am, am));
            let amax = f32x4_extract_lane::<0>(am);
            let blk = dst.blk(t, b);
            if !(amax > 0.0) {
                // Zero block (or NaN input, which the scalar loop also never picks).
                core::ptr::write_bytes(blk, 0, Q8KRows::BLOCK);
                continue;
            }
            let mut j = 0;
            while (*xp.add(j)).abs() != amax {
                j += 1;
            }
            let iscale = -127.0 / *xp.add(j);
            let is = f32x4_splat(iscale);
            let lim = i32x4_splat(127);
            for g in 0..QK_K / 16 {
                let mut q = [i32x4_splat(0); 4];
                for k in 0..4 {
                    let v = v128_load(xp.add(16 * g + 4 * k) as *const v128);
                    q[k] = i32x4_min(i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v, is))), lim);
                }
                let lo = i16x8_narrow_i32x4(q[0], q[1]);
                let hi = i16x8_narrow_i32x4(q[2], q[3]);
                let v = i8x16_narrow_i16x8(lo, hi);
                let v = if dst.even_odd { i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15>(v, v) } else { v };
                v128_store(blk.add(16 * g) as *mut v128, v);
                let s = i32x4_add(i32x4_extadd_pairwise_i16x8(lo), i32x4_extadd_pairwise_i16x8(hi));
                let s = i32x4_add(s, i32x4_shuffle::<2, 3, 0, 1>(s, s));
                let s = i32x4_add(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
                (blk.add(Q8KRows::BSUMS + 2 * g) as *mut i16).write_unaligned(i32x4_extract_lane::<0>(s) as i16);
            }
            (blk.add(Q8KRows::D) as *mut f32).write_unaligned(1.0 / iscale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_k4_matches_ggml_get_scale_min_k4() {
        let mut p = [0u8; 12];
        let mut x = 0x5Au8;
        for b in p.iter_mut() {
            x = x.wrapping_mul(37).wrapping_add(11);
            *b = x;
        }
        let sm = unsafe { scales_k4(p.as_ptr()) };
        for j in 0..8 {
            let (sc, m) = if j < 4 {
                (p[j] & 63, p[j + 4] & 63)
            } else {
                ((p[j + 4] & 0xF) | ((p[j - 4] >> 6) << 4), (p[j + 4] >> 4) | ((p[j] >> 6) << 4))
            };
            assert_eq!((sm[j], sm[8 + j]), (sc, m), "sub-block {j}");
        }
    }

    #[test]
    fn q8_k_block_hand_checked() {
        // max = −2 (the first of ±2): iscale = −127/−2 = 63.5, d = 1/63.5; −2 → −127, 2 → 127,
        // 1 → 63.5 → 64 (half even), 0.5 → 31.75 → 32.
        let mut x = [0.0f32; 256];
        x[3] = -2.0;
        x[4] = 2.0;
        x[5] = 1.0;
        x[200] = 0.5;
        let mut q = [0i8; 256];
        let d = quantize_block_q8_k(&x, &mut q);
        assert_eq!(d, 1.0 / 63.5);
        assert_eq!((q[3], q[4], q[5], q[200], q[0]), (-127, 127, 64, 32, 0));
        // Positive max: iscale negative, the max maps to −127.
        let mut x = [0.0f32; 256];
        x[0] = 1.27;
        x[1] = -0.01;
        let d = quantize_block_q8_k(&x, &mut q);
        assert_eq!((q[0], q[1]), (-127, 1));
        assert!(d < 0.0);
        assert_eq!(quantize_block_q8_k(&[0.0; 256], &mut q), 0.0);
        assert!(q.iter().all(|&v| v == 0));
    }

    #[test]
    fn q8_k_rows_bsums_and_error() {
        let n = 512;
        let mut x = vec![0.0f32; 2 * n];
        for (i, v) in x.iter_mut().enumerate() {
            *v = ((i * 37 % 101) as f32 - 50.0) * 0.013 + if i % 7 == 0 { 3.0 } else { 0.0 };
        }
        let mut buf = vec![0u8; Q8KRows::bytes(2, n) + 1];
        let mut rows = Q8KRows { base: unsafe { buf.as_mut_ptr().add(1) }, n, even_odd: false, wide: core::ptr::null_mut(), wide_toks: 0 };
        for even_odd in [false, true] {
        rows.even_odd = even_odd;
        unsafe {
            for t in 0..2 {
                quantize_row_q8_k(x.as_ptr().add(t * n), &rows, t, 0, 2, true);
            }
            for t in 0..2 {
                for b in 0..2 {
                    let d = rows.d(t, b) as f64;
                    for j in 0..256 {
                        let v = x[t * n + b * 256 + j] as f64;
                        assert!((rows.q(t, b, j) as f64 * d - v).abs() <= 0.5 * d.abs() * 1.0001);
                    }
                    for g in 0..16 {
                        let s: i32 = (0..16).map(|j| rows.q(t, b, 16 * g + j) as i32).sum();
                        assert_eq!(rows.bsum(t, b, g), s);
                    }
                }
            }
            // Element 1 of row 1, block 1 is stored at byte 8 of the block in even/odd order.
            let want = if even_odd { 8 } else { 1 };
            assert_eq!(unsafe { *(rows.blk(1, 1) as *const i8).add(want) }, unsafe { rows.q(1, 1, 1) });
        }
        }
        // Every position is hit once in the even/odd order.
        let eo = Q8KRows { base: core::ptr::null_mut(), n: 256, even_odd: true, wide: core::ptr::null_mut(), wide_toks: 0 };
        let mut seen = [false; 256];
        (0..256).for_each(|j| seen[eo.pos(j)] = true);
        assert!(seen.iter().all(|&s| s));
        assert_eq!((eo.pos(1), eo.pos(2), eo.pos(15), eo.pos(16), eo.pos(17), eo.pos(255)), (8, 1, 15, 16, 24, 255));
    }
}
