//! The arena: one anonymous private mapping reserved up front (pages are committed by the OS
//! on first touch, zeroed), so it never moves and host views of it stay valid.

use core::ffi::c_void;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
}

const PROT_RW: i32 = 1 | 2;
#[cfg(target_os = "linux")]
const FLAGS: i32 = 0x02 | 0x20 | 0x4000; // MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
#[cfg(not(target_os = "linux"))]
const FLAGS: i32 = 0x02 | 0x1000; // MAP_PRIVATE | MAP_ANON (macOS)

pub struct Mapping {
    pub base: *mut u8,
    pub len: usize,
}

impl Mapping {
    /// Reserves `len` bytes; None when the OS refuses.
    pub fn new(len: usize) -> Option<Mapping> {
        let p = unsafe { mmap(core::ptr::null_mut(), len, PROT_RW, FLAGS, -1, 0) };
        if p as isize == -1 || p.is_null() {
            return None;
        }
        Some(Mapping { base: p as *mut u8, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        unsafe { munmap(self.base as *mut c_void, self.len) };
    }
}
