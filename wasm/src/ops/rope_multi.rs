//! ROPE (op 4) with several position streams per token: the modes of vision encoders and of
//! Qwen2-VL's text model. Same words as ROPE plus `sections01, sections23`; `pos` is i32
//! `[n_stream][n_tok]` (stream k of token t at `pos[k·n_tok + t]`, ggml's layout for
//! `ggml_rope_multi`). Angles follow ggml-cpu's `ggml_mrope_cache_init` / `rope_yarn`
//! (`ext_factor = 0`, `mscale = 1`) operation for operation, in f32 as there.
//!
//! - MROPE (8, ggml's GGML_ROPE_TYPE_MROPE, Qwen2-VL text): NeoX pairs `(i, i + n_rot/2)`,
//!   `i < n_rot/2`. Sections `s0..s3` (in pairs, `S = Σ s > 0`) pick the stream of pair i by
//!   `sector = i mod S`: t (stream 0) for `sector < s0`, h (1) below `s0+s1`, w (2) below
//!   `s0+s1+s2`, else e (3). `θ_i = freq_scale · pos_stream · base^(−2i/n_rot) / ff[i]`: every
//!   stream's theta advances every pair, so with equal streams it is 1D NeoX RoPE.
//! - VISION (24, GGML_ROPE_TYPE_VISION, Qwen2-VL/2.5-VL ViT): `n_rot = head_dim/2` (ggml's
//!   n_dims); pairs `(i, i + n_rot)` for `i < n_rot` (NeoX over the whole head). Streams by sector
//!   as MROPE, but each stream's theta restarts at its section: `θ_i = pos_s · base^(−2(i − start_s)/n_rot)`.
//!   Qwen passes sections `[d/4, d/4, 0, 0]` and streams (row, col, row, col).
//! - ROPE_2D (64, Tessera's, Pixtral / llama.cpp's `build_rope_2d` with interleave_freq): adjacent
//!   pairs. Dims `[0, n_rot/2)` rotate with stream 0 (row): pair i at `θ = pos_0 · base^(−2i/(n_rot/2))`;
//!   dims `[n_rot/2, n_rot)` with stream 1 (col): pair j at `θ = odd · pos_1 · base^(−2j/(n_rot/2))`,
//!   `odd = base^(−2/n_rot)` (the odd frequencies of a head-wide RoPE). Sections and ff unused (0).
//!
//! Dims `≥ n_rot` (MROPE, ROPE_2D) are copied. SIMD and scalar share the per-token cache and
//! differ only in the rotation (the kernels of `rope.rs`, equal bit for bit).

use super::rope::{
    powf, rope_cos_sin, rotate_neox_scalar, rotate_neox_simd, rotate_normal_scalar, rotate_normal_simd, theta_scale, MAX_ROT,
};
use crate::graph::{f32_arg, opt_f32, ptr_f32, ptr_i32, Args, Ctx};

pub const MODE_MROPE: u32 = 8;
pub const MODE_VISION: u32 = 24;
pub const MODE_2D: u32 = 64;

pub fn is_multi(mode: u32) -> bool {
    mode == MODE_MROPE || mode == MODE_VISION || mode == MODE_2D
}

/// Shape and angle parameters of one multi-position ROPE command.
#[derive(Clone, Copy)]
pub struct RopeMulti {
    pub n_tok: usize,
    pub n_head: usize,
    pub head_dim: usize,
    pub n_rot: usize,
    pub mode: u32,
    pub freq_base: f32,
    pub freq_scale: f32,
    /// Pairs per stream (MROPE, VISION).
    pub sections: [usize; 4],
}

/// Op 4 in a multi-position mode. Args: `x, out, pos, n_tok, n_head, head_dim, n_rot, mode,
/// freq_base, freq_scale, freq_factors, s0 | s1 << 16, s2 | s3 << 16`.
#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let p = RopeMulti {
        n_tok: a[3] as usize,
        n_head: a[4] as usize,
        head_dim: a[5] as usize,
        n_rot: a[6] as usize,
        mode: a[7],
        freq_base: f32_arg(a[8]),
        freq_scale: f32_arg(a[9]),
        sections: [(a[11] & 0xffff) as usize, (a[11] >> 16) as usize, (a[12] & 0xffff) as usize, (a[12] >> 16) as usize],
    };
    let ff = opt_f32(a[10]).unwrap_or(core::ptr::null());
    let rows = cx.split(p.n_tok * p.n_head);
    rope_multi_rows(&p, ptr_f32(a[0]), ptr_f32(a[1]), ptr_i32(a[2]), ff, rows, cx.scalar);
}

