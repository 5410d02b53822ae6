//! `F32x4` as a plain array: the native stand-in (cargo test), same lane semantics as wasm32.

#[derive(Clone, Copy)]
pub struct F32x4(pub [f32; 4]);

#[inline(always)]
fn map(a: F32x4, f: impl Fn(f32) -> f32) -> F32x4 {
    F32x4([f(a.0[0]), f(a.0[1]), f(a.0[2]), f(a.0[3])])
}
#[inline(always)]
fn zip(a: F32x4, b: F32x4, f: impl Fn(f32, f32) -> f32) -> F32x4 {
    F32x4([f(a.0[0], b.0[0]), f(a.0[1], b.0[1]), f(a.0[2], b.0[2]), f(a.0[3], b.0[3])])
}

impl F32x4 {
    #[inline(always)]
    pub fn splat(x: f32) -> Self {
        F32x4([x; 4])
    }
    #[inline(always)]
    pub fn zero() -> Self {
        F32x4([0.0; 4])
    }
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> Self {
        F32x4((p as *const [f32; 4]).read_unaligned())
    }
    #[inline(always)]
    pub unsafe fn store(self, p: *mut f32) {
        (p as *mut [f32; 4]).write_unaligned(self.0)
    }
    #[inline(always)]
    pub fn add(self, b: Self) -> Self {
        zip(self, b, |x, y| x + y)
    }
    #[inline(always)]
    pub fn sub(self, b: Self) -> Self {
        zip(self, b, |x, y| x - y)
    }
    #[inline(always)]
    pub fn mul(self, b: Self) -> Self {
        zip(self, b, |x, y| x * y)
    }
    #[inline(always)]
    pub fn div(self, b: Self) -> Self {
        zip(self, b, |x, y| x / y)
    }
    /// `pmin` semantics: `b < a ? b : a`.
    #[inline(always)]
    pub fn min(self, b: Self) -> Self {
        zip(self, b, |x, y| if y < x { y } else { x })
    }
    /// `pmax` semantics: `a < b ? b : a`.
    #[inline(always)]
    pub fn max(self, b: Self) -> Self {
        zip(self, b, |x, y| if x < y { y } else { x })
    }
    #[inline(always)]
    pub fn neg(self) -> Self {
        map(self, |x| -x)
    }
    #[inline(always)]
    pub fn sqrt(self) -> Self {
        map(self, sqrtf)
    }
    #[inline(always)]
    pub fn fma(self, b: Self, c: Self) -> Self {
        self.mul(b).add(c)
    }
    #[inline(always)]
    pub fn round(self) -> Self {
        map(self, round_even)
    }
    #[inline(always)]
    pub fn pow2i(self) -> Self {
        map(self, |n| f32::from_bits(((n as i32 + 127) as u32) << 23))
    }
    #[inline(always)]
    pub fn hsum(self) -> f32 {
        let a = self.0;
        (a[0] + a[2]) + (a[1] + a[3])
    }
    #[inline(always)]
    pub fn hmax(self) -> f32 {
        let m = |x: f32, y: f32| if x < y { y } else { x };
        m(m(self.0[0], self.0[2]), m(self.0[1], self.0[3]))
    }
}

/// Round half to even for |x| < 2^22 (all exp() needs).
fn round_even(x: f32) -> f32 {
    const M: f32 = 12582912.0; // 1.5 · 2^23
    (x + M) - M
}

/// Scalar square root: SSE on x86-64, Newton iterations elsewhere.
#[inline(always)]
pub fn sqrtf(x: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        use core::arch::x86_64::*;
        return _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(x)));
    }
    #[allow(unreachable_code)]
    {
        if x <= 0.0 || x != x || x == f32::INFINITY {
            return if x == 0.0 || x == f32::INFINITY { x } else { f32::NAN };
        }
        let mut y = f32::from_bits((x.to_bits() >> 1) + 0x1fc0_0000);
        for _ in 0..4 {
            y = 0.5 * (y + x / y);
        }
        y
    }
}
