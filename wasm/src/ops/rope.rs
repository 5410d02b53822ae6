//! ROPE (op 4): rotary position embedding, modes 0 (normal, adjacent pairs) and 2 (NeoX);
//! the multi-position modes (M-RoPE 8, vision 24, 2D 64) are in `rope_multi.rs`.
//!
//! `x, out: f32 [n_tok][n_head][head_dim]` (in place allowed), `pos: i32 [n_tok]`.
//! Pair `i < n_rot/2` is rotated by `θ_i = freq_scale · (pos · base^(−2i/n_rot)) / ff[i]`;
//! dims `≥ n_rot` are copied. The angles follow ggml's `ggml_rope_cache_init` + `rope_yarn`
//! with `ext_factor = 0`, `mscale = 1` operation for operation (f32 `theta *= theta_scale`,
//! `theta_scale = powf(base, −2/n_rot)`, correctly rounded `cosf`/`sinf`), so results match
//! llama.cpp's CPU backend to about 1 ulp. Split: rows `(token, head)`; each thread rebuilds
//! the per-token cos/sin cache when the token changes.
//!
//! The angle helpers ([`theta_scale`], [`rope_cos_sin`], [`rope_angles`]) are what 2D (vision)
//! and multi-section (M-RoPE) variants will reuse: they differ only in which position feeds
//! which pair.

use crate::graph::{f32_arg, opt_f32, ptr_f32, ptr_i32, Args, Ctx};
use crate::simd::F32x4;

/// Largest `n_rot` (rotated dims per head) the stack cache holds.
pub const MAX_ROT: usize = 1024;

pub const MODE_NORMAL: u32 = 0;
pub const MODE_NEOX: u32 = 2;

/// Shape and angle parameters of one ROPE command.
#[derive(Clone, Copy)]
pub struct Rope {
    pub n_tok: usize,
    pub n_head: usize,
    pub head_dim: usize,
    /// Rotated dims per head (even, `≤ head_dim`, `≤ MAX_ROT`).
    pub n_rot: usize,
    pub mode: u32,
    pub freq_base: f32,
    pub freq_scale: f32,
}

/// Op 4. Args: `x, out, pos, n_tok, n_head, head_dim, n_rot, mode, freq_base, freq_scale, freq_factors`
/// (multi-position modes: `, sections01, sections23`).
#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    if crate::ops::rope_multi::is_multi(a[7]) {
        return crate::ops::rope_multi::run(a, cx);
    }
    let p = Rope {
        n_tok: a[3] as usize,
        n_head: a[4] as usize,
        head_dim: a[5] as usize,
        n_rot: a[6] as usize,
        mode: a[7],
        freq_base: f32_arg(a[8]),
        freq_scale: f32_arg(a[9]),
    };
    let ff = opt_f32(a[10]).unwrap_or(core::ptr::null());
    let rows = cx.split(p.n_tok * p.n_head);
    rope_rows(&p, ptr_f32(a[0]), ptr_f32(a[1]), ptr_i32(a[2]), ff, rows, cx.scalar);
}

/// Rotates rows `rows` (row = `t·n_head + h`) of `x` into `out`.
///
/// # Safety
/// `x`, `out` hold `n_tok·n_head·head_dim` f32 (they may be equal), `pos` holds `n_tok` i32,
/// `ff` is null or holds `n_rot/2` f32.
pub unsafe fn rope_rows(
    p: &Rope,
    x: *const f32,
    out: *mut f32,
    pos: *const i32,
    ff: *const f32,
    rows: core::ops::Range<usize>,
    scalar: bool,
) {
    let (n_rot, hd) = (p.n_rot, p.head_dim);
    if n_rot > MAX_ROT || n_rot > hd || n_rot % 2 != 0 || (p.mode != MODE_NORMAL && p.mode != MODE_NEOX) {
        bad_args();
    }
    let ts = theta_scale(p.freq_base, n_rot);
    // Per-token cache, laid out for the mode (see `fill_cache`).
    let mut ca = [0f32; MAX_ROT];
    let mut cb = [0f32; MAX_ROT];
    let mut cached_t = usize::MAX;
    for r in rows {
        let t = r / p.n_head;
        if t != cached_t {
            fill_cache(p, *pos.add(t), ts, ff, &mut ca, &mut cb);
            cached_t = t;
        }
        let src = x.add(r * hd);
        let dst = out.add(r * hd);
        match (p.mode, scalar) {
            (MODE_NORMAL, true) => rotate_normal_scalar(src, dst, n_rot, &ca, &cb),
            (MODE_NORMAL, false) => rotate_normal_simd(src, dst, n_rot, &ca, &cb),
            (_, true) => rotate_neox_scalar(src, dst, n_rot, &ca, &cb),
            (_, false) => rotate_neox_simd(src, dst, n_rot, &ca, &cb),
        }
        if src != dst as *const f32 && n_rot < hd {
            core::ptr::copy_nonoverlapping(src.add(n_rot), dst.add(n_rot), hd - n_rot);
        }
    }
}

