//! The channel's multi-step jobs: prepare (re-use or create, subscribe), connect, recover after a loss, extend
//! before expiry, and make-before-break rollover. Each runs as a future owned by the actor; its result comes
//! back to the actor, which ignores it if the actor moved on meanwhile (its `epoch` changed).

use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{
    Bound, ChannelActor, GapReason, Lifecycle, RollOver, RolloverDone, Socket, SocketItem,
};
use crate::metrics::labels::{DisconnectReason, RolloverReason};
use crate::tenant::placement::Unit;
use crate::upstream::{ClientSession, TopicVerdict, UpstreamError};

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A channel ready to connect to.
struct Prepared {
    bound: Bound,
    /// The platform's verdicts and the units as finally subscribed, when a subscription call was made.
    subscribed: Option<(Vec<Unit>, Vec<TopicVerdict>)>,
    reused: bool,
}

/// PUTs the units. A combined id the platform rejects is split into its topics and put again, so that only
/// the topics it really refuses stay out (whether it judges a combined id as a whole is not documented).
async fn subscribe(
    session: &ClientSession,
    channel: &str,
    units: Vec<Unit>,
) -> Result<(Vec<Unit>, Vec<TopicVerdict>), UpstreamError> {
    let ids: Vec<String> = units.iter().map(|u| u.id.clone()).collect();
    let verdicts = session.put_subscriptions(channel, &ids).await?;
    let refused: std::collections::HashSet<&str> = verdicts
        .iter()
        .filter(|v| v.state.eq_ignore_ascii_case("rejected") && v.id.contains('?'))
        .map(|v| v.id.as_str())
        .collect();
    if refused.is_empty() {
        return Ok((units, verdicts));
    }
    let mut split = Vec::with_capacity(units.len());
    for u in units {
        if refused.contains(u.id.as_str()) {
            split.extend(u.topics.iter().map(|t| Unit {
                id: t.clone(),
                topics: vec![t.clone()],
                priority: u.priority,
            }));
        } else {
            split.push(u);
        }
    }
    let ids: Vec<String> = split.iter().map(|u| u.id.clone()).collect();
    let verdicts = session.put_subscriptions(channel, &ids).await?;
    Ok((split, verdicts))
}

/// Reads and writes a few KiB at a time: an idle channel must stay small (tungstenite reserves 128 KiB by default).
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
}

async fn create(session: &ClientSession, units: Vec<Unit>) -> Result<Prepared, UpstreamError> {
    let (info, token) = session.create_channel().await?;
    let subscribed = subscribe(session, &info.id, units).await?;
    Ok(Prepared {
        bound: Bound {
            id: info.id,
            connect_uri: info.connect_uri,
            expires_at: info.expires,
            token_expires_at: token.expires_at,
            token_generation: token.generation,
        },
        subscribed: Some(subscribed),
        reused: false,
    })
}

async fn open_socket(
    uri: &str,
    timeout: Duration,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<WsStream, String> {
    let connector = tls.map(tokio_tungstenite::Connector::Rustls);
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        uri,
        Some(socket_config()),
        false,
        connector,
    );
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(format!("socket connect failed: {e}")),
        Err(_) => Err(format!("socket connect timed out after {timeout:?}")),
    }
}

impl ChannelActor {
    /// Finds a channel for the units (re-using the recorded one if it still exists), then connects.
    pub(super) fn prepare(&mut self, ctx: &mut Context<Self>) {
        self.epoch += 1;
        let epoch = self.epoch;
        self.set_lifecycle(Lifecycle::Preparing);
        let session = self.session.clone();
        let units = self.units.clone();
        let unit_ids = self.unit_ids();
        let reuse = self.reuse.take();
        let margin = crate::time::chrono(self.shared.policy.rollover_margin);
        let job = async move {
            if let Some(rec) = reuse {
                let now = Utc::now();
                let same_topics = rec.topics == unit_ids;
                if rec.expires_at > now + margin && rec.token_expires_at > now + margin {
                    session.ensure_token().await?;
                    if session.channel_exists(&rec.channel_id).await? {
                        let subscribed = if same_topics {
                            None
                        } else {
                            Some(subscribe(&session, &rec.channel_id, units).await?)
                        };
                        return Ok((
                            Prepared {
                                bound: Bound {
                                    id: rec.channel_id,
                                    connect_uri: rec.connect_uri,
                                    expires_at: rec.expires_at,
                                    token_expires_at: rec.token_expires_at,
                                    // Made by an earlier process's token: older than anything this session has.
                                    token_generation: 0,
                                },
                                subscribed,
                                reused: true,
                            },
                            Some(rec.updated_at),
                        ));
                    }
                }
            }
            create(&session, units).await.map(|p| (p, None))
        };
        ctx.spawn(job.into_actor(self).map(move |res, act, ctx| {
            if act.epoch != epoch {
                return;
            }
            match res {
                Ok((prepared, last_seen)) => {
                    if let Some(seen) = last_seen {
                        // The previous process last had proof of life at `seen`.
                        act.last_proof = Some(seen);
                        act.open_gap(GapReason::Restart);
                    }
                    if let Some((units, verdicts)) = &prepared.subscribed {
                        act.units = units.clone();
                        act.record_verdicts(verdicts);
                    }
                    tracing::info!(tenant = %act.shared.tenant, slot = act.slot, channel = %prepared.bound.id, reused = prepared.reused, "channel ready");
                    act.bound = Some(prepared.bound);
                    act.persist();
                    act.connect(ctx);
                }
                Err(e) => act.on_failure(e.to_string(), ctx),
            }
        }));
    }

