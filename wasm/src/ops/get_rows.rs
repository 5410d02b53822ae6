//! GET_ROWS (op 2): `out[i][:] = dequant(table[ids[i]][:])` (embedding lookup).
//!
//! Args `type, table, ids, out, n_cols, n_ids`: table `[n_rows][n_cols]` in `type` (F32, F16,
//! BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS; rows at
//! arbitrary alignment); ids i32 `[n_ids]`; out f32 `[n_ids][n_cols]`.
//! Split: ids. A handful of rows per call, so the scalar dequantizers of `quant` are the only
//! path (no SIMD twin needed).

use super::quant;
use crate::graph::{Args, Ctx};

/// # Safety
/// Pointers and sizes as in ABI.md; ids index existing rows.
#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let (ty, n_cols, n_ids) = (a[0], a[4] as usize, a[5] as usize);
    let (table, ids, out) = (crate::graph::ptr_u8(a[1]) as *const u8, crate::graph::ptr_i32(a[2]) as *const i32, crate::graph::ptr_f32(a[3]));
    if gather(ty, table, ids, out, n_cols, cx.split(n_ids)).is_none() {
        trap()
    }
}

/// `out[i] = dequant(table[ids[i]])` for `i` in `part`; `None` for an unsupported type/length.
pub unsafe fn gather(ty: u32, table: *const u8, ids: *const i32, out: *mut f32, n_cols: usize, part: core::ops::Range<usize>) -> Option<()> {
    let row_bytes = quant::row_bytes(ty, n_cols)?;
    for i in part {
        let id = *ids.add(i) as u32 as usize;
        let dst = core::slice::from_raw_parts_mut(out.add(i * n_cols), n_cols);
        if super::repack::is_x4(ty) {
            super::repack::dequantize_row_any_x4(ty, table, id, n_cols, dst);
            continue;
        }
        quant::dequantize_row(ty, table.add(id * row_bytes), dst);
    }
    Some(())
}

#[cold]
fn trap() {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("GET_ROWS: unsupported type or row length");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_q4_0_rows_across_threads() {
        // 3 rows of 32 Q4_0 values; row r has d = r+1 (f16) and every nibble = r+9 → value d·(r+1).
        let mut table = vec![0u8; 1 + 3 * 18]; // +1: rows at an odd address
        for r in 0..3 {
            let blk = &mut table[1 + r * 18..1 + (r + 1) * 18];
            let d = crate::f16::f32_to_f16((r + 1) as f32).to_le_bytes();
            blk[..2].copy_from_slice(&d);
            let nib = (r + 9) as u8;
            for b in &mut blk[2..] {
                *b = nib | nib << 4;
            }
        }
        let ids = [2i32, 0, 2, 1];
        let mut out = vec![0.0f32; 4 * 32];
        // Three threads' shares, as `run` splits them.
        for ith in 0..3 {
            let part = crate::graph::split_range(4, ith, 3);
            let ok = unsafe { gather(quant::Q4_0, table.as_ptr().add(1), ids.as_ptr(), out.as_mut_ptr(), 32, part) };
            assert!(ok.is_some());
        }
        assert!(unsafe { gather(quant::Q4_0, table.as_ptr(), ids.as_ptr(), out.as_mut_ptr(), 33, 0..1) }.is_none());
        for (i, &id) in ids.iter().enumerate() {
            let want = ((id + 1) * (id + 1)) as f32;
            assert!(out[i * 32..(i + 1) * 32].iter().all(|&v| v == want), "row {i}");
        }
    }
}
