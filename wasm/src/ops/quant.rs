//! ggml tensor types: block layouts, row sizes, activation quantization and row dequantization.
//!
//! Block formats (ggml, little-endian, blocks packed with no padding, so a block's address
//! is arbitrary and every multi-byte field is read unaligned):
//! - `Q8_0`: `{ f16 d; i8 qs[32] }`, 34 bytes, value `qs[j]·d`.
//! - `Q4_0`: `{ f16 d; u8 qs[16] }`, 18 bytes, value `(nibble − 8)·d`; byte `j` holds element
//!   `j` in its low nibble and element `j + 16` in its high nibble.
//!
//! - Q4_1, Q5_0, Q5_1, IQ4_NL: see [`quant32`](super::quant32).
//!
//! Activations quantized for the integer dot products use [`Q8Rows`], our own layout (40 bytes
//! per 32 values: the i8 values, then the scales as f32 and the block sums) so that the SIMD
//! kernels load everything with plain loads and convert nothing.

use super::quant32;
use super::quant_k::{dequantize_row_k, IQ4_XS_BYTES, Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES, QK_K};
use crate::f16::{bf16_to_f32, f16_to_f32, f32_to_f16};

/// ggml type ids (ABI.md).
pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const Q4_0: u32 = 2;
pub const Q8_0: u32 = 8;
/// K-quants (super-blocks of 256; layouts and activation format in `quant_k`).
pub const Q2_K: u32 = 10;
pub const Q3_K: u32 = 11;
pub const Q4_K: u32 = 12;
pub const Q5_K: u32 = 13;
pub const Q6_K: u32 = 14;
/// IQ4_XS: super-blocks of 256 too, so listed with the K-quants (`quant_k`).
pub const IQ4_XS: u32 = 23;
pub const BF16: u32 = 30;
/// Flag of the layouts repacked by 4 rows at load for the WASM MATMUL (not ggml types; ops/repack.rs,
/// ABI.md): the base type is `t & 0xFF`.
pub const X4: u32 = 0x100;
/// Q4_0 by 4 rows, f32 scales (20 bytes per 32 values).
pub const Q4_0X4: u32 = X4 | Q4_0;
/// The K-quants with the super-blocks of 4 rows interleaved (same bytes, same block layout).
pub const Q2_KX4: u32 = X4 | Q2_K;
pub const Q3_KX4: u32 = X4 | Q3_K;
pub const Q4_KX4: u32 = X4 | Q4_K;
pub const Q5_KX4: u32 = X4 | Q5_K;
pub const Q6_KX4: u32 = X4 | Q6_K;
pub const IQ4_XSX4: u32 = X4 | IQ4_XS;

/// Elements per block of the Q types.
pub const QK: usize = 32;
pub const Q4_0_BYTES: usize = 18;
/// Bytes per block of 32 values and row in Q4_0X4 (f32 scale + 16 nibble bytes).
pub const Q4_0X4_BYTES: usize = 20;
pub const Q8_0_BYTES: usize = 34;

/// Bytes of one row of `n` elements of type `t`; `None` for an unknown type or a Q row whose
/// length is not a multiple of its block ([`QK`], or [`QK_K`] for the K-quants).
pub fn row_bytes(t: u32, n: usize) -> Option<usize> {
    match t {
        F32 => Some(n * 4),
        F16 | BF16 => Some(n * 2),
        Q4_0 if n % QK == 0 => Some(n / QK * Q4_0_BYTES),
        Q4_0X4 if n % QK == 0 => Some(n / QK * Q4_0X4_BYTES),
        Q2_KX4 | Q3_KX4 | Q4_KX4 | Q5_KX4 | Q6_KX4 | IQ4_XSX4 => row_bytes(t & 0xFF, n),
        Q8_0 if n % QK == 0 => Some(n / QK * Q8_0_BYTES),
        Q2_K if n % QK_K == 0 => Some(n / QK_K * Q2_K_BYTES),
        Q3_K if n % QK_K == 0 => Some(n / QK_K * Q3_K_BYTES),
        IQ4_XS if n % QK_K == 0 => Some(n / QK_K * IQ4_XS_BYTES),
        Q4_K if n % QK_K == 0 => Some(n / QK_K * Q4_K_BYTES),
        Q5_K if n % QK_K == 0 => Some(n / QK_K * Q5_K_BYTES),
        Q6_K if n % QK_K == 0 => Some(n / QK_K * Q6_K_BYTES),
        _ if n % QK == 0 => Some(n / QK * quant32::block_bytes(t)?),
        _ => None,
    }
}

