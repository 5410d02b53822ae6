//! Sleeping on a 32-bit word: Linux futex (private), elsewhere a yield (busy, but correct).

use core::sync::atomic::AtomicU32;

#[cfg(target_os = "linux")]
extern "C" {
    fn syscall(num: i64, ...) -> i64;
}
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const SYS_FUTEX: i64 = 202;
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
const SYS_FUTEX: i64 = 98;
const FUTEX_WAIT_PRIVATE: i32 = 128;
const FUTEX_WAKE_PRIVATE: i32 = 129;

/// Sleeps while `*word == value` (may return spuriously; callers loop).
pub fn wait(word: &AtomicU32, value: u32) {
    #[cfg(target_os = "linux")]
    unsafe {
        syscall(SYS_FUTEX, word.as_ptr(), FUTEX_WAIT_PRIVATE, value, core::ptr::null::<u8>(), core::ptr::null::<u8>(), 0u32);
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (word, value, FUTEX_WAIT_PRIVATE);
        std::thread::yield_now();
    }
}

/// Wakes every thread sleeping on `word`.
pub fn wake_all(word: &AtomicU32) {
    #[cfg(target_os = "linux")]
    unsafe {
        syscall(SYS_FUTEX, word.as_ptr(), FUTEX_WAKE_PRIVATE, i32::MAX, core::ptr::null::<u8>(), core::ptr::null::<u8>(), 0u32);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (word, FUTEX_WAKE_PRIVATE);
}

/// How long [`yield_while`] yields before the caller sleeps (µs).
pub const YIELD_US: u64 = 200;

/// Yields the core (`sched_yield`) while `*word == value`, for up to [`YIELD_US`]; true when the
/// word changed. Between the short `pause` spin and a futex sleep: a thread that waits on one that
/// was descheduled onto its own core lets it run, and one that waits out a peer's few-µs lag
/// costs neither of them a futex wake-up (tens of µs on a VM, and one per barrier added up to
/// several ms per decoded token: ~400 futex calls per token with sleeping after ~10 µs).
pub fn yield_while(word: &AtomicU32, value: u32) -> bool {
    use core::sync::atomic::Ordering::SeqCst;
    let t0 = std::time::Instant::now();
    loop {
        for _ in 0..16 {
            if word.load(SeqCst) != value {
                return true;
            }
            std::thread::yield_now();
        }
        if t0.elapsed().as_micros() as u64 >= YIELD_US {
            return word.load(SeqCst) != value;
        }
    }
}
