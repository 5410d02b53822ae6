//! The C exports of the native library (wasm/ABI.md "Native library"): a context is an arena
//! plus a thread pool, named by a small integer handle so every FFI passes only u32s.

use super::arena::Mapping;
use super::pool::Pool;
use core::sync::atomic::{AtomicPtr, Ordering::SeqCst};

/// Fields drop in order: the threads are joined before the arena (which they may still be
/// reading, spinning out of a run's last barrier) is unmapped.
struct Context {
    pool: Pool,
    arena: Mapping,
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
    let p = Box::into_raw(Box::new(Context { pool, arena }));
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

/// Runs `n_cmds` commands at arena offset `cmds` on `nth` of the context's threads (clamped to
/// 1..=threads), with the 64-byte barrier block at offset `sync`; returns when all are done.
///
/// # Safety
/// The commands' pointer words are valid offsets for their ops (as `tsr_graph_run`), and
/// only one thread runs a context at a time.
#[no_mangle]
pub unsafe extern "C" fn tsr_native_run(h: u32, cmds: u32, n_cmds: u32, nth: u32, sync: u32) {
    if let Some(c) = get(h) {
        c.pool.run(c.arena.base as usize, cmds, n_cmds as usize, nth as usize, sync);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// SCALE through the exports on 1..=4 threads, many runs: every thread's share is written,
    /// runs on fewer threads than the pool leave the others idle, and contexts come and go.
    #[test]
    fn runs_commands_at_arena_offsets_on_every_thread_count() {
        for _ in 0..3 {
            let h = tsr_native_create(16, 4);
            assert!(h != 0);
            assert_eq!(tsr_native_threads(h), 4);
            let base = tsr_native_base(h);
            let n = 1000usize;
            let (x, out, cmds, sync) = (4096u32, 8192u32, 16384u32, 20480u32);
            unsafe {
                let xs = core::slice::from_raw_parts_mut(base.add(x as usize) as *mut f32, n);
                for (i, v) in xs.iter_mut().enumerate() {
                    *v = i as f32 - 300.0;
                }
                let c = core::slice::from_raw_parts_mut(base.add(cmds as usize) as *mut u32, 16);
                c[..5].copy_from_slice(&[11, x, out, n as u32, 0.5f32.to_bits()]);
                for round in 0..200 {
                    let nth = 1 + round % 4;
                    let o = core::slice::from_raw_parts_mut(base.add(out as usize) as *mut f32, n);
                    o.fill(f32::NAN);
                    tsr_native_run(h, cmds, 1, nth as u32, sync);
                    for (i, v) in o.iter().enumerate() {
                        assert_eq!(*v, (i as f32 - 300.0) * 0.5, "nth {nth} round {round} i {i}");
                    }
                }
            }
            tsr_native_destroy(h);
            assert!(tsr_native_base(h).is_null());
        }
    }
}
