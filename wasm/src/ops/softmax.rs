//! SOFTMAX: `x, out, n, n_rows, scale`. x, out f32 `[n_rows][n]` (in place allowed).
//! out[r] = softmax(scale·x[r]), computed as exp(scale·x − max) / Σ. Split: rows.

use crate::graph::{f32_arg, ptr_f32, Args, Ctx};
use crate::simd::math::{exp4, expf};
use crate::simd::{F32x4, LANES};

pub unsafe fn softmax_row(x: *const f32, out: *mut f32, n: usize, scale: f32, scalar: bool) {
    if n == 0 {
        return;
    }
    let sv = F32x4::splat(scale);
    // 1. max of scale·x
    let mut i = 0;
    let mut m = f32::NEG_INFINITY;
    if !scalar && n >= LANES {
        let mut mv = F32x4::splat(f32::NEG_INFINITY);
        while i + LANES <= n {
            mv = mv.max(F32x4::load(x.add(i)).mul(sv));
            i += LANES;
        }
        m = mv.hmax();
    }
    while i < n {
        let v = *x.add(i) * scale;
        if v > m {
            m = v;
        }
        i += 1;
    }
    // 2. out = exp(scale·x − max), sum
    let mut i = 0;
    let mut sum = 0.0f32;
    if !scalar {
        let (mv, mut acc) = (F32x4::splat(m), F32x4::zero());
        while i + LANES <= n {
            let e = exp4(F32x4::load(x.add(i)).mul(sv).sub(mv));
            e.store(out.add(i));
            acc = acc.add(e);
            i += LANES;
        }
        sum = acc.hsum();
    }
    while i < n {
        let e = expf(*x.add(i) * scale - m);
        *out.add(i) = e;
        sum += e;
        i += 1;
    }
    // 3. normalise
    let inv = 1.0 / sum;
    super::elementwise::scale(out, out, n, inv, scalar);
}

#[inline(never)]
pub unsafe fn run(a: &Args, cx: &Ctx) {
    let (x, out, n, scale) = (ptr_f32(a[0]), ptr_f32(a[1]), a[2] as usize, f32_arg(a[4]));
    for r in cx.split(a[3] as usize) {
        softmax_row(x.add(r * n), out.add(r * n), n, scale, cx.scalar);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn against_f64() {
        for n in [1usize, 3, 17, 4097] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 / 4.0 - 12.0).collect();
            for scale in [1.0f32, 0.125, -2.0] {
                let m = x.iter().map(|&v| v as f64 * scale as f64).fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = x.iter().map(|&v| (v as f64 * scale as f64 - m).exp()).sum();
                for scalar in [false, true] {
                    let mut o = vec![0.0f32; n];
                    unsafe { softmax_row(x.as_ptr(), o.as_mut_ptr(), n, scale, scalar) };
                    for i in 0..n {
                        let want = (x[i] as f64 * scale as f64 - m).exp() / s;
                        let err = (o[i] as f64 - want).abs() / want;
                        assert!(err <= 1e-5, "n={n} i={i} scale={scale} scalar={scalar} rel err {err}");
                    }
                }
            }
        }
    }
}
