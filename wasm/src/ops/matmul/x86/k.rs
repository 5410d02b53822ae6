//! AVX2 tiles of the K-quants (Q4_K, Q6_K) × [`Q8KRows`] activations (element order
//! natively). Per super-block of 256: group `S` (32 values) gives its levels as 32 u8 and its
//! sub-block scales as 16 i16; `madd(maddubs(levels, a), scales)` is the group's scaled dot
//! (exact: |level·a| pairs < 2^15, |scale·pair| < 2^31). Summed over the 8 groups per output
//! and reduced 8 outputs at a time ([`reduce8`]), the f32 update is the twin's (q4_k.rs,
//! q6_k.rs): `acc += (d·d_x)·f32(isum)`, then `acc −= (dmin·d_x)·f32(imin)` (Q4_K), or with
//! Q6_K's `−32·Σ sc·bsum` folded into `isum` in integers.
//!
//! [`Q8KRows`]: crate::ops::quant_k::Q8KRows

use super::{f16x8, reduce8, splat32, store, u32x8, LANES, PREFETCH};
use crate::f16::f16_to_f32;
use crate::ops::matmul::Mm;
use crate::ops::quant::read_u16;
use crate::ops::quant_k::{scales_k4, Q8KRows, Q4_K_BYTES, Q6_K_BYTES, QK_K};
use core::arch::x86_64::*;
use core::ops::Range;

/// One K-quant weight type.
pub trait Block {
    const BYTES: usize;
    /// A separate min term with its own f16 scale at `DMIN` (Q4_K); false: `mins` is
    /// subtracted from the integer sum (Q6_K).
    const MINS: bool;
    /// Byte offsets of the f16 `d` and `dmin`.
    const D: usize;
    const DMIN: usize;
    /// The super-block's scales, decoded once per block and row.
    type H: Copy;
    unsafe fn head(blk: *const u8) -> Self::H;
    /// Group `S` (0..8): its 32 levels (u8, element order) and 16 i16 scales (lane k scales
    /// the product pair of elements 2k, 2k+1).
    unsafe fn group<const S: usize>(blk: *const u8, h: &Self::H) -> (__m256i, __m256i);
    /// 8 i32 lanes summing to the min term from the activations' 16 `bsums` (i16).
    unsafe fn mins(h: &Self::H, bsums: __m256i) -> __m256i;
}

pub struct Q4K;
pub struct Q6K;

/// `x` shifted right by `n` within each byte (16-bit shift, then the bits that crossed masked).
#[inline(always)]
unsafe fn nib<const N: i32>(x: __m256i) -> __m256i {
    _mm256_and_si256(_mm256_srli_epi16::<N>(x), _mm256_set1_epi8(0x0F))
}

/// Byte mask for `_mm256_shuffle_epi8` taking i16 lane `lo` in the low 128 bits and `hi` in
/// the high 128 bits (of a vector whose halves are equal) into every i16 of that half.
#[inline(always)]
unsafe fn pick16(v: __m256i, lo: i8, hi: i8) -> __m256i {
    let (l0, l1, h0, h1) = (2 * lo, 2 * lo + 1, 2 * hi, 2 * hi + 1);
    let m = _mm256_setr_epi8(
        l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, //
        h0, h1, h0, h1, h0, h1, h0, h1, h0, h1, h0, h1, h0, h1, h0, h1,
    );
    _mm256_shuffle_epi8(v, m)
}

/// Q4_K: 8 scales and 8 mins (6 bits) per super-block; group `S` is the low (`S` even) or
/// high nibbles of `qs[32·(S/2)..][..32]`.
#[derive(Clone, Copy)]
pub struct K4Head {
    /// The 8 scales as i16, in both 128-bit halves.
    sc: __m256i,
    /// The 8 mins as i16, each twice (`m[s]` pairs with bsums `2s`, `2s+1`).
    mins: __m256i,
}

