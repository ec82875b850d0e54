//! `Supervisor`: one per process. Turns the desired tenants into running `TenantActor`s and restarts a tenant
//! that stops unexpectedly, with backoff, jitter and an intensity limit (see [`restart`]).

pub mod restart;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use serde::Serialize;

use self::restart::{RestartDecision, RestartTracker};
use crate::channel::TenantShared;
use crate::config::{EnginePolicy, TenantConfig};
use crate::router::RouterHandle;
use crate::store::Store;
use crate::tenant::{CrashChannel, GetTenantStatus, StopTenant, TenantActor, TenantStatus};

/// Everything tenants share.
pub struct EngineShared {
    pub policy: EnginePolicy,
    pub router: RouterHandle,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    pub arbiters: Arc<Vec<ArbiterHandle>>,
}

/// The engine's status: every tenant and channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    pub tenants: Vec<TenantStatus>,
}

#[derive(Message)]
#[rtype(result = "EngineStatus")]
pub struct GetStatus;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

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

/// A tenant actor stopped; `expected` when the supervisor asked for it.
#[derive(Message)]
#[rtype(result = "()")]
struct TenantStopped {
    id: String,
}

struct Child {
    config: TenantConfig,
    addr: Option<Addr<TenantActor>>,
    restarts: RestartTracker,
    failed: Option<String>,
}

pub struct Supervisor {
    shared: Arc<EngineShared>,
    children: BTreeMap<String, Child>,
    stopping: bool,
}

impl Supervisor {
    pub fn new(shared: Arc<EngineShared>, tenants: Vec<TenantConfig>) -> Supervisor {
        let children = tenants
            .into_iter()
            .map(|config| {
                let restarts = RestartTracker::new(
                    shared.policy.restart.clone(),
                    shared.policy.backoff.clone(),
                );
                (
                    config.id.clone(),
                    Child {
                        config,
                        addr: None,
                        restarts,
                        failed: None,
                    },
                )
            })
            .collect();
        Supervisor {
            shared,
            children,
            stopping: false,
        }
    }

    fn start_child(&mut self, id: &str, ctx: &mut Context<Self>) {
        let shared = self.shared.clone();
        let Some(child) = self.children.get_mut(id) else {
            return;
        };
        let (http, tls) = match &child.config.ca_file {
            Some(ca) => match crate::upstream::tls::with_ca(ca, shared.policy.connect_timeout) {
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
            router: shared.router.clone(),
            store: shared.store.clone(),
            tls,
        });
        let actor = TenantActor::new(
            child.config.clone(),
            tenant_shared,
            http,
            shared.arbiters.clone(),
        );
        let addr = actor.start();
        child.restarts.healthy(Instant::now());
        // Learn when it stops, whatever the reason.
        let me = ctx.address();
        let watched = addr.clone();
        let id = id.to_string();
        actix::spawn(async move {
            while watched.connected() {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            me.do_send(TenantStopped { id });
        });
        child.addr = Some(addr);
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let ids: Vec<String> = self.children.keys().cloned().collect();
        for id in ids {
            self.start_child(&id, ctx);
        }
    }
}

impl Handler<TenantStopped> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: TenantStopped, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let Some(child) = self.children.get_mut(&msg.id) else {
            return;
        };
        child.addr = None;
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
        ctx.run_later(delay, move |act, ctx| {
            if let Some(c) = act.children.get_mut(&msg.id) {
                c.failed = None;
            }
            act.start_child(&msg.id, ctx);
        });
    }
}

impl Handler<GetStatus> for Supervisor {
    type Result = ResponseFuture<EngineStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let asks: Vec<_> = self
            .children
            .values()
            .map(|c| {
                let fallback = TenantStatus {
                    id: c.config.id.clone(),
                    region: c.config.endpoints.region.clone(),
                    state: if c.failed.is_some() {
                        "failed".into()
                    } else {
                        "restarting".into()
                    },
                    channels: Vec::new(),
                    unplaced: Vec::new(),
                    unplaced_reason: None,
                    last_error: c.failed.clone(),
                };
                let ask = c.addr.as_ref().map(|a| a.send(GetTenantStatus));
                async move {
                    match ask {
                        Some(f) => f.await.unwrap_or(fallback),
                        None => fallback,
                    }
                }
            })
            .collect();
        Box::pin(async move {
            EngineStatus {
                tenants: futures_util::future::join_all(asks).await,
            }
        })
    }
}

impl Handler<RestartTenant> for Supervisor {
    type Result = bool;
    fn handle(&mut self, msg: RestartTenant, ctx: &mut Context<Self>) -> bool {
        let Some(child) = self.children.get_mut(&msg.id) else {
            return false;
        };
        match &child.addr {
            Some(addr) => addr.do_send(crate::tenant::RestartChannels {
                only_failed: msg.only_failed,
            }),
            None => {
                // A failed tenant waiting for its slow retry: retry now.
                child.failed = None;
                self.start_child(&msg.id, ctx);
            }
        }
        true
    }
}

impl Handler<Crash> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Crash, _: &mut Context<Self>) {
        if let Some(addr) = self.children.get(&msg.tenant).and_then(|c| c.addr.as_ref()) {
            addr.do_send(CrashChannel(msg.slot));
        }
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        let stops: Vec<_> = self
            .children
            .values()
            .filter_map(|c| c.addr.as_ref().map(|a| a.send(StopTenant)))
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
