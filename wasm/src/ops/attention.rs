//! ATTENTION (op 13): causal, grouped-query attention reading K and V straight from the pages.
//!
//! `q, out: f32 [n_tok][n_head][head_dim]`, `q_pos: i32 [n_tok]`; K and V caches as in
//! [`super::kv`] (rows `[n_head_kv][head_dim]`, F16, F32, Q8_0 or Q4_0, K and V each its own
//! type; quantized blocks are read in place, converted 8 values at a time). Query `t`, head `h` attends the
//! the positions `j0 ≤ j < j1` of kv head `h / (n_head/n_head_kv)`, `j1 = min(q_pos[t] + 1, n_kv)`,
//! `j0 = max(0, q_pos[t] + 1 − window)` with a sliding window (else 0):
//! `out = Σ_j softmax_j(s_j)·v_j` (zeros when none is visible), `s_j = scale·q·k_j`, or with a
//! soft cap `c`, `s_j = c·tanh(scale·q·k_j / c)` (Gemma 2). Kernels take `j0` and the count
//! `n_vis = j1 − j0` and index their scores from 0.
//!
//! Kernels:
//! - SIMD (default): flash-style single pass over blocks of [`BLK`] keys with an online softmax
//!   (running max `m`, sum `l`, accumulator rescaled by `e^(m_old − m_new)` when the max
//!   grows). Up to [`G_MAX`] query heads that share a kv head are processed together, so each
//!   K/V row is loaded and converted from f16 once for all of them. No scratch memory.
//! - SIMD ggml (`flags` bit 0, F16 cache): llama.cpp's non-flash path, three passes over up to
//!   [`G_MAX`] heads that share a kv head: scores `scale·(f16(q)·k_j)` into the scratch (and
//!   [`GGML_STACK`] floats of stack), `e^(s−max)` with an f64 sum, each weight
//!   `e·(float)(1/Σ)` rounded to f16, then the weighted V sum. (Measured, decode n_kv 2048,
//!   32/8 heads, hd 64, 1 thread, 2-core EPYC VM: 3.0 ms/layer vs 2.8 ms flash under Node 20
//!   simd, 3.4 vs 3.5 ms under Bun relaxed; the scalar twin took 33 and 47 ms.)
//! - Two-pass (the scalar twin; head_dim > [`MAX_D`] or not a multiple of 8): scores of one head
//!   into the thread's scratch (`n_kv` f32), exact max-subtracted softmax, then the weighted V
//!   sum, with f64 sums; with bit 0 and an F16 cache, the same f16 roundings.
//!
//! Work unit: (kv head, token, chunk of ≤ G_MAX of its query heads), in that order, split
//! between threads by cost (keys seen), see [`unit_range`]. Each head's arithmetic is the same
//! whatever chunk or thread it lands in, so results do not depend on the thread count.

use super::kv::{kv_load, kv_row, kv_row_bytes, KV_F16, KV_F32, KV_Q4_0, KV_Q8_0};
use crate::f16::{f16_to_f32, f32_to_f16};
use crate::graph::{f32_arg, ptr_f32, ptr_i32, ptr_u32, Args, Ctx};
use crate::simd::math::{exp4, expf, tanhf};
use crate::simd::F32x4;

/// Keys per block of the flash kernel.
pub const BLK: usize = 32;
/// Query heads processed together over one kv head.
pub const G_MAX: usize = 4;
/// Largest head_dim of the flash kernel (larger ones take the two-pass kernel).
pub const MAX_D: usize = 256;
/// `flags` bit 0: reproduce ggml's f16 roundings (F16 cache only).
pub const FLAG_GGML_F16: u32 = 1;

/// Shape of one ATTENTION command.
#[derive(Clone, Copy)]
pub struct Attn {
    pub n_tok: usize,
    pub n_kv: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub page_size: usize,
    /// K's type, and V's.
    pub kv_type: u32,
    pub v_type: u32,
    pub scale: f32,
    pub flags: u32,
    /// Sliding window in positions (0: none).
    pub window: usize,
    /// Soft cap of the scores (0: none).
    pub softcap: f32,
}

/// A score from the f32 dot `q·k_j`: `scale·dot`, soft-capped when asked.
#[inline(always)]
fn score(p: &Attn, dot: f32) -> f32 {
    let s = dot * p.scale;
    if p.softcap > 0.0 { p.softcap * tanhf(s / p.softcap) } else { s }
}

/// Where the operands live. `mem` is the base that page addresses are relative to (null on
/// wasm32, a test arena natively); the other pointers are absolute.
#[derive(Clone, Copy)]
pub struct AttnPtrs {
    pub q: *const f32,
    pub out: *mut f32,
    pub q_pos: *const i32,
    pub mem: *mut u8,
    pub k_pages: *const u32,
    pub v_pages: *const u32,
    /// f32 `[nth][n_kv]`.
    pub scratch: *mut f32,
}

/// Op 13. Args: `q, out, n_tok, q_pos, n_kv, n_head, n_head_kv, head_dim, k_pages, v_pages,
/// page_size | (v_type + 1) << 12 | kv_type << 20 | flags << 28, window, scale, scratch, softcap`
/// (page_size < 4096; the v_type field 0 means V has kv_type).
#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let kv_type = (a[10] >> 20) & 0xff;
    let v_field = (a[10] >> 12) & 0xff;
    let p = Attn {
        n_tok: a[2] as usize,
        n_kv: a[4] as usize,
        n_head: a[5] as usize,
        n_head_kv: a[6] as usize,
        head_dim: a[7] as usize,
        page_size: (a[10] & 0xfff) as usize,
        kv_type,
        v_type: if v_field == 0 { kv_type } else { v_field - 1 },
        flags: a[10] >> 28,
        window: a[11] as usize,
        scale: f32_arg(a[12]),
        softcap: f32_arg(a[14]),
    };
    let ptrs = AttnPtrs {
        q: ptr_f32(a[0]),
        out: ptr_f32(a[1]),
        q_pos: ptr_i32(a[3]),
        mem: crate::graph::addr(0) as *mut u8,
        k_pages: ptr_u32(a[8]),
        v_pages: ptr_u32(a[9]),
        scratch: ptr_f32(a[13]),
    };
    attention(&p, &ptrs, cx.ith, cx.nth, cx.scalar);
}

