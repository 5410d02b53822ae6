//! The SIMD tiles of the K-quant weight types (wasm32 only), written once over [`KBlock`].
//!
//! Per weight super-block `b` (256 values) and output `(t, r)`: the type's `sdot` gives, per
//! 32-value group `s`, 4 i32 lanes summing to the group's scaled integer dot (sub-block scales
//! applied in integers, exact); the 8 groups accumulate in one i32x4 per output; `mins` gives
//! the min term. Four outputs (4 rows of one token in decode, 4 tokens of one row in prefill)
//! are then reduced into one vector (lane = output) by `sum2`/`sum2x2`, and the f32 update is
//! the scalar twin's, lane-wise and in the same order, with no fused multiply-add in either
//! build: `acc += (d·d_x)·f32(isum)`, then `acc −= (dmin·d_x)·f32(imin)` (Q4_K/Q5_K) or, with
//! the min term folded into isum in integers, only the first (Q6_K). So every build gives the
//! twin's bits.
//!
//! The integer dots: simd128 widens levels and activations to i16 and uses `i32x4.dot_i16x8_s`;
//! the relaxed build uses `i32x4_relaxed_dot_i8x16_i7x16_add`, exact because the levels (the
//! second operand) are in 0..63.

use super::wasm::{gather_f16, gather_u32, pin, sum2, sum2x2};
use super::{Mm, DECODE_ROWS, PREFILL_TOKS};
use crate::f16::f16_to_f32;
use crate::ops::quant::read_u16;
use crate::ops::quant_k::{Q8KRows, QK_K};
use core::arch::wasm32::*;
use core::marker::PhantomData;
use core::ops::Range;
#[cfg(not(target_feature = "relaxed-simd"))]
use core::{hint::black_box, sync::atomic::{compiler_fence, Ordering}};

/// One K-quant weight type.
pub trait KBlock {
    /// Bytes per super-block.
    const BYTES: usize;
    /// The min term has its own f16 scale at `DMIN` (Q4_K/Q5_K); false: `mins` is subtracted
    /// from the integer sum (Q6_K's −32 offset).
    const MINS: bool;
    /// Byte offsets of the f16 `d` and `dmin` in a block.
    const D: usize = 0;
    const DMIN: usize = 2;
    /// Per-super-block scales, decoded once per block and row.
    type H: Copy;
    unsafe fn head(blk: *const u8) -> Self::H;
    /// Levels of 32-value group `S` (0..8) of the block at `blk` (`S` constant: the shifts and
    /// nibble choices fold).
    unsafe fn load_w<const S: usize>(blk: *const u8) -> Wv;
    /// 32 activations.
    unsafe fn load_a(q: *const i8) -> Av;
    /// 4 i32 lanes summing to group `S`'s `Σ sc·q·a` (exact).
    fn sdot<const S: usize>(h: &Self::H, w: &Wv, a: &Av) -> v128;
    /// simd128: the levels of group `S` times their sub-block scales, as i16 (exact: |sc·q| ≤
    /// 128·63), so that the prefill tile multiplies once per group instead of once per token.
    #[cfg(not(target_feature = "relaxed-simd"))]
    fn scale_w<const S: usize>(h: &Self::H, w: &Wv) -> Wv;
    /// 4 i32 lanes summing to the block's min term, from the activations' 16 `bsums` at `bsums`.
    unsafe fn mins(h: &Self::H, bsums: *const u8) -> v128;
}

/// 32 levels (0..63) as the integer dot wants them: 4 × i16x8 (simd128) or 2 × u8x16 (relaxed).
#[cfg(not(target_feature = "relaxed-simd"))]
pub type Wv = [v128; 4];
#[cfg(target_feature = "relaxed-simd")]
pub type Wv = [v128; 2];
/// 32 activations: 4 × i16x8 (simd128) or 2 × i8x16 (relaxed).
#[cfg(not(target_feature = "relaxed-simd"))]
pub type Av = [v128; 4];
#[cfg(target_feature = "relaxed-simd")]
pub type Av = [v128; 2];

