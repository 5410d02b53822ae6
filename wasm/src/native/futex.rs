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
