//! The aggregator's global allocator on wasm32: power-of-two size classes,
//! one free list each, in about 500 bytes of wasm where std's dlmalloc
//! takes 7 KB (the aggregator's wasm has a 200 KiB budget,
//! tests/build-aggregator.sh).
//!
//! # Layout
//! A request of `size` bytes aligned to `align` gets a block of class
//! `c = log2(next_power_of_two(max(size, align, 16)))`: `2^c` bytes, at an
//! address that is a multiple of `min(2^c, 64 KiB)` (so of `align`: wasm
//! alignments are at most a page). A freed block goes to the head of its
//! class's list (its first word links to the next one). An allocation takes
//! the head of its list; else splits a free block of the smallest larger
//! class in halves (the upper halves go to the lists between); else cuts a
//! new block from the end of memory, growing it by whole 64 KiB pages.
//! Blocks are never merged: memory is at most about twice what is live
//! (the rounding), plus blocks freed in one class and not reused in
//! another. The aggregator's allocations repeat from round to round (the
//! same shapes), so they reuse the same blocks.
//!
//! Single-threaded: wasm32 without the `atomics` feature has one thread.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::null_mut;

const PAGE: usize = 65536;
/// Classes 4 (16 bytes) to 31 (2 GiB): a wasm32 memory is at most 4 GiB.
const MIN_CLASS: usize = 4;
const MAX_CLASS: usize = 31;

pub struct SizeClasses {
    state: UnsafeCell<State>,
}

struct State {
    /// Head of each class's free list (0: empty).
    free: [usize; MAX_CLASS + 1],
    /// Memory not yet cut into blocks: `next..end`.
    next: usize,
    end: usize,
}

// SAFETY: wasm32 without atomics runs one thread (see the module docs), so
// the state is never touched concurrently.
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    pub const fn new() -> Self {
        SizeClasses {
            state: UnsafeCell::new(State {
                free: [0; MAX_CLASS + 1],
                next: 0,
                end: 0,
            }),
        }
    }
}

fn class(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_CLASS);
    let c = size.checked_next_power_of_two()?.trailing_zeros() as usize;
    (c <= MAX_CLASS).then_some(c)
}

impl State {
    /// # Safety
    /// `block` is an unused block of class `c` (at least a word, aligned).
    unsafe fn push(&mut self, c: usize, block: usize) {
        *(block as *mut usize) = self.free[c];
        self.free[c] = block;
    }

    /// # Safety
    /// The lists hold only unused blocks.
    unsafe fn pop(&mut self, c: usize) -> Option<usize> {
        let head = self.free[c];
        if head == 0 {
            return None;
        }
        self.free[c] = *(head as *const usize);
        Some(head)
    }

    /// # Safety
    /// As [`State::pop`].
    unsafe fn take(&mut self, c: usize) -> Option<usize> {
        if let Some(b) = self.pop(c) {
            return Some(b);
        }
        for k in c + 1..=MAX_CLASS {
            if let Some(b) = self.pop(k) {
                for half in (c..k).rev() {
                    self.push(half, b + (1 << half));
                }
                return Some(b);
            }
        }
        self.cut(c)
    }

    /// A new block of class `c` from the end of memory.
    fn cut(&mut self, c: usize) -> Option<usize> {
        if self.end == 0 {
            // Start after everything the module was linked with.
            self.end = core::arch::wasm32::memory_size(0) * PAGE;
            self.next = self.end;
        }
        let size = 1usize << c;
        let align = size.min(PAGE);
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let stop = start.checked_add(size)?;
        if stop > self.end {
            let pages = (stop - self.end).div_ceil(PAGE);
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return None;
            }
            self.end += pages * PAGE;
        }
        self.next = stop;
        Some(start)
    }
}

unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let state = &mut *self.state.get();
        match class(layout).and_then(|c| state.take(c)) {
            Some(b) => b as *mut u8,
            None => null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(c) = class(layout) {
            (*self.state.get()).push(c, ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        if class(new).is_some() && class(new) == class(layout) {
            return ptr;
        }
        let out = self.alloc(new);
        if !out.is_null() {
            std::ptr::copy_nonoverlapping(ptr, out, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        out
    }
}
