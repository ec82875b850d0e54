//! `Supervisor`: one per process. Turns the desired tenants into running `TenantActor`s and restarts a tenant
//! that stops unexpectedly, with backoff, jitter and an intensity limit (see [`crate::restart`]).

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use serde::Serialize;

use crate::channel::TenantShared;
use crate::config::{EnginePolicy, TenantConfig};
use crate::metrics::labels::{ActorKind, RestartReason};
use crate::metrics::{Metrics, StatusSnapshot, TenantMetrics};
use crate::restart::{RestartDecision, RestartTracker};
use crate::router::RouterHandle;
use crate::store::Store;
use crate::tenant::{
    CrashChannel, StatusBoard, StopTenant, TenantActor, TenantStatus, TenantStopped,
};

/// Everything tenants share.
pub struct EngineShared {
    pub policy: EnginePolicy,
    pub router: RouterHandle,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    pub arbiters: Arc<Vec<ArbiterHandle>>,
    pub metrics: Arc<Metrics>,
    /// Where tenants may connect (`[egress]`); `http` resolves names through it.
    pub egress: crate::egress::Egress,
    /// Every tenant's status, as its actor (or, while it runs none, the supervisor) last wrote it.
    pub board: Arc<StatusBoard>,
    /// The self-fence of cluster mode (always open for a single instance): checked before claiming actions.
    pub fence: crate::fence::Fence,
    /// Cluster mode: only the tenants this instance holds a lease for run here.
    pub clustered: bool,
}

/// The engine's status: every tenant and channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    pub tenants: Vec<TenantStatus>,
}

impl EngineStatus {
    /// Every tenant on the board, by id.
    pub fn of(board: &StatusBoard) -> EngineStatus {
        EngineStatus {
            tenants: board.all(),
        }
    }

    /// What the metrics' state gauges show of the engine.
    pub fn metrics_snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            tenants: self
                .tenants
                .iter()
                .map(TenantStatus::metrics_snapshot)
                .collect(),
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Adds a tenant or changes one without a restart of the others. A change of topics only is applied in
/// place (channels keep what they hold); any other change restarts that tenant alone.
#[derive(Message)]
#[rtype(result = "Option<crate::tenant::TopicsChange>")]
pub struct UpsertTenant(pub TenantConfig);

/// The tenants the supervisor runs (or holds paused or failed), as configured.
#[derive(Message)]
#[rtype(result = "Vec<TenantConfig>")]
pub struct GetTenants;

/// Where each topic of a tenant is; `None` when the tenant is not running.
#[derive(Message)]
#[rtype(result = "Option<Vec<crate::tenant::TopicPlacement>>")]
pub struct GetPlacement(pub String);

/// Stops and forgets a tenant; answers whether it existed.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct RemoveTenant(pub String);

/// Restarts a tenant's channels; answers whether the tenant exists.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct RestartTenant {
    pub id: String,
    pub only_failed: bool,
}

/// Fault injection: panic inside one channel of one tenant.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash {
    pub tenant: String,
    pub slot: usize,
}

/// A running tenant actor, and which start of its tenant it is.
struct Incarnation {
    number: u64,
    addr: Addr<TenantActor>,
}

struct Child {
    config: TenantConfig,
    /// The actor running now; none while the tenant is paused, stopped, or waiting to be restarted.
    running: Option<Incarnation>,
    restarts: RestartTracker,
    failed: Option<String>,
    metrics: Arc<TenantMetrics>,
    /// `tenant` and `region`, for what the supervisor does about this tenant.
    span: tracing::Span,
    /// Taken over from another instance (cluster mode): the loss of continuity since its last proof of life is
    /// a `failover` gap, not a `restart` one.
    failover: bool,
    /// Taken over from an instance that handed it over make-before-break: adopting its channels opens no gap.
    handed_over: bool,
    /// Cluster mode: on while this instance hands the tenant over to another.
    handover: crate::fence::Handover,
    /// Cluster mode: the lease this instance holds for it.
    lease: Option<crate::store::Lease>,
}

impl Child {
    fn new(config: TenantConfig, shared: &EngineShared) -> Child {
        Child {
            restarts: RestartTracker::new(
                shared.policy.restart.clone(),
                shared.policy.backoff.clone(),
            ),
            metrics: shared.metrics.tenant(&config.id, &config.endpoints.region),
            span: tracing::info_span!(
                "tenant",
                tenant = %config.id,
                region = %config.endpoints.region
            ),
            config,
            failover: false,
            handed_over: false,
            handover: crate::fence::Handover::default(),
            lease: None,
            running: None,
            failed: None,
        }
    }

