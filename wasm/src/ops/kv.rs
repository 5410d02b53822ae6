//! KV_STORE (op 12) and the paged KV layout shared with ATTENTION.
//!
//! A cache (K or V, one layer) is a list of pages; `pages: u32 [n_pages]` holds their byte
//! addresses. Position `p` lives in page `pages[p / page_size]`, slot `p % page_size`, as one
//! row of `row_len = n_head_kv·head_dim` elements of `kv_type` at byte offset
//! `slot·row_bytes(kv_type, row_len)`; kv head `hk` is the `head_dim` elements at `hk·head_dim`.
//! Types: F32, F16, and ggml's blocks of 32 (row_len and head_dim multiples of 32):
//! Q8_0 (34 bytes: f16 d, i8 qs[32]; x = d·q) and Q4_0 (18 bytes: f16 d, u8 qs[16]; element j
//! is the low nibble of qs[j], element j+16 the high one; x = d·(q − 8)), quantized as ggml's
//! `quantize_row_q8_0_ref` / `quantize_row_q4_0_ref`.
//!
//! `src: f32 [n_tok][row_len]`, `pos: i32 [n_tok]`. Split: tokens.

use crate::f16::{f16_to_f32, f32_to_f16};
use crate::graph::{ptr_f32, ptr_i32, ptr_u32, Args, Ctx};

/// ggml type ids accepted for the cache.
pub const KV_F32: u32 = 0;
pub const KV_F16: u32 = 1;
pub const KV_Q4_0: u32 = 2;
pub const KV_Q8_0: u32 = 8;

/// Bytes of `n` consecutive cache elements of `kv_type` (for the block types, `n % 32 == 0`).
#[inline(always)]
pub fn kv_row_bytes(kv_type: u32, n: usize) -> usize {
    match kv_type {
        KV_F32 => 4 * n,
        KV_F16 => 2 * n,
        KV_Q8_0 if n % 32 == 0 => n / 32 * 34,
        KV_Q4_0 if n % 32 == 0 => n / 32 * 18,
        _ => bad_type(),
    }
}

/// Element `i` of a cache row (scalar; the twin of the attention kernels' SIMD loads).
/// Block types: `d·q` in f32, as ggml's `dequantize_row_q8_0` / `dequantize_row_q4_0`.
#[inline(always)]
pub unsafe fn kv_load(kv_type: u32, row: *const u8, i: usize) -> f32 {
    match kv_type {
        KV_F16 => f16_to_f32((row as *const u16).add(i).read_unaligned()),
        KV_F32 => (row as *const f32).add(i).read_unaligned(),
        KV_Q8_0 => {
            let b = row.add(i / 32 * 34);
            let d = f16_to_f32((b as *const u16).read_unaligned());
            d * (*b.add(2 + i % 32) as i8) as f32
        }
        KV_Q4_0 => {
            let b = row.add(i / 32 * 18);
            let d = f16_to_f32((b as *const u16).read_unaligned());
            let r = i % 32;
            let byte = *b.add(2 + r % 16);
            let q = if r < 16 { byte & 15 } else { byte >> 4 };
            d * (q as i32 - 8) as f32
        }
        _ => bad_type(),
    }
}

/// ggml's `quantize_row_q8_0_ref` for one block: `d = max|x|/127`, `q = round(x/d)` (half away
/// from zero), d stored as f16.
fn quantize_q8_0(x: &[f32], dst: *mut u8) {
    let amax = x.iter().fold(0f32, |m, &v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    unsafe {
        (dst as *mut u16).write_unaligned(f32_to_f16(d));
        for (j, &v) in x.iter().enumerate() {
            *dst.add(2 + j) = round_away(v * id) as i8 as u8;
        }
    }
}

/// ggml's `quantize_row_q4_0_ref` for one block: `max` = the value of largest magnitude,
/// `d = max/−8`, `q = min(15, trunc(x/d + 8.5))`.
fn quantize_q4_0(x: &[f32], dst: *mut u8) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    unsafe {
        (dst as *mut u16).write_unaligned(f32_to_f16(d));
        for j in 0..16 {
            let q0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
            let q1 = ((x[j + 16] * id + 8.5) as i8).min(15) as u8;
            *dst.add(2 + j) = q0 | (q1 << 4);
        }
    }
}

/// C's `roundf`: halfway cases away from zero.
#[inline(always)]
fn round_away(x: f32) -> f32 {
    let a = x.abs(); // ≤ 127 here
    let r = a as i32; // trunc
    let t = if a - r as f32 >= 0.5 { r + 1 } else { r } as f32;
    if x < 0.0 { -t } else { t }
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
        crate::graph::addr(0) as *mut u8,
        ptr_u32(a[4]),
        a[5] as usize,
        a[6],
        toks,
    );
}

