//! The other 32-value block types: Q4_1, Q5_0, Q5_1, IQ4_NL (ggml-common.h). Block formats
//! (little-endian, packed, unaligned like Q4_0; nibbles as in Q4_0: byte `j` of `qs` holds
//! element `j` in its low nibble and element `j + 16` in its high nibble; `qh` is a u32 whose
//! bit `j` is bit 4 of element `j`'s code):
//! - `Q4_1`:   `{ f16 d; f16 m; u8 qs[16] }`,         20 bytes, value `nibble·d + m`;
//! - `Q5_0`:   `{ f16 d; u8 qh[4]; u8 qs[16] }`,      22 bytes, value `(code − 16)·d`;
//! - `Q5_1`:   `{ f16 d; f16 m; u8 qh[4]; u8 qs[16] }`, 24 bytes, value `code·d + m`;
//! - `IQ4_NL`: `{ f16 d; u8 qs[16] }`,                18 bytes, value `IQ4NL[nibble]·d`.
//!
//! In a matmul, Q5_0 and IQ4_NL weights meet Q8_0-kind activations (ggml's `vec_dot_*_q8_0`);
//! Q4_1 and Q5_1 ("_1": with a min `m`) meet Q8_1-kind ones, whose block also carries
//! `s = f16(d_x·Σq)` (ggml's `block_q8_1`), so `Σ_j (c_j·d + m)·q_j·d_x = d·d_x·Σ c·q + m·s`.

use super::quant::{read_u16, QK};
use crate::f16::f16_to_f32;

/// ggml type ids (ABI.md).
pub const Q4_1: u32 = 3;
pub const Q5_0: u32 = 6;
pub const Q5_1: u32 = 7;
pub const IQ4_NL: u32 = 20;

pub const Q4_1_BYTES: usize = 20;
pub const Q5_0_BYTES: usize = 22;
pub const Q5_1_BYTES: usize = 24;
pub const IQ4_NL_BYTES: usize = 18;

/// ggml's `kvalues_iq4nl`: the 16 levels of IQ4_NL.
pub const IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// Bytes per block of type `t`, `None` if `t` is not one of these types.
pub fn block_bytes(t: u32) -> Option<usize> {
    match t {
        Q4_1 => Some(Q4_1_BYTES),
        Q5_0 => Some(Q5_0_BYTES),
        Q5_1 => Some(Q5_1_BYTES),
        IQ4_NL => Some(IQ4_NL_BYTES),
        _ => None,
    }
}

/// Whether type `t` has a min (`value = code·d + m`, m = the f16 at byte 2).
pub const fn has_min(t: u32) -> bool {
    matches!(t, Q4_1 | Q5_1)
}

/// The 32 integer codes of the block at `blk` as the dot products use them: Q5_0 `code − 16`,
/// IQ4_NL its level, Q4_1/Q5_1 the unsigned code (the min is added apart). Value = code·d (+ m).
#[inline(always)]
pub unsafe fn codes(t: u32, blk: *const u8, c: &mut [i32; QK]) {
    let (qs, qh) = match t {
        Q4_1 => (blk.add(4), None),
        Q5_0 => (blk.add(6), Some(blk.add(2))),
        Q5_1 => (blk.add(8), Some(blk.add(4))),
        _ => (blk.add(2), None),
    };
    let hi = qh.map_or(0, |p| (p as *const u32).read_unaligned());
    for j in 0..QK / 2 {
        let byte = *qs.add(j);
        let (mut lo, mut up) = ((byte & 0x0F) as i32, (byte >> 4) as i32);
        lo |= ((hi >> j) as i32 & 1) << 4;
        up |= ((hi >> (j + 16)) as i32 & 1) << 4;
        match t {
            Q5_0 => (c[j], c[j + 16]) = (lo - 16, up - 16),
            IQ4_NL => (c[j], c[j + 16]) = (IQ4NL[lo as usize] as i32, IQ4NL[up as usize] as i32),
            _ => (c[j], c[j + 16]) = (lo, up),
        }
    }
}

/// Dequantizes `dst.len()` elements (a multiple of 32) of type `t` (one of these types) from
/// `src`: `code·d`, or `code·d + m` rounded once in f32 as ggml's `dequantize_row_q4_1/q5_1`.
pub unsafe fn dequantize_row(t: u32, src: *const u8, dst: &mut [f32]) {
    let Some(bytes) = block_bytes(t) else { return };
    let mut c = [0i32; QK];
    for b in 0..dst.len() / QK {
        let blk = src.add(b * bytes);
        let d = f16_to_f32(read_u16(blk));
        let m = if has_min(t) { f16_to_f32(read_u16(blk.add(2))) } else { 0.0 };
        codes(t, blk, &mut c);
        for (j, &v) in c.iter().enumerate() {
            dst[b * QK + j] = if has_min(t) { v as f32 * d + m } else { v as f32 * d };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_decoded_blocks() {
        let mut out = [0.0f32; 32];
        // Q4_1: d = 2, m = −1; byte 0 = 0x9F → element 0 = 15·2 − 1, element 16 = 9·2 − 1.
        let mut b = [0u8; 20];
        b[..5].copy_from_slice(&[0x00, 0x40, 0x00, 0xBC, 0x9F]);
        unsafe { dequantize_row(Q4_1, b.as_ptr(), &mut out) };
        assert_eq!((out[0], out[16], out[1], out[31]), (29.0, 17.0, -1.0, -1.0));
        // Q5_0: d = 0.5, qh bits 0 and 31: element 0 = 31 − 16, 16 = 9 − 16, 31 = 16 − 16, 1 = −16.
        let mut b = [0u8; 22];
        b[..7].copy_from_slice(&[0x00, 0x38, 0x01, 0x00, 0x00, 0x80, 0x9F]);
        unsafe { dequantize_row(Q5_0, b.as_ptr(), &mut out) };
        assert_eq!((out[0], out[16], out[31], out[1]), (7.5, -3.5, 0.0, -8.0));
        // Q5_1: d = 1, m = 0.5, qh bit 16: element 16 = 25 + 0.5.
        let mut b = [0u8; 24];
        b[..9].copy_from_slice(&[0x00, 0x3C, 0x00, 0x38, 0x00, 0x00, 0x01, 0x00, 0x9F]);
        unsafe { dequantize_row(Q5_1, b.as_ptr(), &mut out) };
        assert_eq!((out[0], out[16], out[1]), (15.5, 25.5, 0.5));
        // IQ4_NL: d = 1; nibble 15 → 113, 8 → 1, 0 → −127.
        let mut b = [0u8; 18];
        b[..4].copy_from_slice(&[0x00, 0x3C, 0x8F, 0x00]);
        unsafe { dequantize_row(IQ4_NL, b.as_ptr(), &mut out) };
        assert_eq!((out[0], out[16], out[1], out[17]), (113.0, 1.0, -127.0, -127.0));
    }
}
