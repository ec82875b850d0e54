//! `TenantActor`: one tenant (a Genesys org in one region). It owns the OAuth sessions (tokens, refresh, REST
//! budget), places the tenant's topics onto channels, runs one `ChannelActor` per channel, and rolls channels
//! over to a new token one at a time (keeping a channel slot free for it).

pub mod placement;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;

use self::placement::{Existing, Limits, Unit};
use crate::channel::{
    self, ChannelActor, ChannelReport, ChannelSpec, ChannelStatus, RolloverDone, TenantShared,
};
use crate::config::{TenantConfig, TopicConfig};
use crate::upstream::ClientSession;

/// What the API shows of a tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    pub id: String,
    pub region: String,
    /// `running` (every channel live), `degraded` (some are not), `failed` (none is), `starting`, `paused`.
    pub state: String,
    pub channels: Vec<ChannelStatus>,
    /// Topics that could not be placed (over the channel limits), with the reason.
    pub unplaced: Vec<String>,
    pub unplaced_reason: Option<String>,
    pub last_error: Option<String>,
    /// The tenant's OAuth clients.
    pub clients: Vec<ClientStatus>,
    /// The tenant's topics against the platform's limits.
    pub quota: QuotaStatus,
}

/// One OAuth client of a tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientStatus {
    pub client_id: String,
    /// When its current token expires (none before the first token).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// The tenant's channels made with this client.
    pub channels: usize,
}

/// A tenant's topics by state, and how full its channels and clients are.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaStatus {
    /// Topics the tenant asks for.
    pub topics_desired: usize,
    /// Topics on a subscribed channel that the platform permitted.
    pub topics_subscribed: usize,
    /// Topics the platform refused.
    pub topics_rejected: usize,
    /// Topics that fit on no channel.
    pub topics_unplaced: usize,
    /// The most topics on one channel over the per-channel topic limit.
    pub channel_quota_utilization: f64,
    /// The most channels of one client over the per-client channel limit.
    pub channels_per_client_utilization: f64,
}

/// Where a placed topic stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopicState {
    Permitted,
    Rejected,
    /// On a channel not subscribed yet.
    Pending,
}

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

/// Where one topic is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicPlacement {
    pub topic: String,
    pub priority: i32,
    /// The channel holding it (none when unplaced or not created yet).
    pub channel_id: Option<String>,
    /// `Permitted`, `Rejected`, `pending` (not subscribed yet) or `unplaced`.
    pub state: String,
    pub reason: Option<String>,
}

/// Asks where each topic is.
#[derive(Message)]
#[rtype(result = "Vec<TopicPlacement>")]
pub struct GetPlacement;

/// Asks for the tenant's status.
#[derive(Message)]
#[rtype(result = "TenantStatus")]
pub struct GetTenantStatus;

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

pub struct TenantActor {
    config: TenantConfig,
    shared: Arc<TenantShared>,
    sessions: Vec<Arc<ClientSession>>,
    arbiters: Arc<Vec<ArbiterHandle>>,
    channels: Vec<Addr<ChannelActor>>,
    statuses: Vec<Option<ChannelStatus>>,
    slot_clients: Vec<usize>,
    /// The unit ids each slot's channel holds (empty: the slot's channel was stopped).
    slot_units: Vec<Vec<String>>,
    /// The units themselves (with their topics), for the placement report.
    slot_unit_defs: Vec<Vec<Unit>>,
    unplaced: Vec<Unit>,
    started: bool,
    last_error: Option<String>,
    /// The token generation each session had when its channels were last rolled over.
    rolled_generation: Vec<u64>,
    rollover_queue: VecDeque<usize>,
    rollover_in_flight: Option<(usize, std::time::Instant)>,
}

