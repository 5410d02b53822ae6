//! simd128 unpacking shared by the 32-value block types other than Q4_0/Q8_0 (wasm32 only):
//! nibbles and 5th bits to one byte per element in element order, then either relaxed-simd's
//! i8 dot (codes in 0..31, exact) or a widening to i16 for `i32x4.dot_i16x8_s` (exact).

use core::arch::wasm32::*;

/// 16 bytes of nibbles at `p` → `[elements 0..15, elements 16..31]` as u8 lanes (0..15).
#[inline(always)]
pub unsafe fn nibbles(p: *const u8) -> [v128; 2] {
    let v = v128_load(p as *const v128);
    [v128_and(v, u8x16_splat(0x0F)), u8x16_shr(v, 4)]
}

/// `qh` (u32 at `p`, bit j = bit 4 of element j) → `[elements 0..15, 16..31]`, 0x10 where set.
#[inline(always)]
pub unsafe fn high_bits(p: *const u8) -> [v128; 2] {
    // Byte j of each half gets qh byte j/8 (then its bit j%8 is tested), by interleaves and
    // 32-bit lane shuffles, which engines lower to single instructions without constants
    // (punpcklbw, punpcklwd, pshufd on x64).
    let qh = v128_load32_zero(p as *const u32);
    let b2 = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(qh, qh);
    let b4 = i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(b2, b2);
    let lo = i32x4_shuffle::<0, 0, 1, 1>(b4, b4);
    let hi = i32x4_shuffle::<2, 2, 3, 3>(b4, b4);
    let bit = u64x2_splat(0x8040_2010_0804_0201);
    let at = |v: v128| v128_and(i8x16_eq(v128_and(v, bit), bit), u8x16_splat(0x10));
    [at(lo), at(hi)]
}

/// 5-bit codes (0..31) of a block: nibbles at `qs`, high bits at `qh`.
#[inline(always)]
pub unsafe fn codes5(qs: *const u8, qh: *const u8) -> [v128; 2] {
    let [a, b] = nibbles(qs);
    let [ha, hb] = high_bits(qh);
    [v128_or(a, ha), v128_or(b, hb)]
}

/// u8 lanes (two v128, 32 elements) → four i16x8 (elements 0..7, 8..15, 16..23, 24..31).
#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
pub fn widen_u8(v: [v128; 2]) -> [v128; 4] {
    [u16x8_extend_low_u8x16(v[0]), u16x8_extend_high_u8x16(v[0]), u16x8_extend_low_u8x16(v[1]), u16x8_extend_high_u8x16(v[1])]
}

/// i8 lanes → four i16x8, sign-extended.
#[inline(always)]
pub fn widen_i8(v: [v128; 2]) -> [v128; 4] {
    [i16x8_extend_low_i8x16(v[0]), i16x8_extend_high_i8x16(v[0]), i16x8_extend_low_i8x16(v[1]), i16x8_extend_high_i8x16(v[1])]
}

/// 32 activations at `q` as two i8x16.
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
pub unsafe fn load_i8x32(q: *const i8) -> [v128; 2] {
    [v128_load(q as *const v128), v128_load(q.add(16) as *const v128)]
}

/// Four i32 lanes summing to `Σ w_j·a_j`, `w` in 0..127 (the i7 operand: exact).
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
pub fn dot_u7_i8(w: &[v128; 2], a: &[v128; 2]) -> v128 {
    i32x4_relaxed_dot_i8x16_i7x16_add(a[0], w[0], i32x4_relaxed_dot_i8x16_i7x16_add(a[1], w[1], i32x4_splat(0)))
}