    fn addr(&self) -> Option<&Addr<TenantActor>> {
        self.running.as_ref().map(|r| &r.addr)
    }

    /// What the board shows of the tenant while no actor runs it: `paused`, `failed` (over its restart
    /// intensity), or else `idle`: `starting` before its first start, `restarting` while it waits for one.
    fn idle_status(&self, idle: &str) -> TenantStatus {
        TenantStatus {
            id: self.config.id.clone(),
            region: self.config.endpoints.region.clone(),
            state: if self.config.paused {
                "paused".into()
            } else if self.failed.is_some() {
                "failed".into()
            } else {
                idle.into()
            },
            channels: Vec::new(),
            unplaced: Vec::new(),
            unplaced_reason: None,
            last_error: self.failed.clone(),
            clients: Vec::new(),
            quota: Default::default(),
            templates: Vec::new(),
        }
    }
}

pub struct Supervisor {
    shared: Arc<EngineShared>,
    children: BTreeMap<String, Child>,
    /// Cluster mode: the tenants this instance holds a lease for (only those run); `None` for a single instance.
    owned: Option<std::collections::BTreeSet<String>>,
    /// The number of the last tenant actor started. Every start gets a new one, so that the end of an actor
    /// that was replaced or stopped on purpose is told apart from the end of the one running now.
    incarnations: u64,
    stopping: bool,
    span: tracing::Span,
}

impl Supervisor {
    pub fn new(shared: Arc<EngineShared>, tenants: Vec<TenantConfig>) -> Supervisor {
        let children: BTreeMap<String, Child> = tenants
            .into_iter()
            .map(|config| (config.id.clone(), Child::new(config, &shared)))
            .collect();
        // On the board from now on, before their actors start (generation 0: every start is newer).
        for (id, child) in &children {
            shared.board.open(id, 0, child.idle_status("starting"));
        }
        let owned = shared.clustered.then(Default::default);
        Supervisor {
            shared,
            children,
            owned,
            incarnations: 0,
            stopping: false,
            span: tracing::info_span!("supervisor"),
        }
    }

    /// Publishes how many tenants are over their restart intensity.
    fn count_failed(&self) {
        let failed = self
            .children
            .values()
            .filter(|c| c.failed.is_some())
            .count();
        self.shared
            .metrics
            .set_actors_failed(ActorKind::Tenant, failed);
    }

    /// Shows a tenant that no actor runs on the board (with a generation newer than any actor's so far, so
    /// that an actor still stopping cannot overwrite it).
    fn show_idle(&mut self, id: &str) {
        let Some(child) = self.children.get(id) else {
            return;
        };
        self.incarnations += 1;
        self.shared
            .board
            .open(id, self.incarnations, child.idle_status("restarting"));
    }

    fn start_child(&mut self, id: &str, ctx: &mut Context<Self>) {
        if self.owned.as_ref().is_some_and(|o| !o.contains(id)) {
            // Cluster mode: another instance runs it (or will, once it holds the lease).
            if let Some(child) = self.children.get(id) {
                self.incarnations += 1;
                self.shared
                    .board
                    .open(id, self.incarnations, child.idle_status("standby"));
            }
            return;
        }
        let shared = self.shared.clone();
        let Some(child) = self.children.get_mut(id) else {
            return;
        };
        let _span = child.span.clone().entered();
        let (http, tls) = match &child.config.ca_file {
            Some(ca) => match crate::upstream::tls::with_ca(
                ca,
                shared.policy.connect_timeout,
                &shared.egress,
            ) {
                Ok((http, tls)) => (http, Some(tls)),
                Err(e) => {
                    tracing::error!(tenant = %id, error = %e, "cannot use the tenant's ca_file; trusting the public roots only");
                    (shared.http.clone(), None)
                }
            },
            None => (shared.http.clone(), None),
        };
        let tenant_shared = Arc::new(TenantShared {
            tenant: child.config.id.as_str().into(),
            region: child.config.endpoints.region.as_str().into(),
            policy: shared.policy.clone(),
            router: shared.router.for_tenant(&child.config.id),
            store: shared.store.clone(),
            tls,
            metrics: child.metrics.clone(),
            egress: shared.egress.clone(),
            socket_opens: crate::channel::SocketOpens::new(child.metrics.clone()),
            fence: shared.fence.clone(),
            failover: std::mem::take(&mut child.failover),
            handed_over: std::mem::take(&mut child.handed_over),
            handover: child.handover.clone(),
            lease: child.lease.clone(),
        });
        self.incarnations += 1;
        let number = self.incarnations;
        // The actor says when it ends, whatever the reason, with its number.
        let actor = TenantActor::new(
            child.config.clone(),
            tenant_shared,
            http,
            shared.arbiters.clone(),
            ctx.address().recipient(),
            number,
            shared.board.clone(),
        );
        let addr = actor.start();
        child.restarts.healthy(Instant::now());
        child.running = Some(Incarnation { number, addr });
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        let ids: Vec<String> = self.children.keys().cloned().collect();
        for id in ids {
            self.start_child(&id, ctx);
        }
    }
}

