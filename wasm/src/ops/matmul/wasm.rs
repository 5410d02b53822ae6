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

/// Block scale products for an R×T tile (R ≤ 8, T ≤ 4): `out[r]` lane t = `dw[r]·dx[t]` (f32,
/// as ggml rounds `d_w·d_x` before scaling the integer sum). `dw`, `dx`: the f16 scales.
#[inline(always)]
pub unsafe fn scales<const R: usize, const T: usize>(dw: &[*const u8; R], dx: &[*const u8; T]) -> [v128; R] {
    let x = gather_f16(dx, 0);
    let w = [gather_f16(dw, 0), if R > 4 { gather_f16(dw, 4) } else { x }];
    let mut s = [x; R];
    unroll!(r < R, {
        s[r] = f32x4_mul(lane_splat(w[r / 4], r % 4), x);
    });
    s
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