impl Block for Q4K {
    const BYTES: usize = Q4_K_BYTES;
    const MINS: bool = true;
    const D: usize = 0;
    const DMIN: usize = 2;
    type H = K4Head;
    #[inline(always)]
    unsafe fn head(blk: *const u8) -> K4Head {
        let sm = scales_k4(blk.add(4));
        let v = _mm_loadu_si128(sm.as_ptr() as *const __m128i);
        let sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(v));
        let dup = _mm_shuffle_epi8(v, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15));
        K4Head { sc, mins: _mm256_cvtepu8_epi16(dup) }
    }
    #[inline(always)]
    unsafe fn group<const S: usize>(blk: *const u8, h: &K4Head) -> (__m256i, __m256i) {
        let v = _mm256_loadu_si256(blk.add(16 + 32 * (S / 2)) as *const __m256i);
        let w = if S % 2 == 0 { _mm256_and_si256(v, _mm256_set1_epi8(0x0F)) } else { nib::<4>(v) };
        (w, pick16(h.sc, S as i8, S as i8))
    }
    /// `m[s]·(bsums[2s] + bsums[2s+1])` in lane s (|·| ≤ 63·2·4064, exact).
    #[inline(always)]
    unsafe fn mins(h: &K4Head, bsums: __m256i) -> __m256i {
        _mm256_madd_epi16(bsums, h.mins)
    }
}

/// Q6_K: 16 signed scales (one per 16 values), as i16: `lo` = scales 0..7 and `hi` = 8..15,
/// each in both 128-bit halves; `all` = the 16 in order.
#[derive(Clone, Copy)]
pub struct K6Head {
    lo: __m256i,
    hi: __m256i,
    all: __m256i,
}

impl Block for Q6K {
    const BYTES: usize = Q6_K_BYTES;
    const MINS: bool = false;
    const D: usize = 208;
    const DMIN: usize = 208;
    type H = K6Head;
    #[inline(always)]
    unsafe fn head(blk: *const u8) -> K6Head {
        let v = _mm_loadu_si128(blk.add(192) as *const __m128i);
        K6Head {
            lo: _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(v)),
            hi: _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128::<8>(v))),
            all: _mm256_cvtepi8_epi16(v),
        }
    }
    /// Group `S` = half `h = S/4`, group `g = S%4`: low bits `ql[64h + 32(g&1)..][..32] >>
    /// 4(g>>1) & 15`, high bits `qh[128 + 32h..][..32] >> 2g & 3` (to bits 4, 5); scales
    /// `2S` (elements 0..15) and `2S + 1`.
    #[inline(always)]
    unsafe fn group<const S: usize>(blk: *const u8, h: &K6Head) -> (__m256i, __m256i) {
        let (hf, g) = (S / 4, S % 4);
        let ql = _mm256_loadu_si256(blk.add(64 * hf + 32 * (g & 1)) as *const __m256i);
        let lo = if g < 2 { _mm256_and_si256(ql, _mm256_set1_epi8(0x0F)) } else { nib::<4>(ql) };
        let qh = _mm256_loadu_si256(blk.add(128 + 32 * hf) as *const __m256i);
        let hb = match g {
            0 => _mm256_slli_epi16::<4>(qh),
            1 => _mm256_slli_epi16::<2>(qh),
            2 => qh,
            _ => _mm256_srli_epi16::<2>(qh),
        };
        let w = _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
        let (s0, s1) = ((2 * S % 8) as i8, (2 * S % 8 + 1) as i8);
        (w, pick16(if S < 4 { h.lo } else { h.hi }, s0, s1))
    }
    /// `32·Σ_s sc[s]·bsums[s]` (pairs < 2^20, exact).
    #[inline(always)]
    unsafe fn mins(h: &K6Head, bsums: __m256i) -> __m256i {
        _mm256_slli_epi32::<5>(_mm256_madd_epi16(bsums, h.all))
    }
}