/// Levels from two u8x16 (elements 0..15, 16..31).
pub trait FromU8 {
    fn from_u8(lo: v128, hi: v128) -> Self;
}
impl FromU8 for Wv {
    #[inline(always)]
    fn from_u8(lo: v128, hi: v128) -> Wv {
        #[cfg(not(target_feature = "relaxed-simd"))]
        return [u16x8_extend_low_u8x16(lo), u16x8_extend_high_u8x16(lo), u16x8_extend_low_u8x16(hi), u16x8_extend_high_u8x16(hi)];
        #[cfg(target_feature = "relaxed-simd")]
        return [lo, hi];
    }
}

#[inline(always)]
pub unsafe fn load_av(q: *const i8) -> Av {
    #[cfg(not(target_feature = "relaxed-simd"))]
    return super::wasm::load_i16x32_unfolded(q);
    #[cfg(target_feature = "relaxed-simd")]
    return [v128_load(q as *const v128), v128_load(q.add(16) as *const v128)];
}

/// `sc · Σ_{j<32} w_j·a_j` as 4 lanes (`sc` in every lane).
#[inline(always)]
pub fn sdot32(w: &Wv, a: &Av, sc: v128) -> v128 {
    #[cfg(not(target_feature = "relaxed-simd"))]
    let d = super::wasm::dot_i16x32(w, a);
    #[cfg(target_feature = "relaxed-simd")]
    let d = i32x4_relaxed_dot_i8x16_i7x16_add(a[0], w[0], i32x4_relaxed_dot_i8x16_i7x16_add(a[1], w[1], i32x4_splat(0)));
    i32x4_mul(d, sc)
}

/// `s0 · Σ_{j<16} w_j·a_j + s1 · Σ_{16≤j<32} w_j·a_j` as 4 lanes (`s0`, `s1` in every lane).
#[inline(always)]
pub fn sdot16x2(w: &Wv, a: &Av, s0: v128, s1: v128) -> v128 {
    #[cfg(not(target_feature = "relaxed-simd"))]
    let (x, y) = (
        i32x4_add(i32x4_dot_i16x8(w[0], a[0]), i32x4_dot_i16x8(w[1], a[1])),
        i32x4_add(i32x4_dot_i16x8(w[2], a[2]), i32x4_dot_i16x8(w[3], a[3])),
    );
    #[cfg(target_feature = "relaxed-simd")]
    let (x, y) = (
        i32x4_relaxed_dot_i8x16_i7x16_add(a[0], w[0], i32x4_splat(0)),
        i32x4_relaxed_dot_i8x16_i7x16_add(a[1], w[1], i32x4_splat(0)),
    );
    i32x4_add(i32x4_mul(x, s0), i32x4_mul(y, s1))
}

/// simd128: `w · sc` (one scale for the 32 levels) or `w[..16]·s0, w[16..]·s1`, in i16.
#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
pub fn scale_i16(w: &Wv, s0: i32, s1: i32) -> Wv {
    let (a, b) = (i16x8_splat(s0 as i16), i16x8_splat(s1 as i16));
    [i16x8_mul(w[0], a), i16x8_mul(w[1], a), i16x8_mul(w[2], b), i16x8_mul(w[3], b)]
}

/// Q4_K/Q5_K scales: `sm` bytes 0..8 the sub-block scales, 8..16 the mins
/// (`quant_k::scales_k4`); `sc` the scales again as i32, so that a group's scale is one
/// `load32_splat` (an i8 load and `i32x4.splat` cost 3 x64 instructions per group and row).
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct K4Head {
    pub sm: [u8; 16],
    pub sc: [i32; 8],
}

/// The i32 at `p[i]` in all 4 lanes.
#[inline(always)]
pub unsafe fn splat_at(p: &[i32], i: usize) -> v128 {
    v128_load32_splat(p.as_ptr().add(i) as *const u32)
}

