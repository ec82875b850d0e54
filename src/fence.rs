//! The self-fence: a local deadline on the monotonic clock (the send time of the last good renewal plus
//! `renew_deadline`). Every claiming action (connect or reconnect a socket, create a channel, change
//! subscriptions, roll over, write to the store) checks it first; past it, this instance claims nothing, so a
//! paused process that wakes up after its leases expired cannot take a channel back from the new owner.
//! [`Handover`] is the same rule for one tenant that this instance offers to another: its sockets read on,
//! but nothing is claimed, so that the taker's sockets displace them and are never displaced back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Shared by every actor of one engine. Without cluster mode it always holds.
#[derive(Debug, Clone)]
pub struct Fence {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    base: Instant,
    /// Milliseconds after `base` until which claiming is allowed (0: never yet).
    until_ms: AtomicU64,
    /// Claiming actions refused since start.
    refused: AtomicU64,
}

impl Fence {
    /// The fence of a single instance: always open.
    pub fn open() -> Fence {
        Fence { inner: None }
    }

    /// A cluster member's fence, closed until the first good renewal.
    pub fn closed() -> Fence {
        Fence {
            inner: Some(Arc::new(Inner {
                base: Instant::now(),
                until_ms: AtomicU64::new(0),
                refused: AtomicU64::new(0),
            })),
        }
    }

    /// Claiming is allowed until `deadline` (only ever moved forward).
    pub fn extend(&self, deadline: Instant) {
        if let Some(i) = &self.inner {
            let ms = u64::try_from(deadline.saturating_duration_since(i.base).as_millis())
                .unwrap_or(u64::MAX);
            i.until_ms.fetch_max(ms, Ordering::AcqRel);
        }
    }

    /// Closes the fence now (leases given up or lost).
    pub fn close(&self) {
        if let Some(i) = &self.inner {
            i.until_ms.store(0, Ordering::Release);
        }
    }

    /// Whether this instance may claim now.
    pub fn holds(&self) -> bool {
        self.holds_at(Instant::now())
    }

    fn holds_at(&self, now: Instant) -> bool {
        match &self.inner {
            None => true,
            Some(i) => {
                let now_ms = u64::try_from(now.saturating_duration_since(i.base).as_millis())
                    .unwrap_or(u64::MAX);
                now_ms < i.until_ms.load(Ordering::Acquire)
            }
        }
    }

    /// Checks before a claiming action; a refusal is counted. `true`: go ahead.
    pub fn admit(&self) -> bool {
        let ok = self.holds();
        if !ok && let Some(i) = &self.inner {
            i.refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Counts a claiming action refused elsewhere (a store write the lease check in SQL turned down).
    pub fn count_refusal(&self) {
        if let Some(i) = &self.inner {
            i.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Claiming actions refused so far.
    pub fn refused(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.refused.load(Ordering::Relaxed))
    }
}

/// One tenant's handover (cluster mode, make-before-break): while it is on, the tenant's channels keep reading
/// their sockets but claim nothing (no reconnect, no new channel, no subscription change, no record), so that
/// the taker's sockets displace them and are never displaced back. Shared by the cluster loop, which turns it
/// on and off, and the tenant's actors, which check it.
#[derive(Debug, Clone, Default)]
pub struct Handover(Arc<AtomicBool>);

impl Handover {
    /// The tenant is offered to another instance.
    pub fn begin(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// The offer was withdrawn: the tenant claims again (reconnects what dropped, with its gap).
    pub fn cancel(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// Whether the tenant is being handed over.
    pub fn active(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_single_instance_always_holds_a_member_only_until_its_deadline() {
        assert!(Fence::open().admit());
        let f = Fence::closed();
        assert!(!f.admit(), "closed until the first renewal");
        let now = Instant::now();
        f.extend(now + Duration::from_secs(10));
        assert!(f.holds_at(now + Duration::from_secs(9)));
        assert!(
            !f.holds_at(now + Duration::from_secs(11)),
            "a paused process wakes up fenced"
        );
        f.extend(now + Duration::from_secs(5));
        assert!(
            f.holds_at(now + Duration::from_secs(9)),
            "never moved back by a late renewal"
        );
        f.close();
        assert!(!f.admit());
        assert_eq!(f.refused(), 2);
    }

    #[test]
    fn a_handover_is_seen_by_every_clone_until_cancelled() {
        let h = Handover::default();
        let seen = h.clone();
        assert!(!seen.active());
        h.begin();
        assert!(seen.active());
        h.cancel();
        assert!(!seen.active());
    }
}
