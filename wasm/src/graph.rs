//! Command-list interpreter, per-thread context and the barrier between commands.
//!
//! A command is 16 `u32` words: word 0 the op code (ABI.md), words 1..15 its [`Args`].
//! Every thread runs the whole list; each op takes its share via [`Ctx::split`] and all
//! threads meet at [`Ctx::barrier`] after every command.

use crate::ops;
use core::ops::Range;
use core::sync::atomic::{AtomicU32, Ordering::SeqCst};

/// Words 1..15 of a command.
pub type Args = [u32; 15];
pub const CMD_WORDS: usize = 16;

/// What each op receives besides its arguments.
pub struct Ctx<'a> {
    /// This thread's index, `0..nth` (0 = the caller's main thread).
    pub ith: usize,
    pub nth: usize,
    /// Use the scalar twin of every kernel (`tsr_set_scalar`).
    pub scalar: bool,
    pub(crate) sync: &'a Barrier,
}

impl Ctx<'_> {
    /// All `nth` threads meet here; writes before it are visible to every thread after it.
    #[inline]
    pub fn barrier(&self) {
        if self.nth > 1 {
            self.sync.wait(self.nth as u32);
        }
    }

    /// This thread's share of `0..n`: contiguous, sizes differ by at most 1.
    #[inline]
    pub fn split(&self, n: usize) -> Range<usize> {
        split_range(n, self.ith, self.nth)
    }

    /// Dynamic scheduling: the next unclaimed chunk index of the `k`-th command since the last
    /// barrier (counters are zeroed by every barrier; `k < CHUNK_COUNTERS`). Every thread calls
    /// it until it returns `≥ n_chunks`; which thread gets which chunk varies, so an op that uses
    /// it must compute each chunk the same way wherever it runs.
    #[inline]
    pub fn next_chunk(&self, k: usize) -> usize {
        self.sync.chunks[k].fetch_add(1, SeqCst) as usize
    }

    /// Like [`split`](Self::split) but every boundary is a multiple of `step`
    /// (the last range ends at `n`), e.g. to keep SIMD blocks or cache lines whole.
    #[inline]
    pub fn split_aligned(&self, n: usize, step: usize) -> Range<usize> {
        let blocks = n.div_ceil(step);
        let r = split_range(blocks, self.ith, self.nth);
        (r.start * step).min(n)..(r.end * step).min(n)
    }
}

/// Share `ith` of `0..n` split into `nth` contiguous, balanced ranges.
#[inline]
pub fn split_range(n: usize, ith: usize, nth: usize) -> Range<usize> {
    let base = n / nth;
    let extra = n % nth;
    let start = ith * base + ith.min(extra);
    let len = base + (ith < extra) as usize;
    start..start + len
}

// ---- argument helpers ----
// Pointer words are byte addresses in the wasm memory, or natively offsets from the calling
// thread's arena base (`native::base`): `addr` is the one place that tells them apart.

/// The address that pointer word `w` names: wasm32: `w` itself; native: arena base + `w`.
#[inline(always)]
pub fn addr(w: u32) -> usize {
    #[cfg(feature = "native")]
    return crate::native::base() + w as usize;
    #[cfg(not(feature = "native"))]
    return w as usize;
}

#[inline(always)]
pub fn f32_arg(w: u32) -> f32 {
    f32::from_bits(w)
}
#[inline(always)]
pub fn ptr_f32(w: u32) -> *mut f32 {
    addr(w) as *mut f32
}
#[inline(always)]
pub fn ptr_u8(w: u32) -> *mut u8 {
    addr(w) as *mut u8
}
#[inline(always)]
pub fn ptr_u16(w: u32) -> *mut u16 {
    addr(w) as *mut u16
}
#[inline(always)]
pub fn ptr_i32(w: u32) -> *mut i32 {
    addr(w) as *mut i32
}
#[inline(always)]
pub fn ptr_u32(w: u32) -> *mut u32 {
    addr(w) as *mut u32
}
/// `None` for a null (0) pointer argument, e.g. an optional weight.
#[inline(always)]
pub fn opt_f32(w: u32) -> Option<*const f32> {
    if w == 0 { None } else { Some(addr(w) as *const f32) }
}

// ---- barrier ----

/// Reusable barrier in shared memory (the 64-byte `sync` block, zeroed once at allocation).
/// Generation counting: the last thread to arrive resets `count` and bumps `gen`; the others
/// spin on `gen` for a while, then sleep in `memory.atomic.wait32`. `notify` is only issued
/// when someone is asleep, so the common (spinning) case costs no syscall.
/// `chunks`: the [`Ctx::next_chunk`] counters, zeroed by the last thread to arrive (while
/// every other thread is inside the barrier, so no op is using them).
#[repr(C, align(64))]
pub struct Barrier {
    count: AtomicU32,
    gen: AtomicU32,
    sleepers: AtomicU32,
    chunks: [AtomicU32; CHUNK_COUNTERS],
    _pad: [u32; 13 - CHUNK_COUNTERS],
}