impl K4Head {
    /// SIMD twin of `quant_k::scales_k4` (the same 16 bytes) from the 12 packed bytes at `p`
    /// (reads 16: the block goes on). Sources: lanes 0-3 `p[0..4] & 63`, 4-7 `p[8..12] & 15 |
    /// (p[0..4] >> 6) << 4`, 8-11 `p[4..8] & 63`, 12-15 `p[8..12] >> 4 | (p[4..8] >> 6) << 4`.
    #[inline(always)]
    pub unsafe fn load(p: *const u8) -> K4Head {
        let v = v128_load(p as *const v128);
        let v4 = v128_and(u16x8_shr(v, 4), u8x16_splat(15));
        let a = i8x16_shuffle::<0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 24, 25, 26, 27>(v, v4);
        let lo = v128_and(a, u32x4(0x3F3F_3F3F, 0x0F0F_0F0F, 0x3F3F_3F3F, 0x0F0F_0F0F));
        // Bits 6-7 of p[0..4] (lanes 4-7) and p[4..8] (lanes 12-15) to bits 4-5.
        let b = i8x16_shuffle::<0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7>(v, v);
        let hi = v128_and(u16x8_shr(b, 2), u32x4(0, 0x3030_3030, 0, 0x3030_3030));
        let r = v128_or(lo, hi);
        let r16 = u16x8_extend_low_u8x16(r);
        let mut h = K4Head { sm: [0; 16], sc: [0; 8] };
        v128_store(h.sm.as_mut_ptr() as *mut v128, r);
        v128_store(h.sc.as_mut_ptr() as *mut v128, u32x4_extend_low_u16x8(r16));
        v128_store(h.sc.as_mut_ptr().add(4) as *mut v128, u32x4_extend_high_u16x8(r16));
        h
    }
}

/// 16 sub-block scales of 16 values (−128..127), as bytes (`raw`) and as i32 (`sc`, one
/// `load32_splat` per use): Q3_K's signed scales, Q2_K's 4-bit ones.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct S16Head {
    pub raw: [i8; 16],
    pub sc: [i32; 16],
}

impl S16Head {
    /// From the 16 scales as i8x16.
    #[inline(always)]
    pub unsafe fn new(v: v128) -> S16Head {
        let (lo, hi) = (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v));
        let mut h = S16Head { raw: [0; 16], sc: [0; 16] };
        v128_store(h.raw.as_mut_ptr() as *mut v128, v);
        let sc = h.sc.as_mut_ptr() as *mut v128;
        v128_store(sc, i32x4_extend_low_i16x8(lo));
        v128_store(sc.add(1), i32x4_extend_high_i16x8(lo));
        v128_store(sc.add(2), i32x4_extend_low_i16x8(hi));
        v128_store(sc.add(3), i32x4_extend_high_i16x8(hi));
        h
    }
    /// Scale `i` in all 4 lanes.
    #[inline(always)]
    pub unsafe fn splat(&self, i: usize) -> v128 {
        splat_at(&self.sc, i)
    }
    /// `Σ_s raw[s]·bsums[s]` as 4 lanes (i16 `dot`: |sc·bsum| ≤ 128·2032, exact).
    #[inline(always)]
    pub unsafe fn dot_bsums(&self, bsums: *const u8) -> v128 {
        dot_i8x16_bsums(v128_load(self.raw.as_ptr() as *const v128), bsums)
    }
}

/// `Σ_s v[s]·bsums[s]` over 16 signed bytes `v` and the 16 i16 `bsums` at `bsums`, as 4 lanes.
#[inline(always)]
pub unsafe fn dot_i8x16_bsums(v: v128, bsums: *const u8) -> v128 {
    let (b0, b1) = (v128_load(bsums as *const v128), v128_load(bsums.add(16) as *const v128));
    i32x4_add(i32x4_dot_i16x8(i16x8_extend_low_i8x16(v), b0), i32x4_dot_i16x8(i16x8_extend_high_i8x16(v), b1))
}

/// `Σ_s m[s]·(bsums[2s] + bsums[2s+1])` as 4 lanes: the mins widened to i16, each repeated for
/// its two 16-sums, `dot_i16x8` with the sums (|m·bsum| ≤ 63·2032, exact).
#[inline(always)]
pub unsafe fn mins_k4(sm: &[u8; 16], bsums: *const u8) -> v128 {
    let m = u16x8_extend_high_u8x16(v128_load(sm.as_ptr() as *const v128));
    let lo = i8x16_shuffle::<0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7>(m, m);
    let hi = i8x16_shuffle::<8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 15, 14, 15>(m, m);
    let (b0, b1) = (v128_load(bsums as *const v128), v128_load(bsums.add(16) as *const v128));
    i32x4_add(i32x4_dot_i16x8(b0, lo), i32x4_dot_i16x8(b1, hi))
}