#[inline(always)]
pub unsafe fn read_u16(p: *const u8) -> u16 {
    (p as *const u16).read_unaligned()
}

/// Round half to even for |x| < 2^22 (bit-identical to wasm's `f32x4.nearest` there).
#[inline(always)]
pub fn round_even(x: f32) -> f32 {
    const M: f32 = 12_582_912.0; // 1.5 · 2^23
    (x + M) - M
}

/// Activations quantized to 8 bits, `n_tok` rows of `n` values (n a multiple of 32), as
/// blocks of [`Q8Rows::BLOCK`] = 40 bytes, block `b` of row `t` at `base + (t·n/32 + b)·40`:
/// `{ i8 qs[32]; f32 d; i32 off }` (unaligned: the scratch pointer may be anything), where
/// - `qs` are the values, in element order, or (when `even_odd`) in the order
///   0, 2, …, 14, 1, 3, …, 15, 16, 18, …, 30, 17, …, 31 that simd128's Q4_0 kernel reads
///   (see [`Q8Rows::pos`]);
/// - `d` is the block's scale: an f16 value, as ggml stores it, widened to f32 so that the
///   kernels convert nothing;
/// - `off` is `−8·Σ qs`, Q4_0's nibble offset term: `Σ (n−8)·q = Σ n·q + off`; or, when
///   `q8_1` (the activations of Q4_1/Q5_1, ggml's `block_q8_1`), the f32 `s`: `d·Σ qs` with the
///   unrounded f32 `d`, rounded to f16 as ggml stores it (see [`Q8Rows::s`]).
///
/// One pointer per token walks values, scale and sum together. Size: [`Q8Rows::bytes`].
///
/// `wide` (null when absent): an i16 copy for the wasm prefill tiles, which read every
/// activation block once per weight row: they then load it as it is instead of widening it on
/// each load (a plain load takes a load port only; a widening one also a shuffle slot), and
/// find the 4 tokens of a tile together. Written when a batch has whole groups of 4 tokens,
/// for those groups (`wide_toks` tokens). Per group `g` (tokens `4g..4g+4`) and block `b`, at
/// [`Q8Rows::wide_grp`]: `{ i16 qs[4][32] (each token's values in `qs` order), f32 d[4],
/// i32/f32 off[4] }`, [`Q8Rows::WIDE_GROUP`] bytes. Size: [`Q8Rows::wide_bytes`].
#[derive(Clone, Copy)]
pub struct Q8Rows {
    pub base: *mut u8,
    pub n: usize,
    pub even_odd: bool,
    /// The slot at [`Q8Rows::OFF`] holds `s` (f32) instead of `off` (i32).
    pub q8_1: bool,
    pub wide: *mut u8,
    /// Tokens with an i16 copy (a multiple of 4).
    pub wide_toks: usize,
}

impl Q8Rows {
    pub const BLOCK: usize = 40;
    /// Byte offsets of `d` and `off` in a block.
    pub const D: usize = 32;
    pub const OFF: usize = 36;

