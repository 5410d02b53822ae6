//! MATMUL (op 1): `out[t][r] = Σ_i W[r][i]·x[t][i]`.
//!
//! Args `wtype, w, x, out, n_in, n_out, n_tok, scratch`:
//! - `W`: `[n_out][n_in]` in `wtype` (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K,
//!   Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS; ggml layout, rows of n_in), or Q4_0X4 (Q4_0 repacked by 4 rows at
//!   load, ops/repack.rs; same bits as Q4_0);
//! - `x`: f32 `[n_tok][n_in]`; `out`: f32 `[n_tok][n_out]`;
//! - `scratch`: `x` converted to the weight type's dot type, as ggml does: 8-bit blocks
//!   ([`Q8Rows`], `n_tok·n_in/32·40` bytes) for Q8_0/Q4_0/Q5_0/IQ4_NL (ggml's Q8_0), the
//!   same with `s` instead of `−8·Σq` for Q4_1/Q5_1 (ggml's Q8_1), Q8_K blocks ([`Q8KRows`],
//!   `n_tok·n_in/256·292` bytes) for Q2_K/Q3_K/Q4_K/Q5_K/Q6_K/IQ4_XS, f16 `[n_tok][n_in]` for F16,
//!   bf16 `[n_tok][n_in]` for BF16, unused for F32; on wasm32, the 8-bit blocks of whole groups of 4
//!   tokens also get an i16 copy for the prefill tiles ([`Q8Rows`]'s `wide`: 288 bytes per block of 4
//!   tokens), so `n_tok·n_in·3.5` bytes cover every type.
//!
//! Phase 1: the threads convert `x` (split over all its blocks). Barrier. Phase 2: the threads
//! split the output rows. Each weight type (one file each) provides a scalar twin (the path
//! off wasm32 except for the AVX2 kernels of matmul/x86/, and the one `cx.scalar` selects) and
//! a wasm SIMD kernel ([`Tiles`] for the quantized types): decode (one token) streams 4 rows at a time sharing the activation loads,
//! prefill unpacks each weight block once for 4 tokens. Both reduce the four rows' (or
//! tokens') integer block sums into one vector (lane = row or token) before the f32 work, so
//! the f32 part costs one convert and one multiply-add per block and 4 outputs.
//!
//! Numerics (Q types): every path computes, per output, the exact integer block sums and
//! `Σ_b (d_w·d_x)·isum_b` in f32 in block order, like the scalar twin: the SIMD build gives
//! the twin's bits; the relaxed build may fuse the multiply-add (`relaxed_madd`).

/// `unroll!(i < N, { body })`: `body` for `i = 0, 1, …, N−1` (N ≤ 8, a constant), written
/// out straight so that tile arrays indexed by `i` stay in registers (a `for` over a const
/// generic bound is only partially unrolled by LLVM, which then spills the accumulators).
#[allow(unused_macros)] // only the wasm32 tiles use it
macro_rules! unroll {
    ($i:ident < $n:ident, $body:block) => {{
        unroll!(@ $i $n $body; 0 1 2 3 4 5 6 7);
    }};
    (@ $i:ident $n:ident $body:block; $($k:literal)*) => {
        $( if $k < $n { let $i: usize = $k; $body } )*
    };
}

/// In a [`QBlock`](tiles::QBlock) impl whose `load_a` is `load_i16x32` (A = 4 × i16x8): the
/// prefill tiles may read the activations' i16 copy instead (`WIDE_A`, `load_a_wide`).
#[allow(unused_macros)] // only the wasm32 tiles use it
macro_rules! wide_a {
    () => {
        const WIDE_A: bool = true;
        #[inline(always)]
        unsafe fn load_a_wide(q: *const i16) -> [v128; 4] {
            super::super::wasm::load_i16x32_wide(q)
        }
    };
}

