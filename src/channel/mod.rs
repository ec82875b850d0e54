//! `ChannelActor`: one Genesys channel — create or re-use it, subscribe its topics, keep one socket open,
//! ping it, watch its heartbeats, hand the socket over on `socket_closing`, extend or roll the channel over
//! before it expires or its token does, and say what was missed when continuity is lost.
//!
//! The actor's decisions hang on one value, its [`phase::Phase`]; the protocol pieces it consults are small
//! structs of their own: the [`watchdog::Watchdog`] (pings, silence), the
//! [`crate::gap::continuity::Continuity`] tracker (gaps), the [`crate::lifetime::Lifetimes`] policy (when to
//! renew) and the restart tracker (backoff).

mod burst;
mod dialer;
pub mod error;
mod flows;
mod frames;
mod handshake;
pub mod lifecycle;
mod log_span;
mod messages;
mod outbox;
pub mod phase;
mod renewal;
mod shared;
pub mod tally;
mod tls_stream;
mod transport;
pub mod watchdog;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub use self::dialer::{SOCKET_OPEN_WINDOW, SOCKET_OPENS_PER_WINDOW, SocketOpens};
use self::error::{ChannelError, Disposition};
pub use self::lifecycle::{GapReason, Lifecycle};
pub use self::messages::{
    ChannelEnded, ChannelReport, Crash, GetStatus, Restart, RollOver, RolloverDone, SetUnits, Stop,
};
use self::phase::{Bound, Outgoing, Phase};
pub use self::shared::TenantShared;
use self::watchdog::{Tick, Watchdog};
use crate::backfill::{BackfillHandle, Job, covers};
use crate::gap::backfill::GapBackfill;
use crate::gap::continuity::Continuity;
use crate::lifetime::Lifetimes;
use crate::metrics::TenantMetrics;
use crate::metrics::labels::{DisconnectReason, RestartReason};
use crate::placement::Unit;
use crate::restart::{RestartDecision, RestartTracker};
use crate::router::Inbound;
use crate::store::ChannelRecord;
use crate::upstream::{ClientSession, TopicVerdict};

/// Lower-case topic hash → topic family (the catalogue template). The keys are FNV hashes already; aHash mixes
/// them in a few instructions where the standard SipHash took a measurable share of each event.
pub(crate) type Families = HashMap<u64, Arc<str>, ahash::RandomState>;

/// The families of every topic of the units. Topics of one family share its string: looked up for every
/// event, a few strings stay in the CPU's cache where one allocation per topic would not.
fn families_of(units: &[Unit]) -> Families {
    let catalogue = crate::topics::Catalogue::shipped();
    let mut shared: HashMap<&str, Arc<str>> = HashMap::new();
    units
        .iter()
        .flat_map(|u| &u.topics)
        .map(|t| {
            let family = catalogue.template_of(t).unwrap_or("unknown");
            let family = shared.entry(family).or_insert_with(|| Arc::from(family));
            (crate::envelope::fnv1a(&[t.as_bytes()]), family.clone())
        })
        .collect()
}

/// Creates the `events_received_total` series of the channel's topic families, so that they read 0 before the
/// first event.
fn announce_families(metrics: &TenantMetrics, families: &Families) {
    for family in families.values() {
        metrics.received(family);
    }
}

/// A rejected topic and why.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rejected {
    pub id: String,
    pub reason: String,
}

/// What the admin API and the tenant see of a channel.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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
    /// Events on topics this channel did not subscribe to: counted and dropped, never delivered.
    pub unsubscribed_events: u64,
}

/// Sends [`ChannelEnded`] when the actor is dropped without having been asked to stop. After a panic in a
/// handler actix drops the actor's context, which still runs `stopped`: only a stop asked for (`Stop`, no
/// topics left) says the end was expected.
struct EndNotice {
    to: Recipient<ChannelEnded>,
    slot: usize,
    channel_id: Option<String>,
    expected: bool,
}