impl Handler<TenantStopped> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: TenantStopped, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        if self.stopping {
            return;
        }
        let Some(child) = self.children.get_mut(&msg.id) else {
            // Removed on purpose.
            return;
        };
        if child.running.as_ref().map(|r| r.number) != Some(msg.incarnation) {
            // An earlier actor of this tenant, stopped on purpose (removed, changed or restarted): not news.
            return;
        }
        let _child_span = child.span.clone().entered();
        child.running = None;
        // Nobody asked the running incarnation to stop: a panic unwound it (or it stopped itself).
        let reason = if msg.requested {
            RestartReason::Stopped
        } else {
            RestartReason::Panic
        };
        self.shared
            .metrics
            .actor_restarted(ActorKind::Tenant, reason);
        let decision = child.restarts.failed(Instant::now());
        let delay = match decision {
            RestartDecision::After(d) => {
                tracing::warn!(tenant = %msg.id, delay = ?d, "tenant stopped unexpectedly; restarting");
                d
            }
            RestartDecision::Failed(d) => {
                tracing::error!(tenant = %msg.id, retry = ?d, "tenant keeps stopping: failed");
                child.failed = Some("the tenant stopped too often".into());
                d
            }
        };
        self.count_failed();
        self.show_idle(&msg.id);
        ctx.run_later(delay, move |act, ctx| {
            if let Some(c) = act.children.get_mut(&msg.id) {
                c.failed = None;
            }
            act.count_failed();
            act.start_child(&msg.id, ctx);
        });
    }
}

impl Supervisor {
    fn stop_child(&mut self, id: &str) {
        if let Some(child) = self.children.get_mut(id)
            && let Some(running) = child.running.take()
        {
            // It is no longer the running incarnation: its end, when it reports it, is not a failure.
            running.addr.do_send(StopTenant);
        }
    }
}

/// Cluster mode: this instance now holds the tenant's lease; run it (as defined now). `failover`: another
/// instance held it before.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Own {
    pub config: TenantConfig,
    pub failover: bool,
    /// The previous owner handed it over make-before-break: its sockets read until ours displaced them.
    pub handed_over: bool,
    /// Turned on by the cluster loop while it hands the tenant over to another instance.
    pub handover: crate::fence::Handover,
    /// The lease as taken: the tenant's channel records are written only while it is current.
    pub lease: crate::store::Lease,
}

/// Cluster mode: the tenant's lease was lost or given up; stop it (recording its channels for the next owner).
/// Answers once its actor has stopped.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Disown(pub String);

impl Handler<Own> for Supervisor {
    type Result = ();
    fn handle(
        &mut self,
        Own {
            config,
            failover,
            handed_over,
            handover,
            lease,
        }: Own,
        ctx: &mut Context<Self>,
    ) {
        let id = config.id.clone();
        if let Some(owned) = self.owned.as_mut() {
            owned.insert(id.clone());
        }
        self.stop_child(&id);
        let mut child = Child::new(config, &self.shared);
        child.failover = failover;
        child.handed_over = handed_over;
        child.handover = handover;
        child.lease = Some(lease);
        let paused = child.config.paused;
        self.children.insert(id.clone(), child);
        self.count_failed();
        if paused {
            self.show_idle(&id);
        } else {
            self.start_child(&id, ctx);
        }
    }
}

