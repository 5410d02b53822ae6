//! `F32x4` on wasm32 simd128 (+ relaxed-simd when enabled).
use core::arch::wasm32::*;

#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct F32x4(pub v128);

impl F32x4 {
    #[inline(always)]
    pub fn splat(x: f32) -> Self {
        F32x4(f32x4_splat(x))
    }
    #[inline(always)]
    pub fn zero() -> Self {
        F32x4(f32x4_splat(0.0))
    }
    /// Unaligned load of 4 floats.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> Self {
        F32x4(v128_load(p as *const v128))
    }
    /// Unaligned store of 4 floats.
    #[inline(always)]
    pub unsafe fn store(self, p: *mut f32) {
        v128_store(p as *mut v128, self.0)
    }
    #[inline(always)]
    pub fn add(self, b: Self) -> Self {
        F32x4(f32x4_add(self.0, b.0))
    }
    #[inline(always)]
    pub fn sub(self, b: Self) -> Self {
        F32x4(f32x4_sub(self.0, b.0))
    }
    #[inline(always)]
    pub fn mul(self, b: Self) -> Self {
        F32x4(f32x4_mul(self.0, b.0))
    }
    #[inline(always)]
    pub fn div(self, b: Self) -> Self {
        F32x4(f32x4_div(self.0, b.0))
    }
    #[inline(always)]
    pub fn min(self, b: Self) -> Self {
        F32x4(f32x4_pmin(self.0, b.0))
    }
    #[inline(always)]
    pub fn max(self, b: Self) -> Self {
        F32x4(f32x4_pmax(self.0, b.0))
    }
    #[inline(always)]
    pub fn neg(self) -> Self {
        F32x4(f32x4_neg(self.0))
    }
    #[inline(always)]
    pub fn sqrt(self) -> Self {
        F32x4(f32x4_sqrt(self.0))
    }
    /// `self · b + c`; fused (or not, the engine decides) in the relaxed build.
    #[inline(always)]
    pub fn fma(self, b: Self, c: Self) -> Self {
        #[cfg(target_feature = "relaxed-simd")]
        return F32x4(f32x4_relaxed_madd(self.0, b.0, c.0));
        #[cfg(not(target_feature = "relaxed-simd"))]
        return F32x4(f32x4_add(f32x4_mul(self.0, b.0), c.0));
    }
    /// Round to nearest integer (ties to even).
    #[inline(always)]
    pub fn round(self) -> Self {
        F32x4(f32x4_nearest(self.0))
    }
    /// 2^n for lanes holding integers in -126..=127.
    #[inline(always)]
    pub fn pow2i(self) -> Self {
        let n = i32x4_trunc_sat_f32x4(self.0);
        F32x4(i32x4_shl(i32x4_add(n, i32x4_splat(127)), 23))
    }
    #[inline(always)]
    pub fn hsum(self) -> f32 {
        // (l0 + l2) + (l1 + l3): the same order as the portable version.
        let s = f32x4_add(self.0, i32x4_shuffle::<2, 3, 0, 1>(self.0, self.0));
        let s = f32x4_add(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
        f32x4_extract_lane::<0>(s)
    }
    #[inline(always)]
    pub fn hmax(self) -> f32 {
        let s = f32x4_pmax(self.0, i32x4_shuffle::<2, 3, 0, 1>(self.0, self.0));
        let s = f32x4_pmax(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
        f32x4_extract_lane::<0>(s)
    }
}

/// Scalar square root (`f32.sqrt`).
#[inline(always)]
pub fn sqrtf(x: f32) -> f32 {
    f32x4_extract_lane::<0>(f32x4_sqrt(f32x4_splat(x)))
}

#[cfg(target_feature = "relaxed-simd")]
pub fn kat_relaxed_dot() -> bool {
    use super::{dot_i8x16_i7x16_add_ref, KAT_A, KAT_B, KAT_C};
    // black_box: the engine must compute this, not LLVM's constant folder. Two shapes, as
    // kernels use it: one dot into a fresh accumulator, and a loop accumulating 3 dots.
    // (Node 20's flagged implementation returns 2·dot and drops the accumulator.)
    let (a, b, c) = core::hint::black_box((KAT_A, KAT_B, KAT_C));
    let once = dot_i8x16_i7x16_add_ref(&a, &b, &c);
    let mut thrice = c;
    for _ in 0..3 {
        thrice = dot_i8x16_i7x16_add_ref(&a, &b, &thrice);
    }
    let (got_once, got_thrice) = unsafe {
        let va = v128_load(a.as_ptr() as *const v128);
        let vb = v128_load(b.as_ptr() as *const v128);
        let vc = v128_load(c.as_ptr() as *const v128);
        let once = core::hint::black_box(i32x4_relaxed_dot_i8x16_i7x16_add(va, vb, vc));
        let mut acc = vc;
        for _ in 0..core::hint::black_box(3) {
            acc = i32x4_relaxed_dot_i8x16_i7x16_add(va, vb, acc);
        }
        (once, acc)
    };
    lanes_eq(got_once, &once) && lanes_eq(got_thrice, &thrice)
}

#[cfg(target_feature = "relaxed-simd")]
fn lanes_eq(v: v128, want: &[i32; 4]) -> bool {
    i32x4_extract_lane::<0>(v) == want[0]
        && i32x4_extract_lane::<1>(v) == want[1]
        && i32x4_extract_lane::<2>(v) == want[2]
        && i32x4_extract_lane::<3>(v) == want[3]
}
