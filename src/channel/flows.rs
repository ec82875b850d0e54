//! The channel's multi-step jobs: prepare (re-use or create, subscribe), connect, hand a socket over, renew
//! (extend, or roll over to a new channel make-before-break) and change subscriptions. Each runs as a future
//! owned by the actor; its result comes back to the actor, which ignores it if the channel has moved on to
//! another phase meanwhile (its `turn` changed).

use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::dialer::Dialer;
use super::error::ChannelError;
use super::phase::{Bound, Live, Outgoing, Phase, Socket};
use super::{ChannelActor, SocketItem};

use crate::lifetime::Lifetimes;
use crate::metrics::labels::{DisconnectReason, RestartReason, RolloverReason};
use crate::placement::Unit;
use crate::upstream::{ClientSession, TopicVerdict, UpstreamError};

pub(super) type WsStream =
    tokio_tungstenite::WebSocketStream<super::burst::BurstReader<super::transport::Transport>>;

/// How long to wait before trying a subscription change again after it failed.
const SUBSCRIBE_RETRY: Duration = Duration::from_secs(2);

/// A channel that holds the units, ready to connect to.
pub(super) struct Prepared {
    pub(super) bound: Bound,
    /// The units as finally subscribed and the platform's verdicts, when a subscription call was made.
    pub(super) subscribed: Option<(Vec<Unit>, Vec<TopicVerdict>)>,
    pub(super) reused: bool,
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

fn ids_of(units: &[Unit]) -> Vec<String> {
    units.iter().map(|u| u.id.clone()).collect()
}

/// The largest message read from the platform's socket.
const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// Reads a little at a time from a reader that takes whole bursts off the socket (`burst`), and writes as it
/// goes: an idle channel must stay small (tungstenite reserves 128 KiB by default, and keeps its read buffer).
pub(super) fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(super::burst::CODEC_READ_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        // The platform's frame size is undocumented; events are KiBs. A larger message (tungstenite's default
        // is 64 MiB, buffered whole) fails the socket, which is then reconnected with a gap.
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}

/// A token that is not due for refresh yet: a channel made with it will not need moving at once.
async fn fresh_token(
    session: &ClientSession,
    lifetimes: &Lifetimes,
) -> Result<crate::upstream::Token, UpstreamError> {
    let token = session.ensure_token().await?;
    if lifetimes.token_refresh_at(token.expires_at, token.lifetime) > Utc::now() {
        return Ok(token);
    }
    session.refresh(Some(token.generation)).await
}

/// A new channel holding the units.
pub(super) async fn create(
    session: &ClientSession,
    lifetimes: &Lifetimes,
    units: Vec<Unit>,
) -> Result<Prepared, UpstreamError> {
    fresh_token(session, lifetimes).await?;
    let (info, token) = session.create_channel().await?;
    let (units, verdicts) = subscribe(session, &info.id, units).await?;
    let now = Utc::now();
    Ok(Prepared {
        bound: Bound {
            lifetime: (info.expires - now).to_std().unwrap_or_default(),
            id: info.id,
            connect_uri: info.connect_uri,
            expires_at: info.expires,
            token_expires_at: token.expires_at,
            token_lifetime: token.lifetime,
            token_generation: token.generation,
            subscribed: ids_of(&units),
        },
        subscribed: Some((units, verdicts)),
        reused: false,
    })
}

/// Re-uses `reuse` if it still exists and is not due for renewal (subscribing the units if they changed),
/// else creates a channel.
async fn find_channel(
    session: &ClientSession,
    lifetimes: Lifetimes,
    reuse: Option<Bound>,
    units: Vec<Unit>,
) -> Result<Prepared, UpstreamError> {
    if let Some(mut bound) = reuse.filter(|b| b.usable(&lifetimes, Utc::now()))
        && session.channel_exists(&bound.id).await?
    {
        let ids = ids_of(&units);
        let subscribed = if bound.subscribed == ids {
            None
        } else {
            match subscribe(session, &bound.id, units.clone()).await {
                Ok((units, verdicts)) => {
                    bound.subscribed = ids_of(&units);
                    Some((units, verdicts))
                }
                // Gone between the HEAD and the PUT: make a new one.
                Err(UpstreamError::NotFound(_)) => return create(session, &lifetimes, units).await,
                Err(e) => return Err(e),
            }
        };
        return Ok(Prepared {
            bound,
            subscribed,
            reused: true,
        });
    }
    create(session, &lifetimes, units).await
}

impl ChannelActor {
    /// In `Preparing`: finds a channel for the units (re-using the one the phase names if it still exists and
    /// is not due for renewal), then connects.
    pub(super) fn prepare(&mut self, ctx: &mut Context<Self>) {
        if self.fenced(ctx, Self::prepare) {
            return;
        }
        let reuse = match &self.phase {
            Phase::Preparing { reuse } => reuse.clone(),
            // After a backoff or the slow retry of a failed channel: try the channel it had.
            Phase::Backoff { bound, .. } | Phase::Failed { bound, .. } => {
                let reuse = bound.clone();
                self.enter(Phase::Preparing {
                    reuse: reuse.clone(),
                });
                reuse
            }
            _ => return,
        };
        let turn = self.turn;
        let session = self.session.clone();
        let (lifetimes, units) = (self.lifetimes, self.units.clone());
        let job = async move { find_channel(&session, lifetimes, reuse, units).await };
        ctx.spawn(job.into_actor(self).map(move |res, act, ctx| {
            if act.turn != turn {
                return;
            }
            match res {
                Ok(prepared) => {
                    if let Some((units, verdicts)) = &prepared.subscribed {
                        act.units = units.clone();
                        act.record_verdicts(verdicts);
                    }
                    tracing::info!(parent: act.span.get(), channel = %prepared.bound.id, reused = prepared.reused, "channel ready");
                    act.enter(Phase::Connecting {
                        bound: prepared.bound,
                    });
                    act.persist();
                    act.connect(ctx);
                }
                Err(e) => act.failed(e.into(), RestartReason::Error, ctx),
            }
        }));
    }

