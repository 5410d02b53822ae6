//! AVX2 tiles of the 32-value block types (Q4_0, Q8_0) × [`Q8Rows`] activations (element order
//! natively). Per block `b` and output `(t, r)`: `acc += (d_w[r][b]·d_x[t][b])·f32(isum)`, with
//! `isum` the exact integer dot (Q4_0: `Σ n·q` plus the activations' `−8·Σq`), like the twins
//! in q4_0.rs and q8_0.rs.

use super::{f16x8, reduce8, splat32, store, u32x8, LANES, PREFETCH};
use crate::ops::matmul::q4_0x4::GROUP_BLOCK;
use crate::ops::matmul::Mm;
use crate::ops::quant::{read_u16, Q8Rows, Q4_0_BYTES, Q8_0_BYTES, QK};
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
        udot(*w, a)
    }
}

/// 8 i32 lanes, lane k = `Σ_{i<4} u[4k+i]·a[4k+i]` (u8 × i8, exact): one `vpdpbusd` with
/// AVX-512 VNNI (the x86-64-v4 library), else `maddubs` + `madd` (pairs in i16: exact for
/// every caller here, |pair| ≤ 2·128·127 < 2^15; the same sums either way).
#[inline(always)]
unsafe fn udot(u: __m256i, a: __m256i) -> __m256i {
    udot_add(_mm256_setzero_si256(), u, a)
}

/// `acc + udot(u, a)`.
#[inline(always)]
unsafe fn udot_add(acc: __m256i, u: __m256i, a: __m256i) -> __m256i {
    #[cfg(target_feature = "avx512vnni")]
    return _mm256_dpbusd_epi32(acc, u, a);
    #[cfg(not(target_feature = "avx512vnni"))]
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), _mm256_set1_epi16(1)))
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
        udot(w.0, _mm256_sign_epi8(a, w.1))
    }
}

/// Row `r`'s block 0: (its quant bytes, its scale) — Q4_0/Q8_0 row-major (`{ f16 d; values }`
/// blocks), or with `X4` Q4_0X4 (ops/repack.rs: per block of 4 rows `{ f32 d[4]; u8 qs[4][16] }`).
#[inline(always)]
unsafe fn lane<const X4: bool>(m: &Mm, r: usize) -> (*const u8, *const u8) {
    if X4 {
        let g = m.row(r & !3);
        (g.add(16 + 16 * (r & 3)), g.add(4 * (r & 3)))
    } else {
        let p = m.row(r);
        (p.add(2), p)
    }
}

/// Bytes from one block of a row to its next: the block, or with `X4` the 4 rows' block.
#[inline(always)]
const fn stride<K: Block, const X4: bool>() -> usize {
    if X4 {
        GROUP_BLOCK
    } else {
        K::BYTES
    }
}

/// The weight scale at `d` as f32: f32 with `X4`, else f16 (exact either way).
#[inline(always)]
unsafe fn scale1<const X4: bool>(d: *const u8) -> f32 {
    if X4 {
        (d as *const f32).read_unaligned()
    } else {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(read_u16(d) as i32)))
    }
}

/// A decode tile's lanes (rows `r0..r0+n`, n in 1..=8; the missing ones repeat the last).
#[inline(always)]
unsafe fn lanes8<const X4: bool>(m: &Mm, r0: usize, n: usize) -> ([*const u8; 8], [*const u8; 8]) {
    let (mut q, mut d) = ([m.row(r0); 8], [m.row(r0); 8]);
    for i in 0..LANES {
        (q[i], d[i]) = lane::<X4>(m, r0 + i.min(n - 1));
    }
    (q, d)
}

/// The 8 lanes' weight scales of block offset `o`.
#[inline(always)]
unsafe fn scales8<const X4: bool>(d: &[*const u8; 8], o: usize) -> __m256 {
    if X4 {
        let f = |i: usize| (d[i].add(o) as *const f32).read_unaligned();
        _mm256_setr_ps(f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7))
    } else {
        f16x8(&d.map(|p| p.add(o)))
    }
}

