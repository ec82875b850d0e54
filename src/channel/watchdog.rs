//! The ping watchdog of one socket: sends the app-level ping on time, times its pong, and declares the socket
//! dead when no frame at all (event, heartbeat or pong) came for longer than the timeout, whatever TCP says.

use std::time::Duration;

use tokio::time::Instant;

/// What the watchdog wants done at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Send `{"message":"ping"}` now.
    SendPing,
    /// Nothing came for `silent_for` (past the timeout): the socket is dead.
    Dead { silent_for: Duration },
    /// Nothing to do.
    Idle,
}

#[derive(Debug, Clone)]
pub struct Watchdog {
    ping_every: Duration,
    timeout: Duration,
    last_frame: Instant,
    last_ping: Instant,
    /// The oldest ping not answered yet.
    unanswered: Option<Instant>,
    latency: Option<Duration>,
}

impl Watchdog {
    pub fn new(ping_every: Duration, timeout: Duration, now: Instant) -> Watchdog {
        Watchdog {
            ping_every,
            timeout,
            last_frame: now,
            last_ping: now,
            unanswered: None,
            latency: None,
        }
    }

    /// A new socket is open at `now`: it starts with a clean slate.
    pub fn reset(&mut self, now: Instant) {
        self.last_frame = now;
        self.last_ping = now;
        self.unanswered = None;
    }

    /// A frame arrived on the current socket.
    pub fn frame(&mut self, now: Instant) {
        self.last_frame = now;
    }

    /// A pong arrived: the round trip of the oldest unanswered ping, if one was sent.
    pub fn pong(&mut self, now: Instant) -> Option<Duration> {
        self.frame(now);
        let sent = self.unanswered.take()?;
        let latency = now.saturating_duration_since(sent);
        self.latency = Some(latency);
        Some(latency)
    }

    /// The last ping's round trip.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// How long the socket has been silent at `now`.
    pub fn silent_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_frame)
    }

    /// Called on a timer: says whether to ping, whether the socket is dead, or nothing.
    pub fn tick(&mut self, now: Instant) -> Tick {
        let silent_for = self.silent_for(now);
        if silent_for > self.timeout {
            return Tick::Dead { silent_for };
        }
        if now.saturating_duration_since(self.last_ping) < self.ping_every {
            return Tick::Idle;
        }
        self.last_ping = now;
        // The oldest unanswered ping is timed, unless its pong was lost long ago.
        if self
            .unanswered
            .is_none_or(|t| now.saturating_duration_since(t) > self.timeout)
        {
            self.unanswered = Some(now);
        }
        Tick::SendPing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn pings_on_its_period_and_times_the_pong() {
        let mut w = Watchdog::new(15 * S, 70 * S, Instant::now());
        tokio::time::advance(14 * S).await;
        assert_eq!(w.tick(Instant::now()), Tick::Idle);
        tokio::time::advance(S).await;
        assert_eq!(w.tick(Instant::now()), Tick::SendPing);
        assert_eq!(w.tick(Instant::now()), Tick::Idle, "one ping per period");
        tokio::time::advance(Duration::from_millis(40)).await;
        assert_eq!(w.pong(Instant::now()), Some(Duration::from_millis(40)));
        assert_eq!(
            w.pong(Instant::now()),
            None,
            "a second pong answers nothing"
        );
        assert_eq!(w.latency(), Some(Duration::from_millis(40)));
    }

    #[tokio::test(start_paused = true)]
    async fn silence_past_the_timeout_is_death_and_any_frame_resets_it() {
        let mut w = Watchdog::new(15 * S, 70 * S, Instant::now());
        tokio::time::advance(60 * S).await;
        w.frame(Instant::now());
        tokio::time::advance(70 * S).await;
        assert_ne!(
            w.tick(Instant::now()),
            Tick::Dead { silent_for: 70 * S },
            "exactly the timeout is not yet death"
        );
        tokio::time::advance(S).await;
        assert_eq!(w.tick(Instant::now()), Tick::Dead { silent_for: 71 * S });
        w.reset(Instant::now());
        assert_eq!(
            w.tick(Instant::now()),
            Tick::Idle,
            "a new socket starts afresh"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_ping_keeps_its_send_time_until_it_is_stale() {
        let mut w = Watchdog::new(10 * S, 30 * S, Instant::now());
        tokio::time::advance(10 * S).await;
        assert_eq!(w.tick(Instant::now()), Tick::SendPing);
        w.frame(Instant::now());
        tokio::time::advance(10 * S).await;
        assert_eq!(w.tick(Instant::now()), Tick::SendPing);
        tokio::time::advance(S).await;
        // The pong of the first ping (or a late one) measures from the first ping: the round trip is honest.
        assert_eq!(w.pong(Instant::now()), Some(11 * S));
    }
}
