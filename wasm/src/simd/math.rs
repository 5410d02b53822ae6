//! exp, sigmoid, SiLU and tanh-GELU on [`F32x4`], each with a scalar twin that follows the
//! same steps lane by lane (core has no libm in `no_std`).
//!
//! exp: Cephes `expf`. x = n·ln2 + r with n = round(x·log2 e), |r| ≤ ln2/2, degree-5
//! polynomial for e^r, times 2^n built in the exponent bits. Relative error ≲ 2 ulp on
//! [-87.3, 88]; inputs are clamped there (so exp(-1000) ≈ 1.2e-38, not 0).

use super::F32x4;

const EXP_LO: f32 = -87.336_55;
const EXP_HI: f32 = 88.0;
const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;
const P0: f32 = 1.987_569_1e-4;
const P1: f32 = 1.398_199_9e-3;
const P2: f32 = 8.333_452e-3;
const P3: f32 = 4.166_579_6e-2;
const P4: f32 = 1.666_666_5e-1;
const P5: f32 = 5.000_000_1e-1;
/// √(2/π) and the cubic coefficient of ggml's tanh GELU.
pub const GELU_K: f32 = 0.797_884_6;
pub const GELU_A: f32 = 0.044_715;

#[inline(always)]
pub fn exp4(x: F32x4) -> F32x4 {
    let x = x.max(F32x4::splat(EXP_LO)).min(F32x4::splat(EXP_HI));
    let n = x.mul(F32x4::splat(LOG2E)).round();
    let r = x.sub(n.mul(F32x4::splat(LN2_HI))).sub(n.mul(F32x4::splat(LN2_LO)));
    let mut p = F32x4::splat(P0);
    p = p.mul(r).add(F32x4::splat(P1));
    p = p.mul(r).add(F32x4::splat(P2));
    p = p.mul(r).add(F32x4::splat(P3));
    p = p.mul(r).add(F32x4::splat(P4));
    p = p.mul(r).add(F32x4::splat(P5));
    let e = p.mul(r.mul(r)).add(r).add(F32x4::splat(1.0));
    e.mul(n.pow2i())
}

/// Scalar twin of [`exp4`].
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    let x = if x < EXP_LO { EXP_LO } else if x > EXP_HI { EXP_HI } else { x };
    let n = round_even(x * LOG2E);
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = P0;
    p = p * r + P1;
    p = p * r + P2;
    p = p * r + P3;
    p = p * r + P4;
    p = p * r + P5;
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// x·σ(x) = x / (1 + e^-x)
#[inline(always)]
pub fn silu4(x: F32x4) -> F32x4 {
    x.div(F32x4::splat(1.0).add(exp4(x.neg())))
}
#[inline(always)]
pub fn siluf(x: f32) -> f32 {
    x / (1.0 + expf(-x))
}

/// ggml's GELU: 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))), tanh(y) = 1 − 2/(e^{2y} + 1).
#[inline(always)]
pub fn gelu4(x: F32x4) -> F32x4 {
    let one = F32x4::splat(1.0);
    let y = x.mul(F32x4::splat(GELU_K)).mul(one.add(F32x4::splat(GELU_A).mul(x).mul(x)));
    let t = one.sub(F32x4::splat(2.0).div(exp4(y.add(y)).add(one)));
    F32x4::splat(0.5).mul(x).mul(one.add(t))
}
#[inline(always)]
pub fn geluf(x: f32) -> f32 {
    let y = GELU_K * x * (1.0 + GELU_A * x * x);
    let t = 1.0 - 2.0 / (expf(y + y) + 1.0);
    0.5 * x * (1.0 + t)
}

/// tanh(x): an odd Taylor polynomial near 0 (where 1 − 2/(e^{2x}+1) would cancel), that formula
/// elsewhere, ±1 beyond |x| = 9. Absolute error < 2e-7.
#[inline(always)]
pub fn tanhf(x: f32) -> f32 {
    let a = if x < 0.0 { -x } else { x };
    let t = if a < 0.125 {
        let a2 = a * a;
        a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0))))
    } else if a > 9.0 {
        1.0
    } else {
        1.0 - 2.0 / (expf(a + a) + 1.0)
    };
    if x < 0.0 { -t } else { t }
}

/// Round half to even, |x| < 2^22 (the trick keeps it identical to `f32x4.nearest`).
#[inline(always)]
fn round_even(x: f32) -> f32 {
    const M: f32 = 12_582_912.0; // 1.5 · 2^23
    (x + M) - M
}

/// Scalar square root.
#[inline(always)]
pub fn sqrtf(x: f32) -> f32 {
    #[cfg(target_arch = "wasm32")]
    return super::wasm32::sqrtf(x);
    #[cfg(not(target_arch = "wasm32"))]
    return super::portable::sqrtf(x);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(f: fn(F32x4) -> F32x4, x: f32) -> f32 {
        let mut o = [0.0f32; 4];
        unsafe { f(F32x4::splat(x)).store(o.as_mut_ptr()) };
        o[0]
    }

    #[test]
    fn exp_matches_std() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            for got in [expf(x) as f64, lanes(exp4, x) as f64] {
                assert!(((got - want) / want).abs() < 3e-7, "exp({x}) = {got}, want {want}");
            }
            x += 0.0137;
        }
        assert_eq!(expf(0.0), 1.0);
    }

    #[test]
    fn silu_gelu_match_std() {
        let mut x = -30.0f32;
        while x < 30.0 {
            let xd = x as f64;
            let silu = xd / (1.0 + (-xd).exp());
            let gelu = 0.5 * xd * (1.0 + (0.7978845608028654 * xd * (1.0 + 0.044715 * xd * xd)).tanh());
            for got in [siluf(x) as f64, lanes(silu4, x) as f64] {
                assert!((got - silu).abs() <= 1e-6 * (1.0 + silu.abs()), "silu({x}) = {got}, want {silu}");
            }
            for got in [geluf(x) as f64, lanes(gelu4, x) as f64] {
                assert!((got - gelu).abs() <= 1e-6 * (1.0 + gelu.abs()), "gelu({x}) = {got}, want {gelu}");
            }
            x += 0.0173;
        }
    }

    #[test]
    fn tanh_matches_std() {
        let mut x = -12.0f32;
        while x < 12.0 {
            let want = (x as f64).tanh();
            assert!((tanhf(x) as f64 - want).abs() < 2e-7, "tanh({x}) = {}, want {want}", tanhf(x));
            x += 0.00731;
        }
        assert_eq!(tanhf(0.0), 0.0);
    }

    #[test]
    fn sqrt_is_exact() {
        for x in [0.0f32, 1.0, 2.0, 1e-30, 3.5e30, 12345.678] {
            assert_eq!(sqrtf(x), (x as f64).sqrt() as f32);
        }
    }
}