fn valid(p: &RopeMulti, ff: *const f32) -> bool {
    let (nr, hd) = (p.n_rot, p.head_dim);
    let s: usize = p.sections.iter().sum();
    match p.mode {
        MODE_MROPE => nr % 2 == 0 && nr <= hd && nr <= MAX_ROT && s > 0 && s <= nr / 2,
        MODE_VISION => hd == 2 * nr && hd <= MAX_ROT && s > 0 && s <= nr,
        MODE_2D => nr % 4 == 0 && nr <= hd && nr <= MAX_ROT && ff.is_null(),
        _ => false,
    }
}

/// Rotates rows `rows` (row = `t·n_head + h`) of `x` into `out`.
///
/// # Safety
/// `x`, `out` hold `n_tok·n_head·head_dim` f32 (they may be equal), `pos` holds
/// `n_stream·n_tok` i32 (4 streams for MROPE/VISION, 2 for ROPE_2D), `ff` is null or holds one
/// f32 per rotated pair.
pub unsafe fn rope_multi_rows(
    p: &RopeMulti,
    x: *const f32,
    out: *mut f32,
    pos: *const i32,
    ff: *const f32,
    rows: core::ops::Range<usize>,
    scalar: bool,
) {
    if !valid(p, ff) {
        bad_args();
    }
    let hd = p.head_dim;
    let mut ca = [0f32; MAX_ROT];
    let mut cb = [0f32; MAX_ROT];
    let mut cached_t = usize::MAX;
    // Dims rotated by the kernel: NeoX over n_rot (MROPE) or the whole head (VISION), adjacent over n_rot (2D).
    let span = if p.mode == MODE_VISION { hd } else { p.n_rot };
    for r in rows {
        let t = r / p.n_head;
        if t != cached_t {
            let mut ps = [0f32; 4];
            let n_stream = if p.mode == MODE_2D { 2 } else { 4 };
            for (k, v) in ps.iter_mut().enumerate().take(n_stream) {
                *v = *pos.add(k * p.n_tok + t) as f32;
            }
            fill_cache(p, &ps, ff, &mut ca, &mut cb);
            cached_t = t;
        }
        let src = x.add(r * hd);
        let dst = out.add(r * hd);
        match (p.mode == MODE_2D, scalar) {
            (true, true) => rotate_normal_scalar(src, dst, span, &ca, &cb),
            (true, false) => rotate_normal_simd(src, dst, span, &ca, &cb),
            (false, true) => rotate_neox_scalar(src, dst, span, &ca, &cb),
            (false, false) => rotate_neox_simd(src, dst, span, &ca, &cb),
        }
        if src != dst as *const f32 && span < hd {
            core::ptr::copy_nonoverlapping(src.add(span), dst.add(span), hd - span);
        }
    }
}

/// Per-token cos/sin: NeoX layout (`ca[i] = cos θ_i`, `cb[i] = sin θ_i`) for MROPE/VISION, the
/// normal layout of `rope.rs` (`ca[2i] = ca[2i+1] = cos`, `cb[2i] = −sin`, `cb[2i+1] = sin`) for 2D.
fn fill_cache(p: &RopeMulti, ps: &[f32; 4], ff: *const f32, ca: &mut [f32; MAX_ROT], cb: &mut [f32; MAX_ROT]) {
    if p.mode == MODE_2D {
        let q = p.n_rot / 4; // pairs per half
        let ts = theta_scale(p.freq_base, p.n_rot / 2);
        let odd = powf(p.freq_base, -2.0 / p.n_rot as f32);
        for (half, scale) in [(0usize, p.freq_scale), (1, p.freq_scale * odd)] {
            let mut theta = ps[half];
            for i in 0..q {
                let (c, s) = rope_cos_sin(theta, 1.0, scale);
                let k = 2 * (half * q + i);
                ca[k] = c;
                ca[k + 1] = c;
                cb[k] = -s;
                cb[k + 1] = s;
                theta *= ts;
            }
        }
        return;
    }
    // ggml_mrope_cache_init: one theta per stream, all advanced every pair.
    let ts = theta_scale(p.freq_base, p.n_rot);
    let [s0, s1, s2, _] = p.sections;
    let total: usize = p.sections.iter().sum();
    let (sec_w, sec_e) = (s0 + s1, s0 + s1 + s2);
    let restart = p.mode == MODE_VISION;
    let n_pairs = if restart { p.n_rot } else { p.n_rot / 2 };
    let mut th = *ps;
    for i in 0..n_pairs {
        let sector = i % total;
        if restart {
            if sector == 0 {
                th[0] = ps[0];
            } else if sector == s0 {
                th[1] = ps[1];
            } else if sector == sec_w {
                th[2] = ps[2];
            } else if sector == sec_e {
                th[3] = ps[3];
            }
        }
        let k = if sector < s0 {
            0
        } else if sector < sec_w {
            1
        } else if sector < sec_e {
            2
        } else {
            3
        };
        let fi = if ff.is_null() { 1.0 } else { unsafe { *ff.add(i) } };
        let (c, s) = rope_cos_sin(th[k], fi, p.freq_scale);
        ca[i] = c;
        cb[i] = s;
        for v in th.iter_mut() {
            *v *= ts;
        }
    }
}