/// Thread `ith` of `nth`'s share of the op.
///
/// # Safety
/// The pointers hold what [`AttnPtrs`] and the module doc say; `n_head_kv` divides `n_head`.
pub unsafe fn attention(p: &Attn, ptrs: &AttnPtrs, ith: usize, nth: usize, scalar: bool) {
    if p.n_head_kv == 0 || p.n_head % p.n_head_kv != 0 || p.page_size == 0 {
        bad_args();
    }
    let gq = p.n_head / p.n_head_kv;
    let two_pass = scalar || p.head_dim > MAX_D || p.head_dim % 8 != 0;
    let ggml = p.flags & FLAG_GGML_F16 != 0 && p.kv_type == KV_F16 && p.v_type == KV_F16;
    // Chunk size: G_MAX, smaller when that leaves threads idle (decode with few kv heads).
    let mut g = gq.min(G_MAX);
    while g > 1 && p.n_tok * p.n_head_kv * gq.div_ceil(g) < nth {
        g -= 1;
    }
    let chunks = gq.div_ceil(g);
    let scratch = ptrs.scratch.wrapping_add(ith * p.n_kv);
    // kv-head-major order: a thread's consecutive units reuse the same K/V rows (a prefill
    // then streams one kv head's cache from L2 instead of every head's per token).
    for u in unit_range(p, ptrs.q_pos, chunks, ith, nth) {
        let hk = u / (p.n_tok * chunks);
        let t = (u / chunks) % p.n_tok;
        let h0 = hk * gq + (u % chunks) * g;
        let h1 = (h0 + g).min((hk + 1) * gq);
        let (j0, n_vis) = visible(p, ptrs.q_pos, t);
        let row0 = t * p.n_head;
        let q = ptrs.q.add((row0 + h0) * p.head_dim);
        let out = ptrs.out.add((row0 + h0) * p.head_dim);
        if two_pass {
            for k in 0..h1 - h0 {
                let (q, out) = (q.add(k * p.head_dim), out.add(k * p.head_dim));
                head_two_pass(p, ptrs, hk, q, out, j0, n_vis, scratch);
            }
        } else if ggml {
            ggml_unit(p, ptrs, hk, q, out, h1 - h0, j0, n_vis, scratch);
        } else {
            // K and V of one type: that type's loads inlined; mixed types: loads by a match.
            let t = if p.kv_type == p.v_type { p.kv_type } else { DYN };
            macro_rules! by_g {
                ($t:expr) => {
                    match h1 - h0 {
                        1 => flash::<1, { $t }>(p, ptrs, hk, q, out, j0, n_vis),
                        2 => flash::<2, { $t }>(p, ptrs, hk, q, out, j0, n_vis),
                        3 => flash::<3, { $t }>(p, ptrs, hk, q, out, j0, n_vis),
                        _ => flash::<4, { $t }>(p, ptrs, hk, q, out, j0, n_vis),
                    }
                };
            }
            match t {
                KV_F16 => by_g!(KV_F16),
                KV_F32 => by_g!(KV_F32),
                KV_Q8_0 => by_g!(KV_Q8_0),
                KV_Q4_0 => by_g!(KV_Q4_0),
                _ => by_g!(DYN),
            }
        }
    }
}

/// The cache positions query `t` sees, as (first, count): `j1 = min(q_pos[t] + 1, n_kv)` (0 for
/// negative positions), `j0 = max(0, q_pos[t] + 1 − window)` with a window.
#[inline(always)]
unsafe fn visible(p: &Attn, q_pos: *const i32, t: usize) -> (usize, usize) {
    let end = *q_pos.add(t) as i64 + 1;
    let j1 = end.clamp(0, p.n_kv as i64) as usize;
    let j0 = if p.window > 0 { (end - p.window as i64).clamp(0, j1 as i64) as usize } else { 0 };
    (j0, j1 - j0)
}

/// Number of positions query `t` sees.
#[inline(always)]
unsafe fn n_visible(p: &Attn, q_pos: *const i32, t: usize) -> usize {
    visible(p, q_pos, t).1
}

/// Fixed cost of a work unit, in keys (setup, q rounding, output), for [`unit_range`].
const UNIT_COST: u64 = 16;

/// Thread `ith`'s units, ordered (kv head, token, chunk) with `chunks` units per (kv head,
/// token), split by cost rather than count: a unit of token `t` costs `n_vis(t) + UNIT_COST`,
/// so in a causal prefill a thread whose share holds later tokens gets fewer units. Unit `u`
/// goes to thread `floor(nth · (cost before u + cost(u)/2) / total)`: contiguous ranges that
/// cover every unit once.
unsafe fn unit_range(p: &Attn, q_pos: *const i32, chunks: usize, ith: usize, nth: usize) -> core::ops::Range<usize> {
    let n_units = p.n_head_kv * p.n_tok * chunks;
    if nth <= 1 || p.n_tok == 0 {
        return 0..n_units;
    }
    let cost = |t: usize| n_visible(p, q_pos, t) as u64 + UNIT_COST;
    let per_hk: u64 = (0..p.n_tok).map(|t| cost(t) * chunks as u64).sum();
    let total = per_hk * p.n_head_kv as u64;
    let last = cost(p.n_tok - 1);
    // First unit of thread k: the number of units whose cost midpoint m has nth·m < k·total
    // (in doubled units, so that m stays an integer).
    let first = |k: usize| -> usize {
        let (target, nth) = (2 * k as u64 * total, nth as u64);
        let mut before = 0u64;
        for hk in 0..p.n_head_kv {
            if nth * (2 * (before + per_hk) - last) < target {
                before += per_hk;
                continue;
            }
            for t in 0..p.n_tok {
                let c = cost(t);
                let row = c * chunks as u64;
                if nth * (2 * (before + row) - c) < target {
                    before += row;
                    continue;
                }
                let mut k = 0;
                while nth * (2 * (before + k as u64 * c) + c) < target {
                    k += 1;
                }
                return (hk * p.n_tok + t) * chunks + k;
            }
        }
        n_units
    };
    first(ith)..first(ith + 1)
}

// ---- two-pass kernel (scalar twin; ggml-rounding mode) ----

/// One head: scores into `scratch[..n_vis]`, exact softmax, weighted V sum.
unsafe fn head_two_pass(p: &Attn, ptrs: &AttnPtrs, hk: usize, q: *const f32, out: *mut f32, j0: usize, n_vis: usize, scratch: *mut f32) {
    let d = p.head_dim;
    let ggml = p.kv_type == KV_F16 && p.v_type == KV_F16 && p.flags & FLAG_GGML_F16 != 0;
    let (k_row_bytes, k_off) = (kv_row_bytes(p.kv_type, p.n_head_kv * d), kv_row_bytes(p.kv_type, hk * d));
    let (v_row_bytes, v_off) = (kv_row_bytes(p.v_type, p.n_head_kv * d), kv_row_bytes(p.v_type, hk * d));
    let qv = |i: usize| -> f32 {
        let x = *q.add(i);
        if ggml {
            f16_to_f32(f32_to_f16(x))
        } else {
            x
        }
    };
    if n_vis == 0 {
        for i in 0..d {
            *out.add(i) = 0.0;
        }
        return;
    }
    // 1. s_j = scale·(q·k_j); ggml computes the f32 product q·k, then multiplies by scale.
    let mut max = f32::NEG_INFINITY;
    for j in 0..n_vis {
        let k = kv_row(ptrs.mem, ptrs.k_pages, p.page_size, k_row_bytes, j0 + j).add(k_off);
        let mut dot = 0.0f64;
        for i in 0..d {
            dot += qv(i) as f64 * kv_load(p.kv_type, k, i) as f64;
        }
        let s = score(p, dot as f32);
        *scratch.add(j) = s;
        if s > max {
            max = s;
        }
    }
    // 2. p_j = e^(s_j − max) · (1/Σ), as ggml_soft_max (f64 sum, f32 scale by (float)(1/sum)).
    let mut sum = 0.0f64;
    for j in 0..n_vis {
        let e = expf(*scratch.add(j) - max);
        *scratch.add(j) = e;
        sum += e as f64;
    }
    let inv = (1.0 / sum) as f32;
    for j in 0..n_vis {
        let w = *scratch.add(j) * inv;
        *scratch.add(j) = if ggml { f16_to_f32(f32_to_f16(w)) } else { w };
    }
    // 3. out = Σ_j p_j·v_j (f64 accumulation, one row at a time).
    let mut acc = [0.0f64; 4];
    for i0 in (0..d).step_by(4) {
        let n = (d - i0).min(4);
        acc[..n].fill(0.0);
        for j in 0..n_vis {
            let v = kv_row(ptrs.mem, ptrs.v_pages, p.page_size, v_row_bytes, j0 + j).add(v_off);
            let w = *scratch.add(j) as f64;
            for (k, a) in acc[..n].iter_mut().enumerate() {
                *a += w * kv_load(p.v_type, v, i0 + k) as f64;
            }
        }
        for (k, a) in acc[..n].iter().enumerate() {
            *out.add(i0 + k) = *a as f32;
        }
    }
}

