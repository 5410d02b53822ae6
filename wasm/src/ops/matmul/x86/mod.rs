//! AVX2 kernels of the quantized matmul (native x86-64 builds with AVX2, FMA and F16C, i.e.
//! the x86-64-v3 and v4 libraries of wasm/build-native.sh; the baseline library keeps the
//! scalar twins). Integer block dots as ggml's `ggml-cpu/arch/x86/quants.c` does them:
//! unsigned levels × signed activations with `_mm256_maddubs_epi16` (pairs of products, exact
//! here: |pair| ≤ 2·128·127 < 2^15), widened and summed with `_mm256_madd_epi16`.
//!
//! Unlike ggml, the f32 part is the scalar twin's, in its order: per block (or super-block)
//! and output, `acc += (d_w·d_x)·f32(isum)` (no fused multiply-add), so every output has the
//! twin's bits. To keep that cheap, eight outputs are computed side by side (8 rows of one
//! token in decode, one row of 8 tokens in prefill): their 8 i32x8 partial dots are reduced
//! by [`reduce8`] into one vector with lane i = output i's exact `isum`, and the f32 work is
//! one vector op each per block for the 8 outputs.
//!
//! - q.rs: the 32-value blocks (Q4_0, Q8_0) over the [`Q8Rows`] activations;
//! - k.rs: the K-quants (Q4_K, Q6_K) over the [`Q8KRows`] activations.
//!
//! [`Q8Rows`]: crate::ops::quant::Q8Rows
//! [`Q8KRows`]: crate::ops::quant_k::Q8KRows

mod k;
mod q;
#[cfg(test)]
mod bench;
#[cfg(test)]
mod tests;

use super::Mm;
use crate::ops::quant;
use core::arch::x86_64::*;
use core::ops::Range;

/// Outputs per tile: rows of a decode tile, tokens of a prefill tile (one i32x8 / f32x8).
pub const LANES: usize = 8;

/// What a decode tile prefetches while it reads block `b` of its 8 rows: 1 = block `b` of the
/// next tile's 8 rows (8 row lengths ahead), > 1 = that many bytes ahead in each row, 0 = nothing.
/// 8 rows of 2048 values are 8 streams of ~1–4 KiB that the hardware prefetcher never learns;
/// fetching the next tile during this one measured 1.3–2.9× the GB/s (x86/bench.rs). A prefetch
/// past the end of the weights is a hint, never a fault.
pub const PREFETCH: usize = 1;

/// `out[t][r]` for `r` in `rows`, every token, if `m.wtype` has an AVX2 kernel (else false:
/// the caller runs the scalar twin).
pub unsafe fn compute(m: &Mm, rows: Range<usize>) -> bool {
    match m.wtype {
        quant::Q4_0 => q::drive::<q::Q4_0, false>(m, rows),
        quant::Q4_0X4 => q::drive::<q::Q4_0, true>(m, rows),
        quant::Q8_0 => q::drive::<q::Q8_0, false>(m, rows),
        quant::Q4_K | quant::Q4_KX4 => k::drive::<k::Q4K>(m, rows),
        quant::Q6_K | quant::Q6_KX4 => k::drive::<k::Q6K>(m, rows),
        _ => return false,
    }
    true
}

/// Lane i = the sum of the 8 i32 lanes of `v[i]` (exact integer adds).
#[inline(always)]
pub unsafe fn reduce8(v: &[__m256i; 8]) -> __m256i {
    // Per 128-bit half: h01 = [v0 pairs, v1 pairs], h0123 = [Σv0, Σv1, Σv2, Σv3] of that half.
    let h01 = _mm256_hadd_epi32(v[0], v[1]);
    let h23 = _mm256_hadd_epi32(v[2], v[3]);
    let h45 = _mm256_hadd_epi32(v[4], v[5]);
    let h67 = _mm256_hadd_epi32(v[6], v[7]);
    let h0123 = _mm256_hadd_epi32(h01, h23);
    let h4567 = _mm256_hadd_epi32(h45, h67);
    // Low halves of both, then high halves of both: their sum is [Σv0 .. Σv7].
    let lo = _mm256_permute2x128_si256::<0x20>(h0123, h4567);
    let hi = _mm256_permute2x128_si256::<0x31>(h0123, h4567);
    _mm256_add_epi32(lo, hi)
}

/// The f16 at each `p[i]`, as f32 (F16C: exact, like `f16_to_f32`).
#[inline(always)]
pub unsafe fn f16x8(p: &[*const u8; 8]) -> __m256 {
    let h = |i: usize| (p[i] as *const i16).read_unaligned();
    _mm256_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7)))
}

/// The 32-bit word at `p[i] + off`, lane i.
#[inline(always)]
pub unsafe fn u32x8(p: &[*const u8; 8], off: usize) -> __m256i {
    let w = |i: usize| (p[i].add(off) as *const i32).read_unaligned();
    _mm256_setr_epi32(w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7))
}

/// The 32-bit word at `p` in all 8 lanes.
#[inline(always)]
pub unsafe fn splat32(p: *const u8) -> __m256i {
    _mm256_set1_epi32((p as *const i32).read_unaligned())
}

/// Writes lanes `0..n` of `v` to `out[t(i)][r(i)]`.
#[inline(always)]
pub unsafe fn store(m: &Mm, v: __m256, n: usize, at: impl Fn(usize) -> (usize, usize)) {
    let mut lanes = [0.0f32; LANES];
    _mm256_storeu_ps(lanes.as_mut_ptr(), v);
    for (i, &x) in lanes.iter().enumerate().take(n) {
        let (t, r) = at(i);
        m.set_out(t, r, x);
    }
}