/// Mode 0: `ca[2i] = ca[2i+1] = cos θ_i`, `cb[2i] = −sin θ_i`, `cb[2i+1] = sin θ_i`, so that
/// `out = x·ca + swap_pairs(x)·cb`. Mode 2: `ca[i] = cos θ_i`, `cb[i] = sin θ_i`.
fn fill_cache(p: &Rope, pos: i32, ts: f32, ff: *const f32, ca: &mut [f32; MAX_ROT], cb: &mut [f32; MAX_ROT]) {
    let neox = p.mode == MODE_NEOX;
    rope_angles(pos as f32, ts, p.freq_scale, ff, p.n_rot / 2, |i, c, s| {
        if neox {
            ca[i] = c;
            cb[i] = s;
        } else {
            ca[2 * i] = c;
            ca[2 * i + 1] = c;
            cb[2 * i] = -s;
            cb[2 * i + 1] = s;
        }
    });
}

pub(crate) unsafe fn rotate_normal_scalar(src: *const f32, dst: *mut f32, n_rot: usize, ca: &[f32], cb: &[f32]) {
    for i in (0..n_rot).step_by(2) {
        let (c, s) = (ca[i], cb[i + 1]);
        let (x0, x1) = (*src.add(i), *src.add(i + 1));
        *dst.add(i) = x0 * c - x1 * s;
        *dst.add(i + 1) = x0 * s + x1 * c;
    }
}

pub(crate) unsafe fn rotate_neox_scalar(src: *const f32, dst: *mut f32, n_rot: usize, ca: &[f32], cb: &[f32]) {
    let half = n_rot / 2;
    for i in 0..half {
        let (c, s) = (ca[i], cb[i]);
        let (x0, x1) = (*src.add(i), *src.add(i + half));
        *dst.add(i) = x0 * c - x1 * s;
        *dst.add(i + half) = x0 * s + x1 * c;
    }
}

// The SIMD versions use separate mul and add/sub (no fma), so they equal the scalar twins bit for bit.

pub(crate) unsafe fn rotate_normal_simd(src: *const f32, dst: *mut f32, n_rot: usize, ca: &[f32], cb: &[f32]) {
    let mut i = 0;
    while i + 4 <= n_rot {
        let v = F32x4::load(src.add(i));
        let c = F32x4::load(ca.as_ptr().add(i));
        let s = F32x4::load(cb.as_ptr().add(i));
        v.mul(c).add(swap_pairs(v).mul(s)).store(dst.add(i));
        i += 4;
    }
    if i < n_rot {
        rotate_normal_scalar(src.add(i), dst.add(i), n_rot - i, &ca[i..], &cb[i..]);
    }
}

pub(crate) unsafe fn rotate_neox_simd(src: *const f32, dst: *mut f32, n_rot: usize, ca: &[f32], cb: &[f32]) {
    let half = n_rot / 2;
    let mut i = 0;
    while i + 4 <= half {
        let lo = F32x4::load(src.add(i));
        let hi = F32x4::load(src.add(i + half));
        let c = F32x4::load(ca.as_ptr().add(i));
        let s = F32x4::load(cb.as_ptr().add(i));
        lo.mul(c).sub(hi.mul(s)).store(dst.add(i));
        lo.mul(s).add(hi.mul(c)).store(dst.add(i + half));
        i += 4;
    }
    for j in i..half {
        let (c, s) = (ca[j], cb[j]);
        let (x0, x1) = (*src.add(j), *src.add(j + half));
        *dst.add(j) = x0 * c - x1 * s;
        *dst.add(j + half) = x0 * s + x1 * c;
    }
}

/// `(a1, a0, a3, a2)`.
#[inline(always)]
fn swap_pairs(v: F32x4) -> F32x4 {
    #[cfg(target_arch = "wasm32")]
    return F32x4(core::arch::wasm32::i32x4_shuffle::<1, 0, 3, 2>(v.0, v.0));
    #[cfg(not(target_arch = "wasm32"))]
    return F32x4([v.0[1], v.0[0], v.0[3], v.0[2]]);
}

#[cold]
fn bad_args() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("ROPE: bad arguments (mode, n_rot)");
}

// ---- angles (shared with future 2D / M-RoPE variants) ----