// ---- ggml-rounding kernel (SIMD, flags bit 0 with an F16 cache) ----

/// Scores the ggml kernel keeps on the stack (f32, 64 KiB), besides the thread's scratch.
pub const GGML_STACK: usize = 16384;

/// One work unit in ggml mode: `n_heads` consecutive query heads of kv head `hk`, in groups of
/// up to [`G_MAX`] heads whose scores (`n_vis` f32 each) fit in the thread's scratch (`n_kv`
/// floats) plus [`GGML_STACK`] floats of stack: 4 heads up to n_vis 5461, 3 up to 8192, 2 up to
/// 16384, then 1 (from the scratch alone). Each head's arithmetic is the same in any group.
unsafe fn ggml_unit(p: &Attn, ptrs: &AttnPtrs, hk: usize, q: *const f32, out: *mut f32, n_heads: usize, j0: usize, n_vis: usize, scratch: *mut f32) {
    let d = p.head_dim;
    if n_vis == 0 {
        for i in 0..n_heads * d {
            *out.add(i) = 0.0;
        }
        return;
    }
    let mut stack = core::mem::MaybeUninit::<[f32; GGML_STACK]>::uninit();
    let stack = stack.as_mut_ptr() as *mut f32;
    let in_scratch = p.n_kv / n_vis; // ≥ 1: n_vis ≤ n_kv
    let fit = (in_scratch + GGML_STACK / n_vis).min(G_MAX);
    let mut sp = [core::ptr::null_mut::<f32>(); G_MAX];
    for (k, s) in sp.iter_mut().enumerate().take(fit) {
        *s = if k < in_scratch { scratch.add(k * n_vis) } else { stack.add((k - in_scratch) * n_vis) };
    }
    let mut h = 0;
    while h < n_heads {
        let (q, out) = (q.add(h * d), out.add(h * d));
        let g = (n_heads - h).min(fit);
        match g {
            1 => ggml_heads::<1>(p, ptrs, hk, q, out, j0, n_vis, &sp),
            2 => ggml_heads::<2>(p, ptrs, hk, q, out, j0, n_vis, &sp),
            3 => ggml_heads::<3>(p, ptrs, hk, q, out, j0, n_vis, &sp),
            _ => ggml_heads::<4>(p, ptrs, hk, q, out, j0, n_vis, &sp),
        }
        h += g;
    }
}

/// `G` query heads against `n_vis ≥ 1` keys of an F16 cache, as llama.cpp's non-flash path:
/// 1. `s_j = scale·(f16(q)·k_j)` into `sp[g][..n_vis]` (each K row converted once for the
///    G heads, two rows per step as in [`flash`]);
/// 2. [`softmax_f16`]: `p_j = f16(e^(s_j − max)·(1/Σ))` in place;
/// 3. `out = Σ_j p_j·v_j`, blocks of [`BLK`] keys, 8 dims at a time.
#[inline(never)]
unsafe fn ggml_heads<const G: usize>(p: &Attn, ptrs: &AttnPtrs, hk: usize, q: *const f32, out: *mut f32, j0: usize, n_vis: usize, sp: &[*mut f32; G_MAX]) {
    let d = p.head_dim;
    let row_bytes = p.n_head_kv * d * 2;
    let head_off = hk * d * 2;
    let mut rows = [core::ptr::null::<u8>(); BLK];
    // ggml converts the f32 query to the cache's type (f16) before q·k.
    let mut qr = [[0.0f32; MAX_D]; G];
    for (g, r) in qr.iter_mut().enumerate() {
        for (i, x) in r[..d].iter_mut().enumerate() {
            *x = f16_to_f32(f32_to_f16(*q.add(g * d + i)));
        }
    }
    // 1. Scores.
    let mut b0 = 0;
    while b0 < n_vis {
        let nb = (n_vis - b0).min(BLK);
        for (j, r) in rows[..nb].iter_mut().enumerate() {
            *r = kv_row(ptrs.mem, ptrs.k_pages, p.page_size, row_bytes, j0 + b0 + j).add(head_off);
        }
        let mut j = 0;
        while j + 2 <= nb {
            let mut da = [F32x4::zero(); G];
            let mut db = [F32x4::zero(); G];
            let mut i = 0;
            while i < d {
                let (a0, a1) = load_f16x8(rows[j].add(2 * i) as *const u16);
                let (c0, c1) = load_f16x8(rows[j + 1].add(2 * i) as *const u16);
                for g in 0..G {
                    let qg = qr[g].as_ptr().add(i);
                    let (q0, q1) = (F32x4::load(qg), F32x4::load(qg.add(4)));
                    da[g] = q1.fma(a1, q0.fma(a0, da[g]));
                    db[g] = q1.fma(c1, q0.fma(c0, db[g]));
                }
                i += 8;
            }
            for g in 0..G {
                *sp[g].add(b0 + j) = score(p, da[g].hsum());
                *sp[g].add(b0 + j + 1) = score(p, db[g].hsum());
            }
            j += 2;
        }
        if j < nb {
            let mut dot = [F32x4::zero(); G];
            let mut i = 0;
            while i < d {
                let (k0, k1) = load_f16x8(rows[j].add(2 * i) as *const u16);
                for g in 0..G {
                    let qg = qr[g].as_ptr().add(i);
                    dot[g] = F32x4::load(qg.add(4)).fma(k1, F32x4::load(qg).fma(k0, dot[g]));
                }
                i += 8;
            }
            for g in 0..G {
                *sp[g].add(b0 + j) = score(p, dot[g].hsum());
            }
        }
        b0 += nb;
    }
    // 2. Probabilities.
    for s in &sp[..G] {
        softmax_f16(*s, n_vis);
    }
    // 3. Weighted V sum; the G accumulators of 8 dims stay in registers over a block.
    let mut acc = [[0.0f32; MAX_D]; G];
    let mut b0 = 0;
    while b0 < n_vis {
        let nb = (n_vis - b0).min(BLK);
        for (j, r) in rows[..nb].iter_mut().enumerate() {
            *r = kv_row(ptrs.mem, ptrs.v_pages, p.page_size, row_bytes, j0 + b0 + j).add(head_off);
        }
        let mut i = 0;
        while i < d {
            let mut lo = [F32x4::zero(); G];
            let mut hi = [F32x4::zero(); G];
            for g in 0..G {
                lo[g] = F32x4::load(acc[g].as_ptr().add(i));
                hi[g] = F32x4::load(acc[g].as_ptr().add(i + 4));
            }
            for (j, r) in rows[..nb].iter().enumerate() {
                let (v0, v1) = load_f16x8(r.add(2 * i) as *const u16);
                for g in 0..G {
                    let w = F32x4::splat(*sp[g].add(b0 + j));
                    lo[g] = v0.fma(w, lo[g]);
                    hi[g] = v1.fma(w, hi[g]);
                }
            }
            for g in 0..G {
                lo[g].store(acc[g].as_mut_ptr().add(i));
                hi[g].store(acc[g].as_mut_ptr().add(i + 4));
            }
            i += 8;
        }
        b0 += nb;
    }
    for (g, a) in acc.iter().enumerate() {
        let o = out.add(g * d);
        let mut i = 0;
        while i < d {
            F32x4::load(a.as_ptr().add(i)).store(o.add(i));
            i += 4;
        }
    }
}

