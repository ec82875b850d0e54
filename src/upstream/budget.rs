//! The REST budget of one token: at most N requests in any sliding minute, and nothing at all while a 429's
//! `Retry-After` is running. Shared by every channel of the token.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The longest a 429 blocks the budget, whatever its `Retry-After` says.
pub const MAX_BLOCK: Duration = Duration::from_secs(3600);

/// A sliding-window limiter. The platform counts requests per token per minute; a token bucket would allow
/// a full burst plus the refill inside one window, so a window of send times is kept instead.
#[derive(Debug)]
pub struct RateBudget {
    per_window: usize,
    window: Duration,
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl RateBudget {
    pub fn new(per_window: usize, window: Duration) -> RateBudget {
        RateBudget {
            per_window: per_window.max(1),
            window,
            sent: VecDeque::new(),
            blocked_until: None,
        }
    }

    /// Takes one request slot at `now`, or says how long to wait for one.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Err(until - now);
            }
            self.blocked_until = None;
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.per_window {
            let oldest = self.sent.front().copied().unwrap_or(now);
            return Err((oldest + self.window)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)));
        }
        self.sent.push_back(now);
        Ok(())
    }

    /// The platform answered 429: send nothing more until `retry_after` has passed (at most
    /// [`MAX_BLOCK`]: the value comes from the wire).
    pub fn retry_after(&mut self, now: Instant, retry_after: Duration) {
        let wait = retry_after.min(MAX_BLOCK);
        let until = now.checked_add(wait).unwrap_or(now);
        if self.blocked_until.is_none_or(|b| b < until) {
            self.blocked_until = Some(until);
        }
    }

    /// Requests sent within the current window.
    pub fn in_window(&self) -> usize {
        self.sent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_n_in_any_window() {
        let t0 = Instant::now();
        let mut b = RateBudget::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(b.try_acquire(t0).is_ok());
        }
        let wait = b.try_acquire(t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(b.try_acquire(t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn retry_after_blocks_everything_until_it_passes() {
        let t0 = Instant::now();
        let mut b = RateBudget::new(100, Duration::from_secs(60));
        b.retry_after(t0, Duration::from_secs(5));
        assert_eq!(
            b.try_acquire(t0 + Duration::from_secs(1)).unwrap_err(),
            Duration::from_secs(4)
        );
        b.retry_after(t0, Duration::from_secs(2));
        assert!(
            b.try_acquire(t0 + Duration::from_secs(3)).is_err(),
            "a shorter Retry-After does not shorten the wait"
        );
        assert!(b.try_acquire(t0 + Duration::from_secs(5)).is_ok());
    }

    #[test]
    fn an_absurd_retry_after_blocks_for_the_cap_and_does_not_overflow() {
        let t0 = Instant::now();
        let mut b = RateBudget::new(100, Duration::from_secs(60));
        b.retry_after(t0, Duration::from_secs(u64::MAX));
        assert_eq!(b.try_acquire(t0).unwrap_err(), MAX_BLOCK);
        assert!(b.try_acquire(t0 + MAX_BLOCK).is_ok());
    }
}