/// Decode tile: rows `r0..r0+n` (n ≤ 8) × token `t`; lane i = row i.
#[inline(always)]
unsafe fn rows8<K: Block, const PF: usize, const X4: bool>(m: &Mm, r0: usize, n: usize, t: usize) {
    let (p, dp) = lanes8::<X4>(m, r0, n);
    let mut q = m.q8().blk(t, 0) as *const u8;
    let mut acc = _mm256_setzero_ps();
    for b in 0..m.n_in / QK {
        let o = b * stride::<K, X4>();
        let a = _mm256_loadu_si256(q as *const __m256i);
        let mut v = [_mm256_setzero_si256(); LANES];
        for i in 0..LANES {
            if PF == 1 {
                _mm_prefetch::<_MM_HINT_T0>(p[i].add(o + LANES * m.row_bytes) as *const i8);
            } else if PF > 1 {
                _mm_prefetch::<_MM_HINT_T0>(p[i].add(o + PF) as *const i8);
            }
            v[i] = K::dot(&K::load_w(p[i].add(o)), a);
        }
        let mut s = reduce8(&v);
        if K::OFFSET8 {
            s = _mm256_add_epi32(s, splat32(q.add(Q8Rows::OFF)));
        }
        let sc = _mm256_mul_ps(scales8::<X4>(&dp, o), _mm256_castsi256_ps(splat32(q.add(Q8Rows::D))));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(s)));
        q = q.add(Q8Rows::BLOCK);
    }
    store(m, acc, n, |i| (t, r0 + i));
}

/// Prefill tile: row `r` × tokens `t0..t0+8`; lane j = token j. The weight block is unpacked
/// once for the 8 tokens.
#[inline(always)]
unsafe fn toks8<K: Block, const X4: bool>(m: &Mm, r: usize, t0: usize) {
    let tb = m.n_in / QK * Q8Rows::BLOCK;
    let q0 = m.q8().blk(t0, 0) as *const u8;
    let mut q = [q0; LANES];
    for (j, qj) in q.iter_mut().enumerate() {
        *qj = q0.add(j * tb);
    }
    let (mut w, mut dp) = lane::<X4>(m, r);
    let mut acc = _mm256_setzero_ps();
    for _ in 0..m.n_in / QK {
        let wv = K::load_w(w);
        let mut v = [_mm256_setzero_si256(); LANES];
        for j in 0..LANES {
            v[j] = K::dot(&wv, _mm256_loadu_si256(q[j] as *const __m256i));
        }
        let mut s = reduce8(&v);
        if K::OFFSET8 {
            s = _mm256_add_epi32(s, u32x8(&q, Q8Rows::OFF));
        }
        let dw = _mm256_set1_ps(scale1::<X4>(dp));
        let sc = _mm256_mul_ps(dw, _mm256_castsi256_ps(u32x8(&q, Q8Rows::D)));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(s)));
        for qj in q.iter_mut() {
            *qj = qj.add(Q8Rows::BLOCK);
        }
        w = w.add(stride::<K, X4>());
        dp = dp.add(stride::<K, X4>());
    }
    store(m, acc, LANES, |j| (t0 + j, r));
}

/// Blocks a [`Panel`] holds (n_in ≤ 8192); longer rows take [`toks8`].
const PANEL_BLOCKS: usize = 256;

/// The activations of 8 tokens (`t0..t0+8`), block by block, transposed so that lane j of
/// every vector is token j: `a[b][k]` holds the 4 values `4k..4k+4` of block `b` of each token
/// (32 bytes), `d[b]` and `off[b]` their scales and `−8·Σq`. With it a block's integer dot
/// comes out with one token per i32 lane, without [`reduce8`]: each 4 weights are broadcast
/// to all lanes and `maddubs` against `a[b][k]` (ggml's "repacked" kernels do the converse).
#[repr(C, align(32))]
struct Panel {
    a: [[__m256i; 8]; PANEL_BLOCKS],
    d: [__m256; PANEL_BLOCKS],
    off: [__m256i; PANEL_BLOCKS],
}

/// 8×8 transpose of i32 lanes: lane j of result k = lane k of `r[j]`.
#[inline(always)]
pub unsafe fn transpose8(r: &[__m256i; 8]) -> [__m256i; 8] {
    let (lo, hi) = (|a: usize| _mm256_unpacklo_epi32(r[a], r[a + 1]), |a: usize| _mm256_unpackhi_epi32(r[a], r[a + 1]));
    let (t0, t1, t2, t3, t4, t5, t6, t7) = (lo(0), hi(0), lo(2), hi(2), lo(4), hi(4), lo(6), hi(6));
    let (u0, u1, u2, u3) = (_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3));
    let (u4, u5, u6, u7) = (_mm256_unpacklo_epi64(t4, t6), _mm256_unpackhi_epi64(t4, t6), _mm256_unpacklo_epi64(t5, t7), _mm256_unpackhi_epi64(t5, t7));
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

