//! The status board: a read model of every tenant's status (its channels' included), written by whoever runs
//! the tenant and read by the admin API, `/readyz`, `/metrics` and the engine's handle without a message to
//! any actor, so that a busy or stuck actor never holds up a probe or a scrape.
//!
//! One entry per tenant id, each carrying the *generation* of its writer. The supervisor opens a tenant's entry
//! ([`Board::open`]) each time it starts an actor for the tenant or shows it without one (paused, waiting for a
//! restart, failed), each time with a greater generation; the writer of that generation then replaces the
//! status as it changes ([`Board::update`]). A write of an older generation (an actor that was replaced and is
//! still stopping) is ignored, and so is a write for a tenant that was removed ([`Board::remove`]): a stopping
//! actor cannot bring an entry back, and the board holds the supervisor's tenants, no more.
//!
//! Generic over the status so that the board depends on nothing of the engine (a leaf of the module graph);
//! the engine's board is [`crate::tenant::StatusBoard`].

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;

/// Tenant id → its latest status, with the generation that wrote it. Cheap to read from any thread.
pub struct Board<S> {
    entries: DashMap<String, Entry<S>>,
}

struct Entry<S> {
    generation: u64,
    status: S,
}

impl<S> Default for Board<S> {
    fn default() -> Self {
        Board {
            entries: DashMap::new(),
        }
    }
}

impl<S: Clone> Board<S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `id`'s status for writer `generation`, creating the entry if there is none. Ignored (`false`) when
    /// the entry belongs to a newer generation already.
    pub fn open(&self, id: &str, generation: u64, status: S) -> bool {
        match self.entries.entry(id.to_string()) {
            MapEntry::Occupied(e) if e.get().generation > generation => false,
            MapEntry::Occupied(mut e) => {
                e.insert(Entry { generation, status });
                true
            }
            MapEntry::Vacant(e) => {
                e.insert(Entry { generation, status });
                true
            }
        }
    }

    /// Replaces `id`'s status if its entry was opened for `generation`; ignored (`false`) otherwise: the
    /// writer was replaced, or the tenant removed.
    pub fn update(&self, id: &str, generation: u64, status: S) -> bool {
        match self.entries.get_mut(id) {
            Some(mut e) if e.generation == generation => {
                e.status = status;
                true
            }
            _ => false,
        }
    }

    /// Forgets `id` (the tenant was deleted); answers whether it was there.
    pub fn remove(&self, id: &str) -> bool {
        self.entries.remove(id).is_some()
    }

    /// `id`'s latest status.
    pub fn get(&self, id: &str) -> Option<S> {
        self.entries.get(id).map(|e| e.status.clone())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Every tenant's latest status, by id.
    pub fn all(&self) -> Vec<S> {
        let mut all: Vec<(String, S)> = self
            .entries
            .iter()
            .map(|e| (e.key().clone(), e.value().status.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// How many tenants the board holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_writer_of_the_open_generation_updates_the_entry() {
        let board = Board::new();
        assert!(board.open("acme", 1, "starting"));
        assert!(board.update("acme", 1, "running"));
        assert_eq!(board.get("acme"), Some("running"));
    }

    #[test]
    fn an_older_generation_is_ignored() {
        let board = Board::new();
        board.open("acme", 1, "running");
        assert!(board.open("acme", 2, "starting"), "a new actor takes over");
        assert!(!board.update("acme", 1, "stopped"), "the replaced one");
        assert!(!board.open("acme", 1, "restarting"), "nor can it reopen");
        assert_eq!(board.get("acme"), Some("starting"));
        assert!(board.update("acme", 2, "running"));
        assert_eq!(board.get("acme"), Some("running"));
    }

    #[test]
    fn a_newer_generation_may_not_update_before_it_opened() {
        let board = Board::new();
        board.open("acme", 1, "running");
        assert!(!board.update("acme", 2, "degraded"));
        assert_eq!(board.get("acme"), Some("running"));
    }

    #[test]
    fn an_update_never_brings_a_removed_tenant_back() {
        let board = Board::new();
        board.open("acme", 3, "running");
        assert!(board.remove("acme"));
        assert!(!board.update("acme", 3, "stopped"));
        assert_eq!(board.get("acme"), None);
        assert!(board.is_empty());
        assert!(!board.remove("acme"));
    }

    #[test]
    fn all_is_ordered_by_id() {
        let board = Board::new();
        for (i, id) in ["zeta", "acme", "mid"].into_iter().enumerate() {
            board.open(id, i as u64, id.to_uppercase());
        }
        assert_eq!(board.all(), ["ACME", "MID", "ZETA"]);
        assert_eq!(board.len(), 3);
        assert!(board.contains("mid") && !board.contains("other"));
    }

    #[test]
    fn writers_and_readers_on_many_threads_end_with_the_newest_generation() {
        let board = Arc::new(Board::new());
        let writers: Vec<_> = (1..=8u64)
            .map(|generation| {
                let board = board.clone();
                std::thread::spawn(move || {
                    for t in 0..50 {
                        let id = format!("t{t}");
                        board.open(&id, generation, generation);
                        for _ in 0..10 {
                            board.update(&id, generation, generation);
                            let _ = board.all();
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        assert_eq!(board.len(), 50);
        assert!(board.all().iter().all(|g| *g == 8), "{:?}", board.all());
    }
}