mod blocks32;
mod float;
mod iq4_nl;
mod q4_0;
mod q4_0x4;
mod q4_1;
mod iq4_xs;
mod q2_k;
mod q3_k;
mod q4_k;
mod q5_0;
mod q5_1;
mod q5_k;
mod q6_k;
mod q8_0;
#[cfg(target_arch = "wasm32")]
mod ktiles;
#[cfg(target_arch = "wasm32")]
mod nibbles;
#[cfg(target_arch = "wasm32")]
mod tiles;
#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "f16c"))]
mod x86;

use super::quant::{self, Q8Rows, QK};
use super::quant32;
use super::quant_k::{Q8KRows, QK_K};
use crate::f16::{f32_to_bf16, f32_to_f16};
use crate::graph::{Args, Ctx, CHUNK_COUNTERS};
use core::ops::Range;

/// What the kernels read, decoded from the command.
pub struct Mm {
    pub wtype: u32,
    /// W row `r` starts at `w + r·row_bytes` (arbitrary alignment).
    pub w: *const u8,
    pub row_bytes: usize,
    /// f32 `[n_tok][n_in]`.
    pub x: *const f32,
    /// f32 `[n_tok][n_out]`.
    pub out: *mut f32,
    pub n_in: usize,
    pub n_out: usize,
    pub n_tok: usize,
    /// The converted activations (see the module doc).
    pub scratch: *mut u8,
}

impl Mm {
    pub fn from_args(a: &Args) -> Option<Mm> {
        let n_in = a[4] as usize;
        Some(Mm {
            wtype: a[0],
            w: crate::graph::addr(a[1]) as *const u8,
            row_bytes: quant::row_bytes(a[0], n_in)?,
            x: crate::graph::addr(a[2]) as *const f32,
            out: crate::graph::addr(a[3]) as *mut f32,
            n_in,
            n_out: a[5] as usize,
            n_tok: a[6] as usize,
            scratch: crate::graph::addr(a[7]) as *mut u8,
        })
    }

    #[inline(always)]
    pub fn q8(&self) -> Q8Rows {
        // simd128's Q4_0 kernel reads the activations in even/odd order (q4_0.rs).
        let even_odd = (self.wtype == quant::Q4_0 || self.wtype == quant::Q4_0X4) && !crate::simd::RELAXED && cfg!(target_arch = "wasm32");
        // The prefill tiles read an i16 copy (wasm32, whole groups of 4 tokens).
        let (wide, wide_toks) = if self.wide() {
            (unsafe { self.scratch.add(Q8Rows::bytes(self.n_tok, self.n_in)) }, self.n_tok / PREFILL_TOKS * PREFILL_TOKS)
        } else {
            (core::ptr::null_mut(), 0)
        };
        Q8Rows { base: self.scratch, n: self.n_in, even_odd, q8_1: quant32::has_min(self.wtype), wide, wide_toks }
    }

    /// Whether the Q8 activations get their i16 copy ([`Q8Rows::wide`]): on wasm32 when the
    /// batch has a whole group of 4 tokens (the prefill tiles' unit).
    #[inline(always)]
    pub fn wide(&self) -> bool {
        cfg!(target_arch = "wasm32") && self.n_tok >= PREFILL_TOKS
    }

    /// The K-quants' activations (Q8_K blocks of 256).
    #[inline(always)]
    pub fn q8k(&self) -> Q8KRows {
        // simd128's Q4_K kernel reads the activations in even/odd order (q4_k.rs).
        let even_odd = self.wtype & 0xFF == quant::Q4_K && !crate::simd::RELAXED && cfg!(target_arch = "wasm32");
        // The simd128 prefill tiles read an i16 copy (wasm32, whole groups of 4 tokens).
        let (wide, wide_toks) = if self.wide() && !crate::simd::RELAXED {
            (self.scratch.wrapping_add(Q8KRows::bytes(self.n_tok, self.n_in)), self.n_tok / PREFILL_TOKS * PREFILL_TOKS)
        } else {
            (core::ptr::null_mut(), 0)
        };
        Q8KRows { base: self.scratch, n: self.n_in, even_odd, wide, wide_toks }
    }

    /// Weight row `r`.
    #[inline(always)]
    pub unsafe fn row(&self, r: usize) -> *const u8 {
        self.w.add(r * self.row_bytes)
    }

