//! REPACK (op 16): rewrites a weight matrix, once at load, into a layout that only the WASM
//! MATMUL (and GET_ROWS) read. ABI.md lists the layouts.
//!
//! Args `from, src, dst, n_in, n_rows, scratch`:
//! - `from` = Q4_0: `src` `[n_rows][n_in]` Q4_0 (ggml) → `dst` in Q4_0X4 ([`Q4_0X4`]), `n_rows` a
//!   multiple of 4, `n_in` of 32. `dst` may overlap `src` when `src` ends where `dst` ends
//!   (the weights were written at the tail of the larger repacked allocation): group `g`'s
//!   output ends at `20·nb·4·(g+1)` bytes, before group `g+1`'s input starts (`8·nb·G + 72·nb·(g+1)`
//!   bytes from `dst` with `G ≥ g+1` groups), so each group is built in `scratch` (`80·nb` bytes,
//!   nb = n_in/32) from its own input, then copied over.
//! - `from` a K-quant (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS): `src` = `dst` `[n_rows][n_in]` → the
//!   same super-blocks, each group of 4 rows' interleaved (type `from | X4`: block `b` of row `4g+i`
//!   is group `g`'s block `4b + i`), in place; `scratch` 4 rows. The decode tile then streams one
//!   run of memory instead of 4 rows apart.
//! Thread 0 does all of it (load time, once per matrix).
//!
//! Q4_0X4: rows in groups of 4; group `g` (rows 4g..4g+3) is `n_in/32` blocks of 80 bytes, block
//! `b` = `{ f32 d[4]; u8 qs[4][16] }`: row `4g+i`'s block `b` has the scale `d[i]` (the f16 as
//! f32, exact) and the 16 nibble bytes `qs[i]` of ggml's Q4_0. Row bytes (for strides) are
//! `n_in/32·20`, so row `r` of a multiple of 4 starts at `r·20·n_in/32`.

use super::quant::{self, read_u16, Q4_0, Q4_0X4, Q4_0X4_BYTES, Q4_0_BYTES, QK, X4};
use super::quant_k::QK_K;
use crate::f16::f16_to_f32;
use crate::graph::{Args, Ctx};

/// # Safety
/// Pointers and sizes as in ABI.md.
#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let (from, n_in, n_rows) = (a[0], a[3] as usize, a[4] as usize);
    let (src, dst, scratch) = (crate::graph::addr(a[1]) as *const u8, crate::graph::addr(a[2]) as *mut u8, crate::graph::addr(a[5]) as *mut u8);
    if n_rows == 0 {
        return;
    }
    if n_rows % 4 != 0 || n_in % QK != 0 {
        return trap();
    }
    if from == Q4_0 {
        if cx.ith == 0 {
            q4_0_x4(src, dst, scratch, n_in, n_rows);
        }
    } else if is_k(from) && n_in % QK_K == 0 && src == dst as *const u8 {
        if cx.ith == 0 {
            k_x4(from, dst, scratch, n_in, n_rows);
        }
    } else {
        trap()
    }
}

/// Q4_0 `[n_rows][n_in]` at `src` → Q4_0X4 at `dst` (overlap as in the module doc).
pub unsafe fn q4_0_x4(src: *const u8, dst: *mut u8, scratch: *mut u8, n_in: usize, n_rows: usize) {
    let nb = n_in / QK;
    let (rb_in, group_out) = (nb * Q4_0_BYTES, 4 * nb * Q4_0X4_BYTES);
    for g in 0..n_rows / 4 {
        for b in 0..nb {
            let o = scratch.add(b * 4 * Q4_0X4_BYTES);
            for i in 0..4 {
                let blk = src.add((4 * g + i) * rb_in + b * Q4_0_BYTES);
                (o.add(4 * i) as *mut f32).write_unaligned(f16_to_f32(read_u16(blk)));
                core::ptr::copy_nonoverlapping(blk.add(2), o.add(16 + 16 * i), 16);
            }
        }
        core::ptr::copy(scratch, dst.add(g * group_out), group_out);
    }
}

/// The K-quant types (super-blocks of 256) that REPACK interleaves.
fn is_k(t: u32) -> bool {
    matches!(t, quant::Q2_K | quant::Q3_K | quant::Q4_K | quant::Q5_K | quant::Q6_K | quant::IQ4_XS)
}

/// K-quant `t` `[n_rows][n_in]` at `w` → the same blocks with each group of 4 rows' super-blocks
/// interleaved (block b of row 4g+i at group g's `(4b + i)`-th block), in place; `scratch`: 4 rows.
pub unsafe fn k_x4(t: u32, w: *mut u8, scratch: *mut u8, n_in: usize, n_rows: usize) {
    let nb = n_in / QK_K;
    let bb = quant::row_bytes(t, QK_K).unwrap_or(0);
    let rb = nb * bb;
    for g in 0..n_rows / 4 {
        let grp = w.add(4 * g * rb);
        core::ptr::copy_nonoverlapping(grp, scratch, 4 * rb);
        for b in 0..nb {
            for i in 0..4 {
                core::ptr::copy_nonoverlapping(scratch.add(i * rb + b * bb), grp.add((4 * b + i) * bb), bb);
            }
        }
    }
}

/// Row `r` of a K-quant matrix of type `t | X4` at `w` (`n` values) dequantized.
pub unsafe fn dequantize_row_kx4(t: u32, w: *const u8, r: usize, n: usize, dst: &mut [f32]) {
    let base = t & 0xFF;
    let bb = quant::row_bytes(base, QK_K).unwrap_or(0);
    let grp = w.add((r / 4) * 4 * (n / QK_K) * bb);
    for b in 0..n / QK_K {
        quant::dequantize_row(base, grp.add((4 * b + r % 4) * bb), &mut dst[b * QK_K..(b + 1) * QK_K]);
    }
}

/// Row `r` of a Q4_0X4 matrix at `w` (`n` values) dequantized, as ggml's Q4_0 row would be.
pub unsafe fn dequantize_row_x4(w: *const u8, r: usize, n: usize, dst: &mut [f32]) {
    let nb = n / QK;
    let (g, i) = (w.add((r / 4) * 4 * nb * Q4_0X4_BYTES), r % 4);
    for b in 0..nb {
        let blk = g.add(b * 4 * Q4_0X4_BYTES);
        let d = (blk.add(4 * i) as *const f32).read_unaligned();
        let qs = blk.add(16 + 16 * i);
        for j in 0..QK / 2 {
            let byte = *qs.add(j);
            dst[b * QK + j] = ((byte & 0x0F) as i32 - 8) as f32 * d;
            dst[b * QK + j + 16] = ((byte >> 4) as i32 - 8) as f32 * d;
        }
    }
}

/// Whether `t` is one of the 4-row layouts.
#[inline(always)]
pub fn is_x4(t: u32) -> bool {
    t & X4 != 0
}

/// GET_ROWS of a 4-row layout: row `r` of `w` (`n` values).
pub unsafe fn dequantize_row_any_x4(t: u32, w: *const u8, r: usize, n: usize, dst: &mut [f32]) {
    if t == Q4_0X4 {
        dequantize_row_x4(w, r, n, dst)
    } else {
        dequantize_row_kx4(t, w, r, n, dst)
    }
}

#[cold]
fn trap() {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("REPACK: unsupported type or shape");
}
