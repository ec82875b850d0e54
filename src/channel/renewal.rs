//! Keeping a live channel alive past its own and its token's expiry: extend it, or roll over to a new
//! channel (make before break) when it cannot be extended or its token is due. Timed by the
//! [`crate::lifetime::Lifetimes`] policy.

use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use super::error::ChannelError;
use super::flows::create;
use super::phase::Renewal;
use super::{ChannelActor, RollOver, RolloverDone};
use crate::metrics::labels::{DisconnectReason, RolloverReason};
use crate::upstream::UpstreamError;

/// How long to wait before trying a renewal again after it failed.
const RENEWAL_RETRY: Duration = Duration::from_secs(5);

impl ChannelActor {
    /// While live: arms the timer of the next renewal (extension or move to a newer token).
    pub(super) fn schedule_renewal(&mut self, ctx: &mut Context<Self>) {
        let lifetimes = self.lifetimes;
        let Some(live) = self.phase.live_mut() else {
            return;
        };
        if let Some(t) = live.renewal.take() {
            ctx.cancel_future(t);
        }
        let (at, which) = live.bound.next_renewal(&lifetimes);
        let due = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let turn = self.turn;
        let handle = ctx.run_later(due, move |act, ctx| {
            if act.turn != turn {
                return;
            }
            match which {
                Renewal::Extend => act.extend(ctx),
                Renewal::MoveToken => act.move_to_new_token(ctx),
            }
        });
        if let Some(live) = self.phase.live_mut() {
            live.renewal = Some(handle);
        }
    }

    /// Tries the renewal again a little later (after a failure).
    fn renew_later(&mut self, ctx: &mut Context<Self>) {
        let turn = self.turn;
        ctx.run_later(RENEWAL_RETRY, move |act, ctx| {
            if act.turn == turn {
                act.schedule_renewal(ctx);
            }
        });
    }

    /// The channel's token nears its expiry: get a newer token if the session has none, then roll over.
    fn move_to_new_token(&mut self, ctx: &mut Context<Self>) {
        if self.token_is_stale() {
            self.roll_over(RolloverReason::Token, ctx);
            return;
        }
        let session = self.session.clone();
        let stale = self.phase.bound().map(|b| b.token_generation);
        let turn = self.turn;
        ctx.spawn(async move { session.refresh(stale).await }.into_actor(self).map(
            move |res, act, ctx| {
                if act.turn != turn {
                    return;
                }
                match res {
                    Ok(_) => act.roll_over(RolloverReason::Token, ctx),
                    Err(e) => {
                        tracing::warn!(parent: act.span.get(), error = %e, "token refresh failed; retrying");
                        act.last_error = Some(e.to_string());
                        act.report();
                        act.renew_later(ctx);
                    }
                }
            },
        ));
    }

    /// The channel nears its expiry: a subscription call pushes `expires` out; if it did not move far enough,
    /// the channel is rolled over.
    fn extend(&mut self, ctx: &mut Context<Self>) {
        if self.fenced(ctx, Self::extend) {
            return;
        }
        let Some(live) = self.phase.live() else {
            return;
        };
        let bound = live.bound.clone();
        let session = self.session.clone();
        let turn = self.turn;
        let job = async move {
            session
                .put_subscriptions(&bound.id, &bound.subscribed)
                .await?;
            let listed = session.channels().await?;
            Ok::<_, UpstreamError>(
                listed
                    .into_iter()
                    .find(|c| c.id == bound.id)
                    .map(|c| c.expires),
            )
        };
        ctx.spawn(job.into_actor(self).map(move |res, act, ctx| {
            if act.turn != turn {
                return;
            }
            let lifetimes = act.lifetimes;
            let Some(live) = act.phase.live_mut() else {
                return;
            };
            match res {
                Ok(Some(expires)) => {
                    let margin = crate::time::chrono(crate::lifetime::margin(
                        lifetimes.rollover_margin,
                        live.bound.lifetime,
                    ));
                    // Extended far enough to be worth it: not due again within one more margin.
                    if expires > Utc::now() + margin * 2 {
                        live.bound.expires_at = expires;
                        act.persist();
                        act.schedule_renewal(ctx);
                    } else {
                        act.roll_over(RolloverReason::Expiry, ctx);
                    }
                }
                Ok(None) => act.roll_over(RolloverReason::Expiry, ctx),
                Err(e) => {
                    tracing::warn!(parent: act.span.get(), error = %e, "could not extend the channel; rolling over");
                    act.roll_over(RolloverReason::Expiry, ctx);
                }
            }
        }));
    }

