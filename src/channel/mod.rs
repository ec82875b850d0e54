//! `ChannelActor`: one Genesys channel — create or re-use it, subscribe its topics, keep one socket open,
//! ping it, watch its heartbeats, hand the socket over on `socket_closing`, extend or roll the channel over
//! before it expires or its token does, and say what was missed when continuity is lost.

mod flows;
mod frames;
pub mod lifecycle;
pub mod liveness;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub use self::lifecycle::{GapReason, Lifecycle};
use self::liveness::Liveness;
use crate::config::EnginePolicy;
use crate::metrics::TenantMetrics;
use crate::metrics::labels::{DisconnectReason, RestartReason, RolloverReason};
use crate::router::{Inbound, RouterHandle};
use crate::store::{ChannelRecord, Store};
use crate::supervisor::restart::{RestartDecision, RestartTracker};
use crate::tenant::placement::Unit;
use crate::upstream::{ClientSession, TopicVerdict};

/// Gaps start this long before the last proof of life, to cover transit and clock differences.
const GAP_LEAD: chrono::Duration = chrono::Duration::seconds(2);

/// Lower-case topic hash → topic family (the catalogue template) for every topic of the units.
fn families_of(units: &[Unit]) -> HashMap<u64, Arc<str>> {
    let catalogue = crate::sim::topics::Catalogue::shipped();
    units
        .iter()
        .flat_map(|u| &u.topics)
        .map(|t| {
            let family = catalogue.template_of(t).unwrap_or("unknown");
            (crate::envelope::fnv1a(&[t.as_bytes()]), Arc::from(family))
        })
        .collect()
}

/// Creates the `events_received_total` series of the channel's topic families, so that they read 0 before the
/// first event.
fn announce_families(metrics: &TenantMetrics, families: &HashMap<u64, Arc<str>>) {
    for family in families.values() {
        metrics.received(family);
    }
}

/// What a tenant shares with its channels.
pub struct TenantShared {
    pub tenant: Arc<str>,
    pub region: Arc<str>,
    pub policy: EnginePolicy,
    pub router: RouterHandle,
    pub store: Arc<dyn Store>,
    /// TLS settings for sockets when the tenant trusts an extra CA; the public roots otherwise.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub metrics: Arc<TenantMetrics>,
}

/// The channel the actor is using.
#[derive(Debug, Clone)]
struct Bound {
    id: String,
    connect_uri: String,
    expires_at: DateTime<Utc>,
    token_expires_at: DateTime<Utc>,
    token_generation: u64,
}

/// The socket the actor reads (the current one; during a handover an older one may still drain).
struct Socket {
    generation: u64,
    writer: mpsc::Sender<WsMessage>,
    /// A new socket is being opened to replace this one (`socket_closing`, a restart), and why: its close is
    /// expected.
    retiring: Option<DisconnectReason>,
}

/// A rejected topic and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rejected {
    pub id: String,
    pub reason: String,
}

/// What the admin API and the tenant see of a channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    pub slot: usize,
    pub client_id: String,
    pub channel_id: Option<String>,
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
    pub topics: usize,
    pub rejected: Vec<Rejected>,
    pub connected_since: Option<DateTime<Utc>>,
    pub last_frame_at: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub restarts: u64,
    pub last_error: Option<String>,
    pub events: u64,
    pub malformed_frames: u64,
    pub gaps: u64,
    pub connects: u64,
    pub rollovers: u64,
    /// The last ping's round trip, in milliseconds.
    pub pong_latency_ms: Option<u64>,
}

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

/// Panic inside the actor's handler (fault injection: proves a panic is contained).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Crash;

/// The channel's current status.
#[derive(Message, Debug)]
#[rtype(result = "ChannelStatus")]
pub struct GetStatus;

/// One item of a socket's stream; `msg: None` marks the end of that socket.
struct SocketItem {
    generation: u64,
    msg: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
}

impl Message for SocketItem {
    type Result = ();
}