    /// Stored by groups of 4 rows, blocks interleaved (`wtype & X4`, ops/repack.rs).
    #[inline(always)]
    pub fn x4(&self) -> bool {
        self.wtype & quant::X4 != 0
    }

    /// Block `b` (`bytes` each) of row `r`: row-major, or with the 4-row interleave ([`Self::x4`]:
    /// group `r/4`'s blocks in the order block, then row; K-quant types).
    #[inline(always)]
    pub unsafe fn kblk(&self, r: usize, b: usize, bytes: usize) -> *const u8 {
        if self.x4() {
            self.row(r & !3).add((4 * b + (r & 3)) * bytes)
        } else {
            self.row(r).add(b * bytes)
        }
    }

    #[inline(always)]
    pub unsafe fn set_out(&self, t: usize, r: usize, v: f32) {
        *self.out.add(t * self.n_out + r) = v;
    }
}

/// Rows per decode tile (one token), and rows × tokens of a prefill tile. The Q kernels
/// reduce 4 rows or 4 tokens into one vector, so DECODE_ROWS and PREFILL_TOKS are fixed at 4.
pub const DECODE_ROWS: usize = 4;
pub const PREFILL_ROWS: usize = 4;
pub const PREFILL_TOKS: usize = 4;
/// Up to this many input values (n_tok·n_in), every thread converts the whole input instead of
/// its share plus a barrier: ~8 µs for 8192 values, less than a barrier costs on a busy machine.
const CONVERT_ALONE: usize = 4 * 8192;

/// Float weights (F32/F16/BF16): rows of the R×4 prefill tile.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
const FLOAT_ROWS: usize = 2;

/// # Safety
/// Pointers and sizes as in ABI.md; every thread of the list calls it.
#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx, chain: usize) {
    let Some(m) = Mm::from_args(a) else { return trap() };
    if chain == 0 {
        if m.n_tok * m.n_in <= CONVERT_ALONE && m.out_apart() {
            // Small inputs (decode): every thread converts all of x, writing the same bytes
            // to the same scratch, and goes on without waiting for the others. (The barrier
            // after the previous command guarantees nobody still reads the old scratch; a
            // thread reads scratch only after writing all of it itself, and whatever another
            // thread writes meanwhile is the same bytes; `out` must not overlap x or scratch,
            // which a thread that is done converting writes while others still convert.)
            // Saves 4 of ~18 barriers per layer.
            convert(&m, &Ctx { ith: 0, nth: 1, ..*cx });
        } else {
            convert(&m, cx);
            cx.barrier();
        }
    }
    if cx.nth == 1 || chain >= CHUNK_COUNTERS {
        return compute(&m, cx.split_aligned(m.n_out, DECODE_ROWS), cx.scalar);
    }
    // Dynamic: chunks of rows, taken in turn (see `Ctx::next_chunk`). Rows are independent and
    // each is computed the same way whichever thread takes it.
    let step = if cfg!(feature = "native") && a[8] == 0 && m.n_tok < 8 {
        decode_chunk_rows(m.n_out, m.row_bytes)
    } else {
        chunk_rows(m.n_out, cx.nth, a[8] as usize)
    };
    loop {
        let r0 = cx.next_chunk(chain) * step;
        if r0 >= m.n_out {
            break;
        }
        compute(&m, r0..(r0 + step).min(m.n_out), cx.scalar);
    }
}

/// Rows per dynamically scheduled chunk, a multiple of 8 (whole decode and prefill tiles, so a
/// row's tile, hence its result, is the same for every chunk size): `tuned` (word 9 of the
/// command, set by the autotuner, src/hardware/tune.ts) rounded up to 8, or by default about 16
/// chunks per thread.
fn chunk_rows(n_out: usize, nth: usize, tuned: usize) -> usize {
    if tuned > 0 {
        return tuned.min(n_out).next_multiple_of(8);
    }
    (n_out / (16 * nth)).next_multiple_of(8).max(8)
}

