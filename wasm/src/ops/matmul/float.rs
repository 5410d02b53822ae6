//! F32, F16 and BF16 weights. As in ggml, F16/BF16 weights are multiplied with activations
//! rounded to the same type (phase 1 wrote them to scratch), F32 with `x` itself; products
//! are summed in f32.

use super::Mm;
use crate::f16::{bf16_to_f32, f16_to_f32};
use crate::ops::quant::{self, read_u16};

/// One element type: its size and how to read element `i` at `p` (unaligned).
pub trait Kind {
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    const SIZE: usize;
    unsafe fn get(p: *const u8, i: usize) -> f32;
    /// 8 elements as two f32x4; F16/BF16 give `[even, odd]` elements (the same split for
    /// weights and activations, so their dot product is unchanged).
    #[cfg(target_arch = "wasm32")]
    unsafe fn load8(p: *const u8) -> [core::arch::wasm32::v128; 2];
}

pub struct F32;
pub struct F16;
pub struct Bf16;

impl Kind for F32 {
    const SIZE: usize = 4;
    #[inline(always)]
    unsafe fn get(p: *const u8, i: usize) -> f32 {
        (p as *const f32).add(i).read_unaligned()
    }
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    unsafe fn load8(p: *const u8) -> [core::arch::wasm32::v128; 2] {
        use core::arch::wasm32::{v128, v128_load};
        [v128_load(p as *const v128), v128_load(p.add(16) as *const v128)]
    }
}

impl Kind for F16 {
    const SIZE: usize = 2;
    #[inline(always)]
    unsafe fn get(p: *const u8, i: usize) -> f32 {
        f16_to_f32(read_u16(p.add(2 * i)))
    }
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    unsafe fn load8(p: *const u8) -> [core::arch::wasm32::v128; 2] {
        use core::arch::wasm32::{v128, v128_load};
        super::wasm::f16x8_to_f32_even_odd(v128_load(p as *const v128))
    }
}

impl Kind for Bf16 {
    const SIZE: usize = 2;
    #[inline(always)]
    unsafe fn get(p: *const u8, i: usize) -> f32 {
        bf16_to_f32(read_u16(p.add(2 * i)))
    }
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    unsafe fn load8(p: *const u8) -> [core::arch::wasm32::v128; 2] {
        use core::arch::wasm32::{v128, v128_load};
        super::wasm::bf16x8_to_f32_even_odd(v128_load(p as *const v128))
    }
}

/// Row `t` of the activations in the dot type: `x` for F32 weights, else scratch.
#[inline(always)]
unsafe fn act_row(m: &Mm, t: usize) -> *const u8 {
    if m.wtype == quant::F32 {
        m.x.add(t * m.n_in) as *const u8
    } else {
        m.scratch.add(t * m.n_in * 2)
    }
}

#[inline(always)]
unsafe fn dot_kind<K: Kind>(w: *const u8, x: *const u8, n: usize) -> f32 {
    let mut sum = 0.0f32;
    for i in 0..n {
        sum += K::get(w, i) * K::get(x, i);
    }
    sum
}

/// Scalar twin: `out[t][r]`, summed in element order.
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize) -> f32 {
    let (w, x) = (m.row(r), act_row(m, t));
    match m.wtype {
        quant::F16 => dot_kind::<F16>(w, x, m.n_in),
        quant::BF16 => dot_kind::<Bf16>(w, x, m.n_in),
        _ => dot_kind::<F32>(w, x, m.n_in),
    }
}

#[cfg(target_arch = "wasm32")]
pub use simd::Simd;

#[cfg(target_arch = "wasm32")]
mod simd {
    use super::super::wasm::{fma, hsum};
    use super::super::Mm;
    use super::{act_row, Kind};
    use core::arch::wasm32::*;
    use core::marker::PhantomData;

    pub struct Simd<K: Kind>(PhantomData<K>);

    impl<K: Kind> Simd<K> {
        pub fn new(_m: &Mm) -> Self {
            Simd(PhantomData)
        }

        /// `out[t][r]` for `r0..r0+R` × `t0..t0+T`.
        #[inline(always)]
        pub unsafe fn tile<const R: usize, const T: usize>(&self, m: &Mm, r0: usize, t0: usize) {
            let mut wrow = [core::ptr::null::<u8>(); R];
            for (r, p) in wrow.iter_mut().enumerate() {
                *p = m.row(r0 + r);
            }
            let mut xrow = [core::ptr::null::<u8>(); T];
            for (t, p) in xrow.iter_mut().enumerate() {
                *p = act_row(m, t0 + t);
            }
            let zero = f32x4_splat(0.0);
            let mut acc = [[zero; T]; R];
            let n8 = m.n_in / 8;
            for i in 0..n8 {
                let off = i * 8 * K::SIZE;
                if T == 1 {
                    // Decode: x first, then each row's chunk used once, at once.
                    let xv = K::load8(xrow[0].add(off));
                    unroll!(r < R, {
                        let wv = K::load8(wrow[r].add(off));
                        acc[r][0] = fma(wv[1], xv[1], fma(wv[0], xv[0], acc[r][0]));
                    });
                } else {
                    let mut wv = [[zero; 2]; R];
                    unroll!(r < R, {
                        wv[r] = K::load8(wrow[r].add(off));
                    });
                    unroll!(t < T, {
                        let xv = K::load8(xrow[t].add(off));
                        unroll!(r < R, {
                            acc[r][t] = fma(wv[r][1], xv[1], fma(wv[r][0], xv[0], acc[r][t]));
                        });
                    });
                }
            }
            unroll!(r < R, {
                unroll!(t < T, {
                    let mut tail = 0.0f32;
                    for i in n8 * 8..m.n_in {
                        tail += K::get(wrow[r], i) * K::get(xrow[t], i);
                    }
                    m.set_out(t0 + t, r0 + r, hsum(acc[r][t]) + tail);
                });
            });
        }
    }
}
