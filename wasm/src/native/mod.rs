//! The native build (`--features native`, a cdylib for x86-64 / aarch64 loaded over FFI): the same
//! kernels and command lists as the wasm module, on an arena this library maps and threads it owns.
//!
//! Pointer words in commands are offsets from the arena base ([`base`], per thread, set for the
//! length of a run), so the TypeScript recorder writes the same u32 words for both backends.
//! See wasm/ABI.md "Native library" for the exports.

mod arena;
mod ctx;
pub mod futex;
mod pool;

pub use ctx::*;

use core::cell::Cell;

std::thread_local! {
    static BASE: Cell<usize> = const { Cell::new(0) };
}

/// The arena base of the run this thread is part of (0 outside a run: words are addresses).
#[inline(always)]
pub fn base() -> usize {
    BASE.with(|b| b.get())
}

pub(crate) fn set_base(b: usize) {
    BASE.with(|c| c.set(b));
}

/// What the kernels were compiled for: 0 scalar (baseline x86-64), 1 AVX2+FMA, 2 AVX-512 (with
/// VNNI), 3 NEON.
pub const fn simd_level() -> u32 {
    if cfg!(all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512bw")) {
        2
    } else if cfg!(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")) {
        1
    } else if cfg!(all(target_arch = "aarch64", target_feature = "neon")) {
        3
    } else {
        0
    }
}

/// What this CPU can run, same numbering as [`simd_level`] (checked at run time).
pub fn cpu_level() -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let v3 = has!("avx2") && has!("fma") && has!("bmi2") && has!("f16c");
        // The x86-64-v4 library is also built with AVX-512 VNNI (wasm/build-native.sh).
        let v4 = v3 && has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq") && has!("avx512vnni");
        return if v4 { 2 } else if v3 { 1 } else { 0 };
    }
    #[cfg(target_arch = "aarch64")]
    return 3;
    #[allow(unreachable_code)]
    0
}
