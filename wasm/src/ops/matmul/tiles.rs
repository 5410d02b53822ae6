//! The SIMD tiles of the quantized weight types (wasm32 only), written once over [`QBlock`].
//!
//! Per weight block `b` (32 values) and output `(t, r)` the result gains
//! `(d_w[r][b]·d_x[t][b]) · isum`, with `isum` the exact integer dot of the block. The integer
//! dot of one block comes out of the type's `dot` as 4 i32 lanes; four of those (4 rows of one
//! token in decode, 4 tokens of one row in prefill) are reduced by [`sum4`] into one vector
//! whose lane i is output i's `isum`, so the f32 work (convert, scale, accumulate) is one
//! vector op each per block and 4 outputs, and each lane sums its blocks in order exactly like
//! the scalar twin.
//!
//! Activations come from [`Q8Rows`]: values, f32 scales and `−8·Σq` (for the −8 of Q4_0's
//! nibbles: `Σ(n−8)·q = Σ n·q − 8·Σq`; Q5_0's −16 takes it twice), or, for the types with a
//! min (Q4_1, Q5_1: value `c·d + m`), `s = d_x·Σq` (Q8_1 kind): those outputs then also gain
//! `m_w·s_x` per block, added right after the block's scaled integer dot (same as the twin).

use super::wasm::{fma, gather_f16, gather_u32, lane_splat, pin, sum2, sum2x2};
use super::{Mm, Tiles};
use crate::ops::quant::{Q8Rows, QK};
use core::arch::wasm32::*;
use core::marker::PhantomData;

/// One quantized weight type: block layout `{ f16 d; values }` and its integer block dot.
pub trait QBlock {
    /// Bytes per block of 32 values.
    const BYTES: usize;
    /// Add the activations' `−8·Σq` to every block dot (Q4_0 stores nibbles `n`, value `n − 8`).
    const OFFSET8: bool;
    /// With OFFSET8: add it `2^OFF_SHL` times (Q5_0: value `c − 16`, so 1).
    const OFF_SHL: u32 = 0;
    /// Value `c·d + m` with the f16 `m` at block byte 2; the activations are Q8_1 kind (`s`).
    const MIN: bool = false;
    /// `dot` gives the block sum times `2^SHR` (a multiple of it: the tiles shift it back
    /// exactly, before adding the offset).
    const SHR: u32 = 0;
    /// A weight block unpacked for `dot`.
    type W: Copy;
    /// An activation block (32 i8 values) as `dot` wants it.
    type A: Copy;
    /// `p`: the block after its 2-byte scale `d`.
    unsafe fn load_w(p: *const u8) -> Self::W;
    unsafe fn load_a(q: *const i8) -> Self::A;
    /// `load_a` is the 32 stored bytes sign-extended to i16 ([`load_i16x32`]): the prefill
    /// tiles then read the i16 copy instead ([`Q8Rows::wide`], [`load_a_wide`](Self::load_a_wide)).
    ///
    /// [`load_i16x32`]: super::wasm::load_i16x32
    const WIDE_A: bool = false;
    /// With WIDE_A: the activation block from its i16 copy at `q` (what `load_a` gives).
    #[inline(always)]
    unsafe fn load_a_wide(_q: *const i16) -> Self::A {
        unreachable!("load_a_wide without WIDE_A")
    }
    /// Four i32 lanes whose sum is `Σ_j w_j·q_j` (exact).
    fn dot(w: &Self::W, a: &Self::A) -> v128;
}

/// The activations of a prefill tile's 4 tokens (`t0..t0+4`), block by block: from the i16
/// copy ([`Q8Rows`]'s `wide`) when `K::WIDE_A`, else from the 4 tokens' Q8 blocks.
pub struct TileActs<K: QBlock> {
    /// Token 0's Q8 block; token j's at `q + j·tb`.
    q: *const u8,
    tb: usize,
    /// With WIDE_A: the token group's block in the i16 copy.
    g: *const u8,
    k: PhantomData<K>,
}

