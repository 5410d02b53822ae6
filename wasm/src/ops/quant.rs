//! ggml tensor types: block layouts, row sizes, activation quantization and row dequantization.
//!
//! Block formats (ggml, little-endian, blocks packed with no padding, so a block's address
//! is arbitrary and every multi-byte field is read unaligned):
//! - `Q8_0`: `{ f16 d; i8 qs[32] }`, 34 bytes, value `qs[j]·d`.
//! - `Q4_0`: `{ f16 d; u8 qs[16] }`, 18 bytes, value `(nibble − 8)·d`; byte `j` holds element
//!   `j` in its low nibble and element `j + 16` in its high nibble.
//!
//! Activations quantized for the integer dot products use [`Q8Rows`], our own layout of the
//! same size as Q8_0 blocks (34 bytes per 32 values) but split so that SIMD loads stay simple.

use crate::f16::{bf16_to_f32, f16_to_f32, f32_to_f16};

/// ggml type ids (ABI.md).
pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const Q4_0: u32 = 2;
pub const Q8_0: u32 = 8;
pub const BF16: u32 = 30;

/// Elements per block of the Q types.
pub const QK: usize = 32;
pub const Q4_0_BYTES: usize = 18;
pub const Q8_0_BYTES: usize = 34;

/// Bytes of one row of `n` elements of type `t`; `None` for an unknown type or a Q row whose
/// length is not a multiple of [`QK`].
pub fn row_bytes(t: u32, n: usize) -> Option<usize> {
    match t {
        F32 => Some(n * 4),
        F16 | BF16 => Some(n * 2),
        Q4_0 if n % QK == 0 => Some(n / QK * Q4_0_BYTES),
        Q8_0 if n % QK == 0 => Some(n / QK * Q8_0_BYTES),
        _ => None,
    }
}

#[inline(always)]
pub unsafe fn read_u16(p: *const u8) -> u16 {
    (p as *const u16).read_unaligned()
}

#[inline(always)]
unsafe fn write_u16(p: *mut u8, v: u16) {
    (p as *mut u16).write_unaligned(v)
}

/// Round half to even for |x| < 2^22 (bit-identical to wasm's `f32x4.nearest` there).
#[inline(always)]
pub fn round_even(x: f32) -> f32 {
    const M: f32 = 12_582_912.0; // 1.5 · 2^23
    (x + M) - M
}

/// Activations quantized to 8 bits, `n_tok` rows of `n` values (n a multiple of 32).
/// Row `t` starts at `base + t·stride` with `stride = n + n/16` bytes:
/// `qs: i8[n]` (the values), then `d: f16[n/32]` (one scale per block of 32), unaligned.
/// Same size as `n/32` Q8_0 blocks, i.e. ABI.md's `n_tok·n/32·34` bytes of scratch.
#[derive(Clone, Copy)]
pub struct Q8Rows {
    pub base: *mut u8,
    pub n: usize,
}

impl Q8Rows {
    #[inline(always)]
    pub fn stride(&self) -> usize {
        self.n + self.n / 16
    }
    /// The values of row `t`.
    #[inline(always)]
    pub unsafe fn qs(&self, t: usize) -> *mut i8 {
        self.base.add(t * self.stride()) as *mut i8
    }
    /// The f16 scales of row `t` (2 bytes each, unaligned).
    #[inline(always)]
    pub unsafe fn ds(&self, t: usize) -> *mut u8 {
        self.base.add(t * self.stride() + self.n)
    }
    /// Scale of block `b` of row `t` as f32.
    #[inline(always)]
    pub unsafe fn d(&self, t: usize, b: usize) -> f32 {
        f16_to_f32(read_u16(self.ds(t).add(2 * b)))
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
    f32_to_f16(d)
}

/// Quantizes row `t` of `x` (`n` f32 values) into row `t` of `dst`, blocks `b0..b1` only.
pub unsafe fn quantize_row_q8_0(x: *const f32, dst: &Q8Rows, t: usize, b0: usize, b1: usize) {
    let qs = dst.qs(t);
    let ds = dst.ds(t);
    for b in b0..b1 {
        let xs = core::slice::from_raw_parts(x.add(b * QK), QK);
        let q = core::slice::from_raw_parts_mut(qs.add(b * QK), QK);
        write_u16(ds.add(2 * b), quantize_block_q8_0(xs, q));
    }
}

/// Dequantizes `n` elements of type `t` starting at element 0 of `src` into `dst[..n]`.
/// `n` must be a multiple of 32 for the Q types. Unknown types leave `dst` untouched
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
        _ => {}
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
        assert_eq!(row_bytes(7, 32), None);
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
        let mut buf = [0u8; 2 * (64 + 4)];
        let rows = Q8Rows { base: buf.as_mut_ptr(), n };
        unsafe {
            for t in 0..2 {
                quantize_row_q8_0(x.as_ptr().add(t * n), &rows, t, 0, 2);
            }
            for t in 0..2 {
                for i in 0..n {
                    let d = rows.d(t, i / 32) as f64;
                    let q = *rows.qs(t).add(i) as f64;
                    let v = x[t * n + i] as f64;
                    assert!((q * d - v).abs() <= 0.5 * d + v.abs() * 1e-3, "{t} {i}: {} vs {v}", q * d);
                }
            }
        }
        assert_eq!(rows.stride(), 68);
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