impl Panel {
    /// Fills blocks `0..n_in/32` from tokens `t0..t0+8`.
    #[inline(always)]
    unsafe fn fill(&mut self, m: &Mm, t0: usize) {
        let tb = m.n_in / QK * Q8Rows::BLOCK;
        let q0 = m.q8().blk(t0, 0) as *const u8;
        for b in 0..m.n_in / QK {
            let mut q = [q0; 8];
            for (j, qj) in q.iter_mut().enumerate() {
                *qj = q0.add(j * tb + b * Q8Rows::BLOCK);
            }
            self.a[b] = transpose8(&q.map(|p| _mm256_loadu_si256(p as *const __m256i)));
            self.d[b] = _mm256_castsi256_ps(u32x8(&q, Q8Rows::D));
            self.off[b] = u32x8(&q, Q8Rows::OFF);
        }
    }
}

/// The 4 weights at `p` in every i32 lane.
#[inline(always)]
unsafe fn bcast4(p: *const u8) -> __m256i {
    _mm256_set1_epi32((p as *const i32).read_unaligned())
}

/// A weight type's block dot against a [`Panel`] block: lane j = token j's exact `isum`
/// (Q4_0 without the `−8·Σq`).
pub trait PanelDot: Block {
    unsafe fn pdot(p: *const u8, a: &[__m256i; 8]) -> __m256i;
}

impl PanelDot for Q4_0 {
    /// Bytes `4k..4k+4` hold elements `4k..` (low nibbles, values `a[k]`) and `16+4k..`
    /// (high, `a[4+k]`). The 8 `maddubs` sum in i16: |Σ| ≤ 8·2·15·127 < 2^15 (with VNNI,
    /// `vpdpbusd` sums in i32).
    #[inline(always)]
    unsafe fn pdot(p: *const u8, a: &[__m256i; 8]) -> __m256i {
        let m = _mm256_set1_epi8(0x0F);
        #[cfg(target_feature = "avx512vnni")]
        {
            let mut s = _mm256_setzero_si256();
            for k in 0..4 {
                let d = bcast4(p.add(4 * k));
                s = _mm256_dpbusd_epi32(s, _mm256_and_si256(d, m), a[k]);
                s = _mm256_dpbusd_epi32(s, _mm256_and_si256(_mm256_srli_epi16::<4>(d), m), a[4 + k]);
            }
            s
        }
        #[cfg(not(target_feature = "avx512vnni"))]
        {
            let mut s = _mm256_setzero_si256();
            for k in 0..4 {
                let d = bcast4(p.add(4 * k));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(d, m), a[k]));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16::<4>(d), m), a[4 + k]));
            }
            _mm256_madd_epi16(s, _mm256_set1_epi16(1))
        }
    }
}

impl PanelDot for Q8_0 {
    /// `|w|·(a·sign w)` per 4 weights, widened to i32 each time (pairs reach 2·128·127).
    #[inline(always)]
    unsafe fn pdot(p: *const u8, a: &[__m256i; 8]) -> __m256i {
        let mut s = _mm256_setzero_si256();
        for (k, ak) in a.iter().enumerate() {
            let d = bcast4(p.add(4 * k));
            s = udot_add(s, _mm256_sign_epi8(d, d), _mm256_sign_epi8(*ak, d));
        }
        s
    }
}

/// Prefill tile over a panel: row `r` × tokens `t0..t0+8`; lane j = token j.
#[inline(always)]
unsafe fn panel8<K: PanelDot, const X4: bool>(m: &Mm, pn: &Panel, r: usize, t0: usize) {
    let (mut w, mut dp) = lane::<X4>(m, r);
    let mut acc = _mm256_setzero_ps();
    for b in 0..m.n_in / QK {
        let mut s = K::pdot(w, &pn.a[b]);
        if K::OFFSET8 {
            s = _mm256_add_epi32(s, pn.off[b]);
        }
        let dw = _mm256_set1_ps(scale1::<X4>(dp));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(dw, pn.d[b]), _mm256_cvtepi32_ps(s)));
        w = w.add(stride::<K, X4>());
        dp = dp.add(stride::<K, X4>());
    }
    store(m, acc, LANES, |j| (t0 + j, r));
}