impl Drop for EndNotice {
    fn drop(&mut self) {
        if !self.expected {
            self.to.do_send(ChannelEnded {
                slot: self.slot,
                channel_id: self.channel_id.take(),
            });
        }
    }
}

/// One item of a socket's stream; `msg: None` marks the end of that socket.
struct SocketItem {
    generation: u64,
    msg: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
}

pub struct ChannelActor {
    shared: Arc<TenantShared>,
    session: Arc<ClientSession>,
    slot: usize,
    units: Vec<Unit>,
    /// Lower-case topic hash → topic family (the catalogue template), for the envelope.
    families: Families,
    tenant: Recipient<ChannelReport>,
    rollover_done: Recipient<RolloverDone>,
    lifetimes: Lifetimes,
    phase: Phase,
    /// Counts phase changes: a job started in one phase reports back with this number and is ignored if the
    /// channel has moved on since.
    turn: u64,
    next_generation: u64,
    watchdog: Watchdog,
    continuity: Continuity,
    restarts: RestartTracker,
    rejected: Vec<Rejected>,
    /// The last error, also while live (a rollover that failed, a subscription change being retried).
    last_error: Option<String>,
    counters: Counters,
    /// `receivedAt` text for the current millisecond (formatting it once per millisecond, not per event).
    received_at: (i64, String),
    /// The escaped tenant, region and channel id of this channel's event lines, with the channel id they
    /// were made for (a new channel id makes them anew).
    origin: Option<(String, crate::envelope::OriginPrefix)>,
    span: log_span::LogSpan,
    end_notice: EndNotice,
    backfill: Option<BackfillHandle>,
    /// Where the tenant reads this channel's counters and times without asking.
    tally: Arc<tally::Tally>,
    /// Messages to the router waiting for room in its queue, if any.
    outbox: outbox::Outbox,
    /// When the channel last went back to reading after waiting for room in the router's queue: no frame
    /// read since arrived before it (see [`outbox::Arrival::not_before`]).
    resumed: Option<outbox::Arrival>,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    events: u64,
    malformed: u64,
    /// Malformed frames in a row on the current socket (a socket that sends only those is reconnected).
    malformed_run: u32,
    gaps: u64,
    connects: u64,
    rollovers: u64,
    unsubscribed: u64,
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
    /// Told when the actor ends without stopping (a panic).
    pub ended: Recipient<ChannelEnded>,
    /// This actor replaces one of the same slot that panicked: the time since `reuse`'s last proof of life
    /// is a `crash` gap, and the status says what happened.
    pub after_panic: bool,
    /// The tenant's backfill task, when gaps are backfilled (`[tenants.backfill] on_gap`).
    pub backfill: Option<BackfillHandle>,
    /// This actor's figures, as its tenant reads them (a new one for each actor: its counters start at zero).
    pub tally: Arc<tally::Tally>,
}

/// What the status says of a channel restarted after a panic.
pub const PANIC_RESTART: &str = "the channel panicked and was restarted";