/// `body` for each group `S = 0..8`, `S` a constant.
macro_rules! groups {
    ($s:ident, $body:block) => {{
        { const $s: usize = 0; $body }
        { const $s: usize = 1; $body }
        { const $s: usize = 2; $body }
        { const $s: usize = 3; $body }
        { const $s: usize = 4; $body }
        { const $s: usize = 5; $body }
        { const $s: usize = 6; $body }
        { const $s: usize = 7; $body }
    }};
}

/// `madd(maddubs(w, a), sc)`: 8 i32 lanes of the scaled group dot.
#[inline(always)]
unsafe fn gdot(w: __m256i, sc: __m256i, a: *const u8) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(w, _mm256_loadu_si256(a as *const __m256i)), sc)
}

/// The f32 update of one super-block for 8 outputs (the twin's order, no fused multiply-add).
#[inline(always)]
unsafe fn update<K: Block>(acc: __m256, v: __m256i, mv: __m256i, dw: __m256, dm: __m256, dx: __m256) -> __m256 {
    let acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(v)));
    if K::MINS {
        _mm256_sub_ps(acc, _mm256_mul_ps(_mm256_mul_ps(dm, dx), _mm256_cvtepi32_ps(mv)))
    } else {
        acc
    }
}

/// Decode tile: rows `r0..r0+n` (n ≤ 8) × token `t`; lane i = row i. Each row's super-block
/// is summed on its own (the activations come from L1 again for each row).
#[inline(always)]
unsafe fn rows8<K: Block, const PF: usize>(m: &Mm, r0: usize, n: usize, t: usize) {
    let (p, stride) = krows::<K>(m, r0, n);
    let act = m.q8k();
    let mut acc = _mm256_setzero_ps();
    for b in 0..m.n_in / QK_K {
        let q = act.blk(t, b) as *const u8;
        let bs = _mm256_loadu_si256(q.add(Q8KRows::BSUMS) as *const __m256i);
        let o = b * stride;
        let mut v = [_mm256_setzero_si256(); LANES];
        let mut mv = [_mm256_setzero_si256(); LANES];
        for i in 0..LANES {
            let blk = p[i].add(o);
            if PF == 1 {
                prefetch_block::<K>(blk.add(LANES * m.row_bytes));
            }
            let h = K::head(blk);
            let mut s = _mm256_setzero_si256();
            groups!(S, {
                let (w, sc) = K::group::<S>(blk, &h);
                s = _mm256_add_epi32(s, gdot(w, sc, q.add(32 * S)));
            });
            if K::MINS {
                v[i] = s;
                mv[i] = K::mins(&h, bs);
            } else {
                v[i] = _mm256_sub_epi32(s, K::mins(&h, bs));
            }
        }
        let blks = [p[0].add(o), p[1].add(o), p[2].add(o), p[3].add(o), p[4].add(o), p[5].add(o), p[6].add(o), p[7].add(o)];
        let at = |off: usize| blks.map(|x| x.add(off));
        let dw = f16x8(&at(K::D));
        let (mvs, dm) = if K::MINS { (reduce8(&mv), f16x8(&at(K::DMIN))) } else { (v[0], dw) };
        let dx = _mm256_castsi256_ps(splat32(q.add(Q8KRows::D)));
        acc = update::<K>(acc, reduce8(&v), mvs, dw, dm, dx);
    }
    store(m, acc, n, |i| (t, r0 + i));
}