/// Covers `rows × 0..n_tok`: prefill tiles for whole groups of 8 tokens (token groups outer:
/// the 8 tokens' activations, transposed once into a [`Panel`] on the stack, stay in L1 while
/// the chunk's rows pass), decode tiles for the rest.
#[inline(never)]
pub unsafe fn drive<K: PanelDot, const X4: bool>(m: &Mm, rows: Range<usize>) {
    // Q4_0X4 with VNNI: every token through the lane-per-row tiles ([`rows8_multi_x4`], 8 tokens
    // at a time, then 1..4), not the panels (prefill 1.35× on a Zen 5; with AVX2's 16 registers
    // and maddubs the panels stay ahead, 0.95×).
    let rows_lanes = X4 && K::OFFSET8 && cfg!(target_feature = "avx512vnni");
    let n8 = if rows_lanes { 0 } else { m.n_tok / LANES * LANES };
    if n8 > 0 && m.n_in / QK <= PANEL_BLOCKS {
        // ~80 KiB of stack (worker threads have 4 MiB); every block used is filled first.
        let pn = &mut core::mem::zeroed::<Panel>();
        for t0 in (0..n8).step_by(LANES) {
            pn.fill(m, t0);
            for r in rows.clone() {
                panel8::<K, X4>(m, pn, r, t0);
            }
        }
    } else {
        for t0 in (0..n8).step_by(LANES) {
            for r in rows.clone() {
                toks8::<K, X4>(m, r, t0);
            }
        }
    }
    // The tokens past the 8-token tiles (a batch of 2..7 decode steps): in groups of up to 4.
    let mut t = n8;
    while rows_lanes && t + LANES <= m.n_tok {
        decode_multi::<K, LANES, X4>(m, rows.clone(), t);
        t += LANES;
    }
    while t < m.n_tok {
        let k = (m.n_tok - t).min(MULTI_MAX);
        match k {
            1 => decode::<K, PREFETCH, X4>(m, rows.clone(), t),
            2 => decode_multi::<K, 2, X4>(m, rows.clone(), t),
            3 => decode_multi::<K, 3, X4>(m, rows.clone(), t),
            _ => decode_multi::<K, 4, X4>(m, rows.clone(), t),
        }
        t += k;
    }
}

/// Most tokens a [`rows8_multi`] tile carries (its accumulators and unpacked rows stay near registers).
const MULTI_MAX: usize = 4;

/// Decode tiles over `rows` for tokens `t0..t0+NT`.
#[inline(never)]
unsafe fn decode_multi<K: Block, const NT: usize, const X4: bool>(m: &Mm, rows: Range<usize>, t0: usize) {
    let mut r = rows.start;
    while r < rows.end {
        let n = (rows.end - r).min(LANES);
        if X4 && K::OFFSET8 && r % 4 == 0 && n % 4 == 0 {
            // Q4_0X4 (the only OFFSET8 type): whole groups of 4 rows.
            rows8_multi_x4::<NT>(m, r, n, t0);
        } else {
            rows8_multi::<K, NT, X4>(m, r, n, t0);
        }
        r += n;
    }
}

/// [`rows8_multi`] for Q4_0X4, lane i = row i without a horizontal reduction: per block the 8
/// rows' 16 nibble bytes are transposed so that vector k holds bytes `4k..4k+4` of every row
/// (lane i = row i), and each token's 4 activations `4k..` (low nibbles) and `16+4k..` (high)
/// are broadcast against them (`vpdpbusd` with VNNI, `maddubs`+`madd` without), as llama.cpp's
/// repacked GEMM kernels do. The integer sums are the same exact `isum`s, and the f32 steps
/// per output those of [`rows8`], so the bits are too. `r0` a multiple of 4, `n` 4 or 8 (with 4,
/// the one group is read twice and its second copy's lanes dropped).
#[inline(always)]
unsafe fn rows8_multi_x4<const NT: usize>(m: &Mm, r0: usize, n: usize, t0: usize) {
    let g0 = m.row(r0);
    let g1 = if n > 4 { m.row(r0 + 4) } else { g0 };
    let ahead = LANES * m.row_bytes;
    let mut q = [core::ptr::null::<u8>(); NT];
    for (j, qj) in q.iter_mut().enumerate() {
        *qj = m.q8().blk(t0 + j, 0) as *const u8;
    }
    let mut acc = [_mm256_setzero_ps(); NT];
    let mask = _mm256_set1_epi8(0x0F);
    for b in 0..m.n_in / QK {
        let (p0, p1) = (g0.add(b * GROUP_BLOCK), g1.add(b * GROUP_BLOCK));
        _mm_prefetch::<_MM_HINT_T0>(p0.add(ahead) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(p1.add(ahead) as *const i8);
        // Scales: lanes 0..3 the first group's rows, 4..7 the second's.
        let dw = _mm256_set_m128(_mm_loadu_ps(p1 as *const f32), _mm_loadu_ps(p0 as *const f32));
        // Rows' nibble bytes: [row 0 | row 1], [row 2 | row 3] of each group.
        let (a01, a23) = (_mm256_loadu_si256(p0.add(16) as *const __m256i), _mm256_loadu_si256(p0.add(48) as *const __m256i));
        let (b01, b23) = (_mm256_loadu_si256(p1.add(16) as *const __m256i), _mm256_loadu_si256(p1.add(48) as *const __m256i));
        // [row i | row 4+i] per 128-bit half, then a 4×4 transpose of i32 words in each half.
        let x0 = _mm256_permute2x128_si256::<0x20>(a01, b01);
        let x1 = _mm256_permute2x128_si256::<0x31>(a01, b01);
        let x2 = _mm256_permute2x128_si256::<0x20>(a23, b23);
        let x3 = _mm256_permute2x128_si256::<0x31>(a23, b23);
        let (t0_, t1_) = (_mm256_unpacklo_epi32(x0, x1), _mm256_unpackhi_epi32(x0, x1));
        let (t2_, t3_) = (_mm256_unpacklo_epi32(x2, x3), _mm256_unpackhi_epi32(x2, x3));
        let wk = [
            _mm256_unpacklo_epi64(t0_, t2_),
            _mm256_unpackhi_epi64(t0_, t2_),
            _mm256_unpacklo_epi64(t1_, t3_),
            _mm256_unpackhi_epi64(t1_, t3_),
        ];
        let lo = wk.map(|w| _mm256_and_si256(w, mask));
        let hi = wk.map(|w| _mm256_and_si256(_mm256_srli_epi16::<4>(w), mask));
        for j in 0..NT {
            let a = q[j];
            let mut s = _mm256_setzero_si256();
            for k in 0..4 {
                s = udot_add(s, lo[k], splat32(a.add(4 * k)));
                s = udot_add(s, hi[k], splat32(a.add(16 + 4 * k)));
            }
            s = _mm256_add_epi32(s, splat32(a.add(Q8Rows::OFF)));
            let sc = _mm256_mul_ps(dw, _mm256_castsi256_ps(splat32(a.add(Q8Rows::D))));
            acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(sc, _mm256_cvtepi32_ps(s)));
            q[j] = a.add(Q8Rows::BLOCK);
        }
    }
    for (j, a) in acc.iter().enumerate() {
        store(m, *a, n, |i| (t0 + j, r0 + i));
    }
}

