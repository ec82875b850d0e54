//! The restart strategy for a supervised child (a tenant under the supervisor, a channel under its own actor):
//! exponential backoff with jitter, a reset after a healthy period, and an intensity limit (at most N restarts
//! within T) past which the child is `failed` and retried only on a slow cadence. A leaf: it depends only on
//! [`crate::backoff`] and the policy types of [`crate::config`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::config::{BackoffPolicy, RestartPolicy};

/// What to do after a child failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartDecision {
    /// Restart after this delay.
    After(Duration),
    /// Too many restarts in the window: mark it failed and try again after this (long) delay.
    Failed(Duration),
}

/// Tracks one child's failures.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    backoff: Backoff,
    recent: VecDeque<Instant>,
    healthy_since: Option<Instant>,
    total: u64,
}

impl RestartTracker {
    pub fn new(policy: RestartPolicy, backoff: BackoffPolicy) -> RestartTracker {
        RestartTracker {
            policy,
            backoff: Backoff::new(backoff),
            recent: VecDeque::new(),
            healthy_since: None,
            total: 0,
        }
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.total
    }

    /// The child is working (connected, serving): after `healthy_after` of this the backoff starts over.
    pub fn healthy(&mut self, now: Instant) {
        if self.healthy_since.is_none() {
            self.healthy_since = Some(now);
        }
    }

    /// The child reached its working state again (a channel's socket is live): the next failure starts from
    /// the shortest delay, so a socket that drops now and then is back at once, not after a delay that grew
    /// with every earlier drop. The intensity limit still counts every failure: one that flaps is `failed`.
    pub fn recovered(&mut self) {
        self.backoff.reset();
    }

    /// The child failed at `now`.
    pub fn failed(&mut self, now: Instant) -> RestartDecision {
        if self
            .healthy_since
            .is_some_and(|t| now.duration_since(t) >= self.policy.healthy_after)
        {
            self.backoff.reset();
            self.recent.clear();
        }
        self.healthy_since = None;
        self.total += 1;
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.within)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() > self.policy.max_restarts as usize {
            self.recent.clear();
            self.backoff.reset();
            return RestartDecision::Failed(self.policy.failed_retry);
        }
        RestartDecision::After(self.backoff.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> RestartTracker {
        RestartTracker::new(
            RestartPolicy {
                max_restarts: 3,
                within: Duration::from_secs(60),
                healthy_after: Duration::from_secs(30),
                failed_retry: Duration::from_secs(300),
            },
            BackoffPolicy {
                min: Duration::from_secs(1),
                max: Duration::from_secs(10),
                multiplier: 2.0,
                jitter: 0.0,
            },
        )
    }

    #[test]
    fn backs_off_then_fails_past_the_intensity_limit() {
        let t0 = Instant::now();
        let mut t = tracker();
        assert_eq!(t.failed(t0), RestartDecision::After(Duration::from_secs(1)));
        assert_eq!(
            t.failed(t0 + Duration::from_secs(1)),
            RestartDecision::After(Duration::from_secs(2))
        );
        assert_eq!(
            t.failed(t0 + Duration::from_secs(3)),
            RestartDecision::After(Duration::from_secs(4))
        );
        assert_eq!(
            t.failed(t0 + Duration::from_secs(7)),
            RestartDecision::Failed(Duration::from_secs(300))
        );
        assert_eq!(t.restarts(), 4);
        // After the slow retry, it starts again from the shortest delay.
        assert_eq!(
            t.failed(t0 + Duration::from_secs(400)),
            RestartDecision::After(Duration::from_secs(1))
        );
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_add_up() {
        let t0 = Instant::now();
        let mut t = tracker();
        for i in 0..10 {
            let d = t.failed(t0 + Duration::from_secs(61 * i));
            assert!(matches!(d, RestartDecision::After(_)), "failure {i}: {d:?}");
        }
    }

    #[test]
    fn a_recovery_restarts_the_backoff_but_not_the_intensity_count() {
        let t0 = Instant::now();
        let mut t = tracker();
        assert_eq!(t.failed(t0), RestartDecision::After(Duration::from_secs(1)));
        t.recovered();
        assert_eq!(
            t.failed(t0 + Duration::from_secs(2)),
            RestartDecision::After(Duration::from_secs(1)),
            "back to the shortest delay"
        );
        t.recovered();
        t.failed(t0 + Duration::from_secs(3));
        t.recovered();
        assert_eq!(
            t.failed(t0 + Duration::from_secs(4)),
            RestartDecision::Failed(Duration::from_secs(300)),
            "four failures in the window are still too many"
        );
    }

    #[test]
    fn a_healthy_period_resets_the_backoff() {
        let t0 = Instant::now();
        let mut t = tracker();
        t.failed(t0);
        t.failed(t0);
        t.healthy(t0 + Duration::from_secs(1));
        assert_eq!(
            t.failed(t0 + Duration::from_secs(40)),
            RestartDecision::After(Duration::from_secs(1))
        );
        t.healthy(t0 + Duration::from_secs(41));
        assert_eq!(
            t.failed(t0 + Duration::from_secs(42)),
            RestartDecision::After(Duration::from_secs(2)),
            "too short to count"
        );
    }
}