/// ggml's `theta_scale = powf(freq_base, −2.0f/n_dims)` (f32 exponent, correctly rounded pow).
pub fn theta_scale(freq_base: f32, n_dims: usize) -> f32 {
    let e = -2.0f32 / n_dims as f32;
    powf(freq_base, e)
}

/// ggml's `rope_yarn(theta/ff, freq_scale, …)` with `ext_factor = 0`, `mscale = 1`:
/// returns `(cos θ, sin θ)` for `θ = freq_scale · (theta / ff)`, all in f32.
#[inline]
pub fn rope_cos_sin(theta: f32, ff: f32, freq_scale: f32) -> (f32, f32) {
    let th = freq_scale * (theta / ff);
    let (s, c) = sincosf(th);
    (c, s)
}

/// Calls `f(i, cos θ_i, sin θ_i)` for pairs `i in 0..n_pairs` at position `p`, with
/// `theta_0 = p`, `theta_{i+1} = theta_i · theta_scale` in f32 (as ggml) and `ff[i]` dividing
/// `theta_i` when `ff` is not null.
///
/// # Safety
/// `ff` is null or holds `n_pairs` f32.
#[inline]
pub fn rope_angles(p: f32, theta_scale: f32, freq_scale: f32, ff: *const f32, n_pairs: usize, mut f: impl FnMut(usize, f32, f32)) {
    let mut theta = p;
    for i in 0..n_pairs {
        let fi = if ff.is_null() { 1.0 } else { unsafe { *ff.add(i) } };
        let (c, s) = rope_cos_sin(theta, fi, freq_scale);
        f(i, c, s);
        theta *= theta_scale;
    }
}

// ---- f32 sin/cos/pow, evaluated in f64 and rounded once (no libm in no_std) ----

const TOINT: f64 = 6755399441055744.0; // 1.5 · 2^52: (x + TOINT) − TOINT rounds to nearest

/// `(sin x, cos x)` rounded to f32. Range reduction by π/2 in f64 (musl's `__rem_pio2f`
/// medium case: exact for |x| < 2^28·π/2, ample for token positions), then Taylor
/// polynomials in f64 on |r| ≤ π/4, whose error (< 1e-17) is far below f32 rounding.
pub fn sincosf(x: f32) -> (f32, f32) {
    const INV_PIO2: f64 = 6.36619772367581382433e-01;
    const PIO2_1: f64 = 1.57079631090164184570e+00; // first 25 bits of π/2
    const PIO2_1T: f64 = 1.58932547735281966916e-08; // π/2 − PIO2_1
    if !(x.abs() < 4.0e8) {
        // Non-finite or absurd angle: NaN, as libm gives for ±inf.
        return if x.is_finite() { sincos_slow(x as f64) } else { (f32::NAN, f32::NAN) };
    }
    let xd = x as f64;
    let n = (xd * INV_PIO2 + TOINT) - TOINT;
    let r = xd - n * PIO2_1 - n * PIO2_1T;
    let (s, c) = (sin_poly(r), cos_poly(r));
    let (s, c) = match (n as i64) & 3 {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    };
    (s as f32, c as f32)
}

/// Fallback for |x| ≥ 4e8 (never a real RoPE angle): reduction with a 3-part π/2.
fn sincos_slow(x: f64) -> (f32, f32) {
    const INV_PIO2: f64 = 6.36619772367581382433e-01;
    const P1: f64 = 1.57079632673412561417e+00;
    const P2: f64 = 6.07710050630396597660e-11;
    const P3: f64 = 2.02226624871116645580e-21;
    let n = x * INV_PIO2;
    let n = if n.abs() < 4.0e15 { (n + TOINT) - TOINT } else { n };
    let r = ((x - n * P1) - n * P2) - n * P3;
    let (s, c) = (sin_poly(r), cos_poly(r));
    let q = (n % 4.0 + 4.0) % 4.0;
    let (s, c) = if q < 0.5 { (s, c) } else if q < 1.5 { (c, -s) } else if q < 2.5 { (-s, -c) } else { (-c, s) };
    (s as f32, c as f32)
}

/// sin r for |r| ≤ π/4 (Taylor to r^17).
#[inline]
fn sin_poly(r: f64) -> f64 {
    let z = r * r;
    let mut p = 1.0 / 355687428096000.0; // 1/17!
    p = p * z - 1.0 / 1307674368000.0; // 1/15!
    p = p * z + 1.0 / 6227020800.0;
    p = p * z - 1.0 / 39916800.0;
    p = p * z + 1.0 / 362880.0;
    p = p * z - 1.0 / 5040.0;
    p = p * z + 1.0 / 120.0;
    p = p * z - 1.0 / 6.0;
    r + r * z * p
}

