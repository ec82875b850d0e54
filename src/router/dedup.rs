//! De-duplication of events seen twice (make-before-break rollovers deliver the overlap on two channels).
//!
//! The window holds 200,000 keys by default: several MiB per tenant, which the rest of the engine's work
//! between two bursts pushes out of the caches. A general hash set then costs about four cache misses per
//! event (its control bytes and its slot, for the new key and for the key leaving the window), and in
//! `switchboard serve` at 10,000 events/s that was 5.8 % of the engine's CPU. This table keeps the keys
//! themselves in one array, so a key costs one line, and the router touches the lines of a whole batch
//! ([`Dedup::warm`]) before it checks any of them, so that their misses overlap instead of following each
//! other.

use std::collections::VecDeque;

/// Marks a free slot. A key of 0 is stored as [`ZERO_KEY`] instead (two keys among 2^64 made one).
const FREE: u64 = 0;
const ZERO_KEY: u64 = 0x9e37_79b9_7f4a_7c15;
/// The table is grown while it is fuller than this (a fraction, in 1/1024ths), and once the window is full
/// it holds half as many slots again as keys: probes stay within a line or two, at about the memory of a
/// general hash set (2.4 MiB for 200,000 keys).
const MAX_LOAD_1024THS: usize = 683;
const FIRST_SLOTS: usize = 16;

/// Remembers the last `capacity` event keys.
#[derive(Debug)]
pub struct Dedup {
    /// The keys in the window, oldest first.
    order: VecDeque<u64>,
    /// Open addressing with linear probing; every key in `order` is here once, every other slot is `FREE`.
    slots: Box<[u64]>,
    /// Odd, random per table: a key's home slot is `(key * spread) * slots.len() / 2^64`, so that nobody who
    /// chooses event contents can choose which keys collide.
    spread: u64,
    capacity: usize,
}

impl Dedup {
    pub fn new(capacity: usize) -> Dedup {
        Dedup {
            // Only reserved: pages are taken as the window fills.
            order: VecDeque::with_capacity(capacity.min(1 << 20)),
            slots: vec![FREE; FIRST_SLOTS].into_boxed_slice(),
            spread: ahash::RandomState::new().hash_one(0u64) | 1,
            capacity: capacity.max(1),
        }
    }

    /// True the first time a key is seen (within the window).
    pub fn first_time(&mut self, key: u64) -> bool {
        let key = stored(key);
        let Err(free) = self.find(key) else {
            return false;
        };
        self.slots[free] = key;
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.remove(old);
        }
        self.order.push_back(key);
        if self.order.len() * 1024 > self.slots.len() * MAX_LOAD_1024THS {
            self.grow();
        }
        true
    }

    /// Touches the slots that checking `keys` next (and letting as many old keys go) will read, all before
    /// any of them is needed: the cache misses of a batch are then waited for together.
    pub fn warm(&self, keys: impl Iterator<Item = u64>) {
        let mut touched = 0u64;
        let mut count = 0;
        for key in keys {
            touched ^= self.touch(stored(key));
            count += 1;
        }
        let leaving = (self.order.len() + count).saturating_sub(self.capacity);
        for &old in self.order.iter().take(leaving) {
            touched ^= self.touch(old);
        }
        std::hint::black_box(touched);
    }

    /// Reads the line of `key`'s home slot and the next one: a probe, or the run a removal moves back, seldom
    /// goes further (a few slots on average when the table is as full as it gets).
    fn touch(&self, key: u64) -> u64 {
        let home = self.home(key);
        self.slots[home] ^ self.slots[(home + 8).min(self.slots.len() - 1)]
    }

    fn home(&self, key: u64) -> usize {
        let spread = key.wrapping_mul(self.spread);
        // The high half of the product of two 64-bit numbers is below the second: always a slot.
        ((u128::from(spread) * self.slots.len() as u128) >> 64) as usize
    }

    /// `Ok` with the slot holding `key`, or `Err` with the free slot where its probe ends.
    fn find(&self, key: u64) -> Result<usize, usize> {
        let mut at = self.home(key);
        loop {
            match self.slots[at] {
                FREE => return Err(at),
                k if k == key => return Ok(at),
                _ => at = self.next(at),
            }
        }
    }

    fn next(&self, at: usize) -> usize {
        if at + 1 == self.slots.len() {
            0
        } else {
            at + 1
        }
    }

    /// Empties `key`'s slot and moves later keys of its run back, so that no probe stops short of them.
    fn remove(&mut self, key: u64) {
        let Ok(mut hole) = self.find(key) else {
            return;
        };
        let len = self.slots.len();
        let mut at = self.next(hole);
        loop {
            let k = self.slots[at];
            if k == FREE {
                break;
            }
            // A key may fill the hole when its home is not after the hole on the way round to where it is.
            let behind = |from: usize| {
                if at >= from {
                    at - from
                } else {
                    at + len - from
                }
            };
            if behind(self.home(k)) >= behind(hole) {
                self.slots[hole] = k;
                hole = at;
            }
            at = self.next(at);
        }
        self.slots[hole] = FREE;
    }

    /// Doubles the table, up to the size the full window needs.
    fn grow(&mut self) {
        let most = (self.capacity * 1024)
            .div_ceil(MAX_LOAD_1024THS)
            .max(FIRST_SLOTS);
        let size = (self.slots.len() * 2).min(most);
        if size <= self.slots.len() {
            return;
        }
        self.slots = vec![FREE; size].into_boxed_slice();
        for i in 0..self.order.len() {
            let key = self.order[i];
            if let Err(free) = self.find(key) {
                self.slots[free] = key;
            }
        }
    }
}

