//! AVX2 tiles of the 32-value block types (Q4_0, Q8_0) × [`Q8Rows`] activations (element order
//! natively). Per block `b` and output `(t, r)`: `acc += (d_w[r][b]·d_x[t][b])·f32(isum)`, with
//! `isum` the exact integer dot (Q4_0: `Σ n·q` plus the activations' `−8·Σq`), like the twins
//! in q4_0.rs and q8_0.rs.

use super::{f16x8, reduce8, splat32, store, tile_rows, u32x8, LANES};
use crate::ops::matmul::Mm;
use crate::ops::quant::{Q8Rows, Q4_0_BYTES, Q8_0_BYTES, QK};
use core::arch::x86_64::*;
use core::ops::Range;

/// One weight type: block `{ f16 d; values }` and its integer block dot with 32 activations.
pub trait Block {
    const BYTES: usize;
    /// Add the activations' `−8·Σq` (Q4_0's nibbles `n` stand for `n − 8`).
    const OFFSET8: bool;
    /// A weight block unpacked for `dot`.
    type W: Copy;
    /// `p`: the block after its 2-byte `d`.
    unsafe fn load_w(p: *const u8) -> Self::W;
    /// 8 i32 lanes summing to `Σ_j w_j·a_j` (exact).
    unsafe fn dot(w: &Self::W, a: __m256i) -> __m256i;
}

#[allow(non_camel_case_types)]
pub struct Q4_0;
#[allow(non_camel_case_types)]
pub struct Q8_0;

impl Block for Q4_0 {
    const BYTES: usize = Q4_0_BYTES;
    const OFFSET8: bool = true;
    type W = __m256i;
    /// Byte j holds element j (low nibble) and j + 16 (high): 32 u8 in element order.
    #[inline(always)]
    unsafe fn load_w(p: *const u8) -> __m256i {
        let v = _mm_loadu_si128(p as *const __m128i);
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(v), v), _mm256_set1_epi8(0x0F))
    }
    #[inline(always)]
    unsafe fn dot(w: &__m256i, a: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(*w, a), _mm256_set1_epi16(1))
    }
}

impl Block for Q8_0 {
    const BYTES: usize = Q8_0_BYTES;
    const OFFSET8: bool = false;
    /// `|w|` (as u8: −128 → 128) and `w`.
    type W = (__m256i, __m256i);
    #[inline(always)]
    unsafe fn load_w(p: *const u8) -> (__m256i, __m256i) {
        let w = _mm256_loadu_si256(p as *const __m256i);
        (_mm256_sign_epi8(w, w), w)
    }
    /// `|w|·(a·sign w)`: exact since the activations are in −127..127 (their negation fits).
    #[inline(always)]
    unsafe fn dot(w: &(__m256i, __m256i), a: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(w.0, _mm256_sign_epi8(a, w.1)), _mm256_set1_epi16(1))
    }
}

/// Decode tile: rows `r0..r0+n` (n ≤ 8) × token `t`; lane i = row i.
#[inline(always)]
unsafe fn rows8<K: Block>(m: &Mm, r0: usize, n: usize, t: usize) {
    let p = tile_rows(m, r0, n);
    let mut q = m.q8().blk(t, 0) as *const u8;
    let mut acc = _mm256_setzero_ps();
    for b in 0..m.n_in / QK {
        let o = b * K::BYTES;
        let a = _mm256_loadu_si256(q as *const __m256i);
        let mut v = [_mm256_setzero_si256(); LANES];
        for i in 0..LANES {
            v[i] = K::dot(&K::load_w(p[i].add(o + 2)), a);
        }
        let mut s = reduce8(&v);
        if K::OFFSET8 {
            s = _mm256_add_epi32(s, splat32(q.add(Q8Rows::OFF)));
        }
        let d = [p[0].add(o), p[1].add(o), p[2].add(o), p[3].add(o), p[4].add(o), p[5].add(o), p[6].add(o), p[7].add(o)];
        let sc = _mm256_mul_ps(f16x8(&d), _mm256_castsi256_ps(splat32(q.add(Q8Rows::D))));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(s)));
        q = q.add(Q8Rows::BLOCK);
    }
    store(m, acc, n, |i| (t, r0 + i));
}

/// Prefill tile: row `r` × tokens `t0..t0+8`; lane j = token j. The weight block is unpacked
/// once for the 8 tokens.
#[inline(always)]
unsafe fn toks8<K: Block>(m: &Mm, r: usize, t0: usize) {
    let tb = m.n_in / QK * Q8Rows::BLOCK;
    let q0 = m.q8().blk(t0, 0) as *const u8;
    let mut q = [q0; LANES];
    for (j, qj) in q.iter_mut().enumerate() {
        *qj = q0.add(j * tb);
    }
    let mut w = m.row(r);
    let mut acc = _mm256_setzero_ps();
    for _ in 0..m.n_in / QK {
        let wv = K::load_w(w.add(2));
        let mut v = [_mm256_setzero_si256(); LANES];
        for j in 0..LANES {
            v[j] = K::dot(&wv, _mm256_loadu_si256(q[j] as *const __m256i));
        }
        let mut s = reduce8(&v);
        if K::OFFSET8 {
            s = _mm256_add_epi32(s, u32x8(&q, Q8Rows::OFF));
        }
        let dw = _mm256_set1_ps(crate::f16::f16_to_f32(crate::ops::quant::read_u16(w)));
        let sc = _mm256_mul_ps(dw, _mm256_castsi256_ps(u32x8(&q, Q8Rows::D)));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(s)));
        for qj in q.iter_mut() {
            *qj = qj.add(Q8Rows::BLOCK);
        }
        w = w.add(K::BYTES);
    }
    store(m, acc, LANES, |j| (t0 + j, r));
}

/// Covers `rows × 0..n_tok`: prefill tiles for whole groups of 8 tokens (token groups outer,
/// so the 8 tokens' activations stay in L1 while the chunk's rows pass), decode tiles for the
/// rest.
#[inline(never)]
pub unsafe fn drive<K: Block>(m: &Mm, rows: Range<usize>) {
    let n8 = m.n_tok / LANES * LANES;
    for t0 in (0..n8).step_by(LANES) {
        for r in rows.clone() {
            toks8::<K>(m, r, t0);
        }
    }
    for t in n8..m.n_tok {
        let mut r = rows.start;
        while r < rows.end {
            let n = (rows.end - r).min(LANES);
            rows8::<K>(m, r, n, t);
            r += n;
        }
    }
}
