//! [`CountingAlloc`]: the allocation counter of a fuzz run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first allocation through [`CountingAlloc`].
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// While a case runs, allocations above this many bytes are refused (the
/// process aborts, naming the size) rather than risk exhausting the
/// machine's memory; they are far over any bound a run uses.
const REFUSE_ABOVE: u64 = 1 << 32;

thread_local! {
    /// Counting is on for this thread.
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static THRESHOLD: Cell<u64> = const { Cell::new(u64::MAX) };
    static MAX_SEEN: Cell<u64> = const { Cell::new(0) };
    static OVER: Cell<u64> = const { Cell::new(0) };
    static OVER_SIZE: Cell<u64> = const { Cell::new(0) };
}

/// A global allocator that forwards to [`System`] and, while [`super::run`] runs a
/// case on the calling thread, records the largest request and counts those
/// over the run's bound. Install it with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

/// Records one request of `size` bytes; false when it must be refused.
fn note(size: usize) -> bool {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    let size = size as u64;
    TRACKING
        .try_with(|on| {
            if !on.get() {
                return true;
            }
            let _ = MAX_SEEN.try_with(|m| m.set(m.get().max(size)));
            if THRESHOLD.try_with(Cell::get).is_ok_and(|t| size > t) {
                let _ = OVER.try_with(|o| o.set(o.get() + 1));
                let _ = OVER_SIZE.try_with(|o| {
                    if o.get() == 0 {
                        o.set(size)
                    }
                });
            }
            size <= REFUSE_ABOVE
        })
        .unwrap_or(true)
}

// SAFETY: every method forwards to `System` with the caller's arguments
// (or returns null, which `GlobalAlloc` allows); `note` allocates nothing.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            System.alloc(layout)
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            System.alloc_zeroed(layout)
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if note(new_size) {
            System.realloc(ptr, layout, new_size)
        } else {
            std::ptr::null_mut()
        }
    }
}

/// Counting on this thread for the closure's duration; returns its result,
/// the largest request and the count (and first size) over `threshold`.
pub(super) fn counting<R>(threshold: u64, f: impl FnOnce() -> R) -> (R, u64, u64, u64) {
    MAX_SEEN.with(|m| m.set(0));
    OVER.with(|o| o.set(0));
    OVER_SIZE.with(|o| o.set(0));
    THRESHOLD.with(|t| t.set(threshold));
    TRACKING.with(|t| t.set(true));
    let r = f();
    TRACKING.with(|t| t.set(false));
    (
        r,
        MAX_SEEN.with(Cell::get),
        OVER.with(Cell::get),
        OVER_SIZE.with(Cell::get),
    )
}

/// Whether [`CountingAlloc`] is the global allocator (it has seen an
/// allocation).
pub(super) fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}
