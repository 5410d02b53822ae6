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
//! Thread 0 does all of it (load time, once per matrix).
//!
//! Q4_0X4: rows in groups of 4; group `g` (rows 4g..4g+3) is `n_in/32` blocks of 80 bytes, block
//! `b` = `{ f32 d[4]; u8 qs[4][16] }`: row `4g+i`'s block `b` has the scale `d[i]` (the f16 as
//! f32, exact) and the 16 nibble bytes `qs[i]` of ggml's Q4_0. Row bytes (for strides) are
//! `n_in/32·20`, so row `r` of a multiple of 4 starts at `r·20·n_in/32`.

use super::quant::{read_u16, Q4_0, Q4_0X4, Q4_0X4_BYTES, Q4_0_BYTES, QK};
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
    if from != Q4_0 || n_in % QK != 0 || n_rows % 4 != 0 {
        return trap();
    }
    if cx.ith == 0 {
        q4_0_x4(src, dst, scratch, n_in, n_rows);
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

/// Whether `t` is stored as Q4_0X4.
#[inline(always)]
pub fn is_x4(t: u32) -> bool {
    t == Q4_0X4
}

#[cold]
fn trap() {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("REPACK: unsupported type or shape");
}
