//! Starting the router, sharded by tenant: one router task per runtime thread it is given, each with its own
//! queue.
//!
//! A tenant's records always go to the same shard (chosen by a hash of the tenant's id), so they are
//! de-duplicated against each other and routed in the order they were sent, as with one router; different
//! tenants are routed on different threads at once. A reconfiguration goes to every shard: each switches
//! between the record before it and the record after it in its own queue, which for every tenant is the
//! order the tenant's records were sent in.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use super::changes::LastStates;
use super::{Inbound, RouteEntry, Router, RouterHandle, RouterStats, TailFeed, compile};
use crate::envelope::fnv1a;
use crate::metrics::Metrics;
use crate::sink::SinkHandle;
use crate::store::Store;

/// The router's input: one queue per shard.
#[derive(Debug, Clone)]
pub struct RouterQueue {
    shards: Arc<[mpsc::Sender<Inbound>]>,
}

impl RouterQueue {
    pub(super) fn new(shards: Vec<mpsc::Sender<Inbound>>) -> RouterQueue {
        assert!(!shards.is_empty(), "a router has at least one shard");
        RouterQueue {
            shards: shards.into(),
        }
    }

    /// One shard's queue of `capacity` messages, read by the test itself.
    #[cfg(test)]
    pub(crate) fn bounded(capacity: usize) -> (RouterQueue, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(capacity);
        (RouterQueue::new(vec![tx]), rx)
    }

    /// How many shards route in parallel.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    pub(super) fn shard_of(&self, tenant: &str) -> usize {
        match self.shards.len() {
            1 => 0,
            // The modulo keeps the value below the length, which fits a usize.
            n => (fnv1a(&[tenant.as_bytes()]) % n as u64) as usize,
        }
    }

    /// The queue of `tenant`'s shard alone: a tenant's channels resolve it once, not for every event.
    pub fn of_tenant(&self, tenant: &str) -> RouterQueue {
        RouterQueue {
            shards: Arc::from([self.shards[self.shard_of(tenant)].clone()]),
        }
    }

    /// Queues a record on its tenant's shard, waiting for room; a reconfiguration goes to every shard.
    /// An error means the router is closed.
    pub async fn send(&self, msg: Inbound) -> Result<(), SendError<Inbound>> {
        match tenant_of(&msg) {
            Some(tenant) => self.shards[self.shard_of(tenant)].send(msg).await,
            None => {
                for (shard, copy) in self.shards.iter().zip(copies(msg, self.shards.len())) {
                    shard.send(copy).await?;
                }
                Ok(())
            }
        }
    }

    /// Queues a record on its tenant's shard if it has room now. (A reconfiguration is tried on every
    /// shard; the first refusal is returned.)
    // The error hands the message back (as tokio's does), so that the caller can wait with it instead.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, msg: Inbound) -> Result<(), TrySendError<Inbound>> {
        match tenant_of(&msg) {
            Some(tenant) => self.shards[self.shard_of(tenant)].try_send(msg),
            None => {
                let mut result = Ok(());
                for (shard, copy) in self.shards.iter().zip(copies(msg, self.shards.len())) {
                    if let Err(e) = shard.try_send(copy) {
                        result = result.and(Err(e));
                    }
                }
                result
            }
        }
    }
}

/// The tenant whose shard takes `msg`; none for a reconfiguration, which every shard takes.
fn tenant_of(msg: &Inbound) -> Option<&str> {
    match msg {
        Inbound::Event { tenant, .. } | Inbound::Backfill { tenant, .. } => Some(tenant),
        Inbound::Gap(gap) => Some(&gap.tenant),
        Inbound::Reconfigure { .. } => None,
    }
}

/// `n` copies of a reconfiguration (the last one is `msg` itself).
fn copies(msg: Inbound, n: usize) -> Vec<Inbound> {
    let Inbound::Reconfigure { routes, sinks } = msg else {
        return vec![msg];
    };
    let mut out: Vec<Inbound> = (1..n)
        .map(|_| Inbound::Reconfigure {
            routes: routes.clone(),
            sinks: sinks.clone(),
        })
        .collect();
    out.push(Inbound::Reconfigure { routes, sinks });
    out
}

/// The router's shards, to end them at shutdown and wait for them.
pub struct RouterTask {
    shards: Vec<ShardTask>,
}

/// One shard's close signal and task.
pub(super) struct ShardTask {
    pub(super) close: oneshot::Sender<()>,
    pub(super) task: JoinHandle<()>,
}

impl RouterTask {
    pub(super) fn new(shards: Vec<ShardTask>) -> RouterTask {
        RouterTask { shards }
    }

    /// Closes the router's queues: whatever they hold is still routed, anything sent from now on is refused.
    /// Returns once every shard has routed it all, stored its gap records and let go of its sinks (whose
    /// workers then write their queues and end). An error means a shard panicked.
    pub async fn close(self) -> Result<(), JoinError> {
        let tasks: Vec<JoinHandle<()>> = self
            .shards
            .into_iter()
            .map(|s| {
                let _ = s.close.send(());
                s.task
            })
            .collect();
        join_all(tasks).await
    }

