//! simd128 helpers shared by the matmul tiles (wasm32 only).

use core::arch::wasm32::*;

/// `a·b + c`: `relaxed_madd` (fused or not, as the engine likes) in the relaxed build.
#[inline(always)]
pub fn fma(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    return f32x4_relaxed_madd(a, b, c);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return f32x4_add(f32x4_mul(a, b), c);
}

/// The f16 at `p[k + i]` (unaligned, i < 4, k + i < p.len()) as f32 in lane i (exact; other
/// lanes 0). `p.len()` and `k` are constants after inlining, so the tests fold away.
#[inline(always)]
pub unsafe fn gather_f16(p: &[*const u8], k: usize) -> v128 {
    // Each f16 goes to the top half of its u32 lane (u16 lanes 1, 3, 5, 7).
    let n = p.len();
    let mut v = u32x4_splat(0);
    if n > k {
        v = v128_load16_lane::<1>(v, p[k] as *const u16);
    }
    if n > k + 1 {
        v = v128_load16_lane::<3>(v, p[k + 1] as *const u16);
    }
    if n > k + 2 {
        v = v128_load16_lane::<5>(v, p[k + 2] as *const u16);
    }
    if n > k + 3 {
        v = v128_load16_lane::<7>(v, p[k + 3] as *const u16);
    }
    f16_hi_to_f32(v)
}

/// Lane `i` of `v` in all four lanes (`i` is a constant after unrolling).
#[inline(always)]
pub fn lane_splat(v: v128, i: usize) -> v128 {
    match i {
        0 => i32x4_shuffle::<0, 0, 0, 0>(v, v),
        1 => i32x4_shuffle::<1, 1, 1, 1>(v, v),
        2 => i32x4_shuffle::<2, 2, 2, 2>(v, v),
        _ => i32x4_shuffle::<3, 3, 3, 3>(v, v),
    }
}

/// 32 i8 sign-extended to four i16x8 (elements 0..7, 8..15, 16..23, 24..31).
#[inline(always)]
pub unsafe fn load_i16x32(p: *const i8) -> [v128; 4] {
    [i16x8_load_extend_i8x8(p), i16x8_load_extend_i8x8(p.add(8)), i16x8_load_extend_i8x8(p.add(16)), i16x8_load_extend_i8x8(p.add(24))]
}

/// 32 i16 values at `p` (the [`Q8Rows::wide`](crate::ops::quant::Q8Rows::wide) copy of a block): what
/// [`load_i16x32`] gives for the block's bytes, by plain loads.
#[inline(always)]
pub unsafe fn load_i16x32_wide(p: *const i16) -> [v128; 4] {
    [core::ptr::read_volatile(p as *const v128), core::ptr::read_volatile(p.add(8) as *const v128), core::ptr::read_volatile(p.add(16) as *const v128), core::ptr::read_volatile(p.add(24) as *const v128)]
}

/// [`load_i16x32`] with the addresses as `wrapping_add`s, which LLVM leaves as `i32.add`s
/// instead of folding them into the loads' offset immediates: V8 (x64) computes `memory
/// start + offset` of an extending load as a value of its own and hoists it out of the loop;
/// with a few dozen such offsets in a kernel it spills them (the K-quant decode loops
/// reloaded ~30 addresses from the stack per super-block). Costs one add per load.
#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
pub unsafe fn load_i16x32_unfolded(p: *const i8) -> [v128; 4] {
    [
        i16x8_load_extend_i8x8(p),
        i16x8_load_extend_i8x8(p.wrapping_add(8)),
        i16x8_load_extend_i8x8(p.wrapping_add(16)),
        i16x8_load_extend_i8x8(p.wrapping_add(24)),
    ]
}

/// Four i32 lanes summing to `Σ w_j·a_j` over 32 i16 pairs (exact: |w·a| ≤ 2^15 per pair).
#[inline(always)]
pub fn dot_i16x32(w: &[v128; 4], a: &[v128; 4]) -> v128 {
    let x = i32x4_add(i32x4_dot_i16x8(w[0], a[0]), i32x4_dot_i16x8(w[1], a[1]));
    let y = i32x4_add(i32x4_dot_i16x8(w[2], a[2]), i32x4_dot_i16x8(w[3], a[3]));
    i32x4_add(x, y)
}