    /// Bytes of `n_tok` rows of `n` values.
    pub const fn bytes(n_tok: usize, n: usize) -> usize {
        n_tok * n / QK * Self::BLOCK
    }
    /// Block `b` of row `t`.
    #[inline(always)]
    pub unsafe fn blk(&self, t: usize, b: usize) -> *mut u8 {
        self.base.add((t * (self.n / QK) + b) * Self::BLOCK)
    }
    /// Bytes of one block of a group of 4 tokens in the i16 copy.
    pub const WIDE_GROUP: usize = 4 * 64 + 32;
    /// Byte offsets of the 4 tokens' `d` and `off` in a group block.
    pub const WIDE_D: usize = 256;
    pub const WIDE_OFF: usize = 272;
    /// Bytes of the i16 copy of `n_tok` rows of `n` values (whole groups of 4 tokens).
    pub const fn wide_bytes(n_tok: usize, n: usize) -> usize {
        n_tok / 4 * (n / QK) * Self::WIDE_GROUP
    }
    /// Block `b` of token group `g` of the i16 copy (`wide` must be set).
    #[inline(always)]
    pub unsafe fn wide_grp(&self, g: usize, b: usize) -> *mut u8 {
        self.wide.add((g * (self.n / QK) + b) * Self::WIDE_GROUP)
    }
    /// Writes the i16 copy of blocks `b0..b1` of row `t` (nothing past `wide_toks`).
    #[inline]
    pub unsafe fn widen(&self, t: usize, b0: usize, b1: usize) {
        if t >= self.wide_toks {
            return;
        }
        let j = t % 4;
        for b in b0..b1 {
            let (src, grp) = (self.blk(t, b), self.wide_grp(t / 4, b));
            let dst = grp.add(64 * j) as *mut i16;
            for k in 0..QK {
                dst.add(k).write_unaligned(*(src as *const i8).add(k) as i16);
            }
            (grp.add(Self::WIDE_D + 4 * j) as *mut u32).write_unaligned((src.add(Self::D) as *const u32).read_unaligned());
            (grp.add(Self::WIDE_OFF + 4 * j) as *mut u32).write_unaligned((src.add(Self::OFF) as *const u32).read_unaligned());
        }
    }
    /// Position in `qs` of element `j` (0..32) of a block.
    #[inline(always)]
    pub fn pos(&self, j: usize) -> usize {
        if self.even_odd {
            (j & 16) | ((j & 1) << 3) | ((j & 15) >> 1)
        } else {
            j
        }
    }
    /// Element `j` of block `b` of row `t`.
    #[inline(always)]
    pub unsafe fn q(&self, t: usize, b: usize, j: usize) -> i8 {
        *(self.blk(t, b) as *const i8).add(self.pos(j))
    }
    /// Scale of block `b` of row `t`.
    #[inline(always)]
    pub unsafe fn d(&self, t: usize, b: usize) -> f32 {
        (self.blk(t, b).add(Self::D) as *const f32).read_unaligned()
    }
    /// `−8·Σ qs` of block `b` of row `t`.
    #[inline(always)]
    pub unsafe fn off(&self, t: usize, b: usize) -> i32 {
        (self.blk(t, b).add(Self::OFF) as *const i32).read_unaligned()
    }
    /// `s` of block `b` of row `t` (`q8_1` rows).
    #[inline(always)]
    pub unsafe fn s(&self, t: usize, b: usize) -> f32 {
        (self.blk(t, b).add(Self::OFF) as *const f32).read_unaligned()
    }
}

/// Quantizes one block of 32 values like ggml's x86 `quantize_row_q8_0` (the CPU build that
/// llama.cpp runs on this machine): `amax = max|x|`, `d = amax/127` (stored as f16),
/// `q = round_half_even(x · (127/amax))` with the unrounded f32 multiplier (0 when amax = 0).
/// (ggml's reference `quantize_row_q8_0_ref` uses `1/d` and rounds half away from zero; it
/// differs from the kernel llama.cpp actually runs in rare ties only.)
/// Returns the f16 bits of `d`.
#[inline]
pub fn quantize_block_q8_0(x: &[f32], q: &mut [i8]) -> u16 {
    quantize_block_q8(x, q).0
}

/// [`quantize_block_q8_0`], also returning the unrounded f32 `d` (`amax/127`).
#[inline]
pub fn quantize_block_q8(x: &[f32], q: &mut [i8]) -> (u16, f32) {
    let mut amax = 0.0f32;
    for &v in &x[..QK] {
        let a = v.abs();
        // `f32x4.pmax` semantics (the SIMD twin's): keep amax unless it is less than a.
        amax = if amax < a { a } else { amax };
    }
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    for j in 0..QK {
        q[j] = round_even(x[j] * id) as i32 as i8;
    }
    (f32_to_f16(d), d)
}

/// `s` of a Q8_1 block: `f16(d·Σq)` (ggml's x86 `quantize_row_q8_1`), widened to f32.
#[inline(always)]
pub fn q8_1_sum(d: f32, sum: i32) -> f32 {
    f16_to_f32(f32_to_f16(d * sum as f32))
}

