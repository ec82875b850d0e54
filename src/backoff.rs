//! Exponential backoff with jitter, shared by reconnects and actor restarts.

use std::time::Duration;

use rand::Rng;

use crate::config::BackoffPolicy;

/// The delays of one retry sequence: `min`, `min·m`, `min·m²`… up to `max`, each with up to `jitter` of it
/// taken away at random (so that many channels failing together do not retry together).
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Backoff {
        Backoff { policy, attempt: 0 }
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt, without jitter (its upper bound).
    pub fn ceiling(&self) -> Duration {
        let factor = self
            .policy
            .multiplier
            .max(1.0)
            .powi(self.attempt.min(64) as i32);
        let secs = (self.policy.min.as_secs_f64() * factor).min(self.policy.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let jitter = self.policy.jitter.clamp(0.0, 1.0);
        let keep = 1.0 - jitter * rand::rng().random::<f64>();
        ceiling.mul_f64(keep)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> BackoffPolicy {
        BackoffPolicy {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2.0,
            jitter,
        }
    }

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let mut b = Backoff::new(policy(0.0));
        let delays: Vec<u128> = (0..7).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_varies() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut b = Backoff::new(policy(0.5));
            for _ in 0..3 {
                b.next_delay();
            }
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(400) && d <= Duration::from_millis(800),
                "{d:?}"
            );
            seen.insert(d.as_micros());
        }
        assert!(seen.len() > 50, "jitter spreads the delays");
    }
}