/// `body` for each group `S = 0..8`, written out with `S` a constant. After each group the
/// accumulator `$pin` is fenced with [`pin`] so that V8 does not hoist every group's loads to the
/// top of the block and spill their values.
macro_rules! groups {
    ($s:ident, $sink:ident, $pinned:expr, $body:block) => {{
        { const $s: usize = 0; $body; pin(&mut $sink, $pinned); }
        { const $s: usize = 1; $body; pin(&mut $sink, $pinned); }
        { const $s: usize = 2; $body; pin(&mut $sink, $pinned); }
        { const $s: usize = 3; $body; pin(&mut $sink, $pinned); }
        { const $s: usize = 4; $body; pin(&mut $sink, $pinned); }
        { const $s: usize = 5; $body; pin(&mut $sink, $pinned); }
        { const $s: usize = 6; $body; pin(&mut $sink, $pinned); }
        { const $s: usize = 7; $body; pin(&mut $sink, $pinned); }
    }};
}

pub struct KTiles<K: KBlock>(PhantomData<K>);

impl<K: KBlock> KTiles<K> {
    pub const NEW: Self = KTiles(PhantomData);

    /// The f32 update of one super-block: lane i gets `(dw_i·dx_i)·f32(v_i)`, then
    /// `− (dm_i·dx_i)·f32(mv_i)` (or `v − mv` in integers first when `!MINS`).
    #[inline(always)]
    fn update(acc: v128, v: v128, mv: v128, dw: v128, dm: v128, dx: v128) -> v128 {
        if K::MINS {
            let acc = f32x4_add(acc, f32x4_mul(f32x4_mul(dw, dx), f32x4_convert_i32x4(v)));
            f32x4_sub(acc, f32x4_mul(f32x4_mul(dm, dx), f32x4_convert_i32x4(mv)))
        } else {
            f32x4_add(acc, f32x4_mul(f32x4_mul(dw, dx), f32x4_convert_i32x4(i32x4_sub(v, mv))))
        }
    }

    /// Decode: 4 rows (at `w0 + o[i]`, some possibly repeated) × token `t`; lane i = row i.
    /// simd128: two rows at a time over a super-block (the activations loaded once per pair),
    /// with a [`compiler_fence`] and [`black_box`]ed pointers between the pairs so that LLVM
    /// neither merges the pairs' loads nor computes their addresses once for both (V8 then
    /// keeps those in stack slots). Sharing the activations of all 4 rows in registers (the
    /// relaxed build's [`Self::rows4`]) leaves V8 too few x64 registers: in that loop 548 of
    /// 1505 instructions per super-block touched the stack (Q4_K; Q6_K: 853 of 2063); here
    /// 76 of 936 (Q6_K: 198 of 1366).
    #[cfg(not(target_feature = "relaxed-simd"))]
    #[inline(always)]
    unsafe fn rows4_pairs(m: &Mm, w0: *const u8, o: &[usize; 4], stride: usize, t: usize) -> v128 {
        let act = m.q8k();
        let mut facc = f32x4_splat(0.0);
        for b in 0..m.n_in / QK_K {
            let w = w0.add(b * stride);
            let wr = [w.add(o[0]), w.add(o[1]), w.add(o[2]), w.add(o[3])];
            let q = act.blk(t, b) as *const u8;
            let mut acc = [i32x4_splat(0); 4];
            let mut mins = [i32x4_splat(0); 4];
            let mut sink = i32x4_splat(0);
            for j in [0, 2] {
                compiler_fence(Ordering::SeqCst);
                let (qi, p0, p1) = (black_box(q), black_box(wr[j]), black_box(wr[j + 1]));
                let (h0, h1) = (K::head(p0), K::head(p1));
                let (mut a0, mut a1) = (i32x4_splat(0), i32x4_splat(0));
                groups!(S, sink, a1, {
                    let a = K::load_a(qi.add(32 * S) as *const i8);
                    a0 = i32x4_add(a0, K::sdot::<S>(&h0, &K::load_w::<S>(p0), &a));
                    pin(&mut sink, a0);
                    a1 = i32x4_add(a1, K::sdot::<S>(&h1, &K::load_w::<S>(p1), &a));
                });
                acc[j] = a0;
                acc[j + 1] = a1;
                mins[j] = K::mins(&h0, qi.add(Q8KRows::BSUMS));
                mins[j + 1] = K::mins(&h1, qi.add(Q8KRows::BSUMS));
            }
            compiler_fence(Ordering::SeqCst);
            let v = sum2x2(sum2(acc[0], acc[1]), sum2(acc[2], acc[3]));
            let mv = sum2x2(sum2(mins[0], mins[1]), sum2(mins[2], mins[3]));
            let dx = v128_load32_splat(q.add(Q8KRows::D) as *const u32);
            let dw = gather_f16(&[wr[0].add(K::D), wr[1].add(K::D), wr[2].add(K::D), wr[3].add(K::D)], 0);
            let dm = if K::MINS {
                gather_f16(&[wr[0].add(K::DMIN), wr[1].add(K::DMIN), wr[2].add(K::DMIN), wr[3].add(K::DMIN)], 0)
            } else {
                dw
            };
            facc = Self::update(facc, v, mv, dw, dm, dx);
        }
        facc
    }