/// ggml_soft_max in place over `s[..n]` (n ≥ 1), then each weight rounded to f16:
/// `e_j = e^(s_j − max)` (the same exp, bit for bit, as the twin's `expf`), `Σ e_j` in f64,
/// `p_j = f16(e_j · (float)(1/Σ))`.
#[inline(always)]
unsafe fn softmax_f16(s: *mut f32, n: usize) {
    let n4 = n & !3;
    let mut mv = F32x4::splat(f32::NEG_INFINITY);
    let mut j = 0;
    while j < n4 {
        mv = mv.max(F32x4::load(s.add(j)));
        j += 4;
    }
    let mut max = mv.hmax();
    for j in n4..n {
        if *s.add(j) > max {
            max = *s.add(j);
        }
    }
    let m = F32x4::splat(max);
    let mut sum = Sum64::new();
    let mut j = 0;
    while j < n4 {
        let e = exp4(F32x4::load(s.add(j)).sub(m));
        e.store(s.add(j));
        sum.add(e);
        j += 4;
    }
    let mut total = sum.total();
    for j in n4..n {
        let e = expf(*s.add(j) - max);
        *s.add(j) = e;
        total += e as f64;
    }
    let inv = (1.0 / total) as f32;
    let iv = F32x4::splat(inv);
    let mut j = 0;
    while j < n4 {
        round_f16x4(F32x4::load(s.add(j)).mul(iv)).store(s.add(j));
        j += 4;
    }
    for j in n4..n {
        *s.add(j) = f16_to_f32(f32_to_f16(*s.add(j) * inv));
    }
}

/// Σ of f32 vectors in f64: lanes 0,1 and 2,3 in two f64x2 sums, `(l0 + l1) + (l2 + l3)`
/// at the end (natively the same four lane sums, same order).
struct Sum64 {
    #[cfg(target_arch = "wasm32")]
    lo: core::arch::wasm32::v128,
    #[cfg(target_arch = "wasm32")]
    hi: core::arch::wasm32::v128,
    #[cfg(not(target_arch = "wasm32"))]
    l: [f64; 4],
}

impl Sum64 {
    #[inline(always)]
    fn new() -> Self {
        #[cfg(target_arch = "wasm32")]
        return Sum64 { lo: core::arch::wasm32::f64x2_splat(0.0), hi: core::arch::wasm32::f64x2_splat(0.0) };
        #[cfg(not(target_arch = "wasm32"))]
        return Sum64 { l: [0.0; 4] };
    }
    #[inline(always)]
    fn add(&mut self, x: F32x4) {
        #[cfg(target_arch = "wasm32")]
        {
            use core::arch::wasm32::*;
            self.lo = f64x2_add(self.lo, f64x2_promote_low_f32x4(x.0));
            self.hi = f64x2_add(self.hi, f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(x.0, x.0)));
        }
        #[cfg(not(target_arch = "wasm32"))]
        for (l, &v) in self.l.iter_mut().zip(&x.0) {
            *l += v as f64;
        }
    }
    #[inline(always)]
    fn total(&self) -> f64 {
        #[cfg(target_arch = "wasm32")]
        {
            use core::arch::wasm32::*;
            (f64x2_extract_lane::<0>(self.lo) + f64x2_extract_lane::<1>(self.lo)) + (f64x2_extract_lane::<0>(self.hi) + f64x2_extract_lane::<1>(self.hi))
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            (self.l[0] + self.l[1]) + (self.l[2] + self.l[3])
        }
    }
}

/// Each lane rounded to the nearest f16 value (ties to even), for lanes in [0, 65504]:
/// `f16_to_f32(f32_to_f16(x))`. f16 normals (x ≥ 2^-14): the f32 bits rounded to 10 mantissa
/// bits (`+ 0xFFF + lsb`, then the low 13 bits cleared); below: `(x + 0.75) − 0.75`, whose
/// sum lies in [0.75, 1) where the f32 spacing is 2^-24, f16's subnormal step.
#[inline(always)]
fn round_f16x4(x: F32x4) -> F32x4 {
    const MIN_NORMAL: f32 = 6.103_515_6e-5; // 2^-14
    #[cfg(target_arch = "wasm32")]
    {
        use core::arch::wasm32::*;
        let b = x.0;
        let lsb = v128_and(u32x4_shr(b, 13), u32x4_splat(1));
        let normal = v128_and(i32x4_add(b, i32x4_add(lsb, u32x4_splat(0xFFF))), u32x4_splat(!0x1FFF));
        let sub = f32x4_sub(f32x4_add(b, f32x4_splat(0.75)), f32x4_splat(0.75));
        F32x4(v128_bitselect(sub, normal, f32x4_lt(b, f32x4_splat(MIN_NORMAL))))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let r = |v: f32| {
            if v < MIN_NORMAL {
                (v + 0.75) - 0.75
            } else {
                let b = v.to_bits();
                f32::from_bits((b + 0xFFF + ((b >> 13) & 1)) & !0x1FFF)
            }
        };
        F32x4([r(x.0[0]), r(x.0[1]), r(x.0[2]), r(x.0[3])])
    }
}

// ---- flash kernel (SIMD) ----