#[cold]
fn bad_args() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("ROPE: bad arguments for a multi-position mode (n_rot, sections, freq_factors)");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::rope::tests::lcg;

    /// f64 reference written from the formulas above (pairs and angles per mode, no cache).
    fn reference(p: &RopeMulti, x: &[f32], pos: &[i32], ff: Option<&[f32]>) -> Vec<f64> {
        let (nh, hd, nr) = (p.n_head, p.head_dim, p.n_rot);
        let b = p.freq_base as f64;
        let mut out: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let stream_of = |sector: usize| {
            let s = p.sections;
            if sector < s[0] {
                (0, 0)
            } else if sector < s[0] + s[1] {
                (1, s[0])
            } else if sector < s[0] + s[1] + s[2] {
                (2, s[0] + s[1])
            } else {
                (3, s[0] + s[1] + s[2])
            }
        };
        let total: usize = p.sections.iter().sum();
        for t in 0..p.n_tok {
            let ps = |k: usize| pos[k * p.n_tok + t] as f64;
            // (a, b, θ) for every pair
            let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
            match p.mode {
                MODE_MROPE => {
                    for i in 0..nr / 2 {
                        let (k, _) = stream_of(i % total);
                        let f = ff.map_or(1.0, |f| f[i] as f64);
                        pairs.push((i, i + nr / 2, p.freq_scale as f64 * ps(k) * b.powf(-2.0 * i as f64 / nr as f64) / f));
                    }
                }
                MODE_VISION => {
                    for i in 0..nr {
                        let (k, start) = stream_of(i % total);
                        let j = i % total - start;
                        pairs.push((i, i + nr, p.freq_scale as f64 * ps(k) * b.powf(-2.0 * j as f64 / nr as f64)));
                    }
                }
                _ => {
                    let q = nr / 4;
                    for i in 0..q {
                        let th = b.powf(-2.0 * i as f64 / (nr / 2) as f64);
                        pairs.push((2 * i, 2 * i + 1, ps(0) * th));
                        pairs.push((nr / 2 + 2 * i, nr / 2 + 2 * i + 1, ps(1) * th * b.powf(-2.0 / nr as f64)));
                    }
                }
            }
            for h in 0..nh {
                let row = &mut out[(t * nh + h) * hd..][..hd];
                for &(a, bb, th) in &pairs {
                    let (s, c) = th.sin_cos();
                    let (x0, x1) = (row[a], row[bb]);
                    row[a] = x0 * c - x1 * s;
                    row[bb] = x0 * s + x1 * c;
                }
            }
        }
        out
    }

    #[test]
    fn multi_modes_match_f64_reference_and_simd_equals_scalar() {
        let mut seed = 11u64;
        // (mode, head_dim, n_rot, sections, ff, base)
        let cases: &[(u32, usize, usize, [usize; 4], bool, f32)] = &[
            (MODE_MROPE, 128, 128, [16, 24, 24, 0], false, 1.0e6),
            (MODE_MROPE, 64, 48, [4, 6, 6, 0], true, 10000.0),
            (MODE_MROPE, 32, 32, [2, 3, 3, 0], false, 10000.0), // sectors wrap (S = 8 < 16 pairs)
            (MODE_VISION, 80, 40, [20, 20, 0, 0], false, 10000.0), // Qwen2.5-VL: head 80
            (MODE_VISION, 16, 8, [4, 4, 0, 0], false, 10000.0),
            (MODE_VISION, 24, 12, [3, 3, 0, 0], false, 10000.0), // sectors wrap
            (MODE_2D, 64, 64, [0; 4], false, 10000.0), // Pixtral: head 64
            (MODE_2D, 24, 24, [0; 4], false, 10000.0),
            (MODE_2D, 40, 32, [0; 4], false, 10000.0),
        ];
        for &(mode, hd, nr, sections, with_ff, base) in cases {
            let p = RopeMulti { n_tok: 6, n_head: 3, head_dim: hd, n_rot: nr, mode, freq_base: base, freq_scale: 1.0, sections };
            let n = p.n_tok * p.n_head * hd;
            let x: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
            // 4 distinct streams: t, h (row), w (col), e
            let pos: Vec<i32> = (0..4 * p.n_tok).map(|i| ((i * 37 + 5) % 61) as i32 * if i % 5 == 0 { 7 } else { 1 }).collect();
            let ffv: Vec<f32> = (0..nr).map(|i| 1.0 + (i % 5) as f32 * 0.75).collect();
            let ff = if with_ff { Some(&ffv[..]) } else { None };
            let want = reference(&p, &x, &pos, ff);
            let ffp = ff.map_or(core::ptr::null(), |f| f.as_ptr());
            let mut outs = Vec::new();
            for scalar in [true, false] {
                let mut out = vec![f32::NAN; n];
                unsafe { rope_multi_rows(&p, x.as_ptr(), out.as_mut_ptr(), pos.as_ptr(), ffp, 0..p.n_tok * p.n_head, scalar) };
                let maxp = *pos.iter().max().unwrap() as f64;
                // f32 angle recursion: ~(pairs) ulp of θ ≤ maxp rad; values O(1).
                let tol = 2e-6 + 2e-7 * maxp * (nr as f64 / 16.0).max(1.0);
                for (k, (&g, &w)) in out.iter().zip(&want).enumerate() {
                    assert!((g as f64 - w).abs() <= tol, "mode {mode} hd {hd} nr {nr} k {k}: {g} vs {w} (tol {tol})");
                }
                let mut inpl = x.clone();
                unsafe { rope_multi_rows(&p, inpl.as_ptr(), inpl.as_mut_ptr(), pos.as_ptr(), ffp, 0..p.n_tok * p.n_head, scalar) };
                assert!(inpl.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "in place differs");
                outs.push(out);
            }
            assert!(outs[0].iter().zip(&outs[1]).all(|(a, b)| a.to_bits() == b.to_bits()), "mode {mode}: simd ≠ scalar");
        }
    }

    #[test]
    fn mrope_with_equal_streams_is_neox() {
        use crate::ops::rope::{rope_rows, Rope, MODE_NEOX};
        let mut seed = 5u64;
        let (nt, nh, hd) = (4usize, 2usize, 64usize);
        let x: Vec<f32> = (0..nt * nh * hd).map(|_| lcg(&mut seed)).collect();
        let p1 = [3i32, 9, 100, 2047];
        let p4: Vec<i32> = (0..4).flat_map(|_| p1).collect();
        let m = RopeMulti { n_tok: nt, n_head: nh, head_dim: hd, n_rot: hd, mode: MODE_MROPE, freq_base: 1.0e6, freq_scale: 1.0, sections: [8, 12, 12, 0] };
        let r = Rope { n_tok: nt, n_head: nh, head_dim: hd, n_rot: hd, mode: MODE_NEOX, freq_base: 1.0e6, freq_scale: 1.0 };
        let (mut a, mut b) = (vec![0f32; x.len()], vec![0f32; x.len()]);
        unsafe {
            rope_multi_rows(&m, x.as_ptr(), a.as_mut_ptr(), p4.as_ptr(), core::ptr::null(), 0..nt * nh, false);
            rope_rows(&r, x.as_ptr(), b.as_mut_ptr(), p1.as_ptr(), core::ptr::null(), 0..nt * nh, false);
        }
        assert!(a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
