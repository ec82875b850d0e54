//! What a channel is asked and told — by its tenant — and how it answers, and what it tells its tenant.
//! The actor's own work is in `mod.rs` and `flows.rs`.

use actix::prelude::*;

use super::phase::Phase;
use super::{ChannelActor, ChannelStatus, announce_families, families_of};
use crate::metrics::labels::DisconnectReason;
use crate::placement::Unit;

/// Sent to the tenant whenever the channel's status changes.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ChannelReport(pub ChannelStatus);

/// Sent to the tenant when a rollover asked for by [`RollOver`] is done (or could not be done now).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RolloverDone {
    pub slot: usize,
}

/// Move to a channel made with the session's current token (make before break).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct RollOver;

/// Close the socket and stop.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Stop;

/// New units for this channel: the topics are re-subscribed in place (an empty list stops the channel).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct SetUnits(pub Vec<Unit>);

/// Start over now: reconnect (or re-create) the channel. With `only_failed`, only if it is `failed`.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Restart {
    pub only_failed: bool,
}

/// Panic inside the actor's handler, uncaught (fault injection: proves that a panic anywhere in a channel is
/// contained by its tenant).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Crash;

/// Sent to the tenant when a channel actor ended without stopping (a panic in one of its handlers or jobs
/// unwound it): the tenant starts the slot again.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ChannelEnded {
    pub slot: usize,
    /// The channel it had last bound, if any: its store record says where continuity last held.
    pub channel_id: Option<String>,
}

/// The channel's current status.
#[derive(Message, Debug)]
#[rtype(result = "ChannelStatus")]
pub struct GetStatus;

impl Handler<Stop> for ChannelActor {
    type Result = ResponseActFuture<Self, ()>;
    /// Records when continuity last held, so that a restarted process re-uses the channel and reports the gap
    /// it leaves; then stops.
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        self.end_notice.expected = true;
        // Cluster mode: a fenced instance's record could overwrite the new owner's; it is not written.
        let record = self
            .continuity
            .last_proof()
            .and_then(|proof| self.record(proof))
            .filter(|_| self.shared.admits());
        if self.phase.live().is_some() {
            self.shared.metrics.disconnected(DisconnectReason::Stopped);
        }
        if !matches!(self.phase, Phase::Stopped) {
            self.enter(Phase::Stopped);
        }
        let shared = self.shared.clone();
        let span = self.span.get().clone();
        Box::pin(
            async move {
                if let Some(r) = record
                    && let Err(e) = super::flows::write_record(&shared, &r).await
                {
                    tracing::error!(parent: &span, error = %e, "could not store the channel record at shutdown");
                }
            }
            .into_actor(self)
            .map(|_, _, ctx| ctx.stop()),
        )
    }
}

impl Handler<GetStatus> for ChannelActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status())
    }
}

impl Handler<SetUnits> for ChannelActor {
    type Result = ();
    fn handle(&mut self, SetUnits(units): SetUnits, ctx: &mut Context<Self>) {
        if units.is_empty() {
            self.end_notice.expected = true;
            ctx.stop();
            return;
        }
        self.families = families_of(&units);
        announce_families(&self.shared.metrics, &self.families);
        self.units = units;
        self.apply_units(ctx);
    }
}

impl Handler<Restart> for ChannelActor {
    type Result = ();
    fn handle(&mut self, msg: Restart, ctx: &mut Context<Self>) {
        if matches!(self.phase, Phase::Stopped)
            || (msg.only_failed && !matches!(self.phase, Phase::Failed { .. }))
        {
            return;
        }
        tracing::info!(parent: self.span.get(), "channel restart requested");
        if self.phase.live().is_some() {
            // A live socket stays until its replacement is up (make before break).
            self.hand_over(DisconnectReason::Stopped, ctx);
            return;
        }
        let reuse = self.phase.bound().cloned();
        self.enter(Phase::Preparing { reuse });
        self.prepare(ctx);
    }
}

impl Handler<Crash> for ChannelActor {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("injected panic in channel {}", self.slot);
    }
}
