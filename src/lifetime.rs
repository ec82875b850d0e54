//! One lifetime policy for tokens and channels: when each is renewed before it expires.
//!
//! A margin is configured (`token_refresh_margin`, `rollover_margin`, 30 minutes by default) but never used as
//! is: it is capped at a third of the real lifetime of the thing it protects. A token that lives 15 seconds is
//! renewed 5 seconds before it expires, not "30 minutes before", which would make every new token due at once
//! (a storm of tokens and channels); a token of 24 hours is renewed 30 minutes before.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::EnginePolicy;

/// The share of a lifetime a margin may take at most: renewing after two thirds of a life.
const MAX_SHARE: u32 = 3;

/// How long before something that lives `lifetime` expires it is renewed: `configured`, capped at a third of
/// `lifetime`.
pub fn margin(configured: Duration, lifetime: Duration) -> Duration {
    configured.min(lifetime / MAX_SHARE)
}

/// The renewal margins of tokens and channels, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Refresh a token this long before it expires (capped at a third of its lifetime).
    pub token_refresh_margin: Duration,
    /// Extend or roll a channel over this long before it or its token expires (capped at a third of the
    /// lifetime concerned).
    pub rollover_margin: Duration,
}

impl Lifetimes {
    pub fn of(policy: &EnginePolicy) -> Lifetimes {
        Lifetimes {
            token_refresh_margin: policy.token_refresh_margin,
            rollover_margin: policy.rollover_margin,
        }
    }

    /// When a token that expires at `expires_at` after living `lifetime` is refreshed.
    pub fn token_refresh_at(&self, expires_at: DateTime<Utc>, lifetime: Duration) -> DateTime<Utc> {
        expires_at - crate::time::chrono(margin(self.token_refresh_margin, lifetime))
    }

    /// When a channel must be extended or replaced: `rollover_margin` before it expires, capped at a third of
    /// `lifetime` (how long it was granted for).
    pub fn channel_renew_at(&self, expires_at: DateTime<Utc>, lifetime: Duration) -> DateTime<Utc> {
        expires_at - crate::time::chrono(margin(self.rollover_margin, lifetime))
    }

    /// When a channel must move to a newer token, so that it does not die with the token that made it (whether
    /// it would is unknown: contract §2).
    pub fn token_move_at(
        &self,
        token_expires_at: DateTime<Utc>,
        lifetime: Duration,
    ) -> DateTime<Utc> {
        token_expires_at - crate::time::chrono(margin(self.rollover_margin, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetimes() -> Lifetimes {
        Lifetimes::of(&EnginePolicy::default())
    }

    #[test]
    fn a_margin_is_capped_at_a_third_of_the_lifetime() {
        let thirty_min = Duration::from_secs(1800);
        assert_eq!(
            margin(thirty_min, Duration::from_secs(15)),
            Duration::from_secs(5)
        );
        assert_eq!(
            margin(thirty_min, Duration::from_secs(300)),
            Duration::from_secs(100)
        );
        assert_eq!(margin(thirty_min, Duration::from_secs(86_400)), thirty_min);
        assert_eq!(margin(thirty_min, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_short_token_is_renewed_after_two_thirds_of_its_life_not_at_once() {
        let now = Utc::now();
        let life = Duration::from_secs(15);
        let expires = now + chrono::Duration::seconds(15);
        let l = lifetimes();
        assert_eq!(
            l.token_refresh_at(expires, life),
            now + chrono::Duration::seconds(10)
        );
        assert_eq!(
            l.token_move_at(expires, life),
            now + chrono::Duration::seconds(10)
        );
        assert!(
            l.token_refresh_at(expires, life) > now,
            "a new token is not due at once"
        );
    }

    #[test]
    fn a_day_long_channel_is_renewed_the_configured_margin_before_it_expires() {
        let now = Utc::now();
        let expires = now + chrono::Duration::hours(24);
        assert_eq!(
            lifetimes().channel_renew_at(expires, Duration::from_secs(86_400)),
            expires - chrono::Duration::minutes(30)
        );
    }
}
