//! The library's own threads: `n − 1` workers that run each command list with the caller
//! (thread 0). A run bumps `gen`; workers spin a little on it, then sleep on it (futex).

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
    sync: usize,
}

struct Shared {
    gen: AtomicU32,
    sleepers: AtomicU32,
    stop: AtomicBool,
    /// Written by the caller before `gen` is bumped; read by workers after they see it bumped.
    /// A worker reads it before reaching the run's first barrier, and the caller only writes
    /// the next job after the run's last barrier, so reads and writes never overlap.
    job: UnsafeCell<Job>,
}
unsafe impl Sync for Shared {}

/// Spins on `gen` before sleeping (~tens of µs, as graph.rs's barrier).
const SPIN: u32 = 1 << 14;

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
            job: UnsafeCell::new(Job::default()),
        });
        let mut workers = Vec::new();
        let nth = n_threads.max(1);
        for ith in 1..nth {
            let s = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("tessera-{ith}"))
                .stack_size(4 << 20)
                .spawn(move || worker(&s, ith, nth))
                .ok()?;
            workers.push(h);
        }
        Some(Pool { shared, workers })
    }

    pub fn n_threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs the list on every thread (the caller is thread 0); returns when all are done.
    ///
    /// # Safety
    /// As `graph::run`, with addresses relative to `base`.
    pub unsafe fn run(&self, base: usize, cmds: u32, n_cmds: usize, sync: u32) {
        let nth = self.n_threads();
        let job = Job { base, cmds: base + cmds as usize, n_cmds, sync: base + sync as usize };
        if nth > 1 {
            *self.shared.job.get() = job;
            self.shared.gen.fetch_add(1, SeqCst);
            if self.shared.sleepers.load(SeqCst) != 0 {
                futex::wake_all(&self.shared.gen);
            }
        }
        exec(&job, 0, nth);
    }
}

unsafe fn exec(job: &Job, ith: usize, nth: usize) {
    super::set_base(job.base);
    crate::graph::run(job.cmds as *const u32, job.n_cmds, ith, nth, job.sync as *mut u32);
    super::set_base(0);
}

fn worker(s: &Shared, ith: usize, nth: usize) {
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
        unsafe { exec(&job, ith, nth) };
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
