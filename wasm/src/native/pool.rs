//! The library's own threads: `n − 1` workers that run each command list with the caller
//! (thread 0). A run bumps `gen`; workers spin a little on it, yield for up to
//! [`futex::YIELD_US`] (the host's work between two decode steps), then sleep on it (futex).

use super::futex;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One run: the arena base and the arguments of `graph::run` as addresses.
#[derive(Clone, Copy, Default)]
struct Job {
    base: usize,
    cmds: usize,
    n_cmds: usize,
    nth: usize,
    sync: usize,
}

struct Shared {
    gen: AtomicU32,
    sleepers: AtomicU32,
    stop: AtomicBool,
    /// Workers that have read the current job; the caller waits for all before returning, so
    /// it never writes the next job while a worker (one that sits this run out) still reads.
    acks: AtomicU32,
    /// Written by the caller before `gen` is bumped; read by workers after they see it bumped.
    job: UnsafeCell<Job>,
}
unsafe impl Sync for Shared {}

/// Spins on `gen` before sleeping (~tens of µs, as graph.rs's barrier: each spin is a `pause`,
/// ~100 ns on this project's EPYC VM, where 2^14 of them kept a core ~1.7 ms from the thread
/// they wait for).
const SPIN: u32 = 1 << 8;

pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// `n_threads` in all, counting the caller; None when a thread cannot be spawned.
    pub fn new(n_threads: usize) -> Option<Pool> {
        let shared = Arc::new(Shared {
            gen: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            acks: AtomicU32::new(0),
            job: UnsafeCell::new(Job::default()),
        });
        let mut workers = Vec::new();
        let nth = n_threads.max(1);
        for ith in 1..nth {
            let s = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("tessera-{ith}"))
                .stack_size(4 << 20)
                .spawn(move || worker(&s, ith))
                .ok()?;
            workers.push(h);
        }
        Some(Pool { shared, workers })
    }

    pub fn n_threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs the list on threads `0..nth` (clamped to the pool; the caller is thread 0);
    /// returns when all are done. nth = 1 runs on the caller alone, waking no one.
    ///
    /// # Safety
    /// As `graph::run`, with addresses relative to `base`.
    pub unsafe fn run(&self, base: usize, cmds: u32, n_cmds: usize, nth: usize, sync: u32) {
        let nth = nth.clamp(1, self.n_threads());
        let job = Job { base, cmds: base + cmds as usize, n_cmds, nth, sync: base + sync as usize };
        if nth == 1 {
            return exec(&job, 0);
        }
        let s = &*self.shared;
        *s.job.get() = job;
        s.acks.store(0, SeqCst);
        s.gen.fetch_add(1, SeqCst);
        if s.sleepers.load(SeqCst) != 0 {
            futex::wake_all(&s.gen);
        }
        exec(&job, 0);
        while s.acks.load(SeqCst) != self.workers.len() as u32 {
            core::hint::spin_loop();
        }
    }
}

unsafe fn exec(job: &Job, ith: usize) {
    super::set_base(job.base);
    crate::graph::run(job.cmds as *const u32, job.n_cmds, ith, job.nth, job.sync as *mut u32);
    super::set_base(0);
}

fn worker(s: &Shared, ith: usize) {
    let mut seen = 0u32;
    loop {
        let mut spins = 0u32;
        loop {
            let g = s.gen.load(SeqCst);
            if g != seen || s.stop.load(SeqCst) {
                break;
            }
            if spins < SPIN {
                spins += 1;
                core::hint::spin_loop();
                continue;
            }
            if futex::yield_while(&s.gen, seen) {
                continue;
            }
            s.sleepers.fetch_add(1, SeqCst);
            if s.gen.load(SeqCst) == seen && !s.stop.load(SeqCst) {
                futex::wait(&s.gen, seen);
            }
            s.sleepers.fetch_sub(1, SeqCst);
        }
        if s.stop.load(SeqCst) {
            return;
        }
        seen = s.gen.load(SeqCst);
        let job = unsafe { *s.job.get() };
        s.acks.fetch_add(1, SeqCst);
        if ith < job.nth {
            unsafe { exec(&job, ith) };
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        self.shared.gen.fetch_add(1, SeqCst);
        futex::wake_all(&self.shared.gen);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
