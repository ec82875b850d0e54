//! Tenants handed over whose sockets still read. The taker connects to the same channels right after it takes
//! the lease, and the platform keeps one socket per channel: the taker's socket closes ours. Until then ours
//! are the only ones reading, so the tenant stops here only once none of its channels is live any more (or
//! after [`DISPLACE_GRACE`]). An event read by both in that moment reaches the sinks twice, with one record
//! id; stopping at once would lose what the platform sent before the taker's socket opened.

use std::collections::BTreeMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::channel::Lifecycle;
use crate::tenant::StatusBoard;

/// The longest a handed-over tenant keeps reading here when the taker's sockets do not displace its own.
pub const DISPLACE_GRACE: Duration = Duration::from_secs(5);

/// Tenants taken by another instance, with when they were taken.
#[derive(Default)]
pub struct Displacing(Mutex<BTreeMap<String, Instant>>);

impl Displacing {
    /// `tenant` was taken: it stops once displaced.
    pub fn add(&self, tenant: String) {
        self.0.lock().entry(tenant).or_insert_with(Instant::now);
    }

    pub fn is_empty(&self) -> bool {
        self.0.lock().is_empty()
    }

    /// The tenants to stop now, forgotten here: none of their channels is live (the taker's sockets
    /// displaced ours), or the grace passed.
    pub fn due(&self, board: &StatusBoard) -> Vec<String> {
        let mut waiting = self.0.lock();
        let due: Vec<String> = waiting
            .iter()
            .filter(|(t, since)| {
                let live = board.get(t).is_some_and(|s| {
                    s.channels
                        .iter()
                        .any(|c| matches!(c.lifecycle, Lifecycle::Live { .. }))
                });
                !live || since.elapsed() >= DISPLACE_GRACE
            })
            .map(|(t, _)| t.clone())
            .collect();
        for t in &due {
            waiting.remove(t);
        }
        due
    }
}