/// Quantizes row `t` of `x` (`n` f32 values) into row `t` of `dst`, blocks `b0..b1` only.
/// `scalar` selects the scalar twin (the SIMD version gives the same bytes).
pub unsafe fn quantize_row_q8_0(x: *const f32, dst: &Q8Rows, t: usize, b0: usize, b1: usize, scalar: bool) {
    #[cfg(target_arch = "wasm32")]
    if !scalar {
        return simd::quantize_blocks(x, dst, t, b0, b1);
    }
    let _ = scalar;
    let mut q = [0i8; QK];
    for b in b0..b1 {
        let xs = core::slice::from_raw_parts(x.add(b * QK), QK);
        let (dh, d32) = quantize_block_q8(xs, &mut q);
        let blk = dst.blk(t, b);
        for (j, &v) in q.iter().enumerate() {
            *(blk as *mut i8).add(dst.pos(j)) = v;
        }
        (blk.add(Q8Rows::D) as *mut f32).write_unaligned(f16_to_f32(dh));
        let sum = q.iter().map(|&v| v as i32).sum::<i32>();
        if dst.q8_1 {
            (blk.add(Q8Rows::OFF) as *mut f32).write_unaligned(q8_1_sum(d32, sum));
        } else {
            (blk.add(Q8Rows::OFF) as *mut i32).write_unaligned(-8 * sum);
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod simd {
    use super::{Q8Rows, QK};
    use crate::f16::{f16_to_f32, f32_to_f16};
    use core::arch::wasm32::*;

    /// SIMD twin of the scalar loop in `quantize_row_q8_0`: the same operations lane-wise
    /// (`pmax` of |x|, one f32 division, `nearest` = round half even), so the same bytes.
    #[inline(never)]
    pub unsafe fn quantize_blocks(x: *const f32, dst: &Q8Rows, t: usize, b0: usize, b1: usize) {
        for b in b0..b1 {
            let xp = x.add(b * QK) as *const v128;
            let mut v = [f32x4_splat(0.0); 8];
            let mut amax = f32x4_splat(0.0);
            for k in 0..8 {
                v[k] = v128_load(xp.add(k));
                amax = f32x4_pmax(amax, f32x4_abs(v[k]));
            }
            // max is exact and the scalar loop skips NaN like pmax, so any order gives its amax.
            amax = f32x4_pmax(amax, i32x4_shuffle::<2, 3, 0, 1>(amax, amax));
            amax = f32x4_pmax(amax, i32x4_shuffle::<1, 0, 3, 2>(amax, amax));
            let am = f32x4_extract_lane::<0>(amax);
            let d = am / 127.0;
            let id = f32x4_splat(if am != 0.0 { 127.0 / am } else { 0.0 });
            let mut q16 = [i32x4_splat(0); 4];
            for k in 0..4 {
                let a = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v[2 * k], id)));
                let c = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v[2 * k + 1], id)));
                q16[k] = i16x8_narrow_i32x4(a, c);
            }
            let mut lo = i8x16_narrow_i16x8(q16[0], q16[1]);
            let mut hi = i8x16_narrow_i16x8(q16[2], q16[3]);
            if dst.even_odd {
                lo = i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15>(lo, lo);
                hi = i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15>(hi, hi);
            }
            let blk = dst.blk(t, b);
            v128_store(blk as *mut v128, lo);
            v128_store(blk.add(16) as *mut v128, hi);
            // −8·Σq (or Σq for q8_1): |Σ| ≤ 32·127, pairwise in i16 then i32 (times −8 in the dot).
            let s16 = i16x8_add(i16x8_add(q16[0], q16[1]), i16x8_add(q16[2], q16[3]));
            let s32 = i32x4_dot_i16x8(s16, i16x8_splat(if dst.q8_1 { 1 } else { -8 }));
            let s = i32x4_add(s32, i32x4_shuffle::<2, 3, 0, 1>(s32, s32));
            let s = i32x4_add(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
            (blk.add(Q8Rows::D) as *mut f32).write_unaligned(f16_to_f32(f32_to_f16(d)));
            let s = i32x4_extract_lane::<0>(s);
            if dst.q8_1 {
                (blk.add(Q8Rows::OFF) as *mut f32).write_unaligned(super::q8_1_sum(d, s));
            } else {
                (blk.add(Q8Rows::OFF) as *mut i32).write_unaligned(s);
            }
        }
    }
}

