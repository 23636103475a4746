//! A global allocator for the binaries that run damage trials: it refuses any single
//! allocation above [`LIMIT`], so a damaged count that sizes a buffer (a slot count of
//! four billion) aborts the process at once ("memory allocation of N bytes failed")
//! instead of filling the memory of a machine shared with other work.
//!
//! Install it in a binary with
//! `#[global_allocator] static ALLOC: CappedAlloc = CappedAlloc;`.

use std::alloc::{GlobalAlloc, Layout, System};

/// The largest single allocation allowed: 2 GiB. No test of the suite needs one this large.
pub const LIMIT: usize = 2 << 30;

/// The system allocator, refusing allocations above [`LIMIT`].
pub struct CappedAlloc;

// SAFETY: every call is forwarded to `System` unchanged, or refused with a null pointer,
// which `GlobalAlloc` allows (the caller then reports the failure).
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, hence from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
