//! De-duplication of events seen twice (make-before-break rollovers deliver the overlap on two channels).

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` event keys.
#[derive(Debug)]
pub struct Dedup {
    seen: HashSet<u64, ahash::RandomState>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Dedup {
    pub fn new(capacity: usize) -> Dedup {
        let capacity = capacity.max(1);
        Dedup {
            seen: HashSet::with_capacity_and_hasher(
                capacity.min(1 << 20),
                ahash::RandomState::new(),
            ),
            order: VecDeque::with_capacity(capacity.min(1 << 20)),
            capacity,
        }
    }

    /// True the first time a key is seen (within the window).
    pub fn first_time(&mut self, key: u64) -> bool {
        if !self.seen.insert(key) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