    /// Decode: 4 rows (at `w0 + o[i]`, some possibly repeated) × token `t`; lane i = row i.
    #[cfg_attr(not(target_feature = "relaxed-simd"), allow(dead_code))]
    #[inline(always)]
    unsafe fn rows4(m: &Mm, w0: *const u8, o: &[usize; 4], stride: usize, t: usize) -> v128 {
        let act = m.q8k();
        let mut facc = f32x4_splat(0.0);
        for b in 0..m.n_in / QK_K {
            let w = w0.add(b * stride);
            let wr = [w.add(o[0]), w.add(o[1]), w.add(o[2]), w.add(o[3])];
            let q = act.blk(t, b) as *const u8;
            let h = [K::head(wr[0]), K::head(wr[1]), K::head(wr[2]), K::head(wr[3])];
            let mut acc = [i32x4_splat(0); 4];
            let mut sink = i32x4_splat(0);
            groups!(S, sink, acc[3], {
                let a = K::load_a(q.add(32 * S) as *const i8);
                acc[0] = i32x4_add(acc[0], K::sdot::<S>(&h[0], &K::load_w::<S>(wr[0]), &a));
                acc[1] = i32x4_add(acc[1], K::sdot::<S>(&h[1], &K::load_w::<S>(wr[1]), &a));
                pin(&mut sink, acc[1]);
                acc[2] = i32x4_add(acc[2], K::sdot::<S>(&h[2], &K::load_w::<S>(wr[2]), &a));
                acc[3] = i32x4_add(acc[3], K::sdot::<S>(&h[3], &K::load_w::<S>(wr[3]), &a));
            });
            let v = sum2x2(sum2(acc[0], acc[1]), sum2(acc[2], acc[3]));
            let bs = q.add(Q8KRows::BSUMS);
            let mv = sum2x2(sum2(K::mins(&h[0], bs), K::mins(&h[1], bs)), sum2(K::mins(&h[2], bs), K::mins(&h[3], bs)));
            let dx = v128_load32_splat(q.add(Q8KRows::D) as *const u32);
            let dw = gather_f16(&[wr[0].add(K::D), wr[1].add(K::D), wr[2].add(K::D), wr[3].add(K::D)], 0);
            let dm = if K::MINS {
                gather_f16(&[wr[0].add(K::DMIN), wr[1].add(K::DMIN), wr[2].add(K::DMIN), wr[3].add(K::DMIN)], 0)
            } else {
                dw
            };
            facc = Self::update(facc, v, mv, dw, dm, dx);
        }
        facc
    }