/// cos r for |r| ≤ π/4 (Taylor to r^18).
#[inline]
fn cos_poly(r: f64) -> f64 {
    let z = r * r;
    let mut p = -1.0 / 6402373705728000.0; // −1/18!
    p = p * z + 1.0 / 20922789888000.0;
    p = p * z - 1.0 / 87178291200.0;
    p = p * z + 1.0 / 479001600.0;
    p = p * z - 1.0 / 3628800.0;
    p = p * z + 1.0 / 40320.0;
    p = p * z - 1.0 / 720.0;
    p = p * z + 1.0 / 24.0;
    p = p * z - 0.5;
    1.0 + z * p
}

/// `b^e` for `b > 0`, via `exp(e·ln b)` in f64, rounded once to f32.
pub fn powf(b: f32, e: f32) -> f32 {
    if !(b > 0.0) || !b.is_finite() {
        return f32::NAN;
    }
    exp_f64(e as f64 * ln_f64(b as f64)) as f32
}

/// ln x for finite x > 0 (relative error ~1e-16).
fn ln_f64(x: f64) -> f64 {
    const LN2: f64 = core::f64::consts::LN_2;
    let bits = x.to_bits();
    let mut k = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if k == -1023 {
        // Subnormal: normalise.
        let y = x * 18014398509481984.0; // 2^54
        return ln_f64(y) - 54.0 * LN2;
    }
    if m > core::f64::consts::SQRT_2 {
        m *= 0.5;
        k += 1;
    }
    let f = (m - 1.0) / (m + 1.0);
    let s = f * f;
    // 2·atanh(f) = 2f·Σ s^n/(2n+1); |f| ≤ 0.1716, s^12 < 1e-18.
    let mut p = 1.0 / 25.0;
    let mut d = 23.0;
    while d > 0.0 {
        p = p * s + 1.0 / d;
        d -= 2.0;
    }
    k as f64 * LN2 + 2.0 * f * p
}

/// e^y for |y| < 700 (relative error ~2e-16).
fn exp_f64(y: f64) -> f64 {
    const INV_LN2: f64 = 1.44269504088896338700e+00;
    const LN2_HI: f64 = 6.93147180369123816490e-01;
    const LN2_LO: f64 = 1.90821492927058770002e-10;
    if y > 709.0 {
        return f64::INFINITY;
    }
    if y < -708.0 {
        return 0.0;
    }
    let n = (y * INV_LN2 + TOINT) - TOINT;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    // Taylor to r^14 on |r| ≤ 0.347.
    let mut p = 1.0 / 87178291200.0; // 1/14!
    let mut k = 13.0;
    while k > 0.0 {
        p = p * r + 1.0 / factorial(k);
        k -= 1.0;
    }
    let e = p * r + 1.0;
    e * f64::from_bits(((n as i64 + 1023) as u64) << 52)
}

