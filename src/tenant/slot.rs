//! One channel of a tenant, as the tenant keeps it: where it runs, with which client, what it holds, what it
//! last said, and the proof of life last written to the store for it.

use std::sync::Arc;

use actix::Addr;
use chrono::{DateTime, Utc};

use crate::channel::tally::Tally;
use crate::channel::{ChannelActor, ChannelStatus, Lifecycle};
use crate::placement::Unit;
use crate::restart::RestartTracker;

/// A channel slot. Slots are never reused: a slot's index is the `slot` its channel reports, and a slot
/// whose channel was stopped by a change of topics stays, empty, so that later indices keep their meaning.
pub(super) struct Slot {
    pub addr: Addr<ChannelActor>,
    /// Where the slot's current channel actor writes its counters and times.
    pub tally: Arc<Tally>,
    /// The index of the session (OAuth client) the channel was made with.
    pub client: usize,
    /// The units (with their topics) the channel holds; empty once the channel was stopped.
    pub units: Vec<Unit>,
    /// What the channel last reported, with its tally's figures since (none before its first report, or
    /// once stopped). Shared with the board, which shows it until it changes.
    pub status: Option<Arc<ChannelStatus>>,
    /// The proof of life last written to the store for this slot's channel.
    pub persisted: Persisted,
    /// Restarts of the slot's channel actor after a panic.
    pub restarts: RestartTracker,
}

impl Slot {
    pub fn new(
        addr: Addr<ChannelActor>,
        tally: Arc<Tally>,
        client: usize,
        units: Vec<Unit>,
        restarts: RestartTracker,
    ) -> Slot {
        Slot {
            addr,
            tally,
            client,
            units,
            status: None,
            persisted: Persisted::default(),
            restarts,
        }
    }

    /// Whether the slot's channel runs (a change of topics may have stopped it).
    pub fn holds_topics(&self) -> bool {
        !self.units.is_empty()
    }

    /// The ids of the units the channel holds, as the placement compares them.
    pub fn unit_ids(&self) -> Vec<String> {
        self.units.iter().map(|u| u.id.clone()).collect()
    }

    /// Takes the channel's status, unless the slot was emptied meanwhile (a stopped channel's last word
    /// would bring it back into the tenant's status).
    pub fn observe(&mut self, status: ChannelStatus) {
        if self.holds_topics() && self.status.as_deref() != Some(&status) {
            self.status = Some(Arc::new(status));
        }
    }

    /// Brings the status last reported up to the figures the channel wrote since (copied only if they moved).
    pub fn take_tally(&mut self) {
        if let Some(status) = self.status.as_mut() {
            self.tally.refresh(status);
        }
    }

    /// Gives the slot's channel new units (it is being sent them): its status counts their topics from now
    /// on, as the channel does once it has them.
    pub fn assign(&mut self, units: Vec<Unit>) {
        if let Some(status) = self.status.as_mut() {
            Arc::make_mut(status).topics = units.iter().map(|u| u.topics.len()).sum();
        }
        self.units = units;
    }

    /// Empties the slot: its channel is being stopped.
    pub fn clear(&mut self) {
        self.units.clear();
        self.status = None;
    }

    /// The proof of life to write for this slot's channel, if any (see [`Persisted::due`]).
    pub fn proof_due(&self) -> Option<Proof> {
        self.persisted.due(self.status.as_ref()?)
    }
}

/// A channel's proof of life, as written to its store record: the channel's id and its last frame.
pub(super) type Proof = (String, DateTime<Utc>);

/// The proof of life last written for a slot's channel.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Persisted(Option<Proof>);

impl Persisted {
    /// The proof to write for a channel whose status is `status`: its last frame, when it is live and that
    /// frame is newer than what was written for this channel (a rollover binds another channel, whose record
    /// has never had it).
    pub fn due(&self, status: &ChannelStatus) -> Option<Proof> {
        if !matches!(status.lifecycle, Lifecycle::Live { .. }) {
            return None;
        }
        let id = status.channel_id.as_ref()?;
        let at = status.last_frame_at?;
        match &self.0 {
            Some((written, written_at)) if written == id && *written_at >= at => None,
            _ => Some((id.clone(), at)),
        }
    }

    /// `proof` is in the store now.
    pub fn written(&mut self, proof: Proof) {
        self.0 = Some(proof);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(
        lifecycle: Lifecycle,
        channel: Option<&str>,
        last_frame_at: Option<DateTime<Utc>>,
    ) -> ChannelStatus {
        ChannelStatus {
            slot: 0,
            client_id: "c".into(),
            channel_id: channel.map(str::to_string),
            lifecycle,
            topics: 1,
            rejected: Vec::new(),
            connected_since: None,
            last_frame_at,
            expires: None,
            restarts: 0,
            last_error: None,
            events: 0,
            malformed_frames: 0,
            gaps: 0,
            connects: 1,
            rollovers: 0,
            pong_latency_ms: None,
            unsubscribed_events: 0,
        }
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + s, 0).expect("in range")
    }

    fn live(channel: &str, frame: i64) -> ChannelStatus {
        status(
            Lifecycle::Live { since: at(0) },
            Some(channel),
            Some(at(frame)),
        )
    }

    #[test]
    fn a_live_channel_is_due_once_per_new_frame() {
        let mut p = Persisted::default();
        assert_eq!(p.due(&live("ch-1", 1)), Some(("ch-1".into(), at(1))));
        p.written(("ch-1".into(), at(1)));
        assert_eq!(p.due(&live("ch-1", 1)), None, "nothing new since the write");
        assert_eq!(p.due(&live("ch-1", 6)), Some(("ch-1".into(), at(6))));
    }

    #[test]
    fn a_rolled_over_channel_is_due_even_with_an_older_frame() {
        let mut p = Persisted::default();
        p.written(("ch-1".into(), at(6)));
        assert_eq!(p.due(&live("ch-2", 5)), Some(("ch-2".into(), at(5))));
    }

    #[test]
    fn a_channel_that_is_not_live_or_has_no_frame_yet_is_not_due() {
        let p = Persisted::default();
        for s in [
            status(Lifecycle::Connecting, Some("ch-1"), Some(at(1))),
            status(
                Lifecycle::Backoff {
                    attempt: 1,
                    last_error: "lost".into(),
                },
                Some("ch-1"),
                Some(at(1)),
            ),
            status(Lifecycle::Stopped, Some("ch-1"), Some(at(1))),
            status(Lifecycle::Live { since: at(0) }, None, Some(at(1))),
            status(Lifecycle::Live { since: at(0) }, Some("ch-1"), None),
        ] {
            assert_eq!(p.due(&s), None, "{s:?}");
        }
    }
}
