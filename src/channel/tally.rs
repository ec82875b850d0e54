//! A channel's figures (its counters, the last frame, the last ping's round trip), written by the channel as
//! frames arrive and whenever it makes a status, and read by its tenant for the status board.
//!
//! The tenant refreshes the board every second. Asking each channel for its whole status that often woke every
//! idle channel once a second and built a status of a dozen allocations for it: with 10,000 channels, most of
//! the engine's idle CPU. Reading these figures needs no message. The rest of a status (phase, channel id,
//! errors, rejected topics) the channel reports itself as it changes; a full round of questions still runs
//! every [`crate::tenant::STATUS_ROUND`], as a safety net.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::ChannelStatus;

/// Written by one channel actor at a time (the slot's current one), read by the tenant.
#[derive(Debug)]
pub struct Tally {
    events: AtomicU64,
    malformed: AtomicU64,
    gaps: AtomicU64,
    connects: AtomicU64,
    rollovers: AtomicU64,
    restarts: AtomicU64,
    unsubscribed: AtomicU64,
    /// Milliseconds since the epoch; [`NONE_I64`] before the first frame.
    last_frame_ms: AtomicI64,
    /// [`NONE_U64`] before the first pong.
    pong_latency_ms: AtomicU64,
}

const NONE_I64: i64 = i64::MIN;
const NONE_U64: u64 = u64::MAX;

/// What a channel writes: its own counters and times, as its status would show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub events: u64,
    pub malformed: u64,
    pub gaps: u64,
    pub connects: u64,
    pub rollovers: u64,
    pub restarts: u64,
    pub unsubscribed: u64,
    pub last_frame_at: Option<DateTime<Utc>>,
    pub pong_latency_ms: Option<u64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            events: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            rollovers: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            unsubscribed: AtomicU64::new(0),
            last_frame_ms: AtomicI64::new(NONE_I64),
            pong_latency_ms: AtomicU64::new(NONE_U64),
        }
    }
}

impl Tally {
    /// Stores the channel's figures. Relaxed: each figure is read on its own, and a status a frame behind is
    /// as good as one a second behind.
    pub fn write(&self, f: &Figures) {
        self.events.store(f.events, Ordering::Relaxed);
        self.malformed.store(f.malformed, Ordering::Relaxed);
        self.gaps.store(f.gaps, Ordering::Relaxed);
        self.connects.store(f.connects, Ordering::Relaxed);
        self.rollovers.store(f.rollovers, Ordering::Relaxed);
        self.restarts.store(f.restarts, Ordering::Relaxed);
        self.unsubscribed.store(f.unsubscribed, Ordering::Relaxed);
        self.last_frame_ms.store(
            f.last_frame_at.map_or(NONE_I64, |t| t.timestamp_millis()),
            Ordering::Relaxed,
        );
        self.pong_latency_ms
            .store(f.pong_latency_ms.unwrap_or(NONE_U64), Ordering::Relaxed);
    }

    /// Brings `status` up to the figures last written. A figure never written (a channel restarted in the
    /// slot that has had no frame yet) leaves the status's own.
    pub fn apply(&self, status: &mut ChannelStatus) {
        status.events = self.events.load(Ordering::Relaxed);
        status.malformed_frames = self.malformed.load(Ordering::Relaxed);
        status.gaps = self.gaps.load(Ordering::Relaxed);
        status.connects = self.connects.load(Ordering::Relaxed);
        status.rollovers = self.rollovers.load(Ordering::Relaxed);
        status.restarts = self.restarts.load(Ordering::Relaxed);
        status.unsubscribed_events = self.unsubscribed.load(Ordering::Relaxed);
        let last = self.last_frame_ms.load(Ordering::Relaxed);
        if last != NONE_I64 {
            status.last_frame_at = DateTime::from_timestamp_millis(last).or(status.last_frame_at);
        }
        let pong = self.pong_latency_ms.load(Ordering::Relaxed);
        if pong != NONE_U64 {
            status.pong_latency_ms = Some(pong);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Lifecycle;

    fn status() -> ChannelStatus {
        ChannelStatus {
            slot: 0,
            client_id: "c".into(),
            channel_id: Some("ch".into()),
            lifecycle: Lifecycle::Connecting,
            topics: 3,
            rejected: Vec::new(),
            connected_since: None,
            last_frame_at: None,
            expires: None,
            restarts: 0,
            last_error: None,
            events: 1,
            malformed_frames: 0,
            gaps: 2,
            connects: 1,
            rollovers: 0,
            pong_latency_ms: None,
            unsubscribed_events: 0,
        }
    }

    #[test]
    fn a_status_takes_the_figures_last_written_and_keeps_the_rest() {
        let tally = Tally::default();
        let at = DateTime::from_timestamp_millis(1_764_800_000_123).unwrap();
        tally.write(&Figures {
            events: 41,
            malformed: 2,
            gaps: 4,
            connects: 5,
            rollovers: 6,
            restarts: 7,
            unsubscribed: 3,
            last_frame_at: Some(at),
            pong_latency_ms: Some(7),
        });
        let mut s = status();
        tally.apply(&mut s);
        assert_eq!(
            (s.events, s.malformed_frames, s.unsubscribed_events),
            (41, 2, 3)
        );
        assert_eq!((s.gaps, s.connects, s.rollovers, s.restarts), (4, 5, 6, 7));
        assert_eq!(s.last_frame_at, Some(at));
        assert_eq!(s.pong_latency_ms, Some(7));
        assert_eq!(
            (s.topics, s.channel_id.as_deref()),
            (3, Some("ch")),
            "not the tally's"
        );
    }

    #[test]
    fn figures_never_written_leave_the_status_its_times() {
        let at = DateTime::from_timestamp_millis(1_764_800_000_000).unwrap();
        let mut s = ChannelStatus {
            last_frame_at: Some(at),
            pong_latency_ms: Some(9),
            ..status()
        };
        Tally::default().apply(&mut s);
        assert_eq!(s.last_frame_at, Some(at));
        assert_eq!(s.pong_latency_ms, Some(9));
        assert_eq!(
            (s.events, s.gaps),
            (0, 0),
            "counters start at zero, as a new actor's"
        );
    }
}
