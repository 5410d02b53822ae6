//! The C exports of the native library (wasm/ABI.md "Native library"): a context is an arena
//! plus a thread pool, named by a small integer handle so every FFI passes only u32s.

use super::arena::Mapping;
use super::pool::Pool;
use core::sync::atomic::{AtomicPtr, Ordering::SeqCst};

struct Context {
    arena: Mapping,
    pool: Pool,
}

const MAX_CONTEXTS: usize = 256;
static CONTEXTS: [AtomicPtr<Context>; MAX_CONTEXTS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CONTEXTS];

fn get(h: u32) -> Option<&'static Context> {
    let p = CONTEXTS.get(h.wrapping_sub(1) as usize)?.load(SeqCst);
    unsafe { p.as_ref() }
}

/// Must equal `NATIVE_ABI_VERSION` in `src/backend/native/abi.ts`.
pub const NATIVE_ABI_VERSION: u32 = 1;

#[no_mangle]
pub extern "C" fn tsr_native_abi_version() -> u32 {
    NATIVE_ABI_VERSION
}

/// What the kernels were compiled for (0 scalar, 1 AVX2, 2 AVX-512, 3 NEON).
#[no_mangle]
pub extern "C" fn tsr_native_simd_level() -> u32 {
    super::simd_level()
}

/// What this CPU supports, same numbering.
#[no_mangle]
pub extern "C" fn tsr_native_cpu_level() -> u32 {
    super::cpu_level()
}

/// A context with an arena of `reserve_mib` MiB (≤ 4096: offsets are u32) and `n_threads`
/// threads counting the caller. Returns its handle (≥ 1), or 0 when the arena or a thread
/// could not be created.
#[no_mangle]
pub extern "C" fn tsr_native_create(reserve_mib: u32, n_threads: u32) -> u32 {
    let len = (reserve_mib.clamp(1, 4096) as usize) << 20;
    let Some(arena) = Mapping::new(len) else { return 0 };
    let Some(pool) = Pool::new(n_threads.clamp(1, 1024) as usize) else { return 0 };
    let p = Box::into_raw(Box::new(Context { arena, pool }));
    for (i, slot) in CONTEXTS.iter().enumerate() {
        if slot.compare_exchange(core::ptr::null_mut(), p, SeqCst, SeqCst).is_ok() {
            return i as u32 + 1;
        }
    }
    drop(unsafe { Box::from_raw(p) });
    0
}

/// The arena's first byte (offset 0 of every pointer word); null for a bad handle.
#[no_mangle]
pub extern "C" fn tsr_native_base(h: u32) -> *mut u8 {
    get(h).map_or(core::ptr::null_mut(), |c| c.arena.base)
}

/// Threads of the context (0 for a bad handle).
#[no_mangle]
pub extern "C" fn tsr_native_threads(h: u32) -> u32 {
    get(h).map_or(0, |c| c.pool.n_threads() as u32)
}

/// Runs `n_cmds` commands at arena offset `cmds` on all the context's threads, with the
/// 64-byte barrier block at offset `sync`; returns when every thread is done.
///
/// # Safety
/// The commands' pointer words are valid offsets for their ops (as `tsr_graph_run`), and
/// only one thread runs a context at a time.
#[no_mangle]
pub unsafe extern "C" fn tsr_native_run(h: u32, cmds: u32, n_cmds: u32, sync: u32) {
    if let Some(c) = get(h) {
        c.pool.run(c.arena.base as usize, cmds, n_cmds as usize, sync);
    }
}

/// Runs the list on the calling thread alone (profiling, tests).
///
/// # Safety
/// As [`tsr_native_run`].
#[no_mangle]
pub unsafe extern "C" fn tsr_native_run1(h: u32, cmds: u32, n_cmds: u32, sync: u32) {
    if let Some(c) = get(h) {
        let base = c.arena.base as usize;
        super::set_base(base);
        crate::graph::run((base + cmds as usize) as *const u32, n_cmds as usize, 0, 1, (base + sync as usize) as *mut u32);
        super::set_base(0);
    }
}

/// Joins the threads and unmaps the arena; views of it are invalid afterwards.
#[no_mangle]
pub extern "C" fn tsr_native_destroy(h: u32) {
    if let Some(slot) = CONTEXTS.get(h.wrapping_sub(1) as usize) {
        let p = slot.swap(core::ptr::null_mut(), SeqCst);
        if !p.is_null() {
            drop(unsafe { Box::from_raw(p) });
        }
    }
}