/// `G` query heads `q[g·head_dim..]` (consecutive heads of kv head `hk`) against `n_vis` keys.
/// Needs `head_dim % 8 == 0`, `head_dim ≤ MAX_D`.
#[inline(never)]
/// `T`: the type of K and V, or [`DYN`] (each its own type, read from `p`).
unsafe fn flash<const G: usize, const T: u32>(p: &Attn, ptrs: &AttnPtrs, hk: usize, q: *const f32, out: *mut f32, j0: usize, n_vis: usize) {
    let d = p.head_dim;
    let (kt, vt) = if T == DYN { (p.kv_type, p.v_type) } else { (T, T) };
    let (k_row_bytes, k_off) = (kv_row_bytes(kt, p.n_head_kv * d), kv_row_bytes(kt, hk * d));
    let (v_row_bytes, v_off) = (kv_row_bytes(vt, p.n_head_kv * d), kv_row_bytes(vt, hk * d));
    let mut acc = [[0.0f32; MAX_D]; G]; // Σ_j e^(s_j − m)·v_j per head
    let mut m = [f32::NEG_INFINITY; G];
    let mut l = [0.0f32; G];
    let mut s = [[0.0f32; BLK]; G]; // scores, then probabilities, of the block
    let mut krow = [core::ptr::null::<u8>(); BLK];
    let mut vrow = [core::ptr::null::<u8>(); BLK];

    let mut b0 = 0;
    while b0 < n_vis {
        let nb = (n_vis - b0).min(BLK);
        for j in 0..nb {
            krow[j] = kv_row(ptrs.mem, ptrs.k_pages, p.page_size, k_row_bytes, j0 + b0 + j).add(k_off);
            vrow[j] = kv_row(ptrs.mem, ptrs.v_pages, p.page_size, v_row_bytes, j0 + b0 + j).add(v_off);
        }
        // Scores: each K row converted once and dotted with the G query rows; two rows per
        // step so each q vector load serves both (same per-row operation order as one row).
        // (Measured, decode n_kv 2048, 32/8 heads, hd 64, F16, 1 thread, Xeon: 1.40 ms/layer vs
        // 1.70 ms one row per step under Node 20 simd; 1.72 vs 1.89 ms under Bun relaxed.)
        let mut j = 0;
        while j + 2 <= nb {
            let mut da = [F32x4::zero(); G];
            let mut db = [F32x4::zero(); G];
            let mut i = 0;
            while i < d {
                let (a0, a1) = load8::<T>(krow[j], i, kt);
                let (b0, b1) = load8::<T>(krow[j + 1], i, kt);
                for g in 0..G {
                    let qg = q.add(g * d + i);
                    let (q0, q1) = (F32x4::load(qg), F32x4::load(qg.add(4)));
                    da[g] = q1.fma(a1, q0.fma(a0, da[g]));
                    db[g] = q1.fma(b1, q0.fma(b0, db[g]));
                }
                i += 8;
            }
            for g in 0..G {
                s[g][j] = score(p, da[g].hsum());
                s[g][j + 1] = score(p, db[g].hsum());
            }
            j += 2;
        }
        while j < nb {
            let mut dot = [F32x4::zero(); G];
            let mut i = 0;
            while i < d {
                let (k0, k1) = load8::<T>(krow[j], i, kt);
                for g in 0..G {
                    let qg = q.add(g * d + i);
                    dot[g] = F32x4::load(qg.add(4)).fma(k1, F32x4::load(qg).fma(k0, dot[g]));
                }
                i += 8;
            }
            for g in 0..G {
                s[g][j] = score(p, dot[g].hsum());
            }
            j += 1;
        }
        // Online softmax update and e^(s − m), per head.
        let nb4 = nb.div_ceil(4) * 4;
        for g in 0..G {
            let sg = &mut s[g];
            let mut mb = sg[0];
            for &x in &sg[1..nb] {
                if x > mb {
                    mb = x;
                }
            }
            if mb > m[g] {
                if l[g] != 0.0 {
                    let alpha = expf(m[g] - mb);
                    l[g] *= alpha;
                    let av = F32x4::splat(alpha);
                    let a = acc[g].as_mut_ptr();
                    let mut i = 0;
                    while i < d {
                        F32x4::load(a.add(i)).mul(av).store(a.add(i));
                        i += 4;
                    }
                }
                m[g] = mb;
            }
            // Lanes past nb: −inf, whose clamped exp (~1e-38) adds nothing measurable.
            sg[nb..nb4].fill(f32::NEG_INFINITY);
            let mv = F32x4::splat(m[g]);
            let mut sum = F32x4::zero();
            let mut j = 0;
            while j < nb4 {
                let e = exp4(F32x4::load(sg.as_ptr().add(j)).sub(mv));
                e.store(sg.as_mut_ptr().add(j));
                sum = sum.add(e);
                j += 4;
            }
            l[g] += sum.hsum();
        }
        // acc += Σ_j p_j·v_j: 8 dims at a time, the G accumulators kept in registers.
        let mut i = 0;
        while i < d {
            let mut lo = [F32x4::zero(); G];
            let mut hi = [F32x4::zero(); G];
            for g in 0..G {
                lo[g] = F32x4::load(acc[g].as_ptr().add(i));
                hi[g] = F32x4::load(acc[g].as_ptr().add(i + 4));
            }
            for j in 0..nb {
                let (v0, v1) = load8::<T>(vrow[j], i, vt);
                for g in 0..G {
                    let w = F32x4::splat(s[g][j]);
                    lo[g] = v0.fma(w, lo[g]);
                    hi[g] = v1.fma(w, hi[g]);
                }
            }
            for g in 0..G {
                lo[g].store(acc[g].as_mut_ptr().add(i));
                hi[g].store(acc[g].as_mut_ptr().add(i + 4));
            }
            i += 8;
        }
        b0 += nb;
    }
    for g in 0..G {
        let o = out.add(g * d);
        let inv = F32x4::splat(if l[g] > 0.0 { 1.0 / l[g] } else { 0.0 });
        let mut i = 0;
        while i < d {
            F32x4::load(acc[g].as_ptr().add(i)).mul(inv).store(o.add(i));
            i += 4;
        }
    }
}

/// [`flash`]'s type parameter when K and V differ: the loads match on the runtime type.
pub const DYN: u32 = 0xff;

/// Elements `i..i+8` (i % 8 == 0) of a cache row of type `T` (or `t` when `T` is [`DYN`]) as
/// two f32 vectors, with the values of [`kv_load`].
#[inline(always)]
unsafe fn load8<const T: u32>(row: *const u8, i: usize, t: u32) -> (F32x4, F32x4) {
    match if T == DYN { t } else { T } {
        KV_F16 => load_f16x8(row.add(2 * i) as *const u16),
        KV_F32 => {
            let r = row as *const f32;
            (F32x4::load(r.add(i)), F32x4::load(r.add(i + 4)))
        }
        KV_Q8_0 => load_q8_0x8(row, i),
        _ => load_q4_0x8(row, i),
    }
}

/// 8 values of a Q8_0 row: `d·q` (exact i8 → f32, one f32 multiply, as kv_load).
#[inline(always)]
unsafe fn load_q8_0x8(row: *const u8, i: usize) -> (F32x4, F32x4) {
    let b = row.add(i / 32 * 34);
    let d = f16_to_f32((b as *const u16).read_unaligned());
    let qs = b.add(2 + i % 32);
    #[cfg(target_arch = "wasm32")]
    {
        use core::arch::wasm32::*;
        let w = i16x8_extend_low_i8x16(v128_load64_zero(qs as *const u64));
        let dv = f32x4_splat(d);
        (F32x4(f32x4_mul(f32x4_convert_i32x4(i32x4_extend_low_i16x8(w)), dv)), F32x4(f32x4_mul(f32x4_convert_i32x4(i32x4_extend_high_i16x8(w)), dv)))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let v = |k: usize| d * (*qs.add(k) as i8) as f32;
        (F32x4([v(0), v(1), v(2), v(3)]), F32x4([v(4), v(5), v(6), v(7)]))
    }
}

/// 8 values of a Q4_0 row: `d·(q − 8)`; elements 0..16 of a block are the low nibbles of its
/// 16 bytes, 16..32 the high ones.
#[inline(always)]
unsafe fn load_q4_0x8(row: *const u8, i: usize) -> (F32x4, F32x4) {
    let b = row.add(i / 32 * 18);
    let d = f16_to_f32((b as *const u16).read_unaligned());
    let r = i % 32;
    let qs = b.add(2 + r % 16);
    #[cfg(target_arch = "wasm32")]
    {
        use core::arch::wasm32::*;
        let bytes = v128_load64_zero(qs as *const u64);
        let nib = if r < 16 { v128_and(bytes, u8x16_splat(15)) } else { u8x16_shr(bytes, 4) };
        let w = i16x8_sub(u16x8_extend_low_u8x16(nib), i16x8_splat(8));
        let dv = f32x4_splat(d);
        (F32x4(f32x4_mul(f32x4_convert_i32x4(i32x4_extend_low_i16x8(w)), dv)), F32x4(f32x4_mul(f32x4_convert_i32x4(i32x4_extend_high_i16x8(w)), dv)))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let v = |k: usize| {
            let q = if r < 16 { *qs.add(k) & 15 } else { *qs.add(k) >> 4 };
            d * (q as i32 - 8) as f32
        };
        (F32x4([v(0), v(1), v(2), v(3)]), F32x4([v(4), v(5), v(6), v(7)]))
    }
}