    /// Waits for the router to end by itself, once every sender of its queues is dropped.
    pub async fn join(self) -> Result<(), JoinError> {
        // Dropping the close signals unsent does not close the queues (see `Router::run`).
        let (tasks, _closes): (Vec<_>, Vec<_>) =
            self.shards.into_iter().map(|s| (s.task, s.close)).unzip();
        join_all(tasks).await
    }
}

/// Waits for every task; the first error, if any.
async fn join_all(tasks: Vec<JoinHandle<()>>) -> Result<(), JoinError> {
    let mut result = Ok(());
    for task in tasks {
        if let Err(e) = task.await {
            result = result.and(Err(e));
        }
    }
    result
}

/// How the router runs: its queues, its de-duplication window, and where its shards run.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// Messages each shard's queue holds (`[engine] router_queue`).
    pub queue: usize,
    /// Recent event ids kept per tenant (`[engine] dedup_window`).
    pub dedup_window: usize,
    /// One shard on each: the engine gives the channel threads' runtimes, or its own.
    pub runtimes: ShardRuntimes,
}

impl RouterSettings {
    /// One shard on the current runtime.
    pub fn here(queue: usize, dedup_window: usize) -> RouterSettings {
        RouterSettings {
            queue,
            dedup_window,
            runtimes: ShardRuntimes::one(tokio::runtime::Handle::current()),
        }
    }
}

/// The runtimes a router's shards run on, one shard each. Never empty: a router without a shard would take
/// events and route none, so the type has no way to say "none".
#[derive(Debug, Clone)]
pub struct ShardRuntimes {
    first: tokio::runtime::Handle,
    more: Vec<tokio::runtime::Handle>,
}

impl ShardRuntimes {
    /// A single shard, on `runtime`.
    pub fn one(runtime: tokio::runtime::Handle) -> ShardRuntimes {
        ShardRuntimes {
            first: runtime,
            more: Vec::new(),
        }
    }

    /// One shard on each of `runtimes`; `None` when there are none.
    pub fn each(runtimes: Vec<tokio::runtime::Handle>) -> Option<ShardRuntimes> {
        let mut runtimes = runtimes.into_iter();
        let first = runtimes.next()?;
        Some(ShardRuntimes {
            first,
            more: runtimes.collect(),
        })
    }

    /// How many shards these runtimes carry.
    pub fn shards(&self) -> usize {
        1 + self.more.len()
    }

    fn iter(&self) -> impl Iterator<Item = &tokio::runtime::Handle> {
        std::iter::once(&self.first).chain(&self.more)
    }
}

/// Starts the router: one shard on the current runtime.
pub fn spawn(
    routes: &[RouteEntry],
    sinks: Vec<SinkHandle>,
    store: Arc<dyn Store>,
    queue: usize,
    dedup_window: usize,
    metrics: Arc<Metrics>,
) -> (RouterHandle, RouterTask) {
    let settings = RouterSettings::here(queue, dedup_window);
    spawn_on(&settings, routes, sinks, store, metrics)
}

/// Starts the router sharded by tenant: one shard on each of the settings' runtimes, each with its own
/// queue and its own de-duplication of the tenants it routes.
pub fn spawn_on(
    settings: &RouterSettings,
    routes: &[RouteEntry],
    sinks: Vec<SinkHandle>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
) -> (RouterHandle, RouterTask) {
    let RouterSettings {
        queue,
        dedup_window,
        runtimes,
    } = settings;
    let (queue, dedup_window) = (*queue, *dedup_window);
    let stats = Arc::new(RouterStats::default());
    let tail = TailFeed::default();
    let mut queues = Vec::with_capacity(runtimes.shards());
    let mut tasks = Vec::with_capacity(runtimes.shards());
    for runtime in runtimes.iter() {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let (close, closed) = oneshot::channel();
        let compiled = compile(routes, &sinks, &metrics);
        stats
            .filters
            .publish(compiled.iter().filter_map(|r| r.filter.as_ref()), &metrics);
        let router = Router {
            tail: tail.clone(),
            routes: compiled,
            route_configs: routes.to_vec(),
            pending: vec![Vec::new(); sinks.len()],
            sinks: sinks.clone(),
            store: store.clone(),
            flows: HashMap::default(),
            dedup_window,
            last: LastStates::default(),
            stats: stats.clone(),
            metrics_epoch: metrics.epoch(),
            metrics: metrics.clone(),
            gap_writes: JoinSet::new(),
        };
        queues.push(tx);
        tasks.push(ShardTask {
            close,
            task: runtime.spawn(router.run(rx, closed)),
        });
    }
    (
        RouterHandle {
            queue: RouterQueue::new(queues),
            stats,
            tail,
        },
        RouterTask::new(tasks),
    )
}

impl RouterHandle {
    /// The handle a tenant's channels use: its queue goes straight to the tenant's shard.
    pub fn for_tenant(&self, tenant: &str) -> RouterHandle {
        RouterHandle {
            queue: self.queue.of_tenant(tenant),
            stats: self.stats.clone(),
            tail: self.tail.clone(),
        }
    }
}
