//! A channel's figures (its counters, the last frame, the last ping's round trip), written by the channel as
//! frames arrive and whenever it makes a status, and read by its tenant for the status board.
//!
//! The tenant refreshes the board every second. Asking each channel for its whole status that often woke every
//! idle channel once a second and built a status of a dozen allocations for it: with 10,000 channels, most of
//! the engine's idle CPU. Reading these figures needs no message. The rest of a status (phase, channel id,
//! errors, rejected topics) the channel reports itself as it changes; a full round of questions still runs
//! every [`crate::tenant::STATUS_ROUND`], as a safety net. The tenant's proofs of life take the last frame from
//! here too, instead of asking every channel each `proof_of_life_interval`.
//!
//! The tenant shares each channel's status with the board and copies it only when these figures moved
//! ([`Tally::refresh`]): publishing a tenant of 250 quiet channels copies no status.

use std::sync::Arc;
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
        self.read().apply(status);
    }

    /// Brings a shared status up to the figures last written, copying it only when they moved: a status the
    /// board still shows stays shared while its channel is quiet. Answers whether anything moved.
    pub fn refresh(&self, status: &mut Arc<ChannelStatus>) -> bool {
        let figures = self.read();
        if figures.shown_in(status) {
            return false;
        }
        figures.apply(Arc::make_mut(status));
        true
    }

    /// The figures last written; the times are `None` when never written.
    fn read(&self) -> Figures {
        let last = self.last_frame_ms.load(Ordering::Relaxed);
        let pong = self.pong_latency_ms.load(Ordering::Relaxed);
        Figures {
            events: self.events.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            rollovers: self.rollovers.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            unsubscribed: self.unsubscribed.load(Ordering::Relaxed),
            last_frame_at: (last != NONE_I64)
                .then(|| DateTime::from_timestamp_millis(last))
                .flatten(),
            pong_latency_ms: (pong != NONE_U64).then_some(pong),
        }
    }
}

impl Figures {
    /// Sets `status`'s counters; its times only where these are known (a new actor has none yet).
    fn apply(&self, status: &mut ChannelStatus) {
        status.events = self.events;
        status.malformed_frames = self.malformed;
        status.gaps = self.gaps;
        status.connects = self.connects;
        status.rollovers = self.rollovers;
        status.restarts = self.restarts;
        status.unsubscribed_events = self.unsubscribed;
        if self.last_frame_at.is_some() {
            status.last_frame_at = self.last_frame_at;
        }
        if self.pong_latency_ms.is_some() {
            status.pong_latency_ms = self.pong_latency_ms;
        }
    }

    /// Whether [`Figures::apply`] would leave `status` as it is.
    fn shown_in(&self, status: &ChannelStatus) -> bool {
        status.events == self.events
            && status.malformed_frames == self.malformed
            && status.gaps == self.gaps
            && status.connects == self.connects
            && status.rollovers == self.rollovers
            && status.restarts == self.restarts
            && status.unsubscribed_events == self.unsubscribed
            && (self.last_frame_at.is_none() || status.last_frame_at == self.last_frame_at)
            && (self.pong_latency_ms.is_none() || status.pong_latency_ms == self.pong_latency_ms)
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

    #[test]
    fn a_shared_status_is_copied_only_when_its_figures_moved() {
        let tally = Tally::default();
        let mut shown = Arc::new(status());
        tally.refresh(&mut shown);
        let board = shown.clone();
        assert!(!tally.refresh(&mut shown), "nothing moved");
        assert!(Arc::ptr_eq(&shown, &board), "still shared with the board");
        tally.write(&Figures {
            events: 2,
            ..tally.read()
        });
        assert!(tally.refresh(&mut shown));
        assert_eq!(
            (shown.events, board.events),
            (2, 0),
            "the board's copy is left alone"
        );
        let at = DateTime::from_timestamp_millis(1_764_800_000_123).unwrap();
        tally.write(&Figures {
            last_frame_at: Some(at),
            ..tally.read()
        });
        assert!(tally.refresh(&mut shown), "a new frame moves it too");
        assert_eq!(shown.last_frame_at, Some(at));
        assert!(!tally.refresh(&mut shown));
    }
}