impl TenantActor {
    pub fn new(
        config: TenantConfig,
        shared: Arc<TenantShared>,
        http: reqwest::Client,
        arbiters: Arc<Vec<ArbiterHandle>>,
    ) -> TenantActor {
        let sessions = config
            .clients
            .iter()
            .map(|c| {
                ClientSession::new(
                    shared.tenant.clone(),
                    c,
                    config.endpoints.clone(),
                    http.clone(),
                    shared.policy.rest_requests_per_minute,
                    shared.policy.request_timeout,
                    shared.metrics.clone(),
                )
            })
            .collect::<Vec<_>>();
        let n = sessions.len();
        TenantActor {
            config,
            shared,
            sessions,
            arbiters,
            channels: Vec::new(),
            statuses: Vec::new(),
            slot_clients: Vec::new(),
            slot_units: Vec::new(),
            slot_unit_defs: Vec::new(),
            unplaced: Vec::new(),
            started: false,
            last_error: None,
            rolled_generation: vec![0; n],
            rollover_queue: VecDeque::new(),
            rollover_in_flight: None,
        }
    }

    fn status(&self) -> TenantStatus {
        let channels: Vec<ChannelStatus> = self.statuses.iter().flatten().cloned().collect();
        let live = channels
            .iter()
            .filter(|c| c.lifecycle.name() == "live")
            .count();
        let failed = channels
            .iter()
            .filter(|c| c.lifecycle.name() == "failed")
            .count();
        let state = if self.config.paused {
            "paused"
        } else if !self.started {
            "starting"
        } else if !channels.is_empty() && failed == channels.len() {
            "failed"
        } else if live == channels.len() {
            "running"
        } else {
            "degraded"
        };
        let clients: Vec<ClientStatus> = self
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| ClientStatus {
                client_id: s.client_id.to_string(),
                token_expires_at: s.token().map(|t| t.expires_at),
                channels: self.channels_of(i),
            })
            .collect();
        TenantStatus {
            id: self.config.id.clone(),
            region: self.config.endpoints.region.clone(),
            state: state.to_string(),
            quota: self.quota(&channels, &clients),
            channels,
            unplaced: self
                .unplaced
                .iter()
                .flat_map(|u| u.topics.iter().cloned())
                .collect(),
            unplaced_reason: self.unplaced_reason(),
            last_error: self.last_error.clone(),
            clients,
        }
    }

    fn unplaced_reason(&self) -> Option<String> {
        (!self.unplaced.is_empty()).then(|| {
            let p = &self.shared.policy;
            format!(
                "over the channel limits: {} client(s) x {} channels (one slot per client kept for rollovers) x {} topics",
                self.sessions.len(),
                p.channels_per_client.saturating_sub(p.reserved_channel_slots),
                p.topics_per_channel
            )
        })
    }

    /// Channels running with client `i` (slots emptied by a change of topics do not count).
    fn channels_of(&self, client: usize) -> usize {
        self.slot_clients
            .iter()
            .zip(&self.slot_units)
            .filter(|(c, units)| **c == client && !units.is_empty())
            .count()
    }

    fn quota(&self, channels: &[ChannelStatus], clients: &[ClientStatus]) -> QuotaStatus {
        let p = &self.shared.policy;
        let mut q = QuotaStatus {
            topics_unplaced: self.unplaced.iter().map(|u| u.topics.len()).sum(),
            ..QuotaStatus::default()
        };
        let mut pending = 0;
        self.each_placed_topic(|_, _, state, _| match state {
            TopicState::Permitted => q.topics_subscribed += 1,
            TopicState::Rejected => q.topics_rejected += 1,
            TopicState::Pending => pending += 1,
        });
        q.topics_desired = pending + q.topics_subscribed + q.topics_rejected + q.topics_unplaced;
        let ratio = |n: usize, limit: usize| n as f64 / limit.max(1) as f64;
        q.channel_quota_utilization = channels
            .iter()
            .map(|c| ratio(c.topics, p.topics_per_channel))
            .fold(0.0, f64::max);
        q.channels_per_client_utilization = clients
            .iter()
            .map(|c| ratio(c.channels, p.channels_per_client))
            .fold(0.0, f64::max);
        q
    }

    /// Calls `each` for every topic placed on a channel: its unit, the topic, its state, and the channel's
    /// status with the platform's verdict when it rejected the topic.
    fn each_placed_topic(
        &self,
        mut each: impl FnMut(
            &Unit,
            &str,
            TopicState,
            (Option<&ChannelStatus>, Option<&channel::Rejected>),
        ),
    ) {
        for (slot, units) in self.slot_unit_defs.iter().enumerate() {
            let status = self.statuses.get(slot).and_then(|s| s.as_ref());
            let subscribed = status.is_some_and(|s| s.channel_id.is_some() && s.connects > 0);
            for unit in units {
                let rejected = status.and_then(|s| {
                    s.rejected.iter().find(|r| {
                        r.id.eq_ignore_ascii_case(&unit.id)
                            || unit.topics.iter().any(|t| t.eq_ignore_ascii_case(&r.id))
                    })
                });
                let state = match rejected {
                    Some(_) => TopicState::Rejected,
                    None if subscribed => TopicState::Permitted,
                    None => TopicState::Pending,
                };
                for topic in &unit.topics {
                    each(unit, topic, state, (status, rejected));
                }
            }
        }
    }

    /// Places the topics (keeping what recorded channels hold) and starts the channels.
    fn limits(&self) -> Limits {
        let p = &self.shared.policy;
        Limits {
            clients: self.sessions.len(),
            channels_per_client: p.channels_per_client,
            reserved: p.reserved_channel_slots,
            quota: p.topics_per_channel,
            counting: p.combined_topic_counting,
        }
    }

    /// Starts a channel actor in a new slot.
    fn spawn_channel(
        &mut self,
        client: usize,
        units: Vec<Unit>,
        reuse: Option<crate::store::ChannelRecord>,
        ctx: &mut Context<Self>,
    ) {
        let slot = self.channels.len();
        self.slot_units
            .push(units.iter().map(|u| u.id.clone()).collect());
        self.slot_unit_defs.push(units.clone());
        let spec = ChannelSpec {
            shared: self.shared.clone(),
            session: self.sessions[client].clone(),
            slot,
            units,
            reuse,
            tenant: ctx.address().recipient(),
            rollover_done: ctx.address().recipient(),
        };
        let arbiter = &self.arbiters[slot % self.arbiters.len()];
        let addr = ChannelActor::start_in_arbiter(arbiter, move |_| ChannelActor::new(spec));
        self.channels.push(addr);
        self.statuses.push(None);
        self.slot_clients.push(client);
    }

    /// Applies a new topic list: channels keep what they hold, removed topics are unsubscribed in place, new
    /// ones go where there is room, then onto new channels; a channel left with nothing stops.
    fn set_topics(&mut self, topics: Vec<TopicConfig>, ctx: &mut Context<Self>) -> TopicsChange {
        let existing: Vec<Existing> = self
            .slot_units
            .iter()
            .enumerate()
            .filter(|(_, u)| !u.is_empty())
            .map(|(slot, u)| Existing {
                channel_id: slot.to_string(),
                client: self.slot_clients[slot],
                units: u.clone(),
            })
            .collect();
        let plan = placement::place(placement::units(&topics), &existing, self.limits());
        let mut change = TopicsChange::default();
        let mut kept = std::collections::HashSet::new();
        for planned in plan.channels {
            let ids: Vec<String> = planned.units.iter().map(|u| u.id.clone()).collect();
            match planned.reuse.and_then(|s| s.parse::<usize>().ok()) {
                Some(slot) => {
                    kept.insert(slot);
                    if self.slot_units[slot] != ids {
                        change.channels_changed += 1;
                        self.slot_units[slot] = ids;
                        self.slot_unit_defs[slot] = planned.units.clone();
                        self.channels[slot].do_send(channel::SetUnits(planned.units));
                    }
                }
                None => {
                    change.channels_started += 1;
                    self.spawn_channel(planned.client, planned.units, None, ctx);
                }
            }
        }
        for slot in 0..self.slot_units.len() {
            // Slots started just now are in the plan by construction; older slots not kept are emptied.
            let old = slot < self.channels.len() - change.channels_started;
            if old && !kept.contains(&slot) && !self.slot_units[slot].is_empty() {
                change.channels_stopped += 1;
                self.slot_units[slot].clear();
                self.slot_unit_defs[slot].clear();
                self.statuses[slot] = None;
                self.channels[slot].do_send(channel::SetUnits(Vec::new()));
            }
        }
        self.unplaced = plan.unplaced;
        change.unplaced = self.unplaced.iter().map(|u| u.topics.len()).sum();
        self.config.topics = topics;
        change
    }

    fn start_channels(
        &mut self,
        records: Vec<crate::store::ChannelRecord>,
        ctx: &mut Context<Self>,
    ) {
        let limits = self.limits();
        let client_index: HashMap<&str, usize> = self
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (&*s.client_id, i))
            .collect();
        let existing: Vec<Existing> = records
            .iter()
            .filter_map(|r| {
                Some(Existing {
                    channel_id: r.channel_id.clone(),
                    client: *client_index.get(r.client_id.as_str())?,
                    units: r.topics.clone(),
                })
            })
            .collect();
        let plan = placement::place(placement::units(&self.config.topics), &existing, limits);
        if !plan.unplaced.is_empty() {
            tracing::warn!(tenant = %self.config.id, unplaced = plan.unplaced.iter().map(|u| u.topics.len()).sum::<usize>(), "topics could not be placed: over the channel limits");
        }
        self.unplaced = plan.unplaced;
        let mut by_id: HashMap<String, crate::store::ChannelRecord> = records
            .into_iter()
            .map(|r| (r.channel_id.clone(), r))
            .collect();
        for planned in plan.channels {
            let reuse = planned.reuse.as_ref().and_then(|id| by_id.remove(id));
            self.spawn_channel(planned.client, planned.units, reuse, ctx);
        }
        // Records of channels no longer needed: forgotten (the platform lets them expire).
        for (id, _) in by_id {
            let store = self.shared.store.clone();
            actix::spawn(async move {
                let _ = store.remove_channel(&id).await;
            });
        }
        self.started = true;
    }

    /// Once a second: refresh tokens that are due, and roll channels over (one at a time) to a new token.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Utc::now();
        for (i, session) in self.sessions.iter().enumerate() {
            let Some(token) = session.token() else {
                continue;
            };
            let margin = self
                .shared
                .policy
                .token_refresh_margin
                .min(token.lifetime / 3);
            if token.expires_at - crate::time::chrono(margin) <= now {
                let session = session.clone();
                let stale = token.generation;
                actix::spawn(async move {
                    if let Err(e) = session.refresh(Some(stale)).await {
                        tracing::warn!(tenant = %session.tenant, client = %session.client_id, error = %e, "token refresh failed");
                    }
                });
            }
            if token.generation > self.rolled_generation[i] {
                if self.rolled_generation[i] > 0 {
                    for (slot, &client) in self.slot_clients.iter().enumerate() {
                        if client == i
                            && !self.slot_units[slot].is_empty()
                            && !self.rollover_queue.contains(&slot)
                        {
                            self.rollover_queue.push_back(slot);
                        }
                    }
                }
                self.rolled_generation[i] = token.generation;
            }
        }
        let patience = self.shared.policy.connect_timeout + self.shared.policy.request_timeout * 2;
        if self
            .rollover_in_flight
            .is_some_and(|(_, at)| at.elapsed() > patience)
        {
            self.rollover_in_flight = None;
        }
        if self.rollover_in_flight.is_none()
            && let Some(slot) = self.rollover_queue.pop_front()
        {
            self.rollover_in_flight = Some((slot, std::time::Instant::now()));
            self.channels[slot].do_send(channel::RollOver);
        }
        let _ = ctx;
    }
}

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.config.paused {
            return;
        }
        let store = self.shared.store.clone();
        let tenant = self.config.id.clone();
        let sessions = self.sessions.clone();
        let job = async move {
            // Tokens first, so that the channels do not all ask for one at once.
            for s in &sessions {
                if let Err(e) = s.ensure_token().await {
                    tracing::warn!(%tenant, client = %s.client_id, error = %e, "could not get a token");
                }
            }
            store.channels(&tenant).await
        };
        ctx.wait(job.into_actor(self).map(|res, act, ctx| {
            let records = match res {
                Ok(r) => r,
                Err(e) => {
                    act.last_error = Some(format!("could not read channel records: {e}"));
                    Vec::new()
                }
            };
            act.rolled_generation = act
                .sessions
                .iter()
                .map(|s| s.token().map(|t| t.generation).unwrap_or(0))
                .collect();
            act.start_channels(records, ctx);
        }));
        ctx.run_interval(Duration::from_secs(1), |act, ctx| act.tick(ctx));
    }
}