    /// Stores the channel record, so a restarted process re-uses the channel.
    pub(super) fn persist(&self) {
        let Some(record) = self.record(self.last_proof.unwrap_or_else(Utc::now)) else {
            return;
        };
        let store = self.shared.store.clone();
        let tenant = self.shared.tenant.clone();
        actix::spawn(async move {
            if let Err(e) = store.upsert_channel(&record).await {
                tracing::error!(%tenant, error = %e, "could not store a channel record");
            }
        });
    }

    /// Opens a socket on the bound channel. With `handover`, the current socket keeps running until the new
    /// one is up (the platform then closes the old one).
    pub(super) fn connect(&mut self, ctx: &mut Context<Self>) {
        let Some(bound) = self.bound.clone() else {
            self.prepare(ctx);
            return;
        };
        let handover = self.socket.is_some();
        if !handover {
            self.set_lifecycle(Lifecycle::Connecting);
        }
        let epoch = self.epoch;
        let timeout = self.shared.policy.connect_timeout;
        let tls = self.shared.tls.clone();
        ctx.spawn(async move { open_socket(&bound.connect_uri, timeout, tls).await }.into_actor(self).map(
            move |res, act, ctx| {
                if act.epoch != epoch {
                    return;
                }
                match res {
                    Ok(ws) => act.attach(ws, ctx),
                    Err(e) if handover && act.socket.as_ref().is_some_and(|s| !s.writer.is_closed()) => {
                        tracing::warn!(tenant = %act.shared.tenant, slot = act.slot, error = %e, "socket handover failed; keeping the current socket");
                        if let Some(s) = act.socket.as_mut() {
                            s.retiring = None;
                        }
                    }
                    Err(e) => act.on_socket_lost(GapReason::SocketLost, e, ctx),
                }
            },
        ));
    }

