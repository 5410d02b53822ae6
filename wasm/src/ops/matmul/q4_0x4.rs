//! Q4_0X4 weights (Q4_0 repacked by 4 rows at load, ops/repack.rs) × Q8 activations: the same
//! sums as q4_0.rs, `Σ_b (d_w·d_x)·Σ_j (nibble_j − 8)·q_j`, in the same order, so the same
//! bits. What the layout saves the decode tile: the 4 rows' scales are one f32x4 load (was 4
//! lane loads and an f16 conversion per block and 4 rows), and the 4 rows' nibbles are one
//! stream (one pointer instead of four offsets).

use super::Mm;
use crate::ops::quant::{Q4_0X4_BYTES, QK};

/// Bytes of one block of 4 rows (`{ f32 d[4]; u8 qs[4][16] }`).
pub const GROUP_BLOCK: usize = 4 * Q4_0X4_BYTES;

/// Row `r`'s group block `b`: (its f32 scale, its 16 nibble bytes).
#[inline(always)]
pub unsafe fn at(m: &Mm, r: usize, b: usize) -> (*const f32, *const u8) {
    let blk = m.row(r / 4 * 4).add(b * GROUP_BLOCK);
    (blk.add(4 * (r % 4)) as *const f32, blk.add(16 + 16 * (r % 4)))
}

/// Scalar twin: `out[t][r]`.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let act = m.q8();
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK {
        let (d, qs) = at(m, r, b);
        let mut isum = 0i32;
        for j in 0..QK / 2 {
            let byte = *qs.add(j);
            isum += ((byte & 0x0F) as i32 - 8) * act.q(t, b, j) as i32;
            isum += ((byte >> 4) as i32 - 8) * act.q(t, b, j + 16) as i32;
        }
        sum += (d.read_unaligned() * act.d(t, b)) * isum as f32;
    }
    sum
}

/// Decode tiles over Q4_0's simd128 [`Q4Scaled`](super::q4_0::simd::Q4Scaled) (relaxed: its
/// `Q4Block`), prefill tiles over `Q4Block`: the block dots of q4_0.rs, on this layout.
#[cfg(all(target_arch = "wasm32", not(target_feature = "relaxed-simd")))]
pub type Simd = simd::X4Tiles<super::q4_0::simd::Q4Scaled, super::q4_0::simd::Q4Block>;
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
pub type Simd = simd::X4Tiles<super::q4_0::simd::Q4Block, super::q4_0::simd::Q4Block>;

#[cfg(target_arch = "wasm32")]
pub mod simd {
    use super::super::tiles::{QBlock, TileActs};
    use super::super::wasm::{fma, pin, sum2, sum2x2};
    use super::super::{Mm, Tiles};
    use super::GROUP_BLOCK;
    use crate::ops::quant::{Q8Rows, QK};
    use core::arch::wasm32::*;
    use core::marker::PhantomData;

    pub struct X4Tiles<D: QBlock, P: QBlock>(PhantomData<(D, P)>);

    impl<D: QBlock, P: QBlock> X4Tiles<D, P> {
        pub const NEW: Self = X4Tiles(PhantomData);

        /// One block of a group of 4 rows (at `w`) against the activation block `a` at `q`:
        /// `acc` lane i += (d_w[i]·d_x)·isum_i, as `QTiles::group4` (tiles.rs) computes it.
        #[inline(always)]
        unsafe fn group4(acc: v128, w: *const u8, a: &D::A, q: *const u8, sink: &mut v128) -> v128 {
            let h01 = sum2(D::dot(&D::load_w(w.add(16)), a), D::dot(&D::load_w(w.add(32)), a));
            pin(sink, h01);
            let h23 = sum2(D::dot(&D::load_w(w.add(48)), a), D::dot(&D::load_w(w.add(64)), a));
            let mut v = sum2x2(h01, h23);
            if D::SHR > 0 {
                v = i32x4_shr(v, D::SHR);
            }
            v = i32x4_add(v, v128_load32_splat(q.add(Q8Rows::OFF) as *const u32));
            let sc = f32x4_mul(v128_load(w as *const v128), v128_load32_splat(q.add(Q8Rows::D) as *const u32));
            fma(f32x4_convert_i32x4(v), sc, acc)
        }
    }

