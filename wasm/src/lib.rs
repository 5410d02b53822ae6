//! Tessera's compute core: dependency-free `no_std` kernels driven by command lists.
//!
//! The contract with the TypeScript side is `wasm/ABI.md`: the `tsr_*` exports below,
//! the command format (16 `u32` words) and the op table dispatched in [`graph`].
//! The crate is also an rlib so `cargo test` runs the kernels natively (x86-64),
//! where `simd::F32x4` is a plain 4-lane array and `cx.scalar` selects the twins.
#![cfg_attr(not(any(test, feature = "native")), no_std)]
#![cfg_attr(target_arch = "wasm32", feature(stdarch_wasm_atomic_wait))]

pub mod f16;
pub mod graph;
#[cfg(feature = "native")]
pub mod native;
pub mod ops;
pub mod simd;

/// Must equal `ABI_VERSION` in `src/backend/wasm/abi.ts`.
pub const ABI_VERSION: u32 = 2;

#[cfg(all(not(test), not(feature = "native"), target_arch = "wasm32"))]
#[panic_handler]
fn on_panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(all(not(test), not(feature = "native"), not(target_arch = "wasm32")))]
#[panic_handler]
fn on_panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[no_mangle]
pub extern "C" fn tsr_abi_version() -> u32 {
    ABI_VERSION
}

/// First free byte above the module's data and stack; the TypeScript arena starts here.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn tsr_heap_base() -> u32 {
    extern "C" {
        static __heap_base: u8;
    }
    core::ptr::addr_of!(__heap_base) as usize as u32
}

/// Bit 0: built with relaxed-simd.
#[no_mangle]
pub extern "C" fn tsr_features() -> u32 {
    simd::RELAXED as u32
}

/// 1 forces every kernel onto its scalar twin (tests only). The flag lives in the shared
/// memory, so it applies to every instance (thread) that shares it.
#[no_mangle]
pub extern "C" fn tsr_set_scalar(on: u32) {
    graph::set_scalar(on != 0);
}

/// Runs `n_cmds` commands of 16 words at `cmds`, as thread `ith` of `nth`; see `graph::run`.
#[no_mangle]
pub unsafe extern "C" fn tsr_graph_run(cmds: u32, n_cmds: u32, ith: u32, nth: u32, sync: u32) {
    graph::run(cmds as usize as *const u32, n_cmds as usize, ith as usize, nth as usize, sync as usize as *mut u32);
}

/// Relaxed build: 1 when `i32x4.relaxed_dot_i8x16_i7x16_add` gives the exact answer on inputs
/// where known-wrong implementations (Node 20's flagged one) differ. Plain build: 0.
#[no_mangle]
pub extern "C" fn tsr_kat_relaxed_dot() -> u32 {
    simd::kat_relaxed_dot() as u32
}
