//! MATMUL (op 1): `out[t][r] = Σ_i W[r][i]·x[t][i]`.
//!
//! Args `wtype, w, x, out, n_in, n_out, n_tok, scratch`:
//! - `W`: `[n_out][n_in]` in `wtype` (F32, F16, BF16, Q8_0, Q4_0; ggml layout, rows of n_in);
//! - `x`: f32 `[n_tok][n_in]`; `out`: f32 `[n_tok][n_out]`;
//! - `scratch`: `x` converted to the weight type's dot type, as ggml does: 8-bit blocks
//!   ([`Q8Rows`], `n_tok·n_in/32·34` bytes) for Q8_0/Q4_0, f16 `[n_tok][n_in]` for F16,
//!   bf16 `[n_tok][n_in]` for BF16, unused for F32.
//!
//! Phase 1: the threads convert `x` (split over all its blocks). Barrier. Phase 2: the threads
//! split the output rows. Each weight type (one file each) provides a scalar twin (the only
//! path off wasm32, and the one `cx.scalar` selects) and a wasm SIMD [`Tiles`] kernel that
//! computes an R rows × T tokens tile: decode (n_tok = 1) streams 4 rows at a time sharing the
//! activation loads; prefill reuses every decoded weight block for T tokens.
//!
//! Numerics: the integer paths give exactly the scalar twin's per-block integer sums; only the
//! order of the f32 summation over blocks/lanes differs (and `relaxed_madd` may fuse).

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

mod float;
mod q4_0;
mod q8_0;
#[cfg(target_arch = "wasm32")]
mod wasm;

use super::quant::{self, Q8Rows, QK};
use crate::f16::{f32_to_bf16, f32_to_f16};
use crate::graph::{Args, Ctx};
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
            w: a[1] as usize as *const u8,
            row_bytes: quant::row_bytes(a[0], n_in)?,
            x: a[2] as usize as *const f32,
            out: a[3] as usize as *mut f32,
            n_in,
            n_out: a[5] as usize,
            n_tok: a[6] as usize,
            scratch: a[7] as usize as *mut u8,
        })
    }

    #[inline(always)]
    pub fn q8(&self) -> Q8Rows {
        Q8Rows { base: self.scratch, n: self.n_in }
    }

    /// Weight row `r`.
    #[inline(always)]
    pub unsafe fn row(&self, r: usize) -> *const u8 {
        self.w.add(r * self.row_bytes)
    }

    #[inline(always)]
    pub unsafe fn set_out(&self, t: usize, r: usize, v: f32) {
        *self.out.add(t * self.n_out + r) = v;
    }
}

/// Rows per tile in decode (8: ~10% faster than 4 for Q4_0 at 4096², Deno/Node; the
/// activation block is loaded once per 8 rows), and the prefill tile shape.
pub const DECODE_ROWS: usize = 8;
pub const PREFILL_ROWS: usize = 2;
pub const PREFILL_TOKS: usize = 4;

/// # Safety
/// Pointers and sizes as in ABI.md; every thread of the list calls it.
#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let Some(m) = Mm::from_args(a) else { return trap() };
    convert(&m, cx);
    cx.barrier();
    let rows = cx.split_aligned(m.n_out, DECODE_ROWS);
    compute(&m, rows, cx.scalar);
}

/// Phase 1: this thread's share of `x` → scratch in the dot type.
pub unsafe fn convert(m: &Mm, cx: &Ctx) {
    match m.wtype {
        quant::Q4_0 | quant::Q8_0 => {
            let nb = m.n_in / QK;
            let q8 = m.q8();
            let share = cx.split(m.n_tok * nb);
            for_each_row_part(share, nb, |t, b0, b1| {
                quant::quantize_row_q8_0(m.x.add(t * m.n_in), &q8, t, b0, b1)
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
            quant::Q4_0 => drive_simd(&q4_0::Simd, m, rows),
            quant::Q8_0 => drive_simd(&q8_0::Simd, m, rows),
            quant::F32 => drive_simd(&float::Simd::<float::F32>::new(m), m, rows),
            quant::F16 => drive_simd(&float::Simd::<float::F16>::new(m), m, rows),
            quant::BF16 => drive_simd(&float::Simd::<float::Bf16>::new(m), m, rows),
            _ => {}
        };
    }
    let _ = scalar;
    for r in rows {
        for t in 0..m.n_tok {
            let v = match m.wtype {
                quant::Q4_0 => q4_0::dot_scalar(m, r, t),
                quant::Q8_0 => q8_0::dot_scalar(m, r, t),
                quant::F32 | quant::F16 | quant::BF16 => float::dot_scalar(m, r, t),
                _ => 0.0,
            };
            m.set_out(t, r, v);
        }
    }
}

/// A SIMD kernel: `out[t][r]` for `r0..r0+R` × `t0..t0+T`.
pub trait Tiles {
    unsafe fn tile<const R: usize, const T: usize>(&self, m: &Mm, r0: usize, t0: usize);
}

#[cfg(target_arch = "wasm32")]
unsafe fn drive_simd<K: Tiles>(k: &K, m: &Mm, rows: Range<usize>) {
    if m.n_tok < PREFILL_TOKS {
        drive::<K, DECODE_ROWS, 1>(k, m, rows)
    } else {
        drive::<K, PREFILL_ROWS, PREFILL_TOKS>(k, m, rows)
    }
}

/// Covers `rows × 0..n_tok` with R×T tiles, then R×1, 1×T and 1×1 for the edges.
#[inline(always)]
pub unsafe fn drive<K: Tiles, const R: usize, const T: usize>(k: &K, m: &Mm, rows: Range<usize>) {
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
