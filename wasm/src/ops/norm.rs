//! RMSNORM: `x, w, out, n, n_rows, eps`. x, out f32 `[n_rows][n]` (in place allowed),
//! w f32 `[n]` or 0. out[r] = x[r] / sqrt(mean(x[r]²) + eps) · w. Split: rows.
//!
//! NORM (LayerNorm, BERT): `x, w, b, out, n, n_rows, eps`; w, b f32 `[n]` or 0.
//! out[r] = (x[r] − mean) / sqrt(var + eps) · w + b, with ggml_norm's arithmetic: mean and
//! variance summed in f64 in order, `1/sqrtf(var + eps)` in f32, then f32 multiply and add.

use crate::graph::{f32_arg, opt_f32, ptr_f32, Args, Ctx};
use crate::simd::math::sqrtf;
use crate::simd::{F32x4, LANES};

/// Σ x[i]² over one row; SIMD uses 4 vector accumulators (16 floats per step).
#[inline(always)]
unsafe fn sum_sq(x: *const f32, n: usize, scalar: bool) -> f32 {
    let mut i = 0;
    let mut s = 0.0f32;
    if !scalar {
        let mut acc = [F32x4::zero(); 4];
        while i + 4 * LANES <= n {
            for (k, a) in acc.iter_mut().enumerate() {
                let v = F32x4::load(x.add(i + k * LANES));
                *a = v.fma(v, *a);
            }
            i += 4 * LANES;
        }
        while i + LANES <= n {
            let v = F32x4::load(x.add(i));
            acc[0] = v.fma(v, acc[0]);
            i += LANES;
        }
        s = acc[0].add(acc[1]).add(acc[2].add(acc[3])).hsum();
    }
    while i < n {
        let v = *x.add(i);
        s += v * v;
        i += 1;
    }
    s
}

/// One row: out = x · (1/sqrt(mean(x²) + eps)) · w.
pub unsafe fn rmsnorm_row(x: *const f32, w: Option<*const f32>, out: *mut f32, n: usize, eps: f32, scalar: bool) {
    let k = 1.0 / sqrtf(sum_sq(x, n, scalar) / n as f32 + eps);
    let mut i = 0;
    if !scalar {
        let kv = F32x4::splat(k);
        while i + LANES <= n {
            let mut v = F32x4::load(x.add(i)).mul(kv);
            if let Some(w) = w {
                v = v.mul(F32x4::load(w.add(i)));
            }
            v.store(out.add(i));
            i += LANES;
        }
    }
    while i < n {
        let mut v = *x.add(i) * k;
        if let Some(w) = w {
            v *= *w.add(i);
        }
        *out.add(i) = v;
        i += 1;
    }
}

/// One row of NORM (scalar: it runs once per row of a few hundred values, in BERT models only).
pub unsafe fn layernorm_row(x: *const f32, w: Option<*const f32>, b: Option<*const f32>, out: *mut f32, n: usize, eps: f32) {
    let mut sum = 0.0f64;
    for i in 0..n {
        sum += *x.add(i) as f64;
    }
    let mean = (sum / n as f64) as f32;
    let mut sum2 = 0.0f64;
    for i in 0..n {
        let v = *x.add(i) - mean;
        *out.add(i) = v;
        sum2 += (v * v) as f64;
    }
    let scale = 1.0 / sqrtf((sum2 / n as f64) as f32 + eps);
    for i in 0..n {
        let mut v = *out.add(i) * scale;
        if let Some(w) = w {
            v *= *w.add(i);
        }
        if let Some(b) = b {
            v += *b.add(i);
        }
        *out.add(i) = v;
    }
}

/// NORM: `x, w, b, out, n, n_rows, eps`.
#[inline(never)]
pub unsafe fn run_layernorm(a: &Args, cx: &Ctx) {
    let (x, w, b, out, n) = (ptr_f32(a[0]), opt_f32(a[1]), opt_f32(a[2]), ptr_f32(a[3]), a[4] as usize);
    let eps = f32_arg(a[6]);
    for r in cx.split(a[5] as usize) {
        layernorm_row(x.add(r * n), w, b, out.add(r * n), n, eps);
    }
}

#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let (x, w, out, n) = (ptr_f32(a[0]), opt_f32(a[1]), ptr_f32(a[2]), a[3] as usize);
    let eps = f32_arg(a[5]);
    for r in cx.split(a[4] as usize) {
        rmsnorm_row(x.add(r * n), w, out.add(r * n), n, eps, cx.scalar);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layernorm_against_f64() {
        for n in [1usize, 3, 17, 384] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 31) % 97) as f32 / 9.0 - 3.0).collect();
            let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 7) as f32 * 0.25).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            let mut o = vec![0.0f32; n];
            unsafe { layernorm_row(x.as_ptr(), Some(w.as_ptr()), Some(b.as_ptr()), o.as_mut_ptr(), n, 1e-12) };
            for i in 0..n {
                let want = (x[i] as f64 - mean) / (var + 1e-12).sqrt() * w[i] as f64 + b[i] as f64;
                assert!((o[i] as f64 - want).abs() <= 2e-6 * (1.0 + want.abs()), "n={n} i={i}: {} vs {want}", o[i]);
            }
        }
    }

    #[test]
    fn against_f64() {
        for n in [1usize, 3, 17, 4097] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 31) % 97) as f32 / 9.0 - 5.0).collect();
            let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 7) as f32 * 0.25).collect();
            let ms = x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / n as f64;
            let k = 1.0 / (ms + 1e-5).sqrt();
            for scalar in [false, true] {
                for with_w in [false, true] {
                    let mut o = vec![0.0f32; n];
                    let wp = if with_w { Some(w.as_ptr()) } else { None };
                    unsafe { rmsnorm_row(x.as_ptr(), wp, o.as_mut_ptr(), n, 1e-5, scalar) };
                    for i in 0..n {
                        let want = x[i] as f64 * k * if with_w { w[i] as f64 } else { 1.0 };
                        assert!((o[i] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "n={n} i={i}");
                    }
                }
            }
        }
    }
}