    impl<D: QBlock, P: QBlock> Tiles for X4Tiles<D, P> {
        /// Rows `r0..r0+8` (`r0` a multiple of 4: two whole groups) × token `t`.
        #[inline(always)]
        unsafe fn rows8(&self, m: &Mm, r0: usize, t: usize) {
            let mut w = m.row(r0);
            let w1 = 4 * m.row_bytes;
            let mut q = m.q8().blk(t, 0) as *const u8;
            let (mut acc0, mut acc1) = (f32x4_splat(0.0), f32x4_splat(0.0));
            let mut sink = i32x4_splat(0);
            for _ in 0..m.n_in / QK {
                let a = D::load_a(q as *const i8);
                acc0 = Self::group4(acc0, w, &a, q, &mut sink);
                pin(&mut sink, acc0);
                acc1 = Self::group4(acc1, w.add(w1), &a, q, &mut sink);
                q = q.add(Q8Rows::BLOCK);
                w = w.add(GROUP_BLOCK);
            }
            let mut lanes = [0.0f32; 8];
            v128_store(lanes.as_mut_ptr() as *mut v128, acc0);
            v128_store(lanes.as_mut_ptr().add(4) as *mut v128, acc1);
            for (i, &v) in lanes.iter().enumerate() {
                m.set_out(t, r0 + i, v);
            }
        }

        /// Rows `r0..r0+R` (`r0` a multiple of 4; the group is whole, its extra lanes dropped).
        #[inline(always)]
        unsafe fn rows<const R: usize>(&self, m: &Mm, r0: usize, t: usize) {
            let mut w = m.row(r0);
            let mut q = m.q8().blk(t, 0) as *const u8;
            let mut acc = f32x4_splat(0.0);
            let mut sink = i32x4_splat(0);
            for _ in 0..m.n_in / QK {
                let a = D::load_a(q as *const i8);
                acc = Self::group4(acc, w, &a, q, &mut sink);
                q = q.add(Q8Rows::BLOCK);
                w = w.add(GROUP_BLOCK);
            }
            let mut lanes = [0.0f32; 4];
            v128_store(lanes.as_mut_ptr() as *mut v128, acc);
            for (i, &v) in lanes.iter().enumerate().take(R) {
                m.set_out(t, r0 + i, v);
            }
        }

        /// Rows `r0..r0+R` (inside one group) × tokens `t0..t0+4`, as `QTiles::toks`.
        #[inline(always)]
        unsafe fn toks<const R: usize>(&self, m: &Mm, r0: usize, t0: usize) {
            let act = m.q8();
            let k = r0 % 4;
            let mut w = m.row(r0 - k);
            let mut acts = TileActs::<P>::new(&act, t0);
            let mut acc = [f32x4_splat(0.0); R];
            let mut sink = i32x4_splat(0);
            for _ in 0..m.n_in / QK {
                let a = |j: usize| acts.a(j);
                let (dx, off) = (acts.dx(), acts.off());
                unroll!(i < R, {
                    let wv = P::load_w(w.add(16 + 16 * (k + i)));
                    let h01 = sum2(P::dot(&wv, &a(0)), P::dot(&wv, &a(1)));
                    pin(&mut sink, h01);
                    let h23 = sum2(P::dot(&wv, &a(2)), P::dot(&wv, &a(3)));
                    let mut v = sum2x2(h01, h23);
                    if P::SHR > 0 {
                        v = i32x4_shr(v, P::SHR);
                    }
                    v = i32x4_add(v, off);
                    let dw = v128_load32_splat(w.add(4 * (k + i)) as *const u32);
                    acc[i] = fma(f32x4_convert_i32x4(v), f32x4_mul(dw, dx), acc[i]);
                    pin(&mut sink, v);
                });
                acts.next();
                w = w.add(GROUP_BLOCK);
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
}