/// Dequantizes `n` elements of type `t` starting at element 0 of `src` into `dst[..n]`.
/// `n` must be a multiple of 32 for the Q types (256 for the K-quants). Unknown types leave `dst` untouched
/// (callers check [`row_bytes`] first).
pub unsafe fn dequantize_row(t: u32, src: *const u8, dst: &mut [f32]) {
    let n = dst.len();
    match t {
        F32 => {
            for (i, o) in dst.iter_mut().enumerate() {
                *o = (src as *const f32).add(i).read_unaligned();
            }
        }
        F16 => {
            for (i, o) in dst.iter_mut().enumerate() {
                *o = f16_to_f32(read_u16(src.add(2 * i)));
            }
        }
        BF16 => {
            for (i, o) in dst.iter_mut().enumerate() {
                *o = bf16_to_f32(read_u16(src.add(2 * i)));
            }
        }
        Q8_0 => {
            for b in 0..n / QK {
                let blk = src.add(b * Q8_0_BYTES);
                let d = f16_to_f32(read_u16(blk));
                for j in 0..QK {
                    dst[b * QK + j] = (*blk.add(2 + j) as i8) as f32 * d;
                }
            }
        }
        Q4_0 => {
            for b in 0..n / QK {
                let blk = src.add(b * Q4_0_BYTES);
                let d = f16_to_f32(read_u16(blk));
                for j in 0..QK / 2 {
                    let byte = *blk.add(2 + j);
                    dst[b * QK + j] = ((byte & 0x0F) as i32 - 8) as f32 * d;
                    dst[b * QK + j + 16] = ((byte >> 4) as i32 - 8) as f32 * d;
                }
            }
        }
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS => dequantize_row_k(t, src, dst),
        _ => quant32::dequantize_row(t, src, dst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_sizes() {
        assert_eq!(row_bytes(F32, 5), Some(20));
        assert_eq!(row_bytes(F16, 5), Some(10));
        assert_eq!(row_bytes(BF16, 64), Some(128));
        assert_eq!(row_bytes(Q4_0, 64), Some(36));
        assert_eq!(row_bytes(Q8_0, 64), Some(68));
        assert_eq!(row_bytes(Q8_0, 33), None);
        assert_eq!(row_bytes(5, 32), None); // Q4_3: removed from ggml
        assert_eq!(row_bytes(quant32::Q5_1, 64), Some(48));
        assert_eq!(row_bytes(quant32::IQ4_NL, 33), None);
        // ggml-common.h: sizeof(block_q2_K) 84, block_q3_K 110, block_iq4_xs 136, per 256 values.
        assert_eq!(row_bytes(Q2_K, 512), Some(168));
        assert_eq!(row_bytes(Q3_K, 512), Some(220));
        assert_eq!(row_bytes(IQ4_XS, 512), Some(272));
        assert_eq!(row_bytes(IQ4_XS, 288), None); // not a multiple of 256
        assert_eq!(row_bytes(Q3_K, 32), None);
    }

    #[test]
    fn q8_block_hand_checked() {
        // amax = 127 → d = 1 (f16 0x3C00), multiplier 1: values round half to even.
        let mut x = [0.0f32; 32];
        x[0] = 127.0;
        x[1] = -127.0;
        x[2] = 2.5; // tie → 2
        x[3] = 3.5; // tie → 4
        x[4] = -2.5; // → -2
        x[5] = 0.49;
        x[6] = 100.6;
        let mut q = [0i8; 32];
        assert_eq!(quantize_block_q8_0(&x, &mut q), 0x3C00);
        assert_eq!(&q[..8], &[127, -127, 2, 4, -2, 0, 101, 0]);

        // amax = 0.5 → d = 0.5/127 ≈ 0.003937 → f16 0x1C08 (0.0039368), multiplier 254.
        let mut x = [0.0f32; 32];
        x[31] = -0.5;
        x[10] = 0.25; // 63.5 → 64 (tie to even)
        x[11] = 0.1; // 25.4 → 25
        let mut q = [0i8; 32];
        let d = quantize_block_q8_0(&x, &mut q);
        assert_eq!(d, 0x1C08);
        assert_eq!((q[31], q[10], q[11]), (-127, 64, 25));

        // All zeros: d = 0, q = 0.
        let mut q = [1i8; 32];
        assert_eq!(quantize_block_q8_0(&[0.0; 32], &mut q), 0);
        assert_eq!(q, [0; 32]);
    }

    #[test]
    fn q8_rows_layout_and_error_bound() {
        // 2 rows of 64: each value is within d/2 of its quantized value (plus f16 rounding of d).
        let n = 64;
        let mut x = [0.0f32; 128];
        for (i, v) in x.iter_mut().enumerate() {
            *v = ((i * 37 % 101) as f32 - 50.0) * 0.013 + if i % 7 == 0 { 3.0 } else { 0.0 };
        }
        // Odd base address: the layout is unaligned.
        let mut buf = [0u8; Q8Rows::bytes(2, 64) + 1];
        let mut rows = Q8Rows { base: unsafe { buf.as_mut_ptr().add(1) }, n, even_odd: false, q8_1: false, wide: core::ptr::null_mut(), wide_toks: 0 };
        for even_odd in [false, true] {
            rows.even_odd = even_odd;
            unsafe {
                for t in 0..2 {
                    quantize_row_q8_0(x.as_ptr().add(t * n), &rows, t, 0, 2, true);
                }
                for t in 0..2 {
                    for i in 0..n {
                        let d = rows.d(t, i / 32) as f64;
                        let q = rows.q(t, i / 32, i % 32) as f64;
                        let v = x[t * n + i] as f64;
                        assert!((q * d - v).abs() <= 0.5 * d + v.abs() * 1e-3, "{t} {i}: {} vs {v}", q * d);
                    }
                    for b in 0..2 {
                        let sum: i32 = (0..32).map(|j| rows.q(t, b, j) as i32).sum();
                        assert_eq!(rows.off(t, b), -8 * sum, "block offset {t} {b}");
                    }
                }
                // Layout: block 1 of row 1 is the 4th block; its element 1 sits at 1 or 8.
                assert_eq!(rows.blk(1, 1).offset_from(rows.base), 120);
                let want = if even_odd { 8 } else { 1 };
                assert_eq!(*(rows.blk(1, 1) as *const i8).add(want), rows.q(1, 1, 1));
            }
        }
        assert_eq!(Q8Rows::bytes(2, 64), 160);
        // Every position is hit once in the even/odd order.
        let eo = Q8Rows { base: core::ptr::null_mut(), n: 32, even_odd: true, q8_1: false, wide: core::ptr::null_mut(), wide_toks: 0 };
        let mut seen = [false; 32];
        (0..32).for_each(|j| seen[eo.pos(j)] = true);
        assert!(seen.iter().all(|&s| s));
        assert_eq!((eo.pos(0), eo.pos(1), eo.pos(2), eo.pos(15), eo.pos(16), eo.pos(17), eo.pos(31)), (0, 8, 1, 15, 16, 24, 31));
    }

    #[test]
    fn dequantize_hand_checked() {
        // Q4_0: d = 2.0 (0x4000); byte 0x9F → element 0 = (15−8)·2 = 14, element 16 = (9−8)·2 = 2;
        // byte 0x01 (the last) → element 15 = (1−8)·2 = −14, element 31 = (0−8)·2 = −16.
        let mut blk = [0x88u8; 18];
        blk[0] = 0x00;
        blk[1] = 0x40;
        blk[2] = 0x9F;
        blk[17] = 0x01;
        let mut out = [9.0f32; 32];
        unsafe { dequantize_row(Q4_0, blk.as_ptr(), &mut out) };
        assert_eq!((out[0], out[16], out[1], out[15], out[31]), (14.0, 2.0, 0.0, -14.0, -16.0));
        // Q8_0: d = 0.5 (0x3800), qs = -128, 3.
        let mut blk = [0u8; 34];
        blk[1] = 0x38;
        blk[2] = 0x80;
        blk[3] = 3;
        unsafe { dequantize_row(Q8_0, blk.as_ptr(), &mut out) };
        assert_eq!((out[0], out[1], out[2]), (-64.0, 1.5, 0.0));
        // F16 / BF16 / F32 at an odd address.
        let bytes = [0u8, 0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F];
        let mut two = [0.0f32; 2];
        unsafe { dequantize_row(F16, bytes.as_ptr().add(1), &mut two) };
        assert_eq!(two, [1.0, -2.0]);
        unsafe { dequantize_row(BF16, bytes.as_ptr().add(3), &mut two) };
        assert_eq!(two, [-2.0, 1.0]);
        let f = [0u8, 0, 0, 0x80, 0x3F];
        let mut one = [0.0f32; 1];
        unsafe { dequantize_row(F32, f.as_ptr().add(1), &mut one) };
        assert_eq!(one, [1.0]);
    }
}
