//! Routers sharded by tenant: one router task per runtime thread it is given, each with its own queue.
//!
//! A tenant's records always go to the same shard (chosen by a hash of the tenant's id), so they are
//! de-duplicated against each other and routed in the order they were sent, as with one router; different
//! tenants are routed on different threads at once. A reconfiguration goes to every shard: each switches
//! between the record before it and the record after it in its own queue, which for every tenant is the
//! order the tenant's records were sent in.

use std::sync::Arc;

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle};

use super::Inbound;
use crate::envelope::fnv1a;

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
