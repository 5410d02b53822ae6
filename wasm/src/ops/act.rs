//! SILU, SWIGLU, GELU (f32, flat `n` elements, split by element; in place allowed).
//! The math (and its scalar twins) is in `simd::math`.

use super::elementwise::{map1, map2, SPLIT_STEP};
use crate::graph::{ptr_f32, Args, Ctx};
use crate::simd::math::{gelu4, geluf, silu4, siluf};

/// x·σ(x)
pub unsafe fn silu(x: *const f32, out: *mut f32, n: usize, scalar: bool) {
    map1(x, out, n, scalar, silu4, siluf)
}
/// silu(gate)·up
pub unsafe fn swiglu(gate: *const f32, up: *const f32, out: *mut f32, n: usize, scalar: bool) {
    map2(gate, up, out, n, scalar, |g, u| silu4(g).mul(u), |g, u| siluf(g) * u)
}
/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
pub unsafe fn gelu(x: *const f32, out: *mut f32, n: usize, scalar: bool) {
    map1(x, out, n, scalar, gelu4, geluf)
}

/// SILU: `x, out, n`
#[inline(never)]
pub unsafe fn run_silu(a: &Args, cx: &Ctx) {
    let r = cx.split_aligned(a[2] as usize, SPLIT_STEP);
    silu(ptr_f32(a[0]).add(r.start), ptr_f32(a[1]).add(r.start), r.len(), cx.scalar)
}
/// SWIGLU: `gate, up, out, n`
#[inline(never)]
pub unsafe fn run_swiglu(a: &Args, cx: &Ctx) {
    let r = cx.split_aligned(a[3] as usize, SPLIT_STEP);
    swiglu(ptr_f32(a[0]).add(r.start), ptr_f32(a[1]).add(r.start), ptr_f32(a[2]).add(r.start), r.len(), cx.scalar)
}
/// GELU: `x, out, n`
#[inline(never)]
pub unsafe fn run_gelu(a: &Args, cx: &Ctx) {
    let r = cx.split_aligned(a[2] as usize, SPLIT_STEP);
    gelu(ptr_f32(a[0]).add(r.start), ptr_f32(a[1]).add(r.start), r.len(), cx.scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(n: usize, f: unsafe fn(*const f32, *mut f32, usize, bool), want: fn(f64) -> f64) {
        let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 2003) as f32 / 50.0 - 20.0).collect();
        for scalar in [false, true] {
            let mut o = vec![0.0f32; n];
            unsafe { f(x.as_ptr(), o.as_mut_ptr(), n, scalar) };
            for i in 0..n {
                let w = want(x[i] as f64);
                assert!((o[i] as f64 - w).abs() <= 2e-6 * (1.0 + w.abs()), "x={} got {} want {w}", x[i], o[i]);
            }
        }
    }

    #[test]
    fn silu_gelu_against_f64() {
        for n in [1usize, 3, 17, 4097] {
            check(n, silu, |x| x / (1.0 + (-x).exp()));
            check(n, gelu, |x| 0.5 * x * (1.0 + (0.7978845608028654 * (x + 0.044715 * x * x * x)).tanh()));
        }
    }

    #[test]
    fn swiglu_against_f64() {
        let n = 37;
        let g: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 9.0).collect();
        let u: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.1).collect();
        for scalar in [false, true] {
            let mut o = vec![0.0f32; n];
            unsafe { swiglu(g.as_ptr(), u.as_ptr(), o.as_mut_ptr(), n, scalar) };
            for i in 0..n {
                let (gd, ud) = (g[i] as f64, u[i] as f64);
                let w = gd / (1.0 + (-gd).exp()) * ud;
                assert!((o[i] as f64 - w).abs() <= 2e-6 * (1.0 + w.abs()));
            }
        }
    }
}