/// Decode tile of a few tokens: rows `r0..r0+n` (n ≤ 8) × tokens `t0..t0+NT`; lane i = row i.
/// Each weight block is unpacked once for the NT tokens (a batch of sequences' decode steps);
/// per token the arithmetic and its order are [`rows8`]'s, so the results are bit-identical.
#[inline(always)]
unsafe fn rows8_multi<K: Block, const NT: usize, const X4: bool>(m: &Mm, r0: usize, n: usize, t0: usize) {
    let (p, dp) = lanes8::<X4>(m, r0, n);
    let mut q = [core::ptr::null::<u8>(); NT];
    for (j, qj) in q.iter_mut().enumerate() {
        *qj = m.q8().blk(t0 + j, 0) as *const u8;
    }
    let mut acc = [_mm256_setzero_ps(); NT];
    for b in 0..m.n_in / QK {
        let o = b * stride::<K, X4>();
        let mut w = [K::load_w(p[0].add(o)); LANES];
        for i in 0..LANES {
            _mm_prefetch::<_MM_HINT_T0>(p[i].add(o + LANES * m.row_bytes) as *const i8);
            w[i] = K::load_w(p[i].add(o));
        }
        let dw = scales8::<X4>(&dp, o);
        for j in 0..NT {
            let a = _mm256_loadu_si256(q[j] as *const __m256i);
            let mut v = [_mm256_setzero_si256(); LANES];
            for i in 0..LANES {
                v[i] = K::dot(&w[i], a);
            }
            let mut s = reduce8(&v);
            if K::OFFSET8 {
                s = _mm256_add_epi32(s, splat32(q[j].add(Q8Rows::OFF)));
            }
            let sc = _mm256_mul_ps(dw, _mm256_castsi256_ps(splat32(q[j].add(Q8Rows::D))));
            acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(sc, _mm256_cvtepi32_ps(s)));
            q[j] = q[j].add(Q8Rows::BLOCK);
        }
    }
    for (j, a) in acc.iter().enumerate() {
        store(m, *a, n, |i| (t0 + j, r0 + i));
    }
}

/// Decode tiles over `rows` for token `t`, prefetching `PF` bytes ahead in every row (0: none).
#[inline(never)]
pub unsafe fn decode<K: Block, const PF: usize, const X4: bool>(m: &Mm, rows: Range<usize>, t: usize) {
    let mut r = rows.start;
    while r < rows.end {
        let n = (rows.end - r).min(LANES);
        rows8::<K, PF, X4>(m, r, n, t);
        r += n;
    }
}
