//! IMAGE_RESAMPLE: `src, src_w, src_h, channels, x0, y0, cw, ch, out, out_w, out_h, filter, norm, scratch`.
//!
//! Resamples the box `[x0, x0+cw) × [y0, y0+ch)` of a u8 image (`src`: `[src_h][src_w][channels]`,
//! channels 3 or 4, only the first 3 used) to `out_w × out_h` and normalises it to f32 CHW:
//! `out[c][y][x] = (r_c(x, y)/255 − mean[c]) / std[c]` (`out`: f32 `[3][out_h][out_w]`; `norm`: f32
//! `[6]` = mean[3], std[3], or 0 for mean 0, std 1).
//!
//! `r` is Pillow's separable resampling (`PIL.Image.resize`, what Hugging Face image processors and
//! llama.cpp's `resize_pillow` use): for an output index `o` along an axis of `n_in → n_out`,
//! `scale = n_in/n_out`, `fs = max(scale, 1)` (the filter widens when downscaling: antialiasing),
//! `center = (o + 0.5)·scale`, inputs `i ∈ [max(0, ⌊center − s·fs + 0.5⌋), min(n_in, ⌊center + s·fs + 0.5⌋))`
//! with weight `k((i − center + 0.5)/fs)`, normalised to sum 1. filter 0 = bilinear (triangle,
//! s = 1), 1 = bicubic (Keys, a = −0.5, s = 2). Computed in f32: vertical pass into a row of
//! `cw·channels` floats, then horizontal pass; llama.cpp instead rounds to u8 after each pass
//! (22-bit fixed point), so it differs from this op by up to about one u8 step before normalisation.
//!
//! scratch: per thread [`scratch_floats`] f32 (thread `ith` uses `scratch + ith·that·4`).
//! Split: output rows. Results do not depend on the thread count.

use crate::graph::{ptr_f32, ptr_u8, Args, Ctx};
use crate::simd::F32x4;

const BILINEAR: u32 = 0;

/// Filter support radius `s`.
fn support(filter: u32) -> f64 {
    if filter == BILINEAR { 1.0 } else { 2.0 }
}