pub struct ChannelActor {
    shared: Arc<TenantShared>,
    session: Arc<ClientSession>,
    slot: usize,
    units: Vec<Unit>,
    /// Lower-case topic hash → topic family (the catalogue template), for the envelope.
    families: HashMap<u64, Arc<str>>,
    reuse: Option<ChannelRecord>,
    tenant: Recipient<ChannelReport>,
    rollover_done: Recipient<RolloverDone>,
    lifecycle: Lifecycle,
    bound: Option<Bound>,
    socket: Option<Socket>,
    next_generation: u64,
    /// Each flow carries the epoch it started in; a result from an older epoch is ignored.
    epoch: u64,
    liveness: Liveness,
    last_proof: Option<DateTime<Utc>>,
    connected_since: Option<DateTime<Utc>>,
    open_gap: Option<(DateTime<Utc>, GapReason)>,
    restarts: RestartTracker,
    rejected: Vec<Rejected>,
    last_error: Option<String>,
    expiry_timer: Option<SpawnHandle>,
    /// A rollover is under way, and why.
    rolling_over: Option<RolloverReason>,
    /// When the ping not yet answered was sent.
    ping_sent: Option<Instant>,
    pong_latency: Option<Duration>,
    /// The units changed while the channel could not be told: subscribe them at the next recovery.
    units_dirty: bool,
    counters: Counters,
    /// `receivedAt` text for the current millisecond (formatting it once per millisecond, not per event).
    received_at: (i64, String),
}

#[derive(Debug, Default, Clone)]
struct Counters {
    events: u64,
    malformed: u64,
    gaps: u64,
    connects: u64,
    rollovers: u64,
}

/// Everything a channel actor starts from.
pub struct ChannelSpec {
    pub shared: Arc<TenantShared>,
    pub session: Arc<ClientSession>,
    pub slot: usize,
    pub units: Vec<Unit>,
    pub reuse: Option<ChannelRecord>,
    pub tenant: Recipient<ChannelReport>,
    pub rollover_done: Recipient<RolloverDone>,
}

impl ChannelActor {
    pub fn new(spec: ChannelSpec) -> ChannelActor {
        let families = families_of(&spec.units);
        announce_families(&spec.shared.metrics, &families);
        let policy = &spec.shared.policy;
        ChannelActor {
            restarts: RestartTracker::new(policy.restart.clone(), policy.backoff.clone()),
            liveness: Liveness::new(policy.heartbeat_timeout, Instant::now()),
            shared: spec.shared,
            session: spec.session,
            slot: spec.slot,
            units: spec.units,
            families,
            reuse: spec.reuse,
            tenant: spec.tenant,
            rollover_done: spec.rollover_done,
            lifecycle: Lifecycle::Preparing,
            bound: None,
            socket: None,
            next_generation: 1,
            epoch: 0,
            last_proof: None,
            connected_since: None,
            open_gap: None,
            rejected: Vec::new(),
            last_error: None,
            expiry_timer: None,
            rolling_over: None,
            ping_sent: None,
            pong_latency: None,
            units_dirty: false,
            counters: Counters::default(),
            received_at: (i64::MIN, String::new()),
        }
    }

    fn unit_ids(&self) -> Vec<String> {
        self.units.iter().map(|u| u.id.clone()).collect()
    }

    fn topics(&self) -> Vec<String> {
        let rejected: Vec<&str> = self.rejected.iter().map(|r| r.id.as_str()).collect();
        self.units
            .iter()
            .filter(|u| !rejected.contains(&u.id.as_str()))
            .flat_map(|u| u.topics.iter().cloned())
            .collect()
    }