impl Handler<Disown> for Supervisor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, Disown(id): Disown, _: &mut Context<Self>) -> Self::Result {
        if let Some(owned) = self.owned.as_mut() {
            owned.remove(&id);
        }
        let running = self.children.get_mut(&id).and_then(|c| c.running.take());
        if let Some(child) = self.children.get(&id) {
            self.incarnations += 1;
            self.shared
                .board
                .open(&id, self.incarnations, child.idle_status("standby"));
        }
        Box::pin(async move {
            if let Some(running) = running {
                let _ = running.addr.send(StopTenant).await;
            }
        })
    }
}

impl Handler<UpsertTenant> for Supervisor {
    type Result = ResponseFuture<Option<crate::tenant::TopicsChange>>;
    fn handle(
        &mut self,
        UpsertTenant(config): UpsertTenant,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        let _span = self.span.clone().entered();
        let id = config.id.clone();
        // A change of topics or templates only is applied in place; anything else restarts the tenant.
        let same_but_topics = self.children.get(&id).is_some_and(|c| {
            let mut a = c.config.clone();
            a.topics = config.topics.clone();
            a.templates = config.templates.clone();
            a.template_sync_interval = config.template_sync_interval;
            a == config
        });
        if same_but_topics && !config.paused {
            if let Some(child) = self.children.get_mut(&id) {
                let templates_changed = child.config.templates != config.templates
                    || child.config.template_sync_interval != config.template_sync_interval;
                child.config = config.clone();
                if let Some(addr) = child.addr().cloned() {
                    return Box::pin(async move {
                        if templates_changed {
                            addr.send(crate::tenant::SetTemplates {
                                templates: config.templates,
                                interval: config.template_sync_interval,
                            })
                            .await
                            .ok()?;
                        }
                        addr.send(crate::tenant::SetTopics(config.topics))
                            .await
                            .ok()
                    });
                }
            }
            return Box::pin(async { None });
        }
        self.stop_child(&id);
        let paused = config.paused;
        self.children
            .insert(id.clone(), Child::new(config, &self.shared));
        self.count_failed();
        if paused {
            self.show_idle(&id);
        } else {
            self.start_child(&id, ctx);
        }
        Box::pin(async { None })
    }
}

impl Handler<GetTenants> for Supervisor {
    type Result = MessageResult<GetTenants>;
    fn handle(&mut self, _: GetTenants, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.children.values().map(|c| c.config.clone()).collect())
    }
}

impl Handler<GetPlacement> for Supervisor {
    type Result = ResponseFuture<Option<Vec<crate::tenant::TopicPlacement>>>;
    fn handle(&mut self, GetPlacement(id): GetPlacement, _: &mut Context<Self>) -> Self::Result {
        let addr = self.children.get(&id).and_then(|c| c.addr().cloned());
        Box::pin(async move {
            match addr {
                Some(a) => a.send(crate::tenant::GetPlacement).await.ok(),
                None => None,
            }
        })
    }
}

impl Handler<RemoveTenant> for Supervisor {
    type Result = bool;
    fn handle(&mut self, RemoveTenant(id): RemoveTenant, _: &mut Context<Self>) -> bool {
        let _span = self.span.clone().entered();
        self.stop_child(&id);
        let existed = self.children.remove(&id).is_some();
        if existed {
            self.shared.board.remove(&id);
            self.shared.metrics.remove_tenant(&id);
            self.count_failed();
        }
        existed
    }
}

impl Handler<RestartTenant> for Supervisor {
    type Result = bool;
    fn handle(&mut self, msg: RestartTenant, ctx: &mut Context<Self>) -> bool {
        let _span = self.span.clone().entered();
        let Some(child) = self.children.get_mut(&msg.id) else {
            return false;
        };
        match child.addr() {
            Some(addr) => addr.do_send(crate::tenant::RestartChannels {
                only_failed: msg.only_failed,
            }),
            None => {
                // A failed tenant waiting for its slow retry: retry now.
                child.failed = None;
                self.count_failed();
                self.start_child(&msg.id, ctx);
            }
        }
        true
    }
}

impl Handler<Crash> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Crash, _: &mut Context<Self>) {
        if let Some(addr) = self.children.get(&msg.tenant).and_then(Child::addr) {
            addr.do_send(CrashChannel(msg.slot));
        }
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let _span = self.span.clone().entered();
        tracing::info!(tenants = self.children.len(), "stopping every tenant");
        self.stopping = true;
        let stops: Vec<_> = self
            .children
            .values()
            .filter_map(|c| c.addr().map(|a| a.send(StopTenant)))
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
