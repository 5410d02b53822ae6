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

/// `f(a[i], b[i % n_b])` for this thread's share of `0..n` (`n_b` = 0: b as long as a).
#[inline(always)]
unsafe fn run_binary(a: &Args, cx: &Ctx, f: unsafe fn(*const f32, *const f32, *mut f32, usize, bool)) {
    let (x, b, out, n) = (ptr_f32(a[0]), ptr_f32(a[1]), ptr_f32(a[2]), a[3] as usize);
    let n_b = if a[4] == 0 { n } else { a[4] as usize };
    binary_range(x, b, out, n_b, cx.split_aligned(n, SPLIT_STEP), cx.scalar, f)
}

/// Elements `r` of `out[i] = f(a[i], b[i % n_b])`, in runs that don't wrap around b.
#[inline(always)]
unsafe fn binary_range(
    a: *const f32,
    b: *const f32,
    out: *mut f32,
    n_b: usize,
    r: core::ops::Range<usize>,
    scalar: bool,
    f: unsafe fn(*const f32, *const f32, *mut f32, usize, bool),
) {
    let mut i = r.start;
    while i < r.end {
        let off = i % n_b;
        let len = (r.end - i).min(n_b - off);
        f(a.add(i), b.add(off), out.add(i), len, scalar);
        i += len;
    }
}

/// ADD: `a, b, out, n, n_b` — `out[i] = a[i] + b[i % n_b]` (n_b = 0: n; a bias added to every row).
#[inline(never)]
pub unsafe fn run_add(a: &Args, cx: &Ctx) {
    run_binary(a, cx, add)
}
/// MUL: `a, b, out, n, n_b` — `out[i] = a[i] · b[i % n_b]`.
#[inline(never)]
pub unsafe fn run_mul(a: &Args, cx: &Ctx) {
    run_binary(a, cx, mul)
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
    fn broadcast_add_over_threads() {
        // n_b = 7: b repeats every 7 values; 3 threads' shares together give the whole result.
        let n = 1000usize;
        let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..7).map(|i| i as f32 * 100.0).collect();
        let mut out = vec![0.0f32; n];
        let sync = crate::graph::Barrier::new();
        for ith in 0..3 {
            let cx = Ctx { ith, nth: 3, scalar: false, sync: &sync };
            let r = cx.split_aligned(n, SPLIT_STEP);
            unsafe { binary_range(a.as_ptr(), b.as_ptr(), out.as_mut_ptr(), 7, r, ith == 1, add) };
        }
        for i in 0..n {
            assert_eq!(out[i], a[i] + b[i % 7], "at {i}");
        }
    }

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