fn kernel(filter: u32, x: f64) -> f64 {
    let x = if x < 0.0 { -x } else { x };
    if filter == BILINEAR {
        return if x < 1.0 { 1.0 - x } else { 0.0 };
    }
    const A: f64 = -0.5;
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Taps per output along an axis `n_in → n_out` (Pillow's ksize = 2·⌈s·fs⌉ + 1), rounded up to 4.
pub fn taps(n_in: usize, n_out: usize, filter: u32) -> usize {
    let fs = (n_in as f64 / n_out as f64).max(1.0);
    let k = 2 * ceil(support(filter) * fs) + 1;
    (k + 3) & !3
}

fn ceil(x: f64) -> usize {
    let t = x as usize;
    if (t as f64) < x { t + 1 } else { t }
}

/// Floats of scratch per thread: horizontal weights `out_w·kx`, their first inputs `out_w`, the
/// vertical accumulation row `cw·channels`, three planes of `cw + kx` (zero tail), vertical
/// weights `ky`.
pub fn scratch_floats(cw: usize, ch: usize, out_w: usize, out_h: usize, channels: usize, filter: u32) -> usize {
    let (kx, ky) = (taps(cw, out_w, filter), taps(ch, out_h, filter));
    out_w * kx + out_w + cw * channels + 3 * (cw + kx) + ky
}

/// Weights of output `o` into `w[0..k]` (zero past the count); returns the first input index.
/// The weights are computed in f64 and normalised there, as Pillow.
unsafe fn weights(n_in: usize, n_out: usize, o: usize, filter: u32, w: *mut f32, k: usize) -> usize {
    let scale = n_in as f64 / n_out as f64;
    let fs = scale.max(1.0);
    let sup = support(filter) * fs;
    let center = (o as f64 + 0.5) * scale;
    let lo = center - sup + 0.5;
    let min = if lo < 0.0 { 0 } else { lo as usize };
    let max = ((center + sup + 0.5) as usize).min(n_in);
    let mut sum = 0.0f64;
    for i in min..max {
        sum += kernel(filter, (i as f64 - center + 0.5) / fs);
    }
    for j in 0..k {
        let i = min + j;
        *w.add(j) = if i < max && sum != 0.0 { (kernel(filter, (i as f64 - center + 0.5) / fs) / sum) as f32 } else { 0.0 };
    }
    min
}

/// 4 u8 → f32 lanes.
#[inline(always)]
unsafe fn load_u8x4(p: *const u8) -> F32x4 {
    #[cfg(target_arch = "wasm32")]
    {
        use core::arch::wasm32::*;
        let v = v128_load32_zero(p as *const u32);
        F32x4(f32x4_convert_u32x4(u32x4_extend_low_u16x8(u16x8_extend_low_u8x16(v))))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        F32x4::load([*p as f32, *p.add(1) as f32, *p.add(2) as f32, *p.add(3) as f32].as_ptr())
    }
}

/// acc[i] += w · row[i] for i < n (row u8).
#[inline(always)]
unsafe fn axpy_u8(acc: *mut f32, row: *const u8, n: usize, w: f32, scalar: bool) {
    let mut i = 0;
    if !scalar {
        let wv = F32x4::splat(w);
        while i + 4 <= n {
            load_u8x4(row.add(i)).fma(wv, F32x4::load(acc.add(i))).store(acc.add(i));
            i += 4;
        }
    }
    while i < n {
        *acc.add(i) += w * *row.add(i) as f32;
        i += 1;
    }
}

/// Σ a[i]·b[i], k a multiple of 4.
#[inline(always)]
unsafe fn dot(a: *const f32, b: *const f32, k: usize, scalar: bool) -> f32 {
    if scalar {
        let mut s = 0.0f32;
        for i in 0..k {
            s += *a.add(i) * *b.add(i);
        }
        return s;
    }
    let mut acc = F32x4::zero();
    let mut i = 0;
    while i < k {
        acc = F32x4::load(a.add(i)).fma(F32x4::load(b.add(i)), acc);
        i += 4;
    }
    acc.hsum()
}

#[allow(clippy::too_many_arguments)]
pub unsafe fn resample_rows(
    src: *const u8, src_w: usize, channels: usize, x0: usize, y0: usize, cw: usize, ch: usize,
    out: *mut f32, out_w: usize, out_h: usize, filter: u32, norm: Option<*const f32>,
    scratch: *mut f32, rows: core::ops::Range<usize>, scalar: bool,
) {
    let (kx, ky) = (taps(cw, out_w, filter), taps(ch, out_h, filter));
    let hw = scratch;
    let hb = scratch.add(out_w * kx) as *mut u32;
    let vrow = scratch.add(out_w * kx + out_w);
    let planes = vrow.add(cw * channels);
    let plane_len = cw + kx;
    let vw = planes.add(3 * plane_len);
    for o in 0..out_w {
        *hb.add(o) = weights(cw, out_w, o, filter, hw.add(o * kx), kx) as u32;
    }
    for p in 0..3 * plane_len {
        *planes.add(p) = 0.0;
    }
    // out = r·a_c + b_c with a_c = 1/(255·std), b_c = −mean/std
    let (mut a, mut b) = ([1.0f32 / 255.0; 3], [0.0f32; 3]);
    if let Some(n) = norm {
        for c in 0..3 {
            a[c] = 1.0 / (255.0 * *n.add(3 + c));
            b[c] = -*n.add(c) / *n.add(3 + c);
        }
    }
    let row_len = cw * channels;
    for y in rows {
        let ymin = weights(ch, out_h, y, filter, vw, ky);
        for i in 0..row_len {
            *vrow.add(i) = 0.0;
        }
        for j in 0..ky {
            let w = *vw.add(j);
            if w == 0.0 || ymin + j >= ch {
                continue;
            }
            let row = src.add(((y0 + ymin + j) * src_w + x0) * channels);
            axpy_u8(vrow, row, row_len, w, scalar);
        }
        for x in 0..cw {
            for c in 0..3 {
                *planes.add(c * plane_len + x) = *vrow.add(x * channels + c);
            }
        }
        for c in 0..3 {
            let dst = out.add((c * out_h + y) * out_w);
            let plane = planes.add(c * plane_len);
            for o in 0..out_w {
                let r = dot(plane.add(*hb.add(o) as usize), hw.add(o * kx), kx, scalar);
                *dst.add(o) = r * a[c] + b[c];
            }
        }
    }
}

#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let (src, src_w, channels) = (ptr_u8(a[0]), a[1] as usize, a[3] as usize);
    let (x0, y0, cw, ch) = (a[4] as usize, a[5] as usize, a[6] as usize, a[7] as usize);
    let (out, out_w, out_h, filter) = (ptr_f32(a[8]), a[9] as usize, a[10] as usize, a[11]);
    let norm = crate::graph::opt_f32(a[12]);
    let per = scratch_floats(cw, ch, out_w, out_h, channels, filter);
    let scratch = ptr_f32(a[13]).add(cx.ith * per);
    let rows = cx.split(out_h);
    if rows.is_empty() {
        return;
    }
    resample_rows(src, src_w, channels, x0, y0, cw, ch, out, out_w, out_h, filter, norm, scratch, rows, cx.scalar);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64 reference of the same definition, written directly from the formula (no shared code
    /// but the kernel function): out[c][y][x] = Σ_j Σ_i wy_j wx_i src[y0+j][x0+i][c].
    fn reference(src: &[u8], src_w: usize, chn: usize, bx: (usize, usize, usize, usize), ow: usize, oh: usize, filter: u32) -> Vec<f64> {
        let (x0, y0, cw, ch) = bx;
        let axis = |n_in: usize, n_out: usize, o: usize| -> Vec<(usize, f64)> {
            let scale = n_in as f64 / n_out as f64;
            let fs = scale.max(1.0);
            let sup = support(filter) * fs;
            let center = (o as f64 + 0.5) * scale;
            let min = ((center - sup + 0.5).max(0.0)) as usize;
            let max = (((center + sup + 0.5) as usize)).min(n_in);
            let ws: Vec<(usize, f64)> = (min..max).map(|i| (i, kernel(filter, (i as f64 - center + 0.5) / fs))).collect();
            let s: f64 = ws.iter().map(|w| w.1).sum();
            ws.into_iter().map(|(i, w)| (i, w / s)).collect()
        };
        let mut out = vec![0.0; 3 * oh * ow];
        for y in 0..oh {
            let wy = axis(ch, oh, y);
            for x in 0..ow {
                let wx = axis(cw, ow, x);
                for c in 0..3 {
                    let mut s = 0.0;
                    for &(j, a) in &wy {
                        for &(i, b) in &wx {
                            s += a * b * src[((y0 + j) * src_w + x0 + i) * chn + c] as f64;
                        }
                    }
                    out[(c * oh + y) * ow + x] = s;
                }
            }
        }
        out
    }

    #[test]
    fn against_f64_both_filters_up_and_down() {
        let (sw, sh) = (37usize, 29usize);
        for chn in [3usize, 4] {
            let src: Vec<u8> = (0..sw * sh * chn).map(|i| ((i * 97 + (i / 7) * 13) % 256) as u8).collect();
            for filter in [0u32, 1] {
                for &(bx, ow, oh) in &[((0, 0, sw, sh), 16, 11), ((3, 5, 20, 17), 45, 33), ((0, 0, sw, sh), sw, sh), ((10, 2, 7, 9), 1, 1)] {
                    let want = reference(&src, sw, chn, bx, ow, oh, filter);
                    for scalar in [true, false] {
                        let mut out = vec![0.0f32; 3 * ow * oh];
                        let mut scratch = vec![0.0f32; scratch_floats(bx.2, bx.3, ow, oh, chn, filter)];
                        let norm = [0.5f32, 0.25, 0.125, 0.5, 0.25, 2.0];
                        unsafe {
                            resample_rows(src.as_ptr(), sw, chn, bx.0, bx.1, bx.2, bx.3, out.as_mut_ptr(), ow, oh, filter, Some(norm.as_ptr()), scratch.as_mut_ptr(), 0..oh, scalar)
                        };
                        for (k, (&o, &r)) in out.iter().zip(&want).enumerate() {
                            let c = k / (ow * oh);
                            let w = (r / 255.0 - norm[c] as f64) / norm[3 + c] as f64;
                            assert!((o as f64 - w).abs() <= 2e-5 * (1.0 + w.abs()), "chn={chn} f={filter} box={bx:?} {ow}x{oh} scalar={scalar} k={k}: {o} vs {w}");
                        }
                    }
                }
            }
        }
    }
}