    /// Prefill: row `r` × tokens `t0..t0+4`; lane j = token j. The levels of each group are
    /// unpacked once for the 4 tokens.
    #[inline(always)]
    unsafe fn toks4(m: &Mm, r: usize, t0: usize) -> v128 {
        let mut facc = f32x4_splat(0.0);
        for b in 0..m.n_in / QK_K {
            facc = Self::toks_blk(m, m.kblk(r, b, K::BYTES), b, t0, facc);
        }
        facc
    }

    /// [`Self::toks4`] for the 4 rows of a group of the 4-row interleave (`m.x4()`, `r0` a
    /// multiple of 4), super-block by super-block, so that the group's memory is read in order
    /// (row by row, each row would read every 4th super-block: 2-2.5× slower, measured).
    /// Each row's lanes are computed exactly as by `toks4`.
    #[inline(always)]
    unsafe fn toks4_group(m: &Mm, r0: usize, t0: usize) -> [v128; 4] {
        let mut facc = [f32x4_splat(0.0); 4];
        let mut w = m.row(r0);
        for b in 0..m.n_in / QK_K {
            for f in facc.iter_mut() {
                *f = Self::toks_blk_call(m, w, b, t0, *f);
                w = w.add(K::BYTES);
            }
        }
        facc
    }

    /// [`Self::toks_blk`] as a call of its own (inlined 4 times into `toks4_group`, V8's code
    /// for it ran ~15% slower).
    #[inline(never)]
    unsafe fn toks_blk_call(m: &Mm, w: *const u8, b: usize, t0: usize, facc: v128) -> v128 {
        Self::toks_blk(m, w, b, t0, facc)
    }

    /// One super-block `b` (at `w`) of [`Self::toks4`].
    #[inline(always)]
    unsafe fn toks_blk(m: &Mm, w: *const u8, b: usize, t0: usize, facc: v128) -> v128 {
        let act = m.q8k();
        let tb = m.n_in / QK_K * Q8KRows::BLOCK;
        {
            let q0 = act.blk(t0, b) as *const u8;
            let qs = [q0, q0.add(tb), q0.add(2 * tb), q0.add(3 * tb)];
            let h = K::head(w);
            let mut acc = [i32x4_splat(0); 4];
            let mut sink = i32x4_splat(0);
            groups!(S, sink, acc[3], {
                let wv = K::load_w::<S>(w);
                #[cfg(not(target_feature = "relaxed-simd"))]
                let (wv, dot) = (K::scale_w::<S>(&h, &wv), |w: &Wv, a: &Av| super::wasm::dot_i16x32(w, a));
                #[cfg(target_feature = "relaxed-simd")]
                let dot = |w: &Wv, a: &Av| K::sdot::<S>(&h, w, a);
                // simd128: token j's values from the i16 copy (what load_a widens), loaded as they are.
                #[cfg(not(target_feature = "relaxed-simd"))]
                let wq = act.wide_at(t0 / 4, b, S) as *const i16;
                #[cfg(not(target_feature = "relaxed-simd"))]
                let a = |j: usize| super::wasm::load_i16x32_wide(wq.wrapping_add(32 * j));
                #[cfg(target_feature = "relaxed-simd")]
                let a = |j: usize| K::load_a(qs[j].add(32 * S) as *const i8);
                acc[0] = i32x4_add(acc[0], dot(&wv, &a(0)));
                pin(&mut sink, acc[0]);
                acc[1] = i32x4_add(acc[1], dot(&wv, &a(1)));
                pin(&mut sink, acc[1]);
                acc[2] = i32x4_add(acc[2], dot(&wv, &a(2)));
                pin(&mut sink, acc[2]);
                acc[3] = i32x4_add(acc[3], dot(&wv, &a(3)));
            });
            let v = sum2x2(sum2(acc[0], acc[1]), sum2(acc[2], acc[3]));
            let bs = Q8KRows::BSUMS;
            let mv = sum2x2(
                sum2(K::mins(&h, qs[0].add(bs)), K::mins(&h, qs[1].add(bs))),
                sum2(K::mins(&h, qs[2].add(bs)), K::mins(&h, qs[3].add(bs))),
            );
            let dx = gather_u32(&qs, Q8KRows::D);
            let dw = f32x4_splat(f16_to_f32(read_u16(w.add(K::D))));
            let dm = if K::MINS { f32x4_splat(f16_to_f32(read_u16(w.add(K::DMIN)))) } else { dw };
            Self::update(facc, v, mv, dw, dm, dx)
        }
    }