    /// Stores the channel record, so that a restarted process re-uses the channel; its `updated_at` is the
    /// last proof of life (now, before the first).
    pub(super) fn persist(&self) {
        if !self.shared.admits() {
            return;
        }
        let Some(record) = self.record(self.continuity.last_proof().unwrap_or_else(Utc::now))
        else {
            return;
        };
        let shared = self.shared.clone();
        let span = self.span.get().clone();
        actix::spawn(async move {
            if let Err(e) = write_record(&shared, &record).await {
                tracing::error!(parent: &span, error = %e, "could not store a channel record");
            }
        });
    }

    /// In `Connecting`: opens the socket.
    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.fenced(ctx, Self::connect) {
            return;
        }
        let Phase::Connecting { bound } = &self.phase else {
            return;
        };
        let opening = self.open_socket_on(bound.connect_uri.clone());
        let turn = self.turn;
        ctx.spawn(opening.into_actor(self).map(move |res, act, ctx| {
            if act.turn != turn {
                return;
            }
            match res {
                Ok(ws) => act.went_live(ws, ctx),
                Err(e) => act.failed(e, RestartReason::Error, ctx),
            }
        }));
    }

    /// How this channel opens sockets (the tenant's settings).
    pub(super) fn dialer(&self) -> Dialer {
        Dialer {
            timeout: self.shared.policy.connect_timeout,
            tls: self.shared.tls.clone(),
            egress: self.shared.egress.clone(),
            opens: self.shared.socket_opens.clone(),
        }
    }