/// Prefill tile: row `r` × tokens `t0..t0+8`; lane j = token j. Each group's levels and
/// scales are unpacked once for the 8 tokens.
#[inline(always)]
unsafe fn toks8<K: Block>(m: &Mm, r: usize, t0: usize) {
    let tb = m.n_in / QK_K * Q8KRows::BLOCK;
    let q0 = m.q8k().blk(t0, 0) as *const u8;
    let mut q = [q0; LANES];
    for (j, qj) in q.iter_mut().enumerate() {
        *qj = q0.add(j * tb);
    }
    let mut acc = _mm256_setzero_ps();
    for b in 0..m.n_in / QK_K {
        let blk = m.kblk(r, b, K::BYTES);
        let h = K::head(blk);
        let mut v = [_mm256_setzero_si256(); LANES];
        groups!(S, {
            let (w, sc) = K::group::<S>(blk, &h);
            for j in 0..LANES {
                v[j] = _mm256_add_epi32(v[j], gdot(w, sc, q[j].add(32 * S)));
            }
        });
        let mut mv = [_mm256_setzero_si256(); LANES];
        for j in 0..LANES {
            let mj = K::mins(&h, _mm256_loadu_si256(q[j].add(Q8KRows::BSUMS) as *const __m256i));
            if K::MINS {
                mv[j] = mj;
            } else {
                v[j] = _mm256_sub_epi32(v[j], mj);
            }
        }
        let dw = _mm256_set1_ps(f16_to_f32(read_u16(blk.add(K::D))));
        let dm = _mm256_set1_ps(f16_to_f32(read_u16(blk.add(K::DMIN))));
        let mvs = if K::MINS { reduce8(&mv) } else { v[0] };
        let dx = _mm256_castsi256_ps(u32x8(&q, Q8KRows::D));
        acc = update::<K>(acc, reduce8(&v), mvs, dw, dm, dx);
        for qj in q.iter_mut() {
            *qj = qj.add(Q8KRows::BLOCK);
        }
    }
    store(m, acc, LANES, |j| (t0 + j, r));
}

/// Covers `rows × 0..n_tok` like q.rs's `drive`: 8-token prefill tiles (token groups outer),
/// 8-row decode tiles for the other tokens.
#[inline(never)]
pub unsafe fn drive<K: Block>(m: &Mm, rows: Range<usize>) {
    let n8 = m.n_tok / LANES * LANES;
    for t0 in (0..n8).step_by(LANES) {
        for r in rows.clone() {
            toks8::<K>(m, r, t0);
        }
    }
    // The tokens past the 8-token tiles (a batch of 2..7 decode steps): in groups of up to 4.
    let mut t = n8;
    while t < m.n_tok {
        let k = (m.n_tok - t).min(MULTI_MAX);
        match k {
            1 => decode::<K, PREFETCH>(m, rows.clone(), t),
            2 => decode_multi::<K, 2>(m, rows.clone(), t),
            3 => decode_multi::<K, 3>(m, rows.clone(), t),
            _ => decode_multi::<K, 4>(m, rows.clone(), t),
        }
        t += k;
    }
}

/// Most tokens a [`rows8_multi`] tile carries.
const MULTI_MAX: usize = 4;

/// Decode tiles over `rows` for tokens `t0..t0+NT`.
#[inline(never)]
unsafe fn decode_multi<K: Block, const NT: usize>(m: &Mm, rows: Range<usize>, t0: usize) {
    let mut r = rows.start;
    while r < rows.end {
        let n = (rows.end - r).min(LANES);
        rows8_multi::<K, NT>(m, r, n, t0);
        r += n;
    }
}