impl Handler<ChannelReport> for TenantActor {
    type Result = ();
    fn handle(&mut self, ChannelReport(status): ChannelReport, _: &mut Context<Self>) {
        let slot = status.slot;
        if self.slot_units.get(slot).is_some_and(|u| u.is_empty()) {
            return;
        }
        if let Some(s) = self.statuses.get_mut(slot) {
            *s = Some(status);
        }
    }
}

impl Handler<RolloverDone> for TenantActor {
    type Result = ();
    fn handle(&mut self, done: RolloverDone, ctx: &mut Context<Self>) {
        if self
            .rollover_in_flight
            .is_some_and(|(slot, _)| slot == done.slot)
        {
            self.rollover_in_flight = None;
            self.tick(ctx);
        }
    }
}

impl Handler<GetTenantStatus> for TenantActor {
    type Result = ResponseActFuture<Self, TenantStatus>;
    /// Asks every channel for its current status (counters move between state changes).
    fn handle(&mut self, _: GetTenantStatus, _: &mut Context<Self>) -> Self::Result {
        let asks: Vec<_> = self
            .channels
            .iter()
            .map(|c| c.send(channel::GetStatus))
            .collect();
        Box::pin(
            futures_util::future::join_all(asks)
                .into_actor(self)
                .map(|answers, act, _| {
                    for status in answers.into_iter().flatten() {
                        let slot = status.slot;
                        if let Some(s) = act.statuses.get_mut(slot) {
                            *s = Some(status);
                        }
                    }
                    act.status()
                }),
        )
    }
}