/// Writes tokens `toks` of `src` into their cache rows (see the module doc).
/// F16 uses ggml's round-to-nearest-even conversion (`f32_to_f16`, which vectorises), so the
/// SIMD and scalar paths are one loop; Q8_0/Q4_0 quantize each block of 32 as ggml's reference.
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
    let row_bytes = kv_row_bytes(kv_type, row_len);
    for t in toks {
        let p = *pos.add(t);
        if p < 0 {
            bad_pos();
        }
        let s = core::slice::from_raw_parts(src.add(t * row_len), row_len);
        let dst = kv_row(mem, pages, page_size, row_bytes, p as usize);
        match kv_type {
            KV_F16 => {
                let d = core::slice::from_raw_parts_mut(dst as *mut u16, row_len);
                for (o, &x) in d.iter_mut().zip(s) {
                    *o = f32_to_f16(x);
                }
            }
            KV_Q8_0 => {
                for (b, x) in s.chunks_exact(32).enumerate() {
                    quantize_q8_0(x, dst.add(b * 34));
                }
            }
            KV_Q4_0 => {
                for (b, x) in s.chunks_exact(32).enumerate() {
                    quantize_q4_0(x, dst.add(b * 18));
                }
            }
            _ => core::ptr::copy_nonoverlapping(s.as_ptr(), dst as *mut f32, row_len),
        }
    }
}

#[cold]
fn bad_type() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("KV cache type must be F32 (0), F16 (1), Q4_0 (2) or Q8_0 (8), block types with rows of a multiple of 32");
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

    /// Decodes element i of a block-type row from the format definition, in f64 (independent of
    /// kv_load): IEEE half d times the signed (Q8_0) or offset (Q4_0) integer.
    fn decode(kv_type: u32, row: &[u8], i: usize) -> f64 {
        let half = |h: u16| -> f64 {
            let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
            let e = ((h >> 10) & 31) as i32;
            let m = (h & 1023) as f64;
            sign * if e == 0 { m * 2f64.powi(-24) } else { (1.0 + m / 1024.0) * 2f64.powi(e - 15) }
        };
        let (bs, r) = (if kv_type == KV_Q8_0 { 34 } else { 18 }, i % 32);
        let b = &row[i / 32 * bs..];
        let d = half(u16::from_le_bytes([b[0], b[1]]));
        if kv_type == KV_Q8_0 {
            d * (b[2 + r] as i8) as f64
        } else {
            let q = if r < 16 { b[2 + r] & 15 } else { b[2 + r - 16] >> 4 };
            d * (q as f64 - 8.0)
        }
    }

    #[test]
    fn block_types_round_trip_within_half_a_step() {
        // Q8_0: |x − d·q| ≤ d/2 (+ the f16 rounding of d times |q| ≤ 127); Q4_0: ≤ |d| (the
        // clamped top level, x near −max). kv_load agrees with the f64 decode exactly.
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        for kv_type in [KV_Q8_0, KV_Q4_0] {
            let row_len = 96;
            let rb = kv_row_bytes(kv_type, row_len);
            for amp in [1e-3f32, 1.0, 37.0] {
                let mut src: Vec<f32> = (0..2 * row_len).map(|_| rnd() * amp).collect();
                src[5] = 0.0;
                src[row_len..row_len + 32].fill(0.0); // an all-zero block: d = 0, decodes to 0
                let mut arena = vec![0u8; 2 * rb];
                let pages = [0u32];
                let pos = [0i32, 1];
                unsafe { kv_store(src.as_ptr(), row_len, pos.as_ptr(), arena.as_mut_ptr(), pages.as_ptr(), 4, kv_type, 0..2) };
                for t in 0..2 {
                    let row = &arena[t * rb..(t + 1) * rb];
                    for i in 0..row_len {
                        let x = src[t * row_len + i] as f64;
                        let blk = &src[t * row_len + i / 32 * 32..][..32];
                        let amax = blk.iter().fold(0f32, |m, &v| m.max(v.abs())) as f64;
                        let step = if kv_type == KV_Q8_0 { amax / 127.0 } else { amax / 8.0 };
                        // d is stored as f16: error ≤ max(d·2^-11, 2^-25 in the subnormal range), times |q|.
                        let (half_steps, qmax) = if kv_type == KV_Q8_0 { (0.5, 127.0) } else { (1.0, 8.0) };
                        let tol = step * half_steps + qmax * (step * 2f64.powi(-11)).max(2f64.powi(-25));
                        let got = decode(kv_type, row, i);
                        assert!((got - x).abs() <= tol, "type {kv_type} amp {amp} t {t} i {i}: {got} vs {x}");
                        assert_eq!(unsafe { kv_load(kv_type, row.as_ptr(), i) } as f64, got);
                    }
                }
            }
        }
    }

    #[test]
    fn rows_land_in_their_pages() {
        // 3 pages of 4 slots, scattered in an arena out of order; row_len 6.
        let (ps, row_len) = (4usize, 6usize);
        for kv_type in [KV_F32, KV_F16] {
            let es = kv_row_bytes(kv_type, 1);
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