    pub fn status(&self) -> ChannelStatus {
        ChannelStatus {
            slot: self.slot,
            client_id: self.session.client_id.to_string(),
            channel_id: self.bound.as_ref().map(|b| b.id.clone()),
            lifecycle: self.lifecycle.clone(),
            topics: self.units.iter().map(|u| u.topics.len()).sum(),
            rejected: self.rejected.clone(),
            connected_since: self.connected_since,
            last_frame_at: self.last_proof,
            expires: self.bound.as_ref().map(|b| b.expires_at),
            restarts: self.restarts.restarts(),
            last_error: self.last_error.clone(),
            events: self.counters.events,
            malformed_frames: self.counters.malformed,
            gaps: self.counters.gaps,
            connects: self.counters.connects,
            rollovers: self.counters.rollovers,
            pong_latency_ms: self
                .pong_latency
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// The store's record of the bound channel; `updated_at` says when continuity last held.
    fn record(&self, updated_at: DateTime<Utc>) -> Option<ChannelRecord> {
        let b = self.bound.as_ref()?;
        Some(ChannelRecord {
            tenant: self.shared.tenant.to_string(),
            region: self.shared.region.to_string(),
            client_id: self.session.client_id.to_string(),
            channel_id: b.id.clone(),
            connect_uri: b.connect_uri.clone(),
            expires_at: b.expires_at,
            token_expires_at: b.token_expires_at,
            topics: self.unit_ids(),
            updated_at,
        })
    }

    fn set_lifecycle(&mut self, lifecycle: Lifecycle) {
        if lifecycle.name() != self.lifecycle.name() {
            tracing::debug!(tenant = %self.shared.tenant, slot = self.slot, from = self.lifecycle.name(), to = lifecycle.name(), "channel state");
        }
        self.lifecycle = lifecycle;
        self.tenant.do_send(ChannelReport(self.status()));
    }

    fn record_verdicts(&mut self, verdicts: &[TopicVerdict]) {
        self.rejected = verdicts
            .iter()
            .filter(|v| v.state.eq_ignore_ascii_case("rejected"))
            .map(|v| Rejected {
                id: v.id.clone(),
                reason: v.rejection_reason.clone().unwrap_or_default(),
            })
            .collect();
        for r in &self.rejected {
            tracing::warn!(tenant = %self.shared.tenant, topic = %r.id, reason = %r.reason, "topic rejected by the platform");
        }
    }

    /// Continuity is lost from the last proof of life (if it was not already).
    fn open_gap(&mut self, reason: GapReason) {
        if self.open_gap.is_none()
            && let Some(proof) = self.last_proof
        {
            self.open_gap = Some((proof - GAP_LEAD, reason));
        }
    }

    /// Continuity is back: the gap since it was lost is reported.
    fn close_gap(&mut self) {
        let Some((from, reason)) = self.open_gap.take() else {
            return;
        };
        let channel_id = self
            .bound
            .as_ref()
            .map(|b| b.id.clone())
            .unwrap_or_default();
        let gap = crate::store::GapRecord {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: self.shared.tenant.to_string(),
            region: self.shared.region.to_string(),
            channel_id,
            topics: self.topics(),
            from,
            to: Utc::now(),
            reason: reason.as_str().to_string(),
        };
        self.counters.gaps += 1;
        self.shared
            .metrics
            .gap(reason, (gap.to - gap.from).to_std().unwrap_or_default());
        tracing::warn!(tenant = %gap.tenant, channel = %gap.channel_id, reason = %gap.reason, seconds = (gap.to - gap.from).num_milliseconds() as f64 / 1000.0, "continuity lost: gap recorded");
        if self
            .shared
            .router
            .queue
            .try_send(Inbound::Gap(gap.clone()))
            .is_err()
        {
            let queue = self.shared.router.queue.clone();
            actix::spawn(async move {
                let _ = queue.send(Inbound::Gap(gap)).await;
            });
        }
    }

    /// A flow failed: back off (or mark failed) and try again.
    fn on_failure(&mut self, error: String, ctx: &mut Context<Self>) {
        self.start_over(error, RestartReason::Error, ctx);
    }

    fn start_over(&mut self, error: String, why: RestartReason, ctx: &mut Context<Self>) {
        tracing::warn!(tenant = %self.shared.tenant, slot = self.slot, error = %error, "channel failure");
        self.shared.metrics.channel_restarted(why);
        self.last_error = Some(error.clone());
        self.epoch += 1;
        match self.restarts.failed(Instant::now()) {
            RestartDecision::After(delay) => {
                self.set_lifecycle(Lifecycle::Backoff {
                    attempt: self.restarts.restarts(),
                    last_error: error,
                });
                let epoch = self.epoch;
                ctx.run_later(delay, move |act, ctx| {
                    if act.epoch == epoch {
                        act.recover(ctx);
                    }
                });
            }
            RestartDecision::Failed(retry) => {
                tracing::error!(tenant = %self.shared.tenant, slot = self.slot, error = %error, "channel failed: too many failures in a row");
                self.set_lifecycle(Lifecycle::Failed {
                    reason: "too many failures in a row".into(),
                    since: Utc::now(),
                    last_error: error,
                });
                let epoch = self.epoch;
                ctx.run_later(retry, move |act, ctx| {
                    if act.epoch == epoch {
                        act.recover(ctx);
                    }
                });
            }
        }
    }

    /// The socket is gone (not by our own choice).
    fn on_socket_lost(&mut self, reason: GapReason, error: String, ctx: &mut Context<Self>) {
        if let Some(s) = self.socket.take() {
            let _ = s.writer.try_send(WsMessage::Close(None));
            self.shared.metrics.disconnected(disconnect_reason(reason));
        }
        self.ping_sent = None;
        self.connected_since = None;
        self.open_gap(reason);
        let why = if reason == GapReason::Crash {
            RestartReason::Panic
        } else {
            RestartReason::Error
        };
        self.start_over(error, why, ctx);
    }

    /// The channel itself is gone: the next attempt makes a new one.
    fn on_channel_lost(&mut self, reason: GapReason, error: String, ctx: &mut Context<Self>) {
        if let Some(b) = self.bound.take() {
            let store = self.shared.store.clone();
            actix::spawn(async move {
                let _ = store.remove_channel(&b.id).await;
            });
        }
        self.reuse = None;
        self.on_socket_lost(reason, error, ctx);
    }
}

/// The disconnect reason of a socket lost with a gap of `reason`.
fn disconnect_reason(reason: GapReason) -> DisconnectReason {
    match reason {
        GapReason::HeartbeatTimeout => DisconnectReason::HeartbeatTimeout,
        GapReason::SocketLost => DisconnectReason::SocketLost,
        GapReason::ChannelLost => DisconnectReason::ChannelLost,
        GapReason::TokenRevoked => DisconnectReason::TokenRevoked,
        GapReason::Crash => DisconnectReason::Crash,
        // Not a loss of a socket of this process; a channel never reports it as one.
        GapReason::Restart => DisconnectReason::Stopped,
    }
}

impl Actor for ChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let policy = &self.shared.policy;
        // One timer does both jobs: the app-level ping and the watchdog check.
        let tick = policy
            .ping_interval
            .min(policy.heartbeat_timeout / 4)
            .max(Duration::from_millis(10));
        let mut since_ping = Duration::ZERO;
        let ping_every = policy.ping_interval;
        ctx.run_interval(tick, move |act, ctx| {
            since_ping += tick;
            if since_ping >= ping_every {
                since_ping = Duration::ZERO;
                if let Some(s) = &act.socket
                    && s.writer
                        .try_send(WsMessage::text(r#"{"message":"ping"}"#))
                        .is_ok()
                {
                    // The oldest unanswered ping is timed, unless its pong was lost long ago.
                    let now = Instant::now();
                    if act
                        .ping_sent
                        .is_none_or(|t| now.duration_since(t) > act.shared.policy.heartbeat_timeout)
                    {
                        act.ping_sent = Some(now);
                    }
                }
            }
            if act.socket.is_some() && act.liveness.is_dead(Instant::now()) {
                let silent = act.liveness.silent_for(Instant::now());
                act.on_socket_lost(
                    GapReason::HeartbeatTimeout,
                    format!("no frame for {silent:?}"),
                    ctx,
                );
            }
        });
        self.prepare(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if let Some(s) = self.socket.take() {
            let _ = s.writer.try_send(WsMessage::Close(None));
            self.shared.metrics.disconnected(DisconnectReason::Stopped);
        }
        self.lifecycle = Lifecycle::Stopped;
        self.tenant.do_send(ChannelReport(self.status()));
    }
}

impl Handler<Stop> for ChannelActor {
    type Result = ResponseActFuture<Self, ()>;
    /// Records when continuity last held, so that a restarted process re-uses the channel and reports the gap
    /// it leaves; then stops.
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        self.epoch += 1;
        let record = self.last_proof.and_then(|proof| self.record(proof));
        let store = self.shared.store.clone();
        Box::pin(
            async move {
                if let Some(r) = record
                    && let Err(e) = store.upsert_channel(&r).await
                {
                    tracing::error!(tenant = %r.tenant, error = %e, "could not store the channel record at shutdown");
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
        if msg.only_failed && self.lifecycle.name() != "failed" {
            return;
        }
        tracing::info!(tenant = %self.shared.tenant, slot = self.slot, "channel restart requested");
        // A live socket stays until its replacement is up (make before break): its close is then expected.
        if let Some(s) = self.socket.as_mut() {
            s.retiring = Some(DisconnectReason::Stopped);
        }
        self.epoch += 1;
        self.recover(ctx);
    }
}

impl Handler<Crash> for ChannelActor {
    type Result = ();
    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            panic!("injected panic in channel {}", self.slot);
        }));
        if outcome.is_err() {
            self.contain_panic(ctx);
        }
    }
}

impl ChannelActor {
    /// After a panic in a handler the actor's state may be half-updated: drop the socket and start over.
    fn contain_panic(&mut self, ctx: &mut Context<Self>) {
        tracing::error!(tenant = %self.shared.tenant, slot = self.slot, "panic in a channel handler; restarting the channel");
        self.on_socket_lost(GapReason::Crash, "panic in a handler".into(), ctx);
    }
}