/// 8 f16 → 8 f32, exact for finite values (inf/NaN come out as large finite numbers).
/// Sign-extend each half to 32 bits, shift it under the f32 exponent field
/// (`sign | e5 m10 << 13` after masking the sign copies), then scale by 2^112: that rebias
/// turns f16 normals and subnormals into the right f32 values in one multiply.
#[inline(always)]
unsafe fn load_f16x8(p: *const u16) -> (F32x4, F32x4) {
    #[cfg(target_arch = "wasm32")]
    {
        use core::arch::wasm32::*;
        let h = v128_load(p as *const v128);
        let mask = u32x4_splat(0x8FFF_E000);
        let mul = f32x4_splat(f32::from_bits(0x7780_0000));
        let lo = f32x4_mul(v128_and(i32x4_shl(i32x4_extend_low_i16x8(h), 13), mask), mul);
        let hi = f32x4_mul(v128_and(i32x4_shl(i32x4_extend_high_i16x8(h), 13), mask), mul);
        (F32x4(lo), F32x4(hi))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut v = [0f32; 8];
        for (k, o) in v.iter_mut().enumerate() {
            *o = f16_to_f32(p.add(k).read_unaligned());
        }
        (F32x4([v[0], v[1], v[2], v[3]]), F32x4([v[4], v[5], v[6], v[7]]))
    }
}

#[cold]
fn bad_args() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("ATTENTION: n_head_kv must divide n_head, page_size > 0");
}

#[cfg(test)]
mod tests {
    use super::super::kv::kv_store;
    use super::*;

    /// Element i of a cache row of any type, in f64, from the format definitions.
    fn decode(ty: u32, row: &[u8], i: usize) -> f64 {
        match ty {
            KV_F16 => half(u16::from_le_bytes([row[2 * i], row[2 * i + 1]])),
            KV_F32 => f32::from_le_bytes(row[4 * i..4 * i + 4].try_into().unwrap()) as f64,
            _ => {
                let (bs, r) = (if ty == KV_Q8_0 { 34 } else { 18 }, i % 32);
                let b = &row[i / 32 * bs..];
                let d = half(u16::from_le_bytes([b[0], b[1]]));
                if ty == KV_Q8_0 {
                    d * (b[2 + r] as i8) as f64
                } else {
                    d * ((if r < 16 { b[2 + r] & 15 } else { b[2 + r - 16] >> 4 }) as f64 - 8.0)
                }
            }
        }
    }

    #[test]
    fn quantized_and_mixed_caches_against_f64() {
        // Q8_0/Q4_0 pages read in place, K and V of different types (the DYN kernel), GQA and
        // MHA, prefill and decode; reference: f64 over the values decoded from the stored bytes.
        let types = [(KV_Q8_0, KV_Q8_0), (KV_Q4_0, KV_Q4_0), (KV_Q8_0, KV_F16), (KV_F16, KV_Q4_0), (KV_Q4_0, KV_F32)];
        for (k, &(kv_type, v_type)) in types.iter().enumerate() {
            for &(n_tok, n_kv, n_head, n_head_kv, hd, ps) in &[(1usize, 100usize, 8usize, 2usize, 64usize, 16usize), (7, 40, 4, 4, 32, 32), (3, 70, 6, 2, 128, 64)] {
                let c = Case { n_tok, n_kv, n_head, n_head_kv, hd, ps, kv_type, v_type, amp: 4.0, window: 0, softcap: 0.0 };
                check(&c, 300 + k as u64, 0);
            }
        }
        // Sliding window and soft cap with a quantized cache.
        let c = Case { n_tok: 4, n_kv: 50, n_head: 4, n_head_kv: 2, hd: 64, ps: 16, kv_type: KV_Q8_0, v_type: KV_Q4_0, amp: 6.0, window: 9, softcap: 1.0 };
        check(&c, 9, 0);
    }

    #[test]
    fn simd_quant_loads_match_kv_load() {
        // load8 of every type at every 8-aligned offset equals the scalar kv_load (bit for bit).
        let mut seed = 11u64;
        for ty in [KV_Q8_0, KV_Q4_0, KV_F16, KV_F32] {
            let n = 128;
            let src: Vec<f32> = (0..n).map(|_| lcg(&mut seed) * 3.0).collect();
            let mut row = vec![0u8; kv_row_bytes(ty, n)];
            unsafe { kv_store(src.as_ptr(), n, [0i32].as_ptr(), row.as_mut_ptr(), [0u32].as_ptr(), 1, ty, 0..1) };
            for i in (0..n).step_by(8) {
                let (lo, hi) = unsafe { load8::<DYN>(row.as_ptr(), i, ty) };
                for k in 0..8 {
                    let got = if k < 4 { lo.0[k] } else { hi.0[k - 4] };
                    assert_eq!(got.to_bits(), unsafe { kv_load(ty, row.as_ptr(), i + k) }.to_bits(), "type {ty} i {i} k {k}");
                }
            }
        }
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// IEEE half → f64, written from the format definition (independent of crate::f16).
    fn half(h: u16) -> f64 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let e = ((h >> 10) & 31) as i32;
        let m = (h & 1023) as f64;
        sign * if e == 0 { m * 2f64.powi(-24) } else { (1.0 + m / 1024.0) * 2f64.powi(e - 15) }
    }

    /// f64 → nearest f16 value (ties to even), for the ggml-rounding reference.
    fn round_half(x: f64) -> f64 {
        if x == 0.0 {
            return 0.0;
        }
        let e = x.abs().log2().floor().max(-14.0);
        let ulp = 2f64.powf(e - 10.0);
        let q = x / ulp;
        let r = q.round();
        let r = if (q - q.trunc()).abs() == 0.5 && r % 2.0 != 0.0 { r - q.signum() } else { r };
        r * ulp
    }

    struct Case {
        n_tok: usize,
        n_kv: usize,
        n_head: usize,
        n_head_kv: usize,
        hd: usize,
        ps: usize,
        kv_type: u32,
        v_type: u32,
        amp: f32,
        /// Sliding window (0: none) and score soft cap (0: none).
        window: usize,
        softcap: f32,
    }

