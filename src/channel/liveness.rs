//! The heartbeat watchdog: a socket that has sent no frame at all (no event, heartbeat or pong) for longer
//! than the timeout is dead, whatever TCP says.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Liveness {
    timeout: Duration,
    last_frame: Instant,
}

impl Liveness {
    pub fn new(timeout: Duration, now: Instant) -> Liveness {
        Liveness {
            timeout,
            last_frame: now,
        }
    }

    pub fn frame(&mut self, now: Instant) {
        self.last_frame = now;
    }

    pub fn silent_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_frame)
    }

    pub fn is_dead(&self, now: Instant) -> bool {
        self.silent_for(now) > self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_past_the_timeout_is_death_and_any_frame_resets_it() {
        let t0 = Instant::now();
        let mut l = Liveness::new(Duration::from_secs(5), t0);
        assert!(!l.is_dead(t0 + Duration::from_secs(5)));
        assert!(l.is_dead(t0 + Duration::from_millis(5001)));
        l.frame(t0 + Duration::from_secs(4));
        assert!(!l.is_dead(t0 + Duration::from_secs(9)));
        assert_eq!(
            l.silent_for(t0 + Duration::from_secs(6)),
            Duration::from_secs(2)
        );
    }
}