    /// Make before break: a new channel (with a fresh token) gets the topics and a socket; then the old socket
    /// is closed. The overlap's duplicates are removed by the router.
    pub(super) fn roll_over(&mut self, reason: RolloverReason, ctx: &mut Context<Self>) {
        if !self.shared.admits() {
            // Cluster mode, fenced: no new channel; the renewal is tried again later.
            self.rollover_done.do_send(RolloverDone { slot: self.slot });
            self.renew_later(ctx);
            return;
        }
        let Some(live) = self.phase.live_mut() else {
            // Nothing live to keep: the ordinary preparation makes a channel with the current token.
            self.rollover_done.do_send(RolloverDone { slot: self.slot });
            return;
        };
        if live.rollover.is_some() {
            return;
        }
        live.rollover = Some(reason);
        let session = self.session.clone();
        let lifetimes = self.lifetimes;
        let units = self.units.clone();
        let turn = self.turn;
        let dialer = self.dialer();
        let job = async move {
            let prepared = create(&session, &lifetimes, units).await?;
            let ws = dialer.open(&prepared.bound.connect_uri).await?;
            Ok::<_, ChannelError>((prepared, ws))
        };
        ctx.spawn(job.into_actor(self).map(move |res, act, ctx| {
            act.rollover_done.do_send(RolloverDone { slot: act.slot });
            if act.turn != turn || act.phase.live().is_none() {
                // The channel moved on (lost, stopped): the new socket is dropped with `res`.
                return;
            }
            match res {
                Ok((prepared, ws)) => {
                    if let Some((units, verdicts)) = &prepared.subscribed {
                        act.units = units.clone();
                        act.record_verdicts(verdicts);
                    }
                    let socket = act.attach(ws, ctx);
                    let Some(live) = act.phase.live_mut() else {
                        return;
                    };
                    let old_bound = std::mem::replace(&mut live.bound, prepared.bound);
                    let old_socket = std::mem::replace(&mut live.socket, socket);
                    live.rollover = None;
                    live.handover = None;
                    old_socket.close();
                    let store = act.shared.store.clone();
                    actix::spawn(async move {
                        let _ = store.remove_channel(&old_bound.id).await;
                    });
                    act.name_channel();
                    act.shared.metrics.disconnected(DisconnectReason::Rollover);
                    act.counters.rollovers += 1;
                    act.shared.metrics.rolled_over(reason);
                    act.last_error = None;
                    act.persist();
                    act.report();
                    act.schedule_renewal(ctx);
                    act.resubscribe_if_changed(ctx);
                    tracing::info!(parent: act.span.get(), reason = reason.as_str(), "channel rolled over");
                }
                Err(e) => {
                    tracing::warn!(parent: act.span.get(), error = %e, "rollover failed; keeping the current channel");
                    if let Some(live) = act.phase.live_mut() {
                        live.rollover = None;
                    }
                    act.last_error = Some(e.to_string());
                    act.report();
                    act.renew_later(ctx);
                }
            }
        }));
    }

    /// Whether this channel was made with an older token than the session's current one.
    pub(super) fn token_is_stale(&self) -> bool {
        let current = self.session.token().map(|t| t.generation).unwrap_or(0);
        self.phase
            .bound()
            .is_some_and(|b| b.token_generation < current)
    }
}

impl Handler<RollOver> for ChannelActor {
    type Result = ();
    fn handle(&mut self, _: RollOver, ctx: &mut Context<Self>) {
        let idle = self.phase.live().is_some_and(|l| l.rollover.is_none());
        if self.token_is_stale() && idle {
            self.roll_over(RolloverReason::Token, ctx);
        } else {
            self.rollover_done.do_send(RolloverDone { slot: self.slot });
        }
    }
}