#[inline]
const fn factorial(k: f64) -> f64 {
    let mut f = 1.0;
    let mut i = 2.0;
    while i <= k {
        f *= i;
        i += 1.0;
    }
    f
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn sincos_matches_f64() {
        // Every f32 angle should round to the f32 nearest the exact value (std's f64 sin is
        // accurate to < 1 ulp of f64, far finer than f32 rounding); allow 1 ulp for ties.
        let mut x = -3000.0f32;
        let mut worst = 0u32;
        while x < 3000.0 {
            let (s, c) = sincosf(x);
            let (es, ec) = ((x as f64).sin() as f32, (x as f64).cos() as f32);
            worst = worst.max(ulps(s, es)).max(ulps(c, ec));
            x += 0.0137;
        }
        for &x in &[1.0e5f32, 131072.5, 1.0e6, 3.3e7, 1.0e-30, 0.0, -0.0, 1.5707964, 3.1415927] {
            let (s, c) = sincosf(x);
            worst = worst.max(ulps(s, (x as f64).sin() as f32)).max(ulps(c, (x as f64).cos() as f32));
        }
        assert!(worst <= 1, "worst {worst} ulp");
    }

    #[test]
    fn powf_matches_f64() {
        for &b in &[10000.0f32, 500000.0, 1.0e6, 10.0, 1.5, 0.25] {
            for n in [2usize, 32, 64, 80, 96, 128, 256] {
                let e = -2.0f32 / n as f32;
                let got = powf(b, e);
                let want = (b as f64).powf(e as f64) as f32;
                assert!(ulps(got, want) <= 1, "{b}^{e}: {got} vs {want}");
            }
        }
    }

    pub(crate) fn ulps(a: f32, b: f32) -> u32 {
        if a == b {
            return 0;
        }
        let (ia, ib) = (a.to_bits() as i32, b.to_bits() as i32);
        if (ia < 0) != (ib < 0) {
            return (ia & 0x7fff_ffff) as u32 + (ib & 0x7fff_ffff) as u32;
        }
        (ia - ib).unsigned_abs()
    }

    /// f64 reference of the op (independent of the kernel's cache layout).
    fn rope_ref(p: &Rope, x: &[f32], pos: &[i32], ff: Option<&[f32]>) -> Vec<f64> {
        let (nh, hd, nr) = (p.n_head, p.head_dim, p.n_rot);
        let mut out: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for t in 0..p.n_tok {
            for h in 0..nh {
                let row = &mut out[(t * nh + h) * hd..][..hd];
                for i in 0..nr / 2 {
                    let f = ff.map_or(1.0, |f| f[i] as f64);
                    let th = p.freq_scale as f64 * pos[t] as f64 * (p.freq_base as f64).powf(-2.0 * i as f64 / nr as f64) / f;
                    let (s, c) = th.sin_cos();
                    let (a, b) = if p.mode == MODE_NEOX { (i, i + nr / 2) } else { (2 * i, 2 * i + 1) };
                    let (x0, x1) = (row[a], row[b]);
                    row[a] = x0 * c - x1 * s;
                    row[b] = x0 * s + x1 * c;
                }
            }
        }
        out
    }

    pub(crate) fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn rope_matches_f64_reference() {
        let mut seed = 7u64;
        for &(mode, hd, nr, with_ff, base, scale) in &[
            (MODE_NORMAL, 64usize, 64usize, false, 10000.0f32, 1.0f32),
            (MODE_NEOX, 128, 128, false, 1.0e6, 1.0),
            (MODE_NEOX, 128, 64, true, 500000.0, 0.25),
            (MODE_NORMAL, 80, 38, true, 10000.0, 0.5),
            (MODE_NEOX, 64, 36, false, 10000.0, 1.0),
        ] {
            let p = Rope { n_tok: 5, n_head: 3, head_dim: hd, n_rot: nr, mode, freq_base: base, freq_scale: scale };
            let n = p.n_tok * p.n_head * hd;
            let x: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
            let pos = [0i32, 1, 17, 300, 4095];
            let ffv: Vec<f32> = (0..nr / 2).map(|i| 1.0 + (i % 7) as f32 * 1.5).collect();
            let ff = if with_ff { Some(&ffv[..]) } else { None };
            let want = rope_ref(&p, &x, &pos, ff);
            let ffp = ff.map_or(core::ptr::null(), |f| f.as_ptr());
            for scalar in [true, false] {
                let mut out = vec![f32::NAN; n];
                unsafe { rope_rows(&p, x.as_ptr(), out.as_mut_ptr(), pos.as_ptr(), ffp, 0..p.n_tok * p.n_head, scalar) };
                // Error sources: the f32 angle recursion (~i ulp of θ) times |θ| ≤ 4095, i.e.
                // ~1e-4·(i/n) rad at worst; values are O(1).
                for (k, (&g, &w)) in out.iter().zip(&want).enumerate() {
                    let tol = 2e-6 + 3e-7 * pos[k / (p.n_head * hd)] as f64 * 64.0 / nr as f64;
                    assert!((g as f64 - w).abs() <= tol, "mode {mode} hd {hd} nr {nr} k {k}: {g} vs {w}");
                }
                // In place gives the same bits.
                let mut inpl = x.clone();
                unsafe { rope_rows(&p, inpl.as_ptr(), inpl.as_mut_ptr(), pos.as_ptr(), ffp, 0..p.n_tok * p.n_head, scalar) };
                assert!(inpl.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }

    #[test]
    fn simd_equals_scalar_bitwise() {
        let mut seed = 3u64;
        for mode in [MODE_NORMAL, MODE_NEOX] {
            let p = Rope { n_tok: 3, n_head: 2, head_dim: 128, n_rot: 100, mode, freq_base: 10000.0, freq_scale: 1.0 };
            let n = 3 * 2 * 128;
            let x: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
            let pos = [5i32, 6, 7];
            let mut a = vec![0f32; n];
            let mut b = vec![0f32; n];
            unsafe {
                rope_rows(&p, x.as_ptr(), a.as_mut_ptr(), pos.as_ptr(), core::ptr::null(), 0..6, true);
                rope_rows(&p, x.as_ptr(), b.as_mut_ptr(), pos.as_ptr(), core::ptr::null(), 0..6, false);
            }
            assert!(a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