fn stored(key: u64) -> u64 {
    if key == FREE { ZERO_KEY } else { key }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn repeats_inside_the_window_are_caught_and_old_keys_forgotten() {
        let mut d = Dedup::new(3);
        assert!(d.first_time(1));
        assert!(!d.first_time(1));
        assert!(d.first_time(2));
        assert!(d.first_time(3));
        assert!(d.first_time(4));
        assert!(d.first_time(1), "1 fell out of the window");
        assert!(!d.first_time(4));
    }

    #[test]
    fn a_key_of_zero_is_a_key_like_any_other() {
        let mut d = Dedup::new(2);
        assert!(d.first_time(0));
        assert!(!d.first_time(0));
        assert!(d.first_time(1));
        assert!(d.first_time(2));
        assert!(d.first_time(0), "0 fell out of the window");
    }

    /// The same answers as the plain model (a set and a queue) for keys drawn from a small range, so that
    /// repeats, runs of colliding keys and removals from the middle of runs are all frequent; through growth
    /// and, once the window is full, a table of its final size.
    #[test]
    fn answers_as_a_set_of_the_last_keys_would() {
        for (capacity, range, seed) in [
            (1, 4, 1u64),
            (7, 20, 2),
            (100, 300, 3),
            (1000, 1500, 4),
            (5000, 60_000, 5),
        ] {
            let mut d = Dedup::new(capacity);
            let mut seen = HashSet::new();
            let mut order = VecDeque::new();
            let mut x = seed;
            for step in 0..40_000 {
                // xorshift: the same sequence on every run.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = x % range;
                if step % 3 == 0 {
                    d.warm([key, key + 1].into_iter());
                }
                let expected = if seen.insert(key) {
                    if order.len() == capacity {
                        let old = order.pop_front().unwrap();
                        seen.remove(&old);
                    }
                    order.push_back(key);
                    true
                } else {
                    false
                };
                assert_eq!(
                    d.first_time(key),
                    expected,
                    "capacity {capacity}, step {step}, key {key}"
                );
            }
            let live = d.slots.iter().filter(|&&k| k != FREE).count();
            assert_eq!(live, order.len(), "every key in the window has one slot");
            assert!(d.slots.len() * MAX_LOAD_1024THS >= order.len() * 1024);
        }
    }

    #[test]
    fn the_table_grows_with_the_window_and_stops_at_its_size() {
        let mut d = Dedup::new(200_000);
        assert_eq!(
            d.slots.len(),
            FIRST_SLOTS,
            "an idle tenant holds a small table"
        );
        for key in 1..=400_000u64 {
            assert!(d.first_time(key.wrapping_mul(0x2545_f491_4f6c_dd1d)));
        }
        assert_eq!(d.order.len(), 200_000);
        assert!(
            d.slots.len() <= 300_000,
            "{} slots for 200,000 keys",
            d.slots.len()
        );
    }
}
