//! What a tenant is asked and told — by the supervisor, the admin API and its channels — and how it answers.
//! The actor's own work is in `mod.rs`.

use actix::prelude::*;
use chrono::Utc;
use serde::Serialize;

use super::{TenantActor, TopicPlacement};
use crate::channel::{self, ChannelReport, RolloverDone};
use crate::config::TopicConfig;
use crate::metrics::labels::RestartReason;
use crate::restart::RestartDecision;

/// What a change of topics did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicsChange {
    /// Channels whose subscriptions were changed in place.
    pub channels_changed: usize,
    /// New channels.
    pub channels_started: usize,
    /// Channels left with no topic, stopped.
    pub channels_stopped: usize,
    /// Topics that do not fit.
    pub unplaced: usize,
}

/// Replaces the tenant's topics without a restart.
#[derive(Message)]
#[rtype(result = "TopicsChange")]
pub struct SetTopics(pub Vec<TopicConfig>);

/// Asks where each topic is.
#[derive(Message)]
#[rtype(result = "Vec<TopicPlacement>")]
pub struct GetPlacement;

/// Stops every channel (their records are kept for the next start), then the tenant.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopTenant;

/// Restarts the tenant's channels (only the failed ones with `only_failed`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RestartChannels {
    pub only_failed: bool,
}

/// Fault injection: panic inside one channel's handler.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CrashChannel(pub usize);

/// Sent by a tenant actor when it ends, whatever the reason (asked to stop, or a panic).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct TenantStopped {
    pub id: String,
    /// Which start of the tenant ended (see [`TenantActor::new`]): the receiver tells the actor it runs now
    /// from an earlier one that was replaced or stopped on purpose.
    pub incarnation: u64,
    /// The actor was asked to stop (`StopTenant`); otherwise a panic ended it.
    pub requested: bool,
}

impl Handler<ChannelReport> for TenantActor {
    type Result = ();
    fn handle(&mut self, ChannelReport(status): ChannelReport, _: &mut Context<Self>) {
        if let Some(slot) = self.slots.get_mut(status.slot) {
            slot.observe(status);
        }
        self.publish();
    }
}

impl Handler<RolloverDone> for TenantActor {
    type Result = ();
    fn handle(&mut self, done: RolloverDone, ctx: &mut Context<Self>) {
        if self
            .rollover_in_flight
            .is_some_and(|(slot, _)| slot == done.slot)
        {
            let _span = self.span.clone().entered();
            self.rollover_in_flight = None;
            self.tick(ctx);
        }
    }
}

impl Handler<GetPlacement> for TenantActor {
    type Result = MessageResult<GetPlacement>;
    fn handle(&mut self, _: GetPlacement, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.placement())
    }
}

impl Handler<SetTopics> for TenantActor {
    type Result = MessageResult<SetTopics>;
    fn handle(&mut self, SetTopics(topics): SetTopics, ctx: &mut Context<Self>) -> Self::Result {
        let _span = self.span.clone().entered();
        let change = self.set_topics(topics, ctx);
        // The channels count their new topics at once: ask them after the change (their mailboxes keep the
        // order), so that the board shows the change without waiting for the next refresh.
        ctx.spawn(self.refresh_statuses());
        MessageResult(change)
    }
}

impl Handler<RestartChannels> for TenantActor {
    type Result = ();
    fn handle(&mut self, msg: RestartChannels, ctx: &mut Context<Self>) {
        let mut ended = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            if s.addr.connected() {
                s.addr.do_send(channel::Restart {
                    only_failed: msg.only_failed,
                });
            } else if s.holds_topics() {
                // Its actor panicked and waits for its restart (perhaps the slow one): restart it now.
                let channel_id = s.status.as_ref().and_then(|st| st.channel_id.clone());
                ended.push((i, channel_id));
            }
        }
        for (slot, channel_id) in ended {
            self.restart_after_panic(slot, channel_id, ctx);
        }
    }
}

impl Handler<CrashChannel> for TenantActor {
    type Result = ();
    fn handle(&mut self, CrashChannel(slot): CrashChannel, _: &mut Context<Self>) {
        if let Some(s) = self.slots.get(slot) {
            s.addr.do_send(channel::Crash);
        }
    }
}

impl Handler<channel::ChannelEnded> for TenantActor {
    type Result = ();
    /// A channel actor ended without stopping: a panic unwound it. It is counted, shown, and started again
    /// through the restart policy (backoff; past the intensity limit, the slow retry).
    fn handle(&mut self, ended: channel::ChannelEnded, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let slot = ended.slot;
        if self.stopping {
            return;
        }
        let Some(s) = self.slots.get_mut(slot).filter(|s| s.holds_topics()) else {
            return;
        };
        self.shared.metrics.channel_restarted(RestartReason::Panic);
        let now = Utc::now();
        let channel_id = ended.channel_id;
        if let Some(status) = s.status.as_mut() {
            let status = std::sync::Arc::make_mut(status);
            status.lifecycle = channel::Lifecycle::Failed {
                reason: "panicked".into(),
                since: now,
                last_error: channel::PANIC_RESTART.into(),
            };
            status.last_error = Some(channel::PANIC_RESTART.into());
            status.connected_since = None;
            status.channel_id.clone_from(&channel_id);
        }
        let delay = match s.restarts.failed(std::time::Instant::now()) {
            RestartDecision::After(d) | RestartDecision::Failed(d) => d,
        };
        tracing::error!(slot, ?delay, "a channel panicked; restarting it");
        self.last_error = Some(format!(
            "channel {slot} panicked at {}; restarted",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
        self.publish();
        ctx.run_later(delay, move |act, ctx| {
            act.restart_after_panic(slot, channel_id, ctx)
        });
    }
}

impl Handler<StopTenant> for TenantActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: StopTenant, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        self.stop_notice.message.requested = true;
        let stops: Vec<_> = self
            .slots
            .iter()
            .map(|s| s.addr.send(channel::Stop))
            .collect();
        Box::pin(
            async move {
                futures_util::future::join_all(stops).await;
            }
            .into_actor(self)
            .map(|_, _, ctx| ctx.stop()),
        )
    }
}
