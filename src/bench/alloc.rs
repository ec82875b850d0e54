//! Counting heap allocations, for `switchboard bench`'s allocations per event. The binary installs
//! [`CountingAllocator`] in every build: the system allocator plus one relaxed increment per allocation, on a
//! counter of the calling thread's own cache line, so that threads allocating at once do not pass one line
//! back and forth between their cores. A few nanoseconds against the microseconds an event costs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters, one per thread up to this many; more threads share them round-robin.
const STRIPES: usize = 16;

/// A counter alone on its cache line (128 bytes: adjacent-line prefetching pairs 64-byte lines).
#[repr(align(128))]
struct Stripe(AtomicU64);

static COUNTS: [Stripe; STRIPES] = [const { Stripe(AtomicU64::new(0)) }; STRIPES];
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // A constant initialiser and no destructor: reading it never allocates, which an allocator must not.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn count_one() {
    let stripe = STRIPE
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
                s.set(i);
            }
            i
        })
        .unwrap_or(0);
    COUNTS[stripe].0.fetch_add(1, Ordering::Relaxed);
}

/// The system allocator, counting allocations.
pub struct CountingAllocator;

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations so far, by every thread (0 where the counting allocator is not installed: a library's tests).
pub fn count() -> u64 {
    COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
}

/// Whether the counting allocator is installed: a process that has run this far has allocated.
pub fn enabled() -> bool {
    count() > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_counts_on_a_stripe_and_the_sum_adds_them() {
        let before = count();
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).for_each(|_| count_one())))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(count() >= before + 4000, "{} then {}", before, count());
    }
}