    /// Builds the cache in scattered pages, runs the op for each thread count and kernel,
    /// and checks every result against an f64 reference over the stored (rounded) K/V.
    /// Returns the largest error beyond the slack.
    fn check(c: &Case, seed0: u64, flags: u32) -> f64 {
        let mut seed = seed0;
        let row_len = c.n_head_kv * c.hd;
        let (k_rb, v_rb) = (kv_row_bytes(c.kv_type, row_len), kv_row_bytes(c.v_type, row_len));
        let row_bytes = k_rb.max(v_rb);
        let n_pages = c.n_kv.div_ceil(c.ps);
        // Pages in reverse-interleaved order with gaps, inside one arena.
        let page_bytes = c.ps * row_bytes;
        let mut arena = vec![0u8; (2 * n_pages + 1) * (page_bytes + 64) * 2];
        let place = |i: usize| (((n_pages - 1 - i) * 2 + (i % 2)) * (page_bytes + 64) + 16) as u32;
        let kp: Vec<u32> = (0..n_pages).map(place).collect();
        let vp: Vec<u32> = (0..n_pages).map(|i| place(i) + ((2 * n_pages + 1) * (page_bytes + 64)) as u32).collect();
        let kx: Vec<f32> = (0..c.n_kv * row_len).map(|_| lcg(&mut seed)).collect();
        let vx: Vec<f32> = (0..c.n_kv * row_len).map(|_| lcg(&mut seed)).collect();
        let all: Vec<i32> = (0..c.n_kv as i32).collect();
        unsafe {
            kv_store(kx.as_ptr(), row_len, all.as_ptr(), arena.as_mut_ptr(), kp.as_ptr(), c.ps, c.kv_type, 0..c.n_kv);
            kv_store(vx.as_ptr(), row_len, all.as_ptr(), arena.as_mut_ptr(), vp.as_ptr(), c.ps, c.v_type, 0..c.n_kv);
        }
        // The stored values, decoded in f64 from the arena's bytes by the format definition.
        let stored = |pages: &[u32], ty: u32, rb: usize| -> Vec<f64> {
            (0..c.n_kv * row_len)
                .map(|e| {
                    let (j, i) = (e / row_len, e % row_len);
                    let off = pages[j / c.ps] as usize + (j % c.ps) * rb;
                    decode(ty, &arena[off..off + rb], i)
                })
                .collect()
        };
        let (k64, v64) = (stored(&kp, c.kv_type, k_rb), stored(&vp, c.v_type, v_rb));
        let nq = c.n_tok * c.n_head * c.hd;
        let q: Vec<f32> = (0..nq).map(|_| lcg(&mut seed) * c.amp).collect();
        // Prefill ending at the last cached position; one token past n_kv (clamped) when decoding.
        let q_pos: Vec<i32> = (0..c.n_tok).map(|t| if c.n_tok == 1 { c.n_kv as i32 } else { (c.n_kv - c.n_tok + t) as i32 }).collect();
        let scale = 1.0 / (c.hd as f32).sqrt();
        let ggml = flags & FLAG_GGML_F16 != 0 && c.kv_type == KV_F16 && c.v_type == KV_F16;

        // f64 reference.
        let gq = c.n_head / c.n_head_kv;
        let mut want = vec![0f64; nq];
        let mut slack = vec![0f64; nq]; // ggml mode: weights that may round either way
        for t in 0..c.n_tok {
            let j1 = ((q_pos[t] + 1) as usize).min(c.n_kv);
            let j0 = if c.window > 0 { (q_pos[t] + 1 - c.window as i32).max(0) as usize } else { 0 };
            for h in 0..c.n_head {
                let hk = h / gq;
                let qr = &q[(t * c.n_head + h) * c.hd..][..c.hd];
                // Scores, and each score's f32 error scale Σ|q_i·k_i| (for the tie band below).
                let (sc, mag): (Vec<f64>, Vec<f64>) = (j0..j1)
                    .map(|j| {
                        let kr = &k64[j * row_len + hk * c.hd..][..c.hd];
                        let qk = |(&a, &b): (&f32, &f64)| if ggml { round_half(a as f64) * b } else { a as f64 * b };
                        let dot: f64 = qr.iter().zip(kr).map(qk).sum();
                        let mag: f64 = qr.iter().zip(kr).map(|x| qk(x).abs()).sum();
                        let s = dot * scale as f64;
                        let s = if c.softcap > 0.0 { c.softcap as f64 * (s / c.softcap as f64).tanh() } else { s };
                        (s, mag * scale as f64)
                    })
                    .unzip();
                let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = sc.iter().map(|s| (s - mx).exp()).sum();
                for (jj, j) in (j0..j1).enumerate() {
                    let mut w = (sc[jj] - mx).exp() / sum;
                    let mut tie = 0.0;
                    if ggml {
                        // A weight within the kernel's f32 error of a tie between two f16
                        // neighbours may round either way: allow one f16 step of it. The error
                        // of w relative: f32 exp, sum and scale (2^-20), and the f32 dot
                        // products (2^-22·√hd·Σ|q_i·k_i|·scale, ~4× their typical error).
                        let ulp = 2f64.powf(w.log2().floor().max(-14.0) - 10.0);
                        let rel = 2f64.powi(-20) + 2f64.powi(-22) * (c.hd as f64).sqrt() * mag[jj];
                        if ((w / ulp).fract() - 0.5).abs() <= rel * w / ulp {
                            tie = ulp;
                        }
                        w = round_half(w);
                    }
                    for i in 0..c.hd {
                        let v = v64[j * row_len + hk * c.hd + i];
                        want[(t * c.n_head + h) * c.hd + i] += w * v;
                        slack[(t * c.n_head + h) * c.hd + i] += tie * v.abs();
                    }
                }
            }
        }

        let p = Attn {
            n_tok: c.n_tok,
            n_kv: c.n_kv,
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.hd,
            page_size: c.ps,
            kv_type: c.kv_type,
            v_type: c.v_type,
            scale,
            flags,
            window: c.window,
            softcap: c.softcap,
        };
        let mut worst = 0f64;
        for scalar in [true, false] {
            let mut first: Option<Vec<f32>> = None;
            for nth in [1usize, 2, 3] {
                let mut out = vec![f32::NAN; nq];
                let mut scratch = vec![0f32; nth * c.n_kv];
                let ptrs = AttnPtrs {
                    q: q.as_ptr(),
                    out: out.as_mut_ptr(),
                    q_pos: q_pos.as_ptr(),
                    mem: arena.as_mut_ptr(),
                    k_pages: kp.as_ptr(),
                    v_pages: vp.as_ptr(),
                    scratch: scratch.as_mut_ptr(),
                };
                for ith in 0..nth {
                    unsafe { attention(&p, &ptrs, ith, nth, scalar) };
                }
                // Outputs are convex combinations of V values in [-1, 1]; f32 dot products and
                // exp (≤ 2 ulp) give ~1e-6 error (measured max 1.3e-6). In ggml mode the
                // weights are rounded to the same f16 values as the reference's, except near
                // ties (slack). Without the rounding the error here is ~2e-4.
                let tol = 2e-6;
                for (k, (&g, &w)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (g as f64 - w).abs() <= tol + slack[k],
                        "n_kv {} hd {} ps {} type {} scalar {scalar} nth {nth} k {k}: {g} vs {w} (slack {})",
                        c.n_kv, c.hd, c.ps, c.kv_type * 100 + c.v_type, slack[k]
                    );
                    worst = worst.max((g as f64 - w).abs() - slack[k]);
                }
                match &first {
                    None => first = Some(out),
                    Some(f) => assert!(f.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "thread count changed bits"),
                }
            }
        }
        worst
    }

    #[test]
    fn gqa_and_mha_against_f64() {
        let mut seed = 11;
        for &(n_head, n_head_kv) in &[(8usize, 2usize), (4, 4), (6, 1)] {
            for &hd in &[64usize, 128] {
                for &ps in &[16usize, 64] {
                    for &kv_type in &[KV_F16, KV_F32] {
                        for &(n_tok, n_kv) in &[(1usize, 1usize), (1, 33), (1, 64), (3, 70), (5, 300), (1, 300)] {
                            for &amp in &[1.0f32, 12.0] {
                                let c = Case { n_tok, n_kv, n_head, n_head_kv, hd, ps, kv_type, v_type: kv_type, amp, window: 0, softcap: 0.0 };
                                seed += 1;
                                check(&c, seed, 0);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sliding_window_and_softcap() {
        // Windows shorter than, equal to and longer than the visible span, alone and with a
        // soft cap; every kernel (flash f16/f32, ggml, two-pass) through check().
        let mut seed = 300;
        for &(window, softcap) in &[(1usize, 0.0f32), (5, 0.0), (37, 0.0), (1000, 0.0), (0, 2.0), (16, 1.5)] {
            for &(n_tok, n_kv) in &[(1usize, 70usize), (6, 70), (40, 40)] {
                for &(kv_type, flags) in &[(KV_F16, 0), (KV_F32, 0), (KV_F16, FLAG_GGML_F16)] {
                    seed += 1;
                    let c = Case { n_tok, n_kv, n_head: 8, n_head_kv: 2, hd: 64, ps: 16, kv_type, v_type: kv_type, amp: 6.0, window, softcap };
                    check(&c, seed, flags);
                }
            }
        }
        let c = Case { n_tok: 4, n_kv: 50, n_head: 4, n_head_kv: 2, hd: 36, ps: 16, kv_type: KV_F16, v_type: KV_F16, amp: 6.0, window: 9, softcap: 1.0 };
        check(&c, 399, 0);
    }

    #[test]
    fn other_head_dims() {
        // 72: flash kernel; 36 (not a multiple of 8) and 320 (> MAX_D): two-pass fallback.
        for (k, &hd) in [36usize, 72, 320].iter().enumerate() {
            let c = Case { n_tok: 3, n_kv: 70, n_head: 8, n_head_kv: 2, hd, ps: 16, kv_type: KV_F16, v_type: KV_F16, amp: 4.0, window: 0, softcap: 0.0 };
            check(&c, 40 + k as u64, 0);
        }
    }

    #[test]
    fn ggml_rounding_mode() {
        // The SIMD ggml kernel (and the twin) against the f64 reference with f16 roundings:
        // GQA 8/2 and 32/8, head_dim 32/64/128, decode and prefill (ending at the last cached
        // position, or n_tok = n_kv: a whole causal prompt from position 0), n_kv 1..300 and
        // 2048; check() also runs 1, 2 and 3 threads and requires identical bits.
        let (mut seed, mut worst) = (99, 0f64);
        for &(n_head, n_head_kv) in &[(8usize, 2usize), (32, 8)] {
            for &hd in &[32usize, 64, 128] {
                for &(n_tok, n_kv) in &[(1usize, 1usize), (1, 2), (1, 7), (1, 40), (4, 129), (1, 300), (37, 37), (3, 300), (1, 2048), (5, 2048)] {
                    if n_head == 32 && n_kv == 2048 && (hd != 64 || n_tok > 1) {
                        continue; // keep the f64 reference quick
                    }
                    seed += 1;
                    let amp = if seed % 2 == 0 { 1.0 } else { 8.0 };
                    let c = Case { n_tok, n_kv, n_head, n_head_kv, hd, ps: 16, kv_type: KV_F16, v_type: KV_F16, amp, window: 0, softcap: 0.0 };
                    worst = worst.max(check(&c, seed, FLAG_GGML_F16));
                }
            }
        }
        // Head groups limited by the score memory (scratch + GGML_STACK): at n_kv 6000 three
        // heads fit, then one; at 17000 one at a time from the scratch.
        for (k, &n_kv) in [6000usize, 17000].iter().enumerate() {
            let c = Case { n_tok: 1, n_kv, n_head: 8, n_head_kv: 2, hd: 32, ps: 64, kv_type: KV_F16, v_type: KV_F16, amp: 4.0, window: 0, softcap: 0.0 };
            worst = worst.max(check(&c, 200 + k as u64, FLAG_GGML_F16));
        }
        eprintln!("ggml mode: largest error beyond the tie slack {worst:.2e}");
        // With an F32 cache the flag changes nothing (llama.cpp does not round there).
        let c = Case { n_tok: 2, n_kv: 50, n_head: 4, n_head_kv: 2, hd: 64, ps: 16, kv_type: KV_F32, v_type: KV_F32, amp: 4.0, window: 0, softcap: 0.0 };
        check(&c, 5, FLAG_GGML_F16);
    }

    #[test]
    fn round_f16x4_matches_f16_roundtrip() {
        let want = |x: f32| f16_to_f32(f32_to_f16(x));
        let got = |x: f32| round_f16x4(F32x4::splat(x)).0[0];
        // A stride through [0, 1] (f16 subnormals and normals) ...
        let mut b = 0u32;
        while b <= 1.0f32.to_bits() {
            let x = f32::from_bits(b);
            assert_eq!(got(x).to_bits(), want(x).to_bits(), "{x:e}");
            b += 61;
        }
        // ... and every tie between f16 neighbours up to 65504, with its f32 neighbours.
        for h in 0u16..0x7BFF {
            let mid = (half(h) + half(h + 1)) / 2.0;
            let m = (mid as f32).to_bits();
            for x in [m - 1, m, m + 1].map(f32::from_bits) {
                assert_eq!(got(x).to_bits(), want(x).to_bits(), "{x:e}");
            }
        }
    }

    #[test]
    fn split_by_cost_is_balanced() {
        // unit_range: contiguous ranges covering every unit once; each thread's cost within one
        // unit of total/nth. Causal prefills from position 0 and at the end of a long cache.
        let unit_cost = |p: &Attn, q_pos: &[i32], chunks: usize, u: usize| {
            let t = (u / chunks) % p.n_tok;
            unsafe { n_visible(p, q_pos.as_ptr(), t) as u64 + UNIT_COST }
        };
        for &(n_tok, n_kv, n_head_kv, chunks) in &[(128usize, 128usize, 8usize, 1usize), (128, 2048, 8, 1), (512, 512, 2, 2), (1, 2048, 8, 1), (3, 5, 1, 4), (1, 1, 1, 1)] {
            let p = Attn { n_tok, n_kv, n_head: n_head_kv * 4, n_head_kv, head_dim: 64, page_size: 16, kv_type: KV_F16, v_type: KV_F16, scale: 1.0, flags: 0, window: 0, softcap: 0.0 };
            let q_pos: Vec<i32> = (0..n_tok).map(|t| (n_kv - n_tok + t) as i32).collect();
            let n_units = n_head_kv * n_tok * chunks;
            let total: u64 = (0..n_units).map(|u| unit_cost(&p, &q_pos, chunks, u)).sum();
            let max_unit = (0..n_units).map(|u| unit_cost(&p, &q_pos, chunks, u)).max().unwrap();
            for nth in 1..=5 {
                let mut next = 0;
                for ith in 0..nth {
                    let r = unsafe { unit_range(&p, q_pos.as_ptr(), chunks, ith, nth) };
                    assert_eq!(r.start, next, "n_tok {n_tok} nth {nth} ith {ith}");
                    next = r.end;
                    let c: u64 = r.map(|u| unit_cost(&p, &q_pos, chunks, u)).sum();
                    assert!(c.abs_diff(total / nth as u64) <= max_unit, "n_tok {n_tok} nth {nth} ith {ith}: {c} of {total}");
                }
                assert_eq!(next, n_units);
            }
        }
    }

    #[test]
    fn simd_f16_load_is_exact() {
        let mut all = [0u16; 8];
        let mut h = 0u32;
        while h < 0x10000 {
            for (k, a) in all.iter_mut().enumerate() {
                *a = (h as u16).wrapping_add(k as u16);
            }
            let (lo, hi) = unsafe { load_f16x8(all.as_ptr()) };
            for k in 0..8 {
                let x = all[k];
                if (x >> 10) & 31 == 31 {
                    continue; // inf/NaN are not supported by the fast path
                }
                let got = if k < 4 { lo.0[k] } else { hi.0[k - 4] };
                assert_eq!(got as f64, half(x), "{x:#06x}");
            }
            h += 8;
        }
    }
}