/// Native decode (fewer than 8 tokens, no tuned size): rows per chunk of ~[`DECODE_CHUNK_BYTES`]
/// of weights, a multiple of 8. Small chunks (~10 µs of streaming) keep the threads' finishing
/// times within the barrier's spin window, where ~16 chunks per thread (up to ~40 µs each on a
/// 1B model's FFN) left one thread asleep in the barrier after most matmuls; each chunk costs one
/// atomic add. Prefill keeps the default (each chunk of a prefill re-packs its activations).
fn decode_chunk_rows(n_out: usize, row_bytes: usize) -> usize {
    (DECODE_CHUNK_BYTES / row_bytes.max(1)).next_multiple_of(8).clamp(8, n_out.next_multiple_of(8))
}
const DECODE_CHUNK_BYTES: usize = 64 << 10;

impl Mm {
    /// Byte ranges of x, scratch (as phase 1 writes it) and out.
    fn spans(&self) -> [Range<usize>; 3] {
        let span = |p: usize, n: usize| p..p + n;
        [
            span(self.x as usize, self.n_tok * self.n_in * 4),
            span(self.scratch as usize, scratch_bytes(self.wtype, self.n_tok, self.n_in)),
            span(self.out as usize, self.n_tok * self.n_out * 4),
        ]
    }

    /// `out` overlaps neither x nor the scratch.
    fn out_apart(&self) -> bool {
        let [x, sc, out] = self.spans();
        apart(&out, &x) && apart(&out, &sc)
    }
}

fn apart(r: &Range<usize>, s: &Range<usize>) -> bool {
    r.end <= s.start || s.end <= r.start
}

/// Whether MATMUL `b` may follow MATMUL `a` without a barrier and without converting its
/// input again (graph.rs): both read the same `x` (same pointer, `n_in`, `n_tok`, scratch
/// and scratch layout), so `a`'s phase 1 already left `b`'s converted input in scratch; and
/// neither output overlaps `x`, the scratch or the other output, so `b` reads nothing `a`
/// writes and their writes don't collide. The q/k/v and gate/up projections of a layer
/// chain this way: one conversion and one barrier instead of three (two).
pub fn chains(a: &Args, b: &Args) -> bool {
    let (Some(ma), Some(mb)) = (Mm::from_args(a), Mm::from_args(b)) else { return false };
    let same_input = ma.x == mb.x && ma.n_in == mb.n_in && ma.n_tok == mb.n_tok && ma.scratch == mb.scratch;
    if !same_input || act_kind(ma.wtype) != act_kind(mb.wtype) {
        return false;
    }
    let [_, _, oa] = ma.spans();
    let [_, _, ob] = mb.spans();
    ma.out_apart() && mb.out_apart() && apart(&oa, &ob)
}

/// Which scratch layout phase 1 writes for a weight type (equal kinds: same bytes).
fn act_kind(wtype: u32) -> u32 {
    match wtype & 0xFF {
        // Q4_0's activations are in even/odd order on simd128 (see `Mm::q8`).
        quant::Q4_0 if !crate::simd::RELAXED && cfg!(target_arch = "wasm32") => 100,
        // So are Q4_K's (see `Mm::q8k`).
        quant::Q4_K if !crate::simd::RELAXED && cfg!(target_arch = "wasm32") => 101,
        quant::Q4_0 | quant::Q8_0 | quant32::Q5_0 | quant32::IQ4_NL => quant::Q8_0,
        quant32::Q4_1 | quant32::Q5_1 => quant32::Q4_1,
        quant::Q2_K | quant::Q3_K | quant::Q4_K | quant::Q5_K | quant::Q6_K | quant::IQ4_XS => quant::Q4_K,
        t => t,
    }
}