/// The four 32-bit words at `p[i] + off` (unaligned) in lanes 0..3.
#[inline(always)]
pub unsafe fn gather_u32(p: &[*const u8; 4], off: usize) -> v128 {
    let v = v128_load32_zero(p[0].add(off) as *const u32);
    let v = v128_load32_lane::<1>(v, p[1].add(off) as *const u32);
    let v = v128_load32_lane::<2>(v, p[2].add(off) as *const u32);
    v128_load32_lane::<3>(v, p[3].add(off) as *const u32)
}

/// Four horizontal sums in two rounds of interleave-and-add (6 shuffles, 3 adds): with
/// `a = sum2(p0, p1)`, `b = sum2(p2, p3)`, lane i of `sum2x2(a, b)` is the sum of the four i32
/// lanes of `p_i` (exact, wrapping). `sum2(x, y)` = `[x.0+x.2, y.0+y.2, x.1+x.3, y.1+y.3]`.
#[inline(always)]
pub fn sum2(x: v128, y: v128) -> v128 {
    i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(x, y), i32x4_shuffle::<2, 6, 3, 7>(x, y))
}

/// Second round of [`sum2`].
#[inline(always)]
pub fn sum2x2(a: v128, b: v128) -> v128 {
    i32x4_add(i64x2_shuffle::<0, 2>(a, b), i64x2_shuffle::<1, 3>(a, b))
}


/// Stores `v` to `sink` (a stack slot), volatile: an effect that V8's TurboFan keeps in
/// program order. TurboFan places every load of a loop body at its position in the effect
/// chain but sinks pure arithmetic towards its uses, so without such a fence all the loads
/// of 4 rows come first and their values stay live together (16 xmm registers on x64: the
/// rest spills). Pinning a partial result after each pair of rows bounds that.
#[inline(always)]
pub fn pin(sink: &mut v128, v: v128) {
    unsafe { core::ptr::write_volatile(sink, v) }
}

/// `(l0 + l1) + (l2 + l3)`.
#[inline(always)]
pub fn hsum(v: v128) -> f32 {
    (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v)) + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
}

/// 8 f16 (one v128) → f32 lanes `[even elements, odd elements]`, exact for every input
/// (subnormals, ±inf, NaN payloads). The split order is fine for dot products whose two
/// operands are split the same way.
#[inline(always)]
pub fn f16x8_to_f32_even_odd(v: v128) -> [v128; 2] {
    [f16_hi_to_f32(i32x4_shl(v, 16)), f16_hi_to_f32(v128_and(v, u32x4_splat(0xFFFF_0000)))]
}

/// Each u32 lane holds an f16 in its top 16 bits (low 16 bits zero) → that value as f32.
/// magnitude `m << 13` read as f32 is the value · 2^-112 (exact, also for subnormals), so
/// multiply by 2^112; inf/NaN (m ≥ 0x7C00) get the all-ones exponent (their mantissa bits
/// survive the multiply); then the sign.
#[inline(always)]
fn f16_hi_to_f32(w: v128) -> v128 {
    let mag = u32x4_shr(i32x4_add(w, w), 4);
    let f = f32x4_mul(mag, f32x4_splat(f32::from_bits(0x7780_0000))); // 2^112
    // m ≥ 0x7C00 exactly when f ≥ 2^16 (a float compare: LLVM would turn an integer one
    // into an unsigned compare, which x86 engines emulate in four instructions).
    let inf_nan = v128_and(f32x4_ge(f, f32x4_splat(65536.0)), i32x4_splat(0x7F80_0000));
    let sign = v128_and(w, u32x4_splat(0x8000_0000));
    v128_or(v128_or(f, inf_nan), sign)
}

/// 8 bf16 (one v128) → f32 lanes `[even elements, odd elements]`, exact.
#[inline(always)]
pub fn bf16x8_to_f32_even_odd(v: v128) -> [v128; 2] {
    [i32x4_shl(v, 16), v128_and(v, u32x4_splat(0xFFFF_0000))]
}