/// Decode tile of a few tokens: rows `r0..r0+n` (n ≤ 8) × tokens `t0..t0+NT`; lane i = row i.
/// Each super-block's scales and each group's levels are unpacked once for the NT tokens (a
/// batch of sequences' decode steps); per token the arithmetic and its order are [`rows8`]'s,
/// so the results are bit-identical.
#[inline(always)]
unsafe fn rows8_multi<K: Block, const NT: usize>(m: &Mm, r0: usize, n: usize, t0: usize) {
    let (p, stride) = krows::<K>(m, r0, n);
    let act = m.q8k();
    let mut acc = [_mm256_setzero_ps(); NT];
    for b in 0..m.n_in / QK_K {
        let mut q = [core::ptr::null::<u8>(); NT];
        for (j, qj) in q.iter_mut().enumerate() {
            *qj = act.blk(t0 + j, b) as *const u8;
        }
        let o = b * stride;
        let mut v = [[_mm256_setzero_si256(); LANES]; NT];
        let mut mv = [[_mm256_setzero_si256(); LANES]; NT];
        for i in 0..LANES {
            let blk = p[i].add(o);
            prefetch_block::<K>(blk.add(LANES * m.row_bytes));
            let h = K::head(blk);
            let mut s = [_mm256_setzero_si256(); NT];
            groups!(S, {
                let (w, sc) = K::group::<S>(blk, &h);
                for j in 0..NT {
                    s[j] = _mm256_add_epi32(s[j], gdot(w, sc, q[j].add(32 * S)));
                }
            });
            for j in 0..NT {
                let mj = K::mins(&h, _mm256_loadu_si256(q[j].add(Q8KRows::BSUMS) as *const __m256i));
                if K::MINS {
                    v[j][i] = s[j];
                    mv[j][i] = mj;
                } else {
                    v[j][i] = _mm256_sub_epi32(s[j], mj);
                }
            }
        }
        let blks = [p[0].add(o), p[1].add(o), p[2].add(o), p[3].add(o), p[4].add(o), p[5].add(o), p[6].add(o), p[7].add(o)];
        let at = |off: usize| blks.map(|x| x.add(off));
        let dw = f16x8(&at(K::D));
        let dm = if K::MINS { f16x8(&at(K::DMIN)) } else { dw };
        for j in 0..NT {
            let mvs = if K::MINS { reduce8(&mv[j]) } else { v[j][0] };
            let dx = _mm256_castsi256_ps(splat32(q[j].add(Q8KRows::D)));
            acc[j] = update::<K>(acc[j], reduce8(&v[j]), mvs, dw, dm, dx);
        }
    }
    for (j, a) in acc.iter().enumerate() {
        store(m, *a, n, |i| (t0 + j, r0 + i));
    }
}

/// Decode tiles over `rows` for token `t`; `PF` = 1: each tile prefetches the next one (the
/// same super-block of the 8 rows below), as q.rs's `decode`.
#[inline(never)]
pub unsafe fn decode<K: Block, const PF: usize>(m: &Mm, rows: Range<usize>, t: usize) {
    let mut r = rows.start;
    while r < rows.end {
        let n = (rows.end - r).min(LANES);
        rows8::<K, PF>(m, r, n, t);
        r += n;
    }
}

/// The super-block 0 of each lane's row in a decode tile at `r0` with `n` (1..=8) real rows (the
/// missing ones repeat the last) and the stride between a row's super-blocks: `BYTES` row-major, or
/// `4·BYTES` with the 4-row interleave (`m.x4()`, ops/repack.rs: block b of row r at its group's
/// `(4b + r%4)`-th block), where an 8-row tile reads 2 streams instead of 8.
#[inline(always)]
unsafe fn krows<K: Block>(m: &Mm, r0: usize, n: usize) -> ([*const u8; 8], usize) {
    let mut p = [m.row(r0); 8];
    for (i, q) in p.iter_mut().enumerate() {
        *q = m.kblk(r0 + i.min(n - 1), 0, K::BYTES);
    }
    (p, if m.x4() { 4 * K::BYTES } else { K::BYTES })
}

/// Prefetches the cache lines of the super-block at `p`.
#[inline(always)]
unsafe fn prefetch_block<K: Block>(p: *const u8) {
    let mut off = 0;
    while off < K::BYTES {
        _mm_prefetch::<_MM_HINT_T0>(p.add(off) as *const i8);
        off += 64;
    }
    _mm_prefetch::<_MM_HINT_T0>(p.add(K::BYTES - 1) as *const i8);
}