/// Bytes of scratch phase 1 writes.
fn scratch_bytes(wtype: u32, n_tok: usize, n_in: usize) -> usize {
    match wtype & 0xFF {
        quant::Q4_0 | quant::Q8_0 | quant32::Q4_1 | quant32::Q5_0 | quant32::Q5_1 | quant32::IQ4_NL => {
            let wide = if cfg!(target_arch = "wasm32") && n_tok >= PREFILL_TOKS { Q8Rows::wide_bytes(n_tok, n_in) } else { 0 };
            Q8Rows::bytes(n_tok, n_in) + wide
        }
        quant::Q2_K | quant::Q3_K | quant::Q4_K | quant::Q5_K | quant::Q6_K | quant::IQ4_XS => {
            let wide = if cfg!(target_arch = "wasm32") && !crate::simd::RELAXED && n_tok >= PREFILL_TOKS { Q8KRows::wide_bytes(n_tok, n_in) } else { 0 };
            Q8KRows::bytes(n_tok, n_in) + wide
        }
        quant::F16 | quant::BF16 => n_tok * n_in * 2,
        _ => 0,
    }
}

/// Phase 1: this thread's share of `x` → scratch in the dot type.
pub unsafe fn convert(m: &Mm, cx: &Ctx) {
    match m.wtype & 0xFF {
        quant::Q4_0 | quant::Q8_0 | quant32::Q4_1 | quant32::Q5_0 | quant32::Q5_1 | quant32::IQ4_NL => {
            let nb = m.n_in / QK;
            let q8 = m.q8();
            let share = cx.split(m.n_tok * nb);
            for_each_row_part(share, nb, |t, b0, b1| {
                quant::quantize_row_q8_0(m.x.add(t * m.n_in), &q8, t, b0, b1, cx.scalar);
                q8.widen(t, b0, b1);
            });
        }
        quant::Q2_K | quant::Q3_K | quant::Q4_K | quant::Q5_K | quant::Q6_K | quant::IQ4_XS => {
            let nb = m.n_in / QK_K;
            let q8k = m.q8k();
            let share = cx.split(m.n_tok * nb);
            for_each_row_part(share, nb, |t, b0, b1| {
                super::quant_k::quantize_row_q8_k(m.x.add(t * m.n_in), &q8k, t, b0, b1, cx.scalar);
                q8k.widen(t, b0, b1);
            });
        }
        quant::F16 | quant::BF16 => {
            let to: fn(f32) -> u16 = if m.wtype == quant::F16 { f32_to_f16 } else { f32_to_bf16 };
            let dst = m.scratch as *mut u16;
            for i in cx.split_aligned(m.n_tok * m.n_in, QK) {
                dst.add(i).write_unaligned(to(*m.x.add(i)));
            }
        }
        _ => {}
    }
}

/// Calls `f(t, b0, b1)` for the pieces of the flat block range `share` (over rows of `nb`).
#[inline(always)]
unsafe fn for_each_row_part(share: Range<usize>, nb: usize, mut f: impl FnMut(usize, usize, usize)) {
    let mut i = share.start;
    while i < share.end {
        let (t, b0) = (i / nb, i % nb);
        let b1 = nb.min(b0 + (share.end - i));
        f(t, b0, b1);
        i += b1 - b0;
    }
}

