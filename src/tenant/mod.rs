//! `TenantActor`: one tenant (a Genesys org in one region). It owns the OAuth sessions (tokens, refresh, REST
//! budget), places the tenant's topics onto channels, runs one `ChannelActor` per channel, and rolls channels
//! over to a new token one at a time (keeping a channel slot free for it).

mod messages;
mod proofs;
mod slot;
mod status;
mod templates;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use tracing::Instrument as _;

use self::slot::Slot;
use self::templates::Templates;
pub use self::templates::{SetTemplates, TemplateStatus};
use crate::backfill::{self, BackfillHandle};
use crate::channel::tally::Tally;
use crate::channel::{self, ChannelActor, ChannelSpec, TenantShared};
use crate::config::{TenantConfig, TopicConfig};
use crate::lifetime::Lifetimes;
use crate::placement::{self, Existing, Limits, Unit};
use crate::restart::RestartTracker;
use crate::upstream::{ClientSession, SessionLimits};

pub use self::messages::{
    CrashChannel, GetPlacement, RestartChannels, SetTopics, StopTenant, TenantStopped, TopicsChange,
};
pub use self::status::{ClientStatus, QuotaStatus, TenantStatus, TopicPlacement};

/// The engine's status board: every tenant's status, written by its actor (by the supervisor while it runs
/// none), read without a message.
pub type StatusBoard = crate::board::Board<TenantStatus>;

/// How often a tenant writes its channels' counters, last frames and its tokens' expiry to the board (changes
/// of state are written at once): what the board shows of them is at most this old.
pub const BOARD_REFRESH: Duration = Duration::from_secs(1);
/// How often a tenant asks every channel for its whole status; in between it reads the channels' tallies. The
/// channels report their changes of phase, errors and rejected topics themselves: the round is a safety net.
pub const STATUS_ROUND: Duration = Duration::from_secs(10);
const STATUS_ROUND_REFRESHES: u64 = STATUS_ROUND.as_secs() / BOARD_REFRESH.as_secs();

/// Sends [`TenantStopped`] when dropped. Dropping, not `Actor::stopped`, because a panic in a handler ends
/// the actor without `stopped` being called, and that is the stop its supervisor most needs to hear of.
struct StopNotice {
    to: Recipient<TenantStopped>,
    message: TenantStopped,
}

impl Drop for StopNotice {
    fn drop(&mut self) {
        self.to.do_send(self.message.clone());
    }
}

pub struct TenantActor {
    config: TenantConfig,
    shared: Arc<TenantShared>,
    sessions: Vec<Arc<ClientSession>>,
    arbiters: Arc<Vec<ArbiterHandle>>,
    /// The channels, by slot index.
    slots: Vec<Slot>,
    unplaced: Vec<Unit>,
    started: bool,
    last_error: Option<String>,
    /// The token generation each session had when its channels were last rolled over.
    rolled_generation: Vec<u64>,
    rollover_queue: VecDeque<usize>,
    rollover_in_flight: Option<(usize, std::time::Instant)>,
    /// The batched write of the channels' proofs of life under way, if any: one at a time, so that a slow
    /// store never has writes of this tenant piling up.
    proofs_in_flight: Option<SpawnHandle>,
    /// Where the tenant's status is shown; its entry is opened for this actor's incarnation.
    board: Arc<StatusBoard>,
    /// The channels are being asked for their status for the board.
    board_refresh_in_flight: bool,
    /// Board refreshes so far (every [`STATUS_ROUND_REFRESHES`]th is a full round).
    board_refreshes: u64,
    /// Every log line of the actor is inside it: `tenant` and `region`.
    span: tracing::Span,
    stop_notice: StopNotice,
    /// Stopping on request: a channel ending now is not restarted.
    stopping: bool,
    /// The backfill task, when `[tenants.backfill]` asks for one.
    backfill: Option<BackfillHandle>,
    /// Topic templates and what the org made of them.
    templates: Templates,
    template_sync_in_flight: bool,
    template_timer: Option<SpawnHandle>,
    /// Each template's status as of the last placement or expansion.
    template_status: Vec<TemplateStatus>,
}