/// Commands between two barriers that can schedule dynamically (a chain of MATMULs on one input).
pub const CHUNK_COUNTERS: usize = 8;

/// Spin iterations (each one atomic load) before sleeping; ~tens of µs. (2^19, ~1 ms, was
/// measured 15× slower per barrier on this project's oversubscribed 2-core VM: a spinning
/// thread keeps its core from the descheduled thread it waits for.) Natively each iteration
/// also runs `pause` (`spin_loop`), ~100 ns on this VM's EPYC (2^14 of them: ~1.7 ms), so the
/// native build spins 2^8 times (~10–25 µs), then yields the core for up to 200 µs before sleeping
/// (`native::futex::yield_while`).
const SPIN: u32 = if cfg!(target_arch = "wasm32") { 1 << 14 } else { 1 << 8 };

impl Barrier {
    pub const fn new() -> Self {
        const Z: AtomicU32 = AtomicU32::new(0);
        Barrier { count: Z, gen: Z, sleepers: Z, chunks: [Z; CHUNK_COUNTERS], _pad: [0; 13 - CHUNK_COUNTERS] }
    }

    pub fn wait(&self, nth: u32) {
        let gen = self.gen.load(SeqCst);
        if self.count.fetch_add(1, SeqCst) + 1 == nth {
            for c in &self.chunks {
                c.store(0, SeqCst);
            }
            self.count.store(0, SeqCst);
            self.gen.store(gen.wrapping_add(1), SeqCst);
            if self.sleepers.load(SeqCst) != 0 {
                wake_all(&self.gen);
            }
            return;
        }
        let mut spins = 0u32;
        while self.gen.load(SeqCst) == gen {
            if spins < SPIN {
                spins += 1;
                core::hint::spin_loop();
                continue;
            }
            #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
            if crate::native::futex::yield_while(&self.gen, gen) {
                break;
            }
            self.sleepers.fetch_add(1, SeqCst);
            sleep_while(&self.gen, gen);
            self.sleepers.fetch_sub(1, SeqCst);
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn sleep_while(word: &AtomicU32, value: u32) {
    unsafe { core::arch::wasm32::memory_atomic_wait32(word.as_ptr() as *mut i32, value as i32, -1) };
}
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn wake_all(word: &AtomicU32) {
    unsafe { core::arch::wasm32::memory_atomic_notify(word.as_ptr() as *mut i32, u32::MAX) };
}
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
fn sleep_while(word: &AtomicU32, value: u32) {
    crate::native::futex::wait(word, value);
}
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
fn wake_all(word: &AtomicU32) {
    crate::native::futex::wake_all(word);
}
#[cfg(not(any(all(target_arch = "wasm32", target_feature = "atomics"), feature = "native")))]
fn sleep_while(_word: &AtomicU32, _value: u32) {
    core::hint::spin_loop();
}
#[cfg(not(any(all(target_arch = "wasm32", target_feature = "atomics"), feature = "native")))]
fn wake_all(_word: &AtomicU32) {}

// ---- scalar flag ----

static SCALAR: AtomicU32 = AtomicU32::new(0);

pub fn set_scalar(on: bool) {
    SCALAR.store(on as u32, SeqCst);
}

// ---- interpreter ----

/// Runs the list as thread `ith` of `nth`. `sync` points at the 64-byte barrier block.
///
/// # Safety
/// `cmds` holds `n_cmds` valid commands whose pointers are valid for their ops; every one of
/// the `nth` threads calls this with the same `cmds`, `n_cmds`, `nth` and `sync`.
pub unsafe fn run(cmds: *const u32, n_cmds: usize, ith: usize, nth: usize, sync: *mut u32) {
    let cx = Ctx { ith, nth: nth.max(1), scalar: SCALAR.load(SeqCst) != 0, sync: &*(sync as *const Barrier) };
    let cmd = |c: usize| -> (u32, Args) {
        let p = cmds.add(c * CMD_WORDS);
        (*p, *(p.add(1) as *const Args))
    };
    // `chain` > 0: no barrier between this command and the previous one, which it does not
    // depend on: a chain of MATMULs on the same input (`matmul::chains`; no second conversion
    // of the input either) or independent ROPEs. `chain` counts the commands since the last
    // barrier (the chunk counter a MATMUL uses). Every thread computes the same answer from
    // the same list, so all meet at the same barriers.
    let mut chain = 0;
    for c in 0..n_cmds {
        let (op, a) = cmd(c);
        dispatch(op, &a, &cx, chain);
        let chained = c + 1 < n_cmds && {
            let (next_op, next) = cmd(c + 1);
            match (op, next_op) {
                (MATMUL, MATMUL) => ops::matmul::chains(&a, &next),
                (ROPE, ROPE) => ropes_independent(&a, &next),
                _ => false,
            }
        };
        if chained {
            chain += 1;
        } else {
            chain = 0;
            cx.barrier();
        }
    }
}

const MATMUL: u32 = 1;
const ROPE: u32 = 4;

/// Two ROPEs (a layer's q and k) need no barrier between them when neither writes what the
/// other reads or writes: `x`/`out` are `[n_tok][n_head][head_dim]` f32 (pos and
/// freq_factors are only read).
fn ropes_independent(a: &Args, b: &Args) -> bool {
    let span = |r: &Args, p: u32| {
        let len = r[3] as usize * r[4] as usize * r[5] as usize * 4;
        p as usize..p as usize + len
    };
    let apart = |r: core::ops::Range<usize>, s: core::ops::Range<usize>| r.end <= s.start || s.end <= r.start;
    let (ax, aout, bx, bout) = (span(a, a[0]), span(a, a[1]), span(b, b[0]), span(b, b[1]));
    apart(aout.clone(), bx) && apart(aout, bout.clone()) && apart(ax, bout)
}

#[inline(never)]
unsafe fn dispatch(op: u32, a: &Args, cx: &Ctx, chain: usize) {
    match op {
        MATMUL => ops::matmul::run(a, cx, chain),
        2 => ops::get_rows::run(a, cx),
        3 => ops::norm::run(a, cx),
        4 => ops::rope::run(a, cx),
        5 => ops::softmax::run(a, cx),
        6 => ops::act::run_silu(a, cx),
        7 => ops::act::run_swiglu(a, cx),
        8 => ops::act::run_gelu(a, cx),
        9 => ops::elementwise::run_add(a, cx),
        10 => ops::elementwise::run_mul(a, cx),
        11 => ops::elementwise::run_scale(a, cx),
        12 => ops::kv::run(a, cx),
        13 => ops::attention::run(a, cx),
        14 => ops::act::run_softcap(a, cx),
        15 => ops::norm::run_layernorm(a, cx),
        16 => ops::repack::run(a, cx),
        40 => ops::image::run(a, cx),
        _ => trap(),
    }
}

/// Unknown op code: a bug in the caller, not a recoverable condition.
#[cold]
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("unknown op code");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_and_balances() {
        for n in [0usize, 1, 3, 17, 4097] {
            for nth in 1..6 {
                let mut next = 0;
                for ith in 0..nth {
                    let r = split_range(n, ith, nth);
                    assert_eq!(r.start, next);
                    assert!(r.len() == n / nth || r.len() == n / nth + 1);
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn chunks_are_taken_once_and_reset_by_the_barrier() {
        // 3 threads take chunks of two counters (a chain of two commands), then meet; every
        // chunk index below n is taken by exactly one thread, in every round.
        use std::sync::atomic::AtomicUsize;
        let b = Barrier::new();
        let n = 37;
        let taken: Vec<AtomicUsize> = (0..2 * n).map(|_| AtomicUsize::new(0)).collect();
        std::thread::scope(|s| {
            for ith in 0..3 {
                let (b, taken) = (&b, &taken);
                s.spawn(move || {
                    let cx = Ctx { ith, nth: 3, scalar: false, sync: b };
                    for round in 1..=50 {
                        for k in 0..2 {
                            loop {
                                let c = cx.next_chunk(k);
                                if c >= n {
                                    break;
                                }
                                taken[k * n + c].fetch_add(1, SeqCst);
                            }
                        }
                        cx.barrier();
                        for t in taken.iter() {
                            assert_eq!(t.load(SeqCst), round);
                        }
                        cx.barrier();
                    }
                });
            }
        });
    }

    #[test]
    fn barrier_orders_threads_natively() {
        // Native spin path: 3 threads, many rounds; each round every thread must see all writes.
        use std::sync::atomic::AtomicUsize;
        let b = Barrier::new();
        let slots: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        std::thread::scope(|s| {
            for ith in 0..3 {
                let (b, slots) = (&b, &slots);
                s.spawn(move || {
                    for round in 1..=200 {
                        slots[ith].store(round, SeqCst);
                        b.wait(3);
                        for sl in slots.iter() {
                            assert!(sl.load(SeqCst) >= round);
                        }
                        b.wait(3);
                    }
                });
            }
        });
    }
}
