//! Counting heap allocations, for `switchboard bench`'s allocations per event. The binary installs
//! [`CountingAllocator`] in every build: the system allocator plus one increment per allocation on a counter
//! that only the calling thread writes, alone on its cache line. A thread that owns its counter adds with a
//! plain load and store: a locked increment cost about 3 % of the engine's CPU at saturation (`perf`, twelfth
//! machine), a plain one a nanosecond. Threads beyond the owned counters share one, with a locked increment.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters owned by one thread each, for the first threads that allocate; the one after them is shared.
const OWNED: usize = 63;

/// A counter alone on its cache line (128 bytes: adjacent-line prefetching pairs 64-byte lines).
#[repr(align(128))]
struct Stripe(AtomicU64);

static COUNTS: [Stripe; OWNED + 1] = [const { Stripe(AtomicU64::new(0)) }; OWNED + 1];
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
                i = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed).min(OWNED);
                s.set(i);
            }
            i
        })
        .unwrap_or(OWNED);
    let counter = &COUNTS[stripe].0;
    if stripe < OWNED {
        // Only this thread writes this counter: no other write can fall between the load and the store.
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    } else {
        counter.fetch_add(1, Ordering::Relaxed);
    }
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

    /// Counts `each` allocations on each of `threads` threads at once; the total before and after.
    fn count_on_threads(threads: usize, each: u64) -> (u64, u64) {
        let before = count();
        let handles: Vec<_> = (0..threads)
            .map(|_| std::thread::spawn(move || (0..each).for_each(|_| count_one())))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        (before, count())
    }

    #[test]
    fn each_thread_counts_on_a_stripe_and_the_sum_adds_them() {
        let (before, after) = count_on_threads(4, 1000);
        assert!(after >= before + 4000, "{before} then {after}");
    }

    #[test]
    fn threads_past_the_owned_counters_share_one_and_lose_nothing() {
        // Enough threads that the later ones share the last counter, four of them at once.
        count_on_threads(OWNED, 1);
        let (before, after) = count_on_threads(4, 10_000);
        assert!(after >= before + 40_000, "{before} then {after}");
    }
}