/// Phase 2: `out[t][r]` for `r` in `rows`, every token.
pub unsafe fn compute(m: &Mm, rows: Range<usize>, scalar: bool) {
    #[cfg(target_arch = "wasm32")]
    if !scalar {
        return match m.wtype {
            quant::Q4_0 => drive_q(&q4_0::Simd::NEW, m, rows),
            quant::Q4_0X4 => drive_q(&q4_0x4::Simd::NEW, m, rows),
            quant::Q8_0 => drive_q(&q8_0::Simd::NEW, m, rows),
            quant32::Q4_1 => drive_q(&q4_1::Simd::NEW, m, rows),
            quant32::Q5_0 => drive_q(&q5_0::Simd::NEW, m, rows),
            quant32::Q5_1 => drive_q(&q5_1::Simd::NEW, m, rows),
            quant32::IQ4_NL => drive_q(&iq4_nl::Simd::NEW, m, rows),
            quant::Q2_K | quant::Q2_KX4 => q2_k::Simd::NEW.drive(m, rows),
            quant::Q3_K | quant::Q3_KX4 => q3_k::Simd::NEW.drive(m, rows),
            quant::IQ4_XS | quant::IQ4_XSX4 => iq4_xs::Simd::NEW.drive(m, rows),
            quant::Q4_K | quant::Q4_KX4 => q4_k::Simd::NEW.drive(m, rows),
            quant::Q5_K | quant::Q5_KX4 => q5_k::Simd::NEW.drive(m, rows),
            quant::Q6_K | quant::Q6_KX4 => q6_k::Simd::NEW.drive(m, rows),
            quant::F32 => drive_float(&float::Simd::<float::F32>::new(m), m, rows),
            quant::F16 => drive_float(&float::Simd::<float::F16>::new(m), m, rows),
            quant::BF16 => drive_float(&float::Simd::<float::Bf16>::new(m), m, rows),
            _ => {}
        };
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "f16c"))]
    if !scalar && x86::compute(m, rows.clone()) {
        return;
    }
    let _ = scalar;
    for r in rows {
        for t in 0..m.n_tok {
            let v = match m.wtype {
                quant::Q4_0 => q4_0::dot_scalar(m, r, t),
                quant::Q4_0X4 => q4_0x4::dot_scalar(m, r, t),
                quant::Q8_0 => q8_0::dot_scalar(m, r, t),
                quant32::Q4_1 => q4_1::dot_scalar(m, r, t),
                quant32::Q5_0 => q5_0::dot_scalar(m, r, t),
                quant32::Q5_1 => q5_1::dot_scalar(m, r, t),
                quant32::IQ4_NL => iq4_nl::dot_scalar(m, r, t),
                quant::Q2_K | quant::Q2_KX4 => q2_k::dot_scalar(m, r, t),
                quant::Q3_K | quant::Q3_KX4 => q3_k::dot_scalar(m, r, t),
                quant::IQ4_XS | quant::IQ4_XSX4 => iq4_xs::dot_scalar(m, r, t),
                quant::Q4_K | quant::Q4_KX4 => q4_k::dot_scalar(m, r, t),
                quant::Q5_K | quant::Q5_KX4 => q5_k::dot_scalar(m, r, t),
                quant::Q6_K | quant::Q6_KX4 => q6_k::dot_scalar(m, r, t),
                quant::F32 | quant::F16 | quant::BF16 => float::dot_scalar(m, r, t),
                _ => 0.0,
            };
            m.set_out(t, r, v);
        }
    }
}

/// A SIMD kernel of a quantized type.
pub trait Tiles {
    /// Decode tile: `out[t][r0 + i]` for `i < 8`, one token.
    unsafe fn rows8(&self, m: &Mm, r0: usize, t: usize);
    /// Decode tile: `out[t][r0 + i]` for `i < R` (1 ≤ R ≤ 4), one token.
    unsafe fn rows<const R: usize>(&self, m: &Mm, r0: usize, t: usize);
    /// Prefill tile: `out[t0 + j][r0 + i]` for `i < R`, `j < 4`.
    unsafe fn toks<const R: usize>(&self, m: &Mm, r0: usize, t0: usize);
}

/// Covers `rows × 0..n_tok` in chunks of 8 rows (rows outer, so a chunk's weight rows stay in
/// L1 while all the tokens pass: a batch of 2..8 tokens streams the weights from memory once,
/// not once per token): prefill tiles for whole groups of 4 tokens, decode tiles for the rest.
/// Every output's tile computes it the same way whatever the chunking (lane-wise math).
#[cfg(target_arch = "wasm32")]
unsafe fn drive_q<K: Tiles>(k: &K, m: &Mm, rows: Range<usize>) {
    let n4 = m.n_tok / PREFILL_TOKS * PREFILL_TOKS;
    let mut r0 = rows.start;
    while r0 < rows.end {
        let end = rows.end.min(r0 + 2 * DECODE_ROWS);
        let mut r = r0;
        while n4 > 0 && r + PREFILL_ROWS <= end {
            for t0 in (0..n4).step_by(PREFILL_TOKS) {
                k.toks::<PREFILL_ROWS>(m, r, t0);
            }
            r += PREFILL_ROWS;
        }
        while n4 > 0 && r < end {
            for t0 in (0..n4).step_by(PREFILL_TOKS) {
                k.toks::<1>(m, r, t0);
            }
            r += 1;
        }
        for t in n4..m.n_tok {
            decode_q(k, m, r0..end, t);
        }
        r0 = end;
    }
}

