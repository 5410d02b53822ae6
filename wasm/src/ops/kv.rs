//! KV_STORE (op 12) and the paged KV layout shared with ATTENTION.
//!
//! A cache (K or V, one layer) is a list of pages; `pages: u32 [n_pages]` holds their byte
//! addresses. Position `p` lives in page `pages[p / page_size]`, slot `p % page_size`, as one
//! row of `row_len = n_head_kv·head_dim` elements of `kv_type` (F32 or F16) at byte offset
//! `slot·row_len·sizeof(kv_type)`; kv head `hk` is the `head_dim` elements at `hk·head_dim`.
//!
//! `src: f32 [n_tok][row_len]`, `pos: i32 [n_tok]`. Split: tokens.

use crate::f16::f32_to_f16;
use crate::graph::{ptr_f32, ptr_i32, ptr_u32, Args, Ctx};

/// ggml type ids accepted for the cache.
pub const KV_F32: u32 = 0;
pub const KV_F16: u32 = 1;

/// Bytes per cache element.
#[inline(always)]
pub fn kv_elem_size(kv_type: u32) -> usize {
    match kv_type {
        KV_F32 => 4,
        KV_F16 => 2,
        _ => bad_type(),
    }
}

/// Address of the row of position `p`: `mem + pages[p / page_size] + (p % page_size)·row_bytes`.
/// `mem` is the base of the wasm memory (null on wasm32; a test arena natively).
#[inline(always)]
pub unsafe fn kv_row(mem: *mut u8, pages: *const u32, page_size: usize, row_bytes: usize, p: usize) -> *mut u8 {
    let page = p / page_size;
    let slot = p - page * page_size;
    mem.wrapping_add(*pages.add(page) as usize + slot * row_bytes)
}

/// Op 12. Args: `src, n_tok, row_len, pos, pages, page_size, kv_type`.
#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let toks = cx.split(a[1] as usize);
    kv_store(
        ptr_f32(a[0]),
        a[2] as usize,
        ptr_i32(a[3]),
        core::ptr::null_mut(),
        ptr_u32(a[4]),
        a[5] as usize,
        a[6],
        toks,
    );
}

/// Writes tokens `toks` of `src` into their cache rows (see the module doc).
/// F16 uses ggml's round-to-nearest-even conversion (`f32_to_f16`, which vectorises), so the
/// SIMD and scalar paths are one loop.
///
/// # Safety
/// Every page addressed by `pos[toks]` is valid for `page_size` rows.
pub unsafe fn kv_store(
    src: *const f32,
    row_len: usize,
    pos: *const i32,
    mem: *mut u8,
    pages: *const u32,
    page_size: usize,
    kv_type: u32,
    toks: core::ops::Range<usize>,
) {
    let row_bytes = row_len * kv_elem_size(kv_type);
    for t in toks {
        let p = *pos.add(t);
        if p < 0 {
            bad_pos();
        }
        let s = core::slice::from_raw_parts(src.add(t * row_len), row_len);
        let dst = kv_row(mem, pages, page_size, row_bytes, p as usize);
        if kv_type == KV_F16 {
            let d = core::slice::from_raw_parts_mut(dst as *mut u16, row_len);
            for (o, &x) in d.iter_mut().zip(s) {
                *o = f32_to_f16(x);
            }
        } else {
            core::ptr::copy_nonoverlapping(s.as_ptr(), dst as *mut f32, row_len);
        }
    }
}

#[cold]
fn bad_type() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("KV cache type must be F32 (0) or F16 (1)");
}

#[cold]
fn bad_pos() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("KV_STORE: negative position");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_land_in_their_pages() {
        // 3 pages of 4 slots, scattered in an arena out of order; row_len 6.
        let (ps, row_len) = (4usize, 6usize);
        for kv_type in [KV_F32, KV_F16] {
            let es = kv_elem_size(kv_type);
            let mut arena = vec![0u8; 4096];
            let pages = [2048u32, 256, 1024];
            let pos = [0i32, 5, 11, 6];
            let src: Vec<f32> = (0..pos.len() * row_len).map(|i| i as f32 * 0.37 - 3.0).collect();
            unsafe { kv_store(src.as_ptr(), row_len, pos.as_ptr(), arena.as_mut_ptr(), pages.as_ptr(), ps, kv_type, 0..pos.len()) };
            for (t, &p) in pos.iter().enumerate() {
                let off = pages[p as usize / ps] as usize + (p as usize % ps) * row_len * es;
                for i in 0..row_len {
                    let x = src[t * row_len + i];
                    let got = if kv_type == KV_F16 {
                        crate::f16::f16_to_f32(u16::from_le_bytes([arena[off + 2 * i], arena[off + 2 * i + 1]]))
                    } else {
                        f32::from_le_bytes(arena[off + 4 * i..off + 4 * i + 4].try_into().unwrap())
                    };
                    // f16 keeps 11 significant bits: relative error ≤ 2^-11.
                    let tol = if kv_type == KV_F16 { x.abs() * 4.9e-4 } else { 0.0 };
                    assert!((got - x).abs() <= tol, "t {t} i {i}: {got} vs {x}");
                }
            }
            // Nothing else was written.
            let written: usize = arena.iter().filter(|&&b| b != 0).count();
            assert!(written <= pos.len() * row_len * es);
        }
    }
}
