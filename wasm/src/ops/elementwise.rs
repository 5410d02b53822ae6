//! ADD, MUL, SCALE (f32, flat `n` elements, split by element), and the map helpers the
//! activation kernels share. In place (`out == x`) is allowed.

use crate::graph::{f32_arg, ptr_f32, Args, Ctx};
use crate::simd::{F32x4, LANES};

/// out[i] = fv/fs(x[i]) for i in 0..n; `fs` must be the scalar twin of `fv`.
#[inline(always)]
pub(crate) unsafe fn map1(
    x: *const f32,
    out: *mut f32,
    n: usize,
    scalar: bool,
    fv: impl Fn(F32x4) -> F32x4,
    fs: impl Fn(f32) -> f32,
) {
    let mut i = 0;
    if !scalar {
        while i + LANES <= n {
            fv(F32x4::load(x.add(i))).store(out.add(i));
            i += LANES;
        }
    }
    while i < n {
        *out.add(i) = fs(*x.add(i));
        i += 1;
    }
}

/// out[i] = fv/fs(a[i], b[i]) for i in 0..n.
#[inline(always)]
pub(crate) unsafe fn map2(
    a: *const f32,
    b: *const f32,
    out: *mut f32,
    n: usize,
    scalar: bool,
    fv: impl Fn(F32x4, F32x4) -> F32x4,
    fs: impl Fn(f32, f32) -> f32,
) {
    let mut i = 0;
    if !scalar {
        while i + LANES <= n {
            fv(F32x4::load(a.add(i)), F32x4::load(b.add(i))).store(out.add(i));
            i += LANES;
        }
    }
    while i < n {
        *out.add(i) = fs(*a.add(i), *b.add(i));
        i += 1;
    }
}

/// Chunk granularity of the element split: 16 floats = one cache line per boundary.
pub(crate) const SPLIT_STEP: usize = 16;

/// a + b
pub unsafe fn add(a: *const f32, b: *const f32, out: *mut f32, n: usize, scalar: bool) {
    map2(a, b, out, n, scalar, |x, y| x.add(y), |x, y| x + y)
}
/// a · b
pub unsafe fn mul(a: *const f32, b: *const f32, out: *mut f32, n: usize, scalar: bool) {
    map2(a, b, out, n, scalar, |x, y| x.mul(y), |x, y| x * y)
}
/// s · x
pub unsafe fn scale(x: *const f32, out: *mut f32, n: usize, s: f32, scalar: bool) {
    let sv = F32x4::splat(s);
    map1(x, out, n, scalar, |v| v.mul(sv), |v| v * s)
}

/// ADD: `a, b, out, n`
#[inline(never)]
pub unsafe fn run_add(a: &Args, cx: &Ctx) {
    let r = cx.split_aligned(a[3] as usize, SPLIT_STEP);
    add(ptr_f32(a[0]).add(r.start), ptr_f32(a[1]).add(r.start), ptr_f32(a[2]).add(r.start), r.len(), cx.scalar)
}
/// MUL: `a, b, out, n`
#[inline(never)]
pub unsafe fn run_mul(a: &Args, cx: &Ctx) {
    let r = cx.split_aligned(a[3] as usize, SPLIT_STEP);
    mul(ptr_f32(a[0]).add(r.start), ptr_f32(a[1]).add(r.start), ptr_f32(a[2]).add(r.start), r.len(), cx.scalar)
}
/// SCALE: `x, out, n, s`
#[inline(never)]
pub unsafe fn run_scale(a: &Args, cx: &Ctx) {
    let r = cx.split_aligned(a[2] as usize, SPLIT_STEP);
    scale(ptr_f32(a[0]).add(r.start), ptr_f32(a[1]).add(r.start), r.len(), f32_arg(a[3]), cx.scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_and_scalar_agree_exactly() {
        for n in [0usize, 1, 3, 4, 17, 4097] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() - 0.5).collect();
            for scalar in [false, true] {
                let mut o = vec![0.0f32; n];
                unsafe { add(a.as_ptr(), b.as_ptr(), o.as_mut_ptr(), n, scalar) };
                assert!((0..n).all(|i| o[i] == a[i] + b[i]));
                unsafe { mul(a.as_ptr(), b.as_ptr(), o.as_mut_ptr(), n, scalar) };
                assert!((0..n).all(|i| o[i] == a[i] * b[i]));
                let mut inplace = a.clone();
                unsafe { scale(inplace.as_ptr(), inplace.as_mut_ptr(), n, -1.5, scalar) };
                assert!((0..n).all(|i| inplace[i] == a[i] * -1.5));
            }
        }
    }
}