/// Decode tiles over `rows` (at most 8) for token `t`.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
unsafe fn decode_q<K: Tiles>(k: &K, m: &Mm, rows: Range<usize>, t: usize) {
    let mut r = rows.start;
    if r + 2 * DECODE_ROWS <= rows.end {
        k.rows8(m, r, t);
        r += 2 * DECODE_ROWS;
    }
    if r + DECODE_ROWS <= rows.end {
        k.rows::<DECODE_ROWS>(m, r, t);
        r += DECODE_ROWS;
    }
    match rows.end - r {
        1 => k.rows::<1>(m, r, t),
        2 => k.rows::<2>(m, r, t),
        3 => k.rows::<3>(m, r, t),
        _ => {}
    }
}

#[cfg(target_arch = "wasm32")]
unsafe fn drive_float(k: &float::Simd<impl float::Kind>, m: &Mm, rows: Range<usize>) {
    if m.n_tok < PREFILL_TOKS {
        drive::<_, DECODE_ROWS, 1>(k, m, rows)
    } else {
        drive::<_, FLOAT_ROWS, PREFILL_TOKS>(k, m, rows)
    }
}

/// Covers `rows × 0..n_tok` with R×T tiles, then R×1, 1×T and 1×1 for the edges (float types).
#[cfg(target_arch = "wasm32")]
#[inline(always)]
unsafe fn drive<K: float::Kind, const R: usize, const T: usize>(k: &float::Simd<K>, m: &Mm, rows: Range<usize>) {
    let mut r = rows.start;
    while r + R <= rows.end {
        let mut t = 0;
        while t + T <= m.n_tok {
            k.tile::<R, T>(m, r, t);
            t += T;
        }
        while t < m.n_tok {
            k.tile::<R, 1>(m, r, t);
            t += 1;
        }
        r += R;
    }
    while r < rows.end {
        let mut t = 0;
        while t + T <= m.n_tok {
            k.tile::<1, T>(m, r, t);
            t += T;
        }
        while t < m.n_tok {
            k.tile::<1, 1>(m, r, t);
            t += 1;
        }
        r += 1;
    }
}

/// Bad arguments (unknown type, Q row not a multiple of 32): a caller bug.
#[cold]
fn trap() {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("MATMUL: unsupported weight type or row length");
}

#[cfg(test)]
mod tests;
#[cfg(test)]
#[test]
fn tuned_chunks_are_whole_tiles() {
    // Default: ~16 chunks per thread; tuned: the word rounded up to 8, at most n_out (rounded).
    assert_eq!(chunk_rows(2048, 2, 0), 64);
    assert_eq!(chunk_rows(100, 4, 0), 8);
    assert_eq!(chunk_rows(2048, 2, 1), 8);
    assert_eq!(chunk_rows(2048, 2, 100), 104);
    assert_eq!(chunk_rows(2048, 2, 1 << 30), 2048);
    assert_eq!(chunk_rows(1001, 2, 1 << 30), 1008);
}
#[cfg(test)]
#[test]
fn decode_chunks_are_whole_tiles_of_about_64_kib() {
    assert_eq!(decode_chunk_rows(8192, 1152), 56); // Q4_0, n_in 2048: 56 rows
    assert_eq!(decode_chunk_rows(2048, 4608), 16); // Q4_0, n_in 8192
    assert_eq!(decode_chunk_rows(512, 1 << 20), 8); // huge rows: one tile
    assert_eq!(decode_chunk_rows(20, 16), 24); // tiny matrix: all of it, rounded up
}
#[cfg(test)]
mod tests32;
#[cfg(test)]
mod tests_k;
#[cfg(test)]
mod tests_x4;