    /// Opening a socket on `uri` with the tenant's settings.
    fn open_socket_on(
        &self,
        uri: String,
    ) -> impl std::future::Future<Output = Result<WsStream, ChannelError>> + 'static {
        let dialer = self.dialer();
        async move { dialer.open(&uri).await }
    }

    /// Starts reading a freshly connected socket and writing to it through a small queue.
    pub(super) fn attach(&mut self, ws: WsStream, ctx: &mut Context<Self>) -> Socket {
        let generation = self.next_generation;
        self.next_generation += 1;
        let (mut sink, stream) = ws.split();
        let (writer, mut rx) = futures_channel::mpsc::unbounded::<Outgoing>();
        actix::spawn(async move {
            use futures_util::SinkExt;
            while let Some(out) = rx.next().await {
                if sink.send(out.message()).await.is_err() || out == Outgoing::Close {
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
            .chain(futures_util::stream::iter([SocketItem {
                generation,
                msg: None,
            }]));
        ctx.add_stream(super::outbox::BurstEnds::new(items));
        // A new socket: continuity holds from here, and its silence is measured from now.
        self.watchdog.reset(tokio::time::Instant::now());
        self.counters.connects += 1;
        self.shared.metrics.connected();
        Socket { generation, writer }
    }

    /// `Connecting` → `Live`: subscriptions are in place and the socket is open.
    fn went_live(&mut self, ws: WsStream, ctx: &mut Context<Self>) {
        let Phase::Connecting { bound } = &self.phase else {
            return;
        };
        let bound = bound.clone();
        let socket = self.attach(ws, ctx);
        self.restarts.healthy(std::time::Instant::now());
        self.restarts.recovered();
        let since = Utc::now();
        self.regained(since, ctx);
        // A panic stays visible until the next error replaces it; anything else is over now.
        if self.last_error.as_deref() != Some(super::PANIC_RESTART) {
            self.last_error = None;
        }
        self.enter(Phase::Live(Live {
            bound,
            socket,
            since,
            handover: None,
            rollover: None,
            renewal: None,
        }));
        self.schedule_renewal(ctx);
        self.resubscribe_if_changed(ctx);
    }

    /// While live: opens a second socket on the same channel and closes the current one once it is up (the
    /// platform allows one socket per channel and closes the older itself).
    pub(super) fn hand_over(&mut self, why: DisconnectReason, ctx: &mut Context<Self>) {
        let Some(live) = self.phase.live_mut() else {
            return;
        };
        if live.handover.is_some() {
            return;
        }
        live.handover = Some(why);
        let uri = live.bound.connect_uri.clone();
        let opening = self.open_socket_on(uri);
        let turn = self.turn;
        ctx.spawn(
            opening
                .into_actor(self)
                .map(move |res, act, ctx| {
                    if act.turn != turn || act.phase.live().is_none() {
                        return;
                    }
                    match res {
                        Ok(ws) => {
                            let socket = act.attach(ws, ctx);
                            let Some(live) = act.phase.live_mut() else {
                                return;
                            };
                            let old = std::mem::replace(&mut live.socket, socket);
                            live.handover = None;
                            old.close();
                            act.shared.metrics.disconnected(why);
                            if why == DisconnectReason::SocketClosing {
                                act.shared.metrics.rolled_over(RolloverReason::SocketClosing);
                            }
                            act.report();
                        }
                        Err(e) => {
                            let current_open = act
                                .phase
                                .live()
                                .is_some_and(|l| !l.socket.writer.is_closed());
                            if current_open {
                                tracing::warn!(parent: act.span.get(), error = %e, "socket handover failed; keeping the current socket");
                                if let Some(live) = act.phase.live_mut() {
                                    live.handover = None;
                                }
                            } else {
                                act.socket_lost(super::GapReason::SocketLost, e, ctx);
                            }
                        }
                    }
                }),
        );
    }

    /// While live, if the units differ from what the channel holds: subscribe them in place.
    pub(super) fn resubscribe_if_changed(&mut self, ctx: &mut Context<Self>) {
        let ids = self.unit_ids();
        if self.phase.live().is_some_and(|l| l.bound.subscribed != ids) {
            self.apply_units(ctx);
        }
    }

    /// Subscribes the channel's current units in place (after a change of the tenant's topics). When not
    /// live, the next preparation or rollover subscribes them.
    pub(super) fn apply_units(&mut self, ctx: &mut Context<Self>) {
        if self.fenced(ctx, Self::apply_units) {
            return;
        }
        let Some(live) = self.phase.live() else {
            return;
        };
        if live.rollover.is_some() {
            // The rollover's new channel is checked against the units when it is done.
            return;
        }
        let channel = live.bound.id.clone();
        let session = self.session.clone();
        let units = self.units.clone();
        let turn = self.turn;
        let job = {
            let channel = channel.clone();
            async move { subscribe(&session, &channel, units).await }
        };
        ctx.spawn(job.into_actor(self).map(move |res, act, ctx| {
            if act.turn != turn {
                return;
            }
            match res {
                Ok((units, verdicts)) => {
                    let ids = ids_of(&units);
                    match act.phase.live_mut() {
                        Some(live) if live.bound.id == channel => live.bound.subscribed = ids,
                        _ => return,
                    }
                    act.units = units;
                    act.record_verdicts(&verdicts);
                    act.persist();
                    act.report();
                }
                Err(e) => {
                    tracing::warn!(parent: act.span.get(), error = %e, "could not change the subscriptions; retrying");
                    act.last_error = Some(e.to_string());
                    // Still live, so no change of phase reports it: the status shows the error now.
                    act.report();
                    ctx.run_later(SUBSCRIBE_RETRY, move |act, ctx| {
                        if act.turn == turn {
                            act.resubscribe_if_changed(ctx);
                        }
                    });
                }
            }
        }));
    }
}

/// How long a fenced channel waits before looking again (its tenant is stopped once the lease is given up, or
/// claims again once a handover is withdrawn).
const FENCE_RECHECK: Duration = Duration::from_secs(1);

impl ChannelActor {
    /// Cluster mode: whether the self-fence forbids claiming now. If so, `retry` runs again a little later
    /// (by then the instance renewed its leases, or its tenant was stopped).
    pub(super) fn fenced(
        &mut self,
        ctx: &mut Context<Self>,
        retry: fn(&mut Self, &mut Context<Self>),
    ) -> bool {
        if self.shared.admits() {
            return false;
        }
        if self.shared.handover.active() {
            tracing::debug!(parent: self.span.get(), "handing the tenant over: claiming nothing");
        } else {
            tracing::warn!(parent: self.span.get(), "fenced: this instance's leases are not renewed; claiming nothing");
        }
        let turn = self.turn;
        ctx.run_later(FENCE_RECHECK, move |act, ctx| {
            if act.turn == turn {
                retry(act, ctx);
            }
        });
        true
    }
}

/// Writes a channel record; in cluster mode only while the tenant's lease is this instance's at the epoch it
/// took (checked by the database: a stale owner's write is refused, counted, never applied).
pub(super) async fn write_record(
    shared: &super::TenantShared,
    record: &crate::store::ChannelRecord,
) -> Result<(), crate::store::StoreError> {
    match &shared.lease {
        None => shared.store.upsert_channel(record).await,
        Some(lease) => {
            if !shared.store.upsert_channel_fenced(record, lease).await? {
                shared.fence.count_refusal();
                tracing::warn!(tenant = %shared.tenant, "a channel record was refused: the tenant's lease moved on");
            }
            Ok(())
        }
    }
}