impl Handler<GetPlacement> for TenantActor {
    type Result = MessageResult<GetPlacement>;
    fn handle(&mut self, _: GetPlacement, _: &mut Context<Self>) -> Self::Result {
        let mut out = Vec::new();
        self.each_placed_topic(|unit, topic, state, (status, rejected)| {
            let (state, reason) = match state {
                TopicState::Rejected => ("Rejected", rejected.map(|r| r.reason.clone())),
                TopicState::Permitted => ("Permitted", None),
                TopicState::Pending => ("pending", None),
            };
            out.push(TopicPlacement {
                topic: topic.to_string(),
                priority: unit.priority,
                channel_id: status.and_then(|s| s.channel_id.clone()),
                state: state.to_string(),
                reason,
            });
        });
        let reason = self.unplaced_reason();
        for unit in &self.unplaced {
            for topic in &unit.topics {
                out.push(TopicPlacement {
                    topic: topic.clone(),
                    priority: unit.priority,
                    channel_id: None,
                    state: "unplaced".into(),
                    reason: reason.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.topic.cmp(&b.topic));
        MessageResult(out)
    }
}

impl Handler<SetTopics> for TenantActor {
    type Result = MessageResult<SetTopics>;
    fn handle(&mut self, SetTopics(topics): SetTopics, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.set_topics(topics, ctx))
    }
}

impl Handler<RestartChannels> for TenantActor {
    type Result = ();
    fn handle(&mut self, msg: RestartChannels, _: &mut Context<Self>) {
        for c in &self.channels {
            c.do_send(channel::Restart {
                only_failed: msg.only_failed,
            });
        }
    }
}

impl Handler<CrashChannel> for TenantActor {
    type Result = ();
    fn handle(&mut self, CrashChannel(slot): CrashChannel, _: &mut Context<Self>) {
        if let Some(c) = self.channels.get(slot) {
            c.do_send(channel::Crash);
        }
    }
}

impl Handler<StopTenant> for TenantActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: StopTenant, _: &mut Context<Self>) -> Self::Result {
        let stops: Vec<_> = self
            .channels
            .iter()
            .map(|c| c.send(channel::Stop))
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