impl TenantActor {
    /// A tenant actor for `config`; `stopped` hears when it ends, with `incarnation` (a number the caller
    /// makes greater for every start of the tenant). The tenant's entry on `board` is opened at once, for
    /// `incarnation`, with its first status (`starting` or `paused`).
    pub fn new(
        config: TenantConfig,
        shared: Arc<TenantShared>,
        http: reqwest::Client,
        arbiters: Arc<Vec<ArbiterHandle>>,
        stopped: Recipient<TenantStopped>,
        incarnation: u64,
        board: Arc<StatusBoard>,
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
                    SessionLimits {
                        requests_per_minute: shared.policy.rest_requests_per_minute,
                        request_timeout: shared.policy.request_timeout,
                    },
                    shared.metrics.clone(),
                    shared.egress.clone(),
                )
            })
            .collect::<Vec<_>>();
        let n = sessions.len();
        // A root of its own: the actor outlives whatever started it, and the supervisor's span around the
        // start would repeat `tenant` and `region` on every line.
        let span = tracing::info_span!(
            parent: None,
            "tenant",
            tenant = %config.id,
            region = %config.endpoints.region
        );
        let stop_notice = StopNotice {
            to: stopped,
            message: TenantStopped {
                id: config.id.clone(),
                incarnation,
                requested: false,
            },
        };
        let config_templates = config.templates.clone();
        let actor = TenantActor {
            config,
            shared,
            sessions,
            arbiters,
            slots: Vec::new(),
            unplaced: Vec::new(),
            started: false,
            last_error: None,
            rolled_generation: vec![0; n],
            rollover_queue: VecDeque::new(),
            rollover_in_flight: None,
            proofs_in_flight: None,
            board,
            board_refresh_in_flight: false,
            board_refreshes: 0,
            span,
            stop_notice,
            stopping: false,
            backfill: None,
            templates: Templates::new(&config_templates),
            template_sync_in_flight: false,
            template_timer: None,
            template_status: Vec::new(),
        };
        actor
            .board
            .open(&actor.config.id, incarnation, actor.status());
        actor
    }

    /// Writes the tenant's status to the board (ignored once a newer actor of the tenant opened its entry, or
    /// the tenant was removed).
    fn publish(&self) {
        self.board.update(
            &self.config.id,
            self.stop_notice.message.incarnation,
            self.status(),
        );
    }

    /// Writes the board with the channels' figures as they last wrote them (counters and last frames move
    /// between their reports), every [`BOARD_REFRESH`]; every [`STATUS_ROUND`] asks the channels for their
    /// whole status instead, one round at a time.
    fn refresh_board(&mut self, ctx: &mut Context<Self>) {
        self.board_refreshes = self.board_refreshes.wrapping_add(1);
        if !self.board_refreshes.is_multiple_of(STATUS_ROUND_REFRESHES)
            || self.board_refresh_in_flight
        {
            self.take_tallies();
            self.publish();
            return;
        }
        self.board_refresh_in_flight = true;
        ctx.spawn(
            self.refresh_statuses()
                .map(|_, act, _| act.board_refresh_in_flight = false),
        );
    }

    /// Brings every slot's status up to its channel's tally: counters, last frame, last pong.
    fn take_tallies(&mut self) {
        for slot in &mut self.slots {
            slot.take_tally();
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
        let slot = self.slots.len();
        let (addr, tally) = self.start_channel(slot, client, units.clone(), reuse, false, ctx);
        self.slots.push(Slot::new(
            addr,
            tally,
            client,
            units,
            RestartTracker::new(
                self.shared.policy.restart.clone(),
                self.shared.policy.backoff.clone(),
            ),
        ));
    }

    /// Starts the channel actor of `slot` (on the arbiter the slot's index picks).
    fn start_channel(
        &self,
        slot: usize,
        client: usize,
        units: Vec<Unit>,
        reuse: Option<crate::store::ChannelRecord>,
        after_panic: bool,
        ctx: &mut Context<Self>,
    ) -> (Addr<ChannelActor>, Arc<Tally>) {
        let tally = Arc::new(Tally::default());
        let spec = ChannelSpec {
            shared: self.shared.clone(),
            session: self.sessions[client].clone(),
            slot,
            units,
            reuse,
            tenant: ctx.address().recipient(),
            rollover_done: ctx.address().recipient(),
            ended: ctx.address().recipient(),
            after_panic,
            backfill: self
                .backfill
                .clone()
                .filter(|_| self.config.backfill.on_gap),
            tally: tally.clone(),
        };
        let arbiter = &self.arbiters[slot % self.arbiters.len()];
        let addr = ChannelActor::start_in_arbiter(arbiter, move |_| ChannelActor::new(spec));
        (addr, tally)
    }

    /// Starts a slot's channel again after it panicked, from the store's record of its channel: the new actor
    /// re-uses the channel if it can and reports the time since the record's proof of life as a `crash` gap.
    fn restart_after_panic(
        &mut self,
        slot: usize,
        channel_id: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        if self.stopping || !self.slots.get(slot).is_some_and(Slot::holds_topics) {
            return;
        }
        let store = self.shared.store.clone();
        let tenant = self.config.id.clone();
        let job = async move { store.channels(&tenant).await };
        ctx.spawn(job.into_actor(self).map(move |records, act, ctx| {
            let _span = act.span.clone().entered();
            if act.stopping || !act.slots.get(slot).is_some_and(Slot::holds_topics) {
                return;
            }
            let record = records.ok().and_then(|records| {
                records
                    .into_iter()
                    .find(|r| Some(&r.channel_id) == channel_id.as_ref())
            });
            let (client, units) = (act.slots[slot].client, act.slots[slot].units.clone());
            let (addr, tally) = act.start_channel(slot, client, units, record, true, ctx);
            act.slots[slot].addr = addr;
            act.slots[slot].tally = tally;
            tracing::info!(slot, "channel restarted after a panic");
        }));
    }

    /// Applies a new list of plain topics (the templates' expansions stay).
    fn set_topics(&mut self, topics: Vec<TopicConfig>, ctx: &mut Context<Self>) -> TopicsChange {
        self.config.topics = topics;
        self.place_topics(ctx)
    }

    /// Places the topics to follow now: channels keep what they hold, removed topics are unsubscribed in
    /// place, new ones go where there is room, then onto new channels; a channel left with nothing stops.
    fn place_topics(&mut self, ctx: &mut Context<Self>) -> TopicsChange {
        let topics = self.effective_topics();
        let existing: Vec<Existing> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.holds_topics())
            .map(|(i, s)| Existing {
                channel_id: i.to_string(),
                client: s.client,
                units: s.unit_ids(),
            })
            .collect();
        let plan = placement::place(placement::units(&topics), &existing, self.limits());
        let mut change = TopicsChange::default();
        let mut kept = std::collections::HashSet::new();
        for planned in plan.channels {
            let ids: Vec<String> = planned.units.iter().map(|u| u.id.clone()).collect();
            let reused = planned.reuse.and_then(|s| s.parse::<usize>().ok());
            match reused.and_then(|i| Some((i, self.slots.get_mut(i)?))) {
                Some((i, slot)) => {
                    kept.insert(i);
                    if slot.unit_ids() != ids {
                        change.channels_changed += 1;
                        slot.assign(planned.units.clone());
                        slot.addr.do_send(channel::SetUnits(planned.units));
                    }
                }
                None => {
                    change.channels_started += 1;
                    self.spawn_channel(planned.client, planned.units, None, ctx);
                }
            }
        }
        // Slots started just now are in the plan by construction; older slots not kept are emptied.
        let old = self.slots.len() - change.channels_started;
        for (i, slot) in self.slots.iter_mut().enumerate().take(old) {
            if !kept.contains(&i) && slot.holds_topics() {
                change.channels_stopped += 1;
                slot.clear();
                slot.addr.do_send(channel::SetUnits(Vec::new()));
            }
        }
        self.unplaced = plan.unplaced;
        change.unplaced = self.unplaced.iter().map(|u| u.topics.len()).sum();
        self.refresh_template_status();
        self.publish();
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
        let topics = self.effective_topics();
        let plan = placement::place(placement::units(&topics), &existing, limits);
        if !plan.unplaced.is_empty() {
            tracing::warn!(tenant = %self.config.id, unplaced = plan.unplaced.iter().map(|u| u.topics.len()).sum::<usize>(), "topics could not be placed: over the channel limits");
        }
        self.unplaced = plan.unplaced;
        self.refresh_template_status();
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
        self.publish();
    }

    /// Once a second: refresh tokens that are due, and roll channels over (one at a time) to a new token.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Utc::now();
        let lifetimes = Lifetimes::of(&self.shared.policy);
        for (i, session) in self.sessions.iter().enumerate() {
            let Some(token) = session.token() else {
                continue;
            };
            if lifetimes.token_refresh_at(token.expires_at, token.lifetime) <= now {
                let session = session.clone();
                let stale = token.generation;
                actix::spawn(
                    async move {
                        if let Err(e) = session.refresh(Some(stale)).await {
                            tracing::warn!(tenant = %session.tenant, client = %session.client_id, error = %e, "token refresh failed");
                        }
                    }
                    .instrument(self.span.clone()),
                );
            }
            if token.generation > self.rolled_generation[i] {
                if self.rolled_generation[i] > 0 {
                    for (n, slot) in self.slots.iter().enumerate() {
                        if slot.client == i
                            && slot.holds_topics()
                            && !self.rollover_queue.contains(&n)
                        {
                            self.rollover_queue.push_back(n);
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
            && let Some(n) = self.rollover_queue.pop_front()
            && let Some(slot) = self.slots.get(n)
        {
            self.rollover_in_flight = Some((n, std::time::Instant::now()));
            slot.addr.do_send(channel::RollOver);
        }
        let _ = ctx;
    }

    /// Asks every running channel for its status (its counters and last frame move between the reports it
    /// sends on changes of state), keeps the answers and writes them to the board.
    fn refresh_statuses(&self) -> impl ActorFuture<Self, Output = ()> + use<> {
        let asks: Vec<_> = self
            .slots
            .iter()
            .filter(|s| s.holds_topics())
            .map(|s| s.addr.send(channel::GetStatus))
            .collect();
        futures_util::future::join_all(asks)
            .into_actor(self)
            .map(|answers, act, _| {
                for status in answers.into_iter().flatten() {
                    if let Some(slot) = act.slots.get_mut(status.slot) {
                        slot.observe(status);
                    }
                }
                act.publish();
            })
    }
}

impl TenantActor {
    /// Starts the backfill task (`[tenants.backfill]`) with the first client's session, and the periodic
    /// reconciliation's timer.
    fn start_backfill(&mut self, ctx: &mut Context<Self>) {
        let settings = self.config.backfill;
        let Some(session) = self
            .sessions
            .first()
            .filter(|_| settings.enabled())
            .cloned()
        else {
            return;
        };
        self.backfill = Some(backfill::spawn(backfill::Backfill {
            tenant: self.shared.tenant.clone(),
            region: self.shared.region.clone(),
            session,
            router: self.shared.router.clone(),
            store: self.shared.store.clone(),
            metrics: self.shared.metrics.clone(),
        }));
        if let Some(every) = settings.reconcile_every {
            ctx.run_interval(every, move |act, _| act.reconcile(every));
        }
    }

    /// Asks the backfill task for a pass over the last `every` (and a little more, so that passes overlap:
    /// what was already delivered is not delivered again) of every topic of the conversation families.
    fn reconcile(&mut self, every: Duration) {
        let following = self.effective_topics();
        let Some(backfill) = &self.backfill else {
            return;
        };
        let to = Utc::now();
        let span = chrono::Duration::from_std(every + RECONCILE_OVERLAP).unwrap_or_default();
        let topics: Vec<String> = placement::units(&following)
            .into_iter()
            .flat_map(|u| u.topics)
            .collect();
        if !backfill::covers(&topics) {
            return;
        }
        if !backfill.offer(backfill::Job::Reconcile {
            from: to - span,
            to,
            topics,
        }) {
            tracing::warn!(parent: &self.span, "the backfill queue is full; this reconciliation is skipped");
        }
    }
}

/// How much each reconciliation pass reaches back before the previous one.
const RECONCILE_OVERLAP: Duration = Duration::from_secs(60);

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        if self.config.paused {
            return;
        }
        self.start_backfill(ctx);
        let store = self.shared.store.clone();
        let tenant = self.config.id.clone();
        let sessions = self.sessions.clone();
        let specs = self.templates.specs();
        let job = async move {
            // Tokens first, so that the channels do not all ask for one at once.
            for s in &sessions {
                if let Err(e) = s.ensure_token().await {
                    tracing::warn!(%tenant, client = %s.client_id, error = %e, "could not get a token");
                }
            }
            // The templates' first expansion before the channels are placed: channels recorded with
            // template topics keep them instead of dropping and taking them again a moment later.
            let expanded = match sessions.first().filter(|_| !specs.is_empty()) {
                Some(session) => tokio::time::timeout(
                    templates::FIRST_SYNC_PATIENCE,
                    templates::expand(session.clone(), specs.clone()),
                )
                .await
                .unwrap_or_else(|_| {
                    vec![Err("the first expansion took too long".to_string()); specs.len()]
                }),
                None => Vec::new(),
            };
            (store.channels(&tenant).await, specs, expanded)
        };
        ctx.wait(job.instrument(self.span.clone()).into_actor(self).map(
            |(res, specs, expanded), act, ctx| {
                let _span = act.span.clone().entered();
                act.apply_expansion(&specs, expanded);
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
                act.schedule_template_syncs(ctx);
            },
        ));
        ctx.run_interval(Duration::from_secs(1), |act, ctx| {
            let _span = act.span.clone().entered();
            act.tick(ctx)
        });
        ctx.run_interval(BOARD_REFRESH, |act, ctx| act.refresh_board(ctx));
        ctx.run_interval(self.shared.policy.proof_of_life_interval, |act, ctx| {
            act.persist_proofs(ctx)
        });
    }
}
