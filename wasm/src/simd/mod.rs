//! The vector width, hidden behind one small type: [`F32x4`] (4 f32 lanes).
//!
//! On wasm32 it wraps `v128` (`wasm32.rs`); elsewhere (native `cargo test`) it is a plain
//! `[f32; 4]` (`portable.rs`) with the same lane semantics, so kernels are written once and
//! tested natively. `fma` is `relaxed_madd` in the relaxed build and `mul`+`add` otherwise;
//! both builds come from this source via `cfg(target_feature = "relaxed-simd")`.
//! [`math`] holds exp/sigmoid/tanh in vector form and their scalar twins.
//!
//! Kernels that need integer SIMD (quant dot products) use `core::arch::wasm32` directly
//! behind the same cfg, with a scalar twin.

#[cfg(target_arch = "wasm32")]
mod wasm32;
#[cfg(target_arch = "wasm32")]
pub use wasm32::F32x4;

#[cfg(not(target_arch = "wasm32"))]
mod portable;
#[cfg(not(target_arch = "wasm32"))]
pub use portable::F32x4;

pub mod math;

/// f32 lanes per vector.
pub const LANES: usize = 4;

/// Built with relaxed-simd (`tsr_features` bit 0).
pub const RELAXED: bool = cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd"));

/// Known-answer test of `i32x4.relaxed_dot_i8x16_i7x16_add`; false in builds without it.
pub fn kat_relaxed_dot() -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    return wasm32::kat_relaxed_dot();
    #[allow(unreachable_code)]
    false
}

/// Exact reference of `relaxed_dot_i8x16_i7x16_add(a, b, c)` for `b` in 0..=127:
/// lane i = c[i] + Σ_{k<4} a[4i+k]·b[4i+k] (the spec's i16 pair sums cannot overflow there).
pub fn dot_i8x16_i7x16_add_ref(a: &[i8; 16], b: &[i8; 16], c: &[i32; 4]) -> [i32; 4] {
    let mut out = *c;
    for (i, o) in out.iter_mut().enumerate() {
        for k in 0..4 {
            *o += a[4 * i + k] as i32 * b[4 * i + k] as i32;
        }
    }
    out
}

/// KAT inputs: `a` spans the full i8 range (negative values, -128), `b` stays in 0..=127 where
/// the result is deterministic, and pairs reach ±32512 so an implementation that swaps the
/// signedness of the operands or saturates early gives a different answer.
pub const KAT_A: [i8; 16] = [-128, -128, -1, 7, 127, -128, 100, -99, -1, -2, -3, -4, 64, -64, 0, 1];
pub const KAT_B: [i8; 16] = [127, 127, 127, 3, 127, 127, 1, 126, 127, 126, 125, 124, 127, 127, 5, 127];
pub const KAT_C: [i32; 4] = [1000, -7, 0, 123456];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kat_reference_is_exact() {
        // Hand-computed: lane0 1000 -16256 -16256 -127 +21, lane1 -7 +16129 -16256 +100 -12474,
        // lane2 -127 -252 -375 -496, lane3 123456 +8128 -8128 +0 +127.
        assert_eq!(dot_i8x16_i7x16_add_ref(&KAT_A, &KAT_B, &KAT_C), [-31618, -12508, -1250, 123583]);
    }

    #[test]
    fn lanes_behave() {
        let a = [1.0f32, -2.0, 3.5, 4.0];
        let b = [0.5f32, 2.0, -1.0, 8.0];
        let mut out = [0.0f32; 4];
        unsafe {
            let (va, vb) = (F32x4::load(a.as_ptr()), F32x4::load(b.as_ptr()));
            va.fma(vb, F32x4::splat(1.0)).store(out.as_mut_ptr());
            assert_eq!(out, [1.5, -3.0, -2.5, 33.0]);
            assert_eq!(va.hsum(), 6.5);
            assert_eq!(vb.hmax(), 8.0);
            va.max(vb).store(out.as_mut_ptr());
            assert_eq!(out, [1.0, 2.0, 3.5, 8.0]);
        }
    }
}