impl<K: QBlock> TileActs<K> {
    #[inline(always)]
    pub unsafe fn new(act: &Q8Rows, t0: usize) -> Self {
        let g = if K::WIDE_A { act.wide_grp(t0 / 4, 0) as *const u8 } else { act.wide as *const u8 };
        TileActs { q: act.blk(t0, 0), tb: act.n / QK * Q8Rows::BLOCK, g, k: PhantomData }
    }
    #[inline(always)]
    fn qs(&self) -> [*const u8; 4] {
        let (q, tb) = (self.q, self.tb);
        [q, q.wrapping_add(tb), q.wrapping_add(2 * tb), q.wrapping_add(3 * tb)]
    }
    /// Token j's block as `K::dot` wants it.
    #[inline(always)]
    pub unsafe fn a(&self, j: usize) -> K::A {
        if K::WIDE_A {
            K::load_a_wide(self.g.add(64 * j) as *const i16)
        } else {
            K::load_a(self.qs()[j] as *const i8)
        }
    }
    /// The 4 tokens' scales `d`.
    #[inline(always)]
    pub unsafe fn dx(&self) -> v128 {
        if K::WIDE_A {
            v128_load(self.g.add(Q8Rows::WIDE_D) as *const v128)
        } else {
            gather_u32(&self.qs(), Q8Rows::D)
        }
    }
    /// The 4 tokens' `off` slots (`−8·Σq`, or `s` for Q8_1 kind).
    #[inline(always)]
    pub unsafe fn off(&self) -> v128 {
        if K::WIDE_A {
            v128_load(self.g.add(Q8Rows::WIDE_OFF) as *const v128)
        } else {
            gather_u32(&self.qs(), Q8Rows::OFF)
        }
    }
    /// On to the next block.
    #[inline(always)]
    pub fn next(&mut self) {
        self.q = self.q.wrapping_add(Q8Rows::BLOCK);
        self.g = self.g.wrapping_add(Q8Rows::WIDE_GROUP);
    }
}

pub struct QTiles<K: QBlock>(PhantomData<K>);

impl<K: QBlock> QTiles<K> {
    pub const NEW: Self = QTiles(PhantomData);
}

impl<K: QBlock> QTiles<K> {
    /// One block of 4 rows (at `w + o[i]`) against the activation block `a` at `q`:
    /// `acc` lane i += (d_w[i]·d_x)·isum_i. `sink`: see [`pin`].
    #[inline(always)]
    unsafe fn group4(acc: v128, w: *const u8, o: &[usize; 4], a: &K::A, q: *const u8, sink: &mut v128) -> v128 {
        let h01 = sum2(K::dot(&K::load_w(w.add(o[0] + 2)), a), K::dot(&K::load_w(w.add(o[1] + 2)), a));
        pin(sink, h01);
        let h23 = sum2(K::dot(&K::load_w(w.add(o[2] + 2)), a), K::dot(&K::load_w(w.add(o[3] + 2)), a));
        let mut v = sum2x2(h01, h23);
        if K::SHR > 0 {
            v = i32x4_shr(v, K::SHR);
        }
        if K::OFFSET8 {
            v = i32x4_add(v, i32x4_shl(v128_load32_splat(q.add(Q8Rows::OFF) as *const u32), K::OFF_SHL));
        }
        let dw = gather_f16(&[w.add(o[0]), w.add(o[1]), w.add(o[2]), w.add(o[3])], 0);
        let sc = f32x4_mul(dw, v128_load32_splat(q.add(Q8Rows::D) as *const u32));
        let acc = fma(f32x4_convert_i32x4(v), sc, acc);
        if !K::MIN {
            return acc;
        }
        let mw = gather_f16(&[w.add(o[0] + 2), w.add(o[1] + 2), w.add(o[2] + 2), w.add(o[3] + 2)], 0);
        fma(mw, v128_load32_splat(q.add(Q8Rows::OFF) as *const u32), acc)
    }
}

impl<K: QBlock> Tiles for QTiles<K> {
    /// Rows `r0..r0+8` × token `t`: two groups of 4 sharing the activation loads.
    #[inline(always)]
    unsafe fn rows8(&self, m: &Mm, r0: usize, t: usize) {
        let rb = m.row_bytes;
        let (o0, o1) = ([0, rb, 2 * rb, 3 * rb], [4 * rb, 5 * rb, 6 * rb, 7 * rb]);
        let mut w = m.row(r0);
        let mut q = m.q8().blk(t, 0) as *const u8;
        let (mut acc0, mut acc1) = (f32x4_splat(0.0), f32x4_splat(0.0));
        let mut sink = i32x4_splat(0);
        for _ in 0..m.n_in / QK {
            let a = K::load_a(q as *const i8);
            acc0 = Self::group4(acc0, w, &o0, &a, q, &mut sink);
            pin(&mut sink, acc0);
            acc1 = Self::group4(acc1, w, &o1, &a, q, &mut sink);
            q = q.add(Q8Rows::BLOCK);
            w = w.add(K::BYTES);
        }
        let mut lanes = [0.0f32; 8];
        v128_store(lanes.as_mut_ptr() as *mut v128, acc0);
        v128_store(lanes.as_mut_ptr().add(4) as *mut v128, acc1);
        for (i, &v) in lanes.iter().enumerate() {
            m.set_out(t, r0 + i, v);
        }
    }