    /// Covers `rows × 0..n4` with prefill tiles (`n4` a multiple of 4), row by row (a
    /// function of its own, so the prefill loop is compiled once and apart from the decode one).
    #[inline(never)]
    unsafe fn drive_toks(&self, m: &Mm, rows: Range<usize>, n4: usize) {
        let mut lanes = [0.0f32; 4];
        let mut rows = rows;
        // 4-row interleave: the first 4 tokens read the group in memory order (toks4_group),
        // which leaves it in cache for the row-by-row tiles of the other tokens.
        while m.x4() && rows.start % 4 == 0 && rows.start + 4 <= rows.end {
            let r0 = rows.start;
            for (i, v) in Self::toks4_group(m, r0, 0).into_iter().enumerate() {
                v128_store(lanes.as_mut_ptr() as *mut v128, v);
                for (j, &v) in lanes.iter().enumerate() {
                    m.set_out(j, r0 + i, v);
                }
            }
            for r in r0..r0 + 4 {
                for t0 in (PREFILL_TOKS..n4).step_by(PREFILL_TOKS) {
                    v128_store(lanes.as_mut_ptr() as *mut v128, Self::toks4(m, r, t0));
                    for (j, &v) in lanes.iter().enumerate() {
                        m.set_out(t0 + j, r, v);
                    }
                }
            }
            rows.start += 4;
        }
        for r in rows {
            for t0 in (0..n4).step_by(PREFILL_TOKS) {
                v128_store(lanes.as_mut_ptr() as *mut v128, Self::toks4(m, r, t0));
                for (j, &v) in lanes.iter().enumerate() {
                    m.set_out(t0 + j, r, v);
                }
            }
        }
    }

    /// Covers `rows × 0..n_tok` in chunks of 4 rows (rows outer, so a chunk's blocks stay in
    /// L1 while all the tokens pass: a batch of 2..8 tokens streams the weights from memory
    /// once): prefill tiles (1 row × 4 tokens) for whole groups of 4 tokens, decode tiles
    /// (4 rows × 1 token; a partial tile repeats its last row) for the rest.
    #[inline(never)]
    pub unsafe fn drive(&self, m: &Mm, rows: Range<usize>) {
        let n4 = m.n_tok / PREFILL_TOKS * PREFILL_TOKS;
        let mut lanes = [0.0f32; 4];
        if n4 == m.n_tok {
            // Prefill only: chunks matter only for the decode tiles' tokens.
            return self.drive_toks(m, rows, n4);
        }
        // Row i of a tile at `w0 + o[i]`, super-block b at `+ b·stride`: rows apart by row_bytes, or
        // (4-row interleave, `m.x4()`, the tile one group: r0 a multiple of 4) by one super-block.
        let (rb, stride) = if m.x4() { (K::BYTES, 4 * K::BYTES) } else { (m.row_bytes, K::BYTES) };
        let mut r0 = rows.start;
        while r0 < rows.end {
            let n = (rows.end - r0).min(DECODE_ROWS);
            if n4 > 0 {
                self.drive_toks(m, r0..r0 + n, n4);
            }
            let o = [0, (n.min(2) - 1) * rb, (n.min(3) - 1) * rb, (n - 1) * rb];
            for t in n4..m.n_tok {
                #[cfg(not(target_feature = "relaxed-simd"))]
                let v = Self::rows4_pairs(m, m.row(r0), &o, stride, t);
                #[cfg(target_feature = "relaxed-simd")]
                let v = Self::rows4(m, m.row(r0), &o, stride, t);
                v128_store(lanes.as_mut_ptr() as *mut v128, v);
                for (i, &v) in lanes.iter().enumerate().take(n) {
                    m.set_out(t, r0 + i, v);
                }
            }
            r0 += n;
        }
    }
}
