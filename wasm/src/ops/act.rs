//! SILU, SWIGLU, GELU/GEGLU, SOFTCAP (f32, flat `n` elements, split by element; in place allowed).
//! The math (and its scalar twins) is in `simd::math`.

use super::elementwise::{map1, map2, SPLIT_STEP};
use crate::f16::{f16_to_f32, f32_to_f16};
use crate::graph::{f32_arg, ptr_f32, Args, Ctx};
use crate::simd::math::{gelu4, geluf, silu4, siluf, tanhf};

/// GELU `flags` bit 0: ggml's f16 table (GGML_GELU_FP16): 0 for x ≤ −10, x for x ≥ 10, else
/// `f16(gelu(f16(x)))`.
pub const GELU_GGML_F16: u32 = 1;

/// ggml's table GELU of one value.
#[inline(always)]
pub fn gelu_ggml(x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        // ggml_gelu_f32 (tanhf keeps e.g. tanh(−9.47) = −1 + 2^-24 that 1 − 2/(e^{2y}+1) loses).
        let h = f16_to_f32(f32_to_f16(x));
        let t = tanhf(0.797_884_6 * h * (1.0 + 0.044_715 * h * h));
        f16_to_f32(f32_to_f16(0.5 * h * (1.0 + t)))
    }
}

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
/// GELU: `x, out, n, up, flags` — `gelu(x)`, times `up[i]` when `up` ≠ 0 (GEGLU); flags: [`GELU_GGML_F16`].
#[inline(never)]
pub unsafe fn run_gelu(a: &Args, cx: &Ctx) {
    let r = cx.split_aligned(a[2] as usize, SPLIT_STEP);
    let (x, out, up) = (ptr_f32(a[0]).add(r.start), ptr_f32(a[1]).add(r.start), a[3]);
    let ggml = a[4] & GELU_GGML_F16 != 0;
    match (up != 0, ggml) {
        (false, false) => gelu(x, out, r.len(), cx.scalar),
        (true, false) => map2(x, ptr_f32(up).add(r.start), out, r.len(), cx.scalar, |g, u| gelu4(g).mul(u), |g, u| geluf(g) * u),
        (false, true) => {
            for i in 0..r.len() {
                *out.add(i) = gelu_ggml(*x.add(i));
            }
        }
        (true, true) => {
            let u = ptr_f32(up).add(r.start);
            for i in 0..r.len() {
                *out.add(i) = gelu_ggml(*x.add(i)) * *u.add(i);
            }
        }
    }
}

/// SOFTCAP: `x, out, n, cap` — `tanh(x·(1/cap))·cap`, ggml's scale, tanh, scale (Gemma 2's logits).
#[inline(never)]
pub unsafe fn run_softcap(a: &Args, cx: &Ctx) {
    let r = cx.split_aligned(a[2] as usize, SPLIT_STEP);
    let (x, out, cap) = (ptr_f32(a[0]).add(r.start), ptr_f32(a[1]).add(r.start), f32_arg(a[3]));
    let inv = 1.0 / cap;
    for i in 0..r.len() {
        *out.add(i) = tanhf(*x.add(i) * inv) * cap;
    }
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
    fn ggml_table_gelu() {
        // Against ggml_gelu_f32 evaluated in f32 as ggml does (tanh correctly rounded, then
        // 0.5f·x·(1.0f + t)) on the f16-rounded input, the result rounded to f16. Our GELU's f32
        // tanh may differ by an ulp or two, so an adjacent f16 value is accepted only when that
        // reference lies within 4e-6 (relative) of the midpoint of the two.
        let half = |x: f32| f16_to_f32(f32_to_f16(x));
        let reference = |x: f32| -> (f32, f32) {
            if x <= -10.0 {
                return (0.0, 0.0);
            }
            if x >= 10.0 {
                return (x, x);
            }
            let h = half(x);
            let t = ((0.7978845608028654 * (h as f64) * (1.0 + 0.044715 * (h as f64) * (h as f64))).tanh()) as f32;
            let g = 0.5f32 * h * (1.0f32 + t);
            (half(g), g)
        };
        let (mut x, mut checked, mut ties) = (-12.0f32, 0, 0);
        while x < 12.0 {
            let got = gelu_ggml(x);
            let (want, g32) = reference(x);
            if got != want {
                ties += 1;
                let mid = (got + want) / 2.0;
                assert!((g32 - mid).abs() <= 4e-6 * g32.abs() + 1e-10, "x={x}: {got} vs {want} (f32 {g32})");
            }
            checked += 1;
            x += 0.00917;
        }
        assert!(checked > 2000 && ties * 100 < checked, "{ties} of {checked} differ");
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