impl ChannelActor {
    pub fn new(spec: ChannelSpec) -> ChannelActor {
        let families = families_of(&spec.units);
        announce_families(&spec.shared.metrics, &families);
        let policy = &spec.shared.policy;
        let mut continuity = Continuity::default();
        let why = if spec.after_panic {
            GapReason::Crash
        } else if spec.shared.failover {
            GapReason::Failover
        } else {
            GapReason::Restart
        };
        let reuse = spec.reuse.map(|record| {
            // The process (or actor) that recorded the channel last had proof of life then: whatever happened
            // since is a gap, whether or not the channel can be re-used. Not after a handover: the previous
            // owner read the channel until this actor's socket displaced its own.
            if !spec.shared.handed_over {
                continuity.resumed_after(record.updated_at, why);
            }
            let token_lifetime = spec
                .session
                .token()
                .map(|t| t.lifetime)
                .unwrap_or(crate::config::CHANNEL_LIFETIME);
            Bound::from_record(record, token_lifetime)
        });
        let span = log_span::LogSpan::new(
            spec.shared.tenant.clone(),
            spec.shared.region.clone(),
            spec.slot,
        );
        ChannelActor {
            restarts: RestartTracker::new(policy.restart.clone(), policy.backoff.clone()),
            watchdog: Watchdog::new(
                policy.ping_interval,
                policy.heartbeat_timeout,
                tokio::time::Instant::now(),
            ),
            lifetimes: Lifetimes::of(policy),
            shared: spec.shared,
            session: spec.session,
            slot: spec.slot,
            units: spec.units,
            families,
            tenant: spec.tenant,
            rollover_done: spec.rollover_done,
            phase: Phase::Preparing { reuse },
            turn: 0,
            next_generation: 1,
            continuity,
            rejected: Vec::new(),
            last_error: spec.after_panic.then(|| PANIC_RESTART.to_string()),
            end_notice: EndNotice {
                to: spec.ended,
                slot: spec.slot,
                channel_id: None,
                expected: false,
            },
            counters: Counters::default(),
            received_at: (i64::MIN, String::new()),
            origin: None,
            span,
            backfill: spec.backfill,
            tally: spec.tally,
            outbox: outbox::Outbox::default(),
            resumed: None,
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

    /// The counters and times that move between phases, as the tenant reads them from [`Self::tally`].
    fn figures(&self) -> tally::Figures {
        tally::Figures {
            events: self.counters.events,
            malformed: self.counters.malformed,
            gaps: self.counters.gaps,
            connects: self.counters.connects,
            rollovers: self.counters.rollovers,
            restarts: self.restarts.restarts(),
            unsubscribed: self.counters.unsubscribed,
            last_frame_at: self.continuity.last_proof(),
            pong_latency_ms: self
                .watchdog
                .latency()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// Stores [`Self::figures`] where the tenant reads them.
    fn write_tally(&self) {
        self.tally.write(&self.figures());
    }

    /// The channel's status; its figures are written to the tally too, so that the tenant never reads figures
    /// older than a status it was given.
    pub fn status(&self) -> ChannelStatus {
        let figures = self.figures();
        self.tally.write(&figures);
        let bound = self.phase.bound();
        ChannelStatus {
            slot: self.slot,
            client_id: self.session.client_id.to_string(),
            channel_id: bound.map(|b| b.id.clone()),
            lifecycle: self.phase.lifecycle(),
            topics: self.units.iter().map(|u| u.topics.len()).sum(),
            rejected: self.rejected.clone(),
            connected_since: self.phase.live().map(|l| l.since),
            last_frame_at: self.continuity.last_proof(),
            expires: bound.map(|b| b.expires_at),
            restarts: figures.restarts,
            last_error: self.last_error.clone(),
            events: figures.events,
            malformed_frames: figures.malformed,
            gaps: figures.gaps,
            connects: figures.connects,
            rollovers: figures.rollovers,
            pong_latency_ms: figures.pong_latency_ms,
            unsubscribed_events: figures.unsubscribed,
        }
    }

    /// The store's record of the bound channel; `updated_at` says when continuity last held.
    fn record(&self, updated_at: DateTime<Utc>) -> Option<ChannelRecord> {
        let b = self.phase.bound()?;
        Some(ChannelRecord {
            tenant: self.shared.tenant.to_string(),
            region: self.shared.region.to_string(),
            client_id: self.session.client_id.to_string(),
            channel_id: b.id.clone(),
            connect_uri: b.connect_uri.clone(),
            expires_at: b.expires_at,
            token_expires_at: b.token_expires_at,
            topics: b.subscribed.clone(),
            updated_at,
        })
    }

    /// Moves to `next`, which must be one of the transitions documented on [`Phase`]; jobs of the phase left
    /// behind are ignored from now on.
    fn enter(&mut self, next: Phase) {
        if !self.phase.may_become(&next) {
            // A bug, not an input: say so loudly, but keep running in the phase asked for.
            tracing::error!(parent: self.span.get(), from = self.phase.lifecycle().name(), to = next.lifecycle().name(), "channel phase change not in the documented table");
        }
        if let Some(live) = self.phase.live() {
            live.socket.close();
        }
        let from = self.phase.lifecycle().name();
        self.phase = next;
        self.turn += 1;
        let to = self.phase.lifecycle().name();
        if from != to {
            tracing::debug!(parent: self.span.get(), from, to, "channel phase");
        }
        self.name_channel();
        self.report();
    }

    fn report(&self) {
        self.tenant.do_send(ChannelReport(self.status()));
    }

    /// Names the channel this actor is bound to, if any, in its log span and in the notice of its end.
    fn name_channel(&mut self) {
        if let Some(b) = self.phase.bound() {
            self.span.name(&b.id);
            self.end_notice.channel_id = Some(b.id.clone());
        }
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
            tracing::warn!(parent: self.span.get(), topic = %r.id, reason = %r.reason, "topic rejected by the platform");
        }
    }

    /// A socket is live again: the gap since continuity was lost (if it was) is reported.
    fn regained(&mut self, at: DateTime<Utc>, ctx: &mut Context<Self>) {
        let Some(gap) = self.continuity.regained(at) else {
            return;
        };
        let reason = gap.reason;
        let gap = crate::store::GapRecord {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: self.shared.tenant.to_string(),
            region: self.shared.region.to_string(),
            channel_id: self.phase.bound().map(|b| b.id.clone()).unwrap_or_default(),
            topics: self.topics(),
            from: gap.from,
            to: gap.to,
            reason: gap.reason.as_str().to_string(),
            backfill: None,
        };
        self.counters.gaps += 1;
        self.shared
            .metrics
            .gap(reason, (gap.to - gap.from).to_std().unwrap_or_default());
        tracing::warn!(parent: self.span.get(), reason = %gap.reason, seconds = (gap.to - gap.from).num_milliseconds() as f64 / 1000.0, "continuity lost: gap recorded");
        let mut gap = gap;
        if let Some(backfill) = &self.backfill
            && covers(&gap.topics)
        {
            gap.backfill = Some(if backfill.offer(Job::Gap(gap.clone())) {
                GapBackfill::pending()
            } else {
                tracing::warn!(parent: self.span.get(), "the backfill queue is full; this gap is not backfilled");
                GapBackfill::failed(0, "the backfill queue was full".into())
            });
        }
        // After every event read before it, and like them: while the router's queue is full, the channel
        // reads nothing more.
        self.outbox.post(Inbound::Gap(gap));
        self.flush(ctx);
    }

    /// A job failed: back off, wait as the platform asked, or fail at once when retrying cannot help.
    fn failed(&mut self, error: ChannelError, why: RestartReason, ctx: &mut Context<Self>) {
        tracing::warn!(parent: self.span.get(), error = %error, "channel failure");
        self.shared.metrics.channel_restarted(why);
        self.last_error = Some(error.to_string());
        let bound = self.phase.bound().cloned();
        let now = std::time::Instant::now();
        let decision = match error.disposition() {
            Disposition::Permanent => {
                // Counted as a restart, but no backoff loop: the same request would fail the same way.
                let _ = self.restarts.failed(now);
                RestartDecision::Failed(self.shared.policy.restart.failed_retry)
            }
            Disposition::WaitFor(wait) => match self.restarts.failed(now) {
                RestartDecision::After(delay) => RestartDecision::After(delay.max(wait)),
                failed => failed,
            },
            Disposition::Retry => self.restarts.failed(now),
        };
        let delay = match decision {
            RestartDecision::After(delay) => {
                self.enter(Phase::Backoff {
                    bound,
                    attempt: self.restarts.restarts(),
                    last_error: error,
                });
                delay
            }
            RestartDecision::Failed(retry) => {
                let reason = match error.disposition() {
                    Disposition::Permanent => {
                        "the platform refused a request; retrying will not help"
                    }
                    _ => "too many failures in a row",
                };
                tracing::error!(parent: self.span.get(), error = %error, reason, "channel failed");
                self.enter(Phase::Failed {
                    bound,
                    reason,
                    since: Utc::now(),
                    last_error: error,
                });
                retry
            }
        };
        let turn = self.turn;
        ctx.run_later(delay, move |act, ctx| {
            if act.turn == turn {
                act.prepare(ctx);
            }
        });
    }

    /// The live socket is gone (not by our own choice): continuity is lost; recover.
    fn socket_lost(&mut self, reason: GapReason, error: ChannelError, ctx: &mut Context<Self>) {
        if self.phase.live().is_some() {
            self.shared.metrics.disconnected(disconnect_reason(reason));
        }
        self.continuity.lost(reason);
        let why = match error {
            ChannelError::Panic => RestartReason::Panic,
            _ => RestartReason::Error,
        };
        self.failed(error, why, ctx);
    }

    /// The channel itself is gone: its record is dropped and the next attempt makes a new one.
    fn channel_lost(&mut self, reason: GapReason, error: ChannelError, ctx: &mut Context<Self>) {
        if let Some(b) = self.phase.bound() {
            let store = self.shared.store.clone();
            let id = b.id.clone();
            actix::spawn(async move {
                let _ = store.remove_channel(&id).await;
            });
        }
        if self.phase.live().is_some() {
            self.shared.metrics.disconnected(disconnect_reason(reason));
        }
        self.continuity.lost(reason);
        self.shared.metrics.channel_restarted(RestartReason::Error);
        self.last_error = Some(error.to_string());
        // The channel is known gone: making a new one at once is not a retry of a failed request.
        self.enter(Phase::Preparing { reuse: None });
        self.prepare(ctx);
    }

    /// The periodic check of the live socket: ping on time, and declare it dead after silence.
    fn watch(&mut self, ctx: &mut Context<Self>) {
        let Some(live) = self.phase.live() else {
            return;
        };
        match self.watchdog.tick(tokio::time::Instant::now()) {
            Tick::Idle => {}
            Tick::SendPing => {
                let _ = live.socket.writer.unbounded_send(Outgoing::Ping);
            }
            Tick::Dead { silent_for } => self.socket_lost(
                GapReason::HeartbeatTimeout,
                ChannelError::Silent(silent_for),
                ctx,
            ),
        }
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
        // Not a loss of a socket of this process; a channel never reports them as one.
        GapReason::Restart | GapReason::Failover => DisconnectReason::Stopped,
    }
}

impl Actor for ChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let policy = &self.shared.policy;
        // The watchdog decides when to ping and when silence is death; it is asked often enough for both.
        let tick = policy
            .ping_interval
            .min(policy.heartbeat_timeout / 4)
            .max(Duration::from_millis(10));
        ctx.run_interval(tick, |act, ctx| act.watch(ctx));
        self.report();
        self.prepare(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // A burst cut short by the stop: its events still go to the router (the actor cannot wait for room).
        if let outbox::Flushed::Wait(held) = self.outbox.flush(&self.shared.router.queue) {
            actix::spawn(held.send_all(self.shared.router.queue.clone()));
        }
        if matches!(self.phase, Phase::Stopped) {
            return;
        }
        if self.phase.live().is_some() {
            self.shared.metrics.disconnected(DisconnectReason::Stopped);
        }
        self.enter(Phase::Stopped);
    }
}

impl ChannelActor {
    /// After a panic in a handler the actor's state may be half-updated: drop the socket and start over.
    fn contain_panic(&mut self, ctx: &mut Context<Self>) {
        tracing::error!(parent: self.span.get(), "panic in a channel handler; restarting the channel");
        if matches!(self.phase, Phase::Stopped) {
            return;
        }
        self.socket_lost(GapReason::Crash, ChannelError::Panic, ctx);
    }
}