    /// Rows `r0..r0+R` (R ≤ 4; a smaller tile repeats its last row, whose extra lanes are
    /// dropped) × token `t`.
    #[inline(always)]
    unsafe fn rows<const R: usize>(&self, m: &Mm, r0: usize, t: usize) {
        // Row i at w + o[i]: one running pointer for the 4 rows (fewer registers).
        let rb = m.row_bytes;
        let o = [0, (R.min(2) - 1) * rb, (R.min(3) - 1) * rb, (R - 1) * rb];
        let mut w = m.row(r0);
        let mut q = m.q8().blk(t, 0) as *const u8;
        let mut acc = f32x4_splat(0.0);
        let mut sink = i32x4_splat(0);
        for _ in 0..m.n_in / QK {
            let a = K::load_a(q as *const i8);
            acc = Self::group4(acc, w, &o, &a, q, &mut sink);
            q = q.add(Q8Rows::BLOCK);
            w = w.add(K::BYTES);
        }
        let mut lanes = [0.0f32; 4];
        v128_store(lanes.as_mut_ptr() as *mut v128, acc);
        for (i, &v) in lanes.iter().enumerate().take(R) {
            m.set_out(t, r0 + i, v);
        }
    }

    /// Rows `r0..r0+R` (R ≤ 4) × tokens `t0..t0+4`.
    #[inline(always)]
    unsafe fn toks<const R: usize>(&self, m: &Mm, r0: usize, t0: usize) {
        let act = m.q8();
        let rb = m.row_bytes;
        let mut w = m.row(r0);
        let mut acts = TileActs::<K>::new(&act, t0);
        let mut acc = [f32x4_splat(0.0); R];
        let mut sink = i32x4_splat(0);
        for _ in 0..m.n_in / QK {
            let a = |j: usize| acts.a(j);
            let dx = acts.dx();
            // −8·Σq (times 2^OFF_SHL), or s (f32) for MIN types, of the 4 tokens.
            let off = if K::OFFSET8 || K::MIN { acts.off() } else { i32x4_splat(0) };
            let off = if K::OFFSET8 { i32x4_shl(off, K::OFF_SHL) } else { off };
            let mut wr = [w; R];
            unroll!(i < R, {
                wr[i] = w.add(i * rb);
            });
            let dw = gather_f16(&wr, 0);
            let mw = if K::MIN {
                let mut wm = [w; R];
                unroll!(i < R, {
                    wm[i] = wr[i].add(2);
                });
                gather_f16(&wm, 0)
            } else {
                f32x4_splat(0.0)
            };
            unroll!(i < R, {
                let wv = K::load_w(wr[i].add(2));
                let h01 = sum2(K::dot(&wv, &a(0)), K::dot(&wv, &a(1)));
                pin(&mut sink, h01);
                let h23 = sum2(K::dot(&wv, &a(2)), K::dot(&wv, &a(3)));
                let mut v = sum2x2(h01, h23);
                if K::SHR > 0 {
                    v = i32x4_shr(v, K::SHR);
                }
                if K::OFFSET8 {
                    v = i32x4_add(v, off);
                }
                acc[i] = fma(f32x4_convert_i32x4(v), f32x4_mul(lane_splat(dw, i), dx), acc[i]);
                if K::MIN {
                    acc[i] = fma(lane_splat(mw, i), off, acc[i]);
                }
                pin(&mut sink, v);
            });
            acts.next();
            w = w.add(K::BYTES);
        }
        unroll!(i < R, {
            let mut lanes = [0.0f32; 4];
            v128_store(lanes.as_mut_ptr() as *mut v128, acc[i]);
            for (j, &v) in lanes.iter().enumerate() {
                m.set_out(t0 + j, r0 + i, v);
            }
        });
    }
}

/// Decode tiles of one block kind `D`, prefill tiles of another `P` (the same math: every
/// output is the same integer block sums and the same f32 steps, so the same bits).
#[allow(dead_code)] // the simd128 Q4_0 kernel only
pub struct Split<D: QBlock, P: QBlock>(PhantomData<(D, P)>);

#[allow(dead_code)]
impl<D: QBlock, P: QBlock> Split<D, P> {
    pub const NEW: Self = Split(PhantomData);
}

impl<D: QBlock, P: QBlock> Tiles for Split<D, P> {
    #[inline(always)]
    unsafe fn rows8(&self, m: &Mm, r0: usize, t: usize) {
        QTiles::<D>::NEW.rows8(m, r0, t)
    }
    #[inline(always)]
    unsafe fn rows<const R: usize>(&self, m: &Mm, r0: usize, t: usize) {
        QTiles::<D>::NEW.rows::<R>(m, r0, t)
    }
    #[inline(always)]
    unsafe fn toks<const R: usize>(&self, m: &Mm, r0: usize, t0: usize) {
        QTiles::<P>::NEW.toks::<R>(m, r0, t0)
    }
}