    /// Makes a freshly connected socket the current one.
    fn attach(&mut self, ws: WsStream, ctx: &mut Context<Self>) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let (mut sink, stream) = ws.split();
        let (writer, mut rx) = mpsc::channel::<WsMessage>(4);
        actix::spawn(async move {
            use futures_util::SinkExt;
            while let Some(msg) = rx.recv().await {
                let closing = matches!(msg, WsMessage::Close(_));
                if sink.send(msg).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let items = stream
            .map(move |m| SocketItem {
                generation,
                msg: Some(m),
            })
            .chain(futures_util::stream::once(async move {
                SocketItem {
                    generation,
                    msg: None,
                }
            }));
        ctx.add_stream(items);
        let replaced = self.socket.replace(Socket {
            generation,
            writer,
            retiring: None,
        });
        let now = Instant::now();
        self.liveness.frame(now);
        self.restarts.healthy(now);
        self.ping_sent = None;
        let since = Utc::now();
        self.connected_since = Some(since);
        // Subscriptions are in place and the socket is open: continuity holds from here.
        self.last_proof = Some(since);
        self.close_gap();
        self.counters.connects += 1;
        self.shared.metrics.connected();
        self.last_error = None;
        self.set_lifecycle(Lifecycle::Live { since });
        self.schedule_expiry(ctx);
        let rollover = self.rolling_over.take();
        if let Some(old) = replaced {
            // Make before break: the new socket is up, the old one may go.
            let _ = old.writer.try_send(WsMessage::Close(None));
            let why = match (rollover, old.retiring) {
                (Some(_), _) => DisconnectReason::Rollover,
                (None, Some(why)) => why,
                (None, None) => DisconnectReason::Stopped,
            };
            self.shared.metrics.disconnected(why);
            if why == DisconnectReason::SocketClosing {
                self.shared
                    .metrics
                    .rolled_over(RolloverReason::SocketClosing);
            }
        }
        if let Some(reason) = rollover {
            self.counters.rollovers += 1;
            self.shared.metrics.rolled_over(reason);
            self.rollover_done.do_send(RolloverDone { slot: self.slot });
        }
    }

    /// After a loss: re-use the channel if it still exists and is not about to expire, else make a new one.
    pub(super) fn recover(&mut self, ctx: &mut Context<Self>) {
        let Some(bound) = self.bound.clone() else {
            self.prepare(ctx);
            return;
        };
        let margin = crate::time::chrono(self.shared.policy.rollover_margin);
        if bound.expires_at <= Utc::now() + margin || bound.token_expires_at <= Utc::now() + margin
        {
            self.bound = None;
            self.prepare(ctx);
            return;
        }
        self.epoch += 1;
        let epoch = self.epoch;
        self.set_lifecycle(Lifecycle::Preparing);
        let session = self.session.clone();
        let id = bound.id.clone();
        let dirty = self.units_dirty.then(|| self.units.clone());
        let job = async move {
            if !session.channel_exists(&id).await? {
                return Ok(false);
            }
            if let Some(units) = dirty {
                subscribe(&session, &id, units).await?;
            }
            Ok::<_, UpstreamError>(true)
        };
        ctx.spawn(job.into_actor(self).map(move |res, act, ctx| {
            if act.epoch != epoch {
                return;
            }
            match res {
                Ok(true) => {
                    act.units_dirty = false;
                    act.connect(ctx)
                }
                Ok(false) => {
                    act.bound = None;
                    act.prepare(ctx);
                }
                Err(e) => act.on_failure(e.to_string(), ctx),
            }
        }));
    }

    /// Acts `rollover_margin` before the channel expires: a subscription call pushes `expires` out; if it did not
    /// move far enough, the channel is rolled over.
    fn schedule_expiry(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.expiry_timer.take() {
            ctx.cancel_future(t);
        }
        let Some(bound) = &self.bound else { return };
        let margin = crate::time::chrono(self.shared.policy.rollover_margin);
        let channel_due = bound.expires_at - margin;
        let token_due = bound.token_expires_at - margin;
        if token_due < channel_due {
            // The token dies first, and the channel with it: move to a channel of a newer token.
            let due = (token_due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            self.expiry_timer = Some(ctx.run_later(due, |act, ctx| act.token_expiring(ctx)));
        } else {
            let due = (channel_due - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            self.expiry_timer = Some(ctx.run_later(due, |act, ctx| act.extend(ctx)));
        }
    }

    fn token_expiring(&mut self, ctx: &mut Context<Self>) {
        if self.token_is_stale() {
            if self.rolling_over.is_none() {
                self.roll_over(RolloverReason::Token, ctx);
            }
            return;
        }
        let session = self.session.clone();
        let stale = self.bound.as_ref().map(|b| b.token_generation);
        ctx.spawn(async move { session.refresh(stale).await }.into_actor(self).map(|res, act, ctx| match res {
            Ok(_) if act.rolling_over.is_none() => act.roll_over(RolloverReason::Token, ctx),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(tenant = %act.shared.tenant, slot = act.slot, error = %e, "token refresh failed; retrying");
                act.last_error = Some(e.to_string());
                ctx.run_later(Duration::from_secs(5), |act, ctx| act.token_expiring(ctx));
            }
        }));
    }

    fn extend(&mut self, ctx: &mut Context<Self>) {
        let Some(bound) = self.bound.clone() else {
            return;
        };
        let session = self.session.clone();
        let units = self.unit_ids();
        let epoch = self.epoch;
        let job = async move {
            session.put_subscriptions(&bound.id, &units).await?;
            let listed = session.channels().await?;
            Ok::<_, UpstreamError>(
                listed
                    .into_iter()
                    .find(|c| c.id == bound.id)
                    .map(|c| c.expires),
            )
        };
        ctx.spawn(job.into_actor(self).map(move |res, act, ctx| {
            if act.epoch != epoch {
                return;
            }
            let margin = crate::time::chrono(act.shared.policy.rollover_margin);
            match res {
                Ok(Some(expires)) if expires > Utc::now() + margin * 2 => {
                    if let Some(b) = act.bound.as_mut() {
                        b.expires_at = expires;
                    }
                    act.persist();
                    act.schedule_expiry(ctx);
                }
                Ok(_) => act.roll_over(RolloverReason::Expiry, ctx),
                Err(e) => {
                    tracing::warn!(tenant = %act.shared.tenant, slot = act.slot, error = %e, "could not extend the channel; rolling over");
                    act.roll_over(RolloverReason::Expiry, ctx);
                }
            }
        }));
    }

    /// Make before break: a new channel (with the session's current token) gets the topics and a socket; then
    /// the old socket is closed. The overlap's duplicates are removed by the router.
    pub(super) fn roll_over(&mut self, reason: RolloverReason, ctx: &mut Context<Self>) {
        if self.socket.is_none() || self.bound.is_none() {
            // Nothing live to keep: an ordinary recovery makes the new channel.
            self.rollover_done.do_send(RolloverDone { slot: self.slot });
            return;
        }
        self.rolling_over = Some(reason);
        let session = self.session.clone();
        let units = self.units.clone();
        let epoch = self.epoch;
        let timeout = self.shared.policy.connect_timeout;
        let tls = self.shared.tls.clone();
        let job = async move {
            let prepared = create(&session, units).await.map_err(|e| e.to_string())?;
            let ws = open_socket(&prepared.bound.connect_uri, timeout, tls).await?;
            Ok::<_, String>((prepared, ws))
        };
        ctx.spawn(job.into_actor(self).map(move |res, act, ctx| {
            if act.epoch != epoch {
                act.rolling_over = None;
                act.rollover_done.do_send(RolloverDone { slot: act.slot });
                return;
            }
            match res {
                Ok((prepared, ws)) => {
                    let old = act.bound.replace(prepared.bound);
                    if let Some((units, verdicts)) = &prepared.subscribed {
                        act.units = units.clone();
                        act.record_verdicts(verdicts);
                    }
                    if let Some(old) = old {
                        let store = act.shared.store.clone();
                        actix::spawn(async move {
                            let _ = store.remove_channel(&old.id).await;
                        });
                    }
                    act.persist();
                    act.attach(ws, ctx);
                    tracing::info!(tenant = %act.shared.tenant, slot = act.slot, "channel rolled over");
                }
                Err(e) => {
                    tracing::warn!(tenant = %act.shared.tenant, slot = act.slot, error = %e, "rollover failed; keeping the current channel");
                    act.rolling_over = None;
                    act.last_error = Some(e);
                    act.rollover_done.do_send(RolloverDone { slot: act.slot });
                    ctx.run_later(Duration::from_secs(5), |act, ctx| act.schedule_expiry(ctx));
                }
            }
        }));
    }

    /// Subscribes the channel's current units in place (after a change of the tenant's topics).
    pub(super) fn apply_units(&mut self, ctx: &mut Context<Self>) {
        let Some(bound) = self.bound.clone() else {
            return;
        };
        if self.socket.is_none() {
            // Not connected: the next recovery subscribes the new units.
            self.units_dirty = true;
            return;
        }
        let session = self.session.clone();
        let units = self.units.clone();
        let epoch = self.epoch;
        ctx.spawn(async move { subscribe(&session, &bound.id, units).await }.into_actor(self).map(move |res, act, ctx| {
            if act.epoch != epoch {
                return;
            }
            match res {
                Ok((units, verdicts)) => {
                    act.units = units;
                    act.units_dirty = false;
                    act.record_verdicts(&verdicts);
                    act.persist();
                    act.tenant.do_send(super::ChannelReport(act.status()));
                }
                Err(e) => {
                    tracing::warn!(tenant = %act.shared.tenant, slot = act.slot, error = %e, "could not change the subscriptions; retrying");
                    act.units_dirty = true;
                    act.last_error = Some(e.to_string());
                    ctx.run_later(Duration::from_secs(2), |act, ctx| {
                        if act.units_dirty {
                            act.apply_units(ctx);
                        }
                    });
                }
            }
        }));
    }

    /// Whether this channel was made with an older token than the session's current one.
    pub(super) fn token_is_stale(&self) -> bool {
        let current = self.session.token().map(|t| t.generation).unwrap_or(0);
        self.bound
            .as_ref()
            .is_some_and(|b| b.token_generation < current)
    }
}

impl Handler<RollOver> for ChannelActor {
    type Result = ();
    fn handle(&mut self, _: RollOver, ctx: &mut Context<Self>) {
        if self.token_is_stale() && self.rolling_over.is_none() {
            self.roll_over(RolloverReason::Token, ctx);
        } else {
            self.rollover_done.do_send(RolloverDone { slot: self.slot });
        }
    }
}
