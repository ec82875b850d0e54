//! The registry: which sinks and routes run: kept in the store, changed through the admin API, applied to the running router.
//!
//! Sinks and routes hold no secrets, so the store is their source of truth whether or not a master key is
//! set: on every start, the configuration file's sinks and routes the store has never had are written to it (a seed,
//! as for tenants), then what the store holds runs. [`EngineSinks`] owns the running sink workers. Every change
//! is stored first, then sent to the router as one [`Inbound::Reconfigure`] through the queue the records
//! take, which is what keeps records from being lost or reordered by the switch.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, watch};

use crate::config::RouteConfig;
use crate::metrics::Metrics;
use crate::router::{Inbound, RouteEntry, RouterHandle, RouterQueue, RouterSettings, RouterTask};
use crate::secrets::MasterKey;
use crate::sink::{self, Delivery, Sink, SinkConfig, SinkHandle, SinkStats};
use crate::store::{RouteRecord, Store, StoreError};

use crate::sink::Destination;
use records::{now_millis, route_audit, route_config, route_record, sink_from_record, sink_record};
use seed::seed_and_load;
use workers::{AfterPredecessors, start_worker};

pub use crate::sink::sink_aad;

/// A sink as it runs, for the API: its definition, when it last changed, and its worker's counters.
mod manage;
mod records;
mod seed;
#[cfg(test)]
mod tests;
mod workers;

#[derive(Debug, Clone)]
pub struct SinkEntry {
    pub config: SinkConfig,
    pub updated_at: DateTime<Utc>,
    /// Records written so far by the current worker.
    pub sent: u64,
    /// Records waiting in the worker's queue.
    pub queued: usize,
    /// Records the current worker moved to the dead-letter store.
    pub dead: u64,
    /// Bytes waiting in the sink's spool on disk.
    pub spool_bytes: u64,
    /// Records the current worker wrote to its spool.
    pub spooled: u64,
    /// Whether the spool is full (the sink then takes nothing more; the router waits).
    pub spool_full: bool,
    /// Times the current worker found its spool full.
    pub spool_full_total: u64,
    /// The bound of the sink's spool (0: it has none).
    pub spool_max_bytes: u64,
}

/// What `/metrics` shows of a sink.
impl crate::metrics::SinkGauges for SinkEntry {
    fn sink_snapshot(&self) -> crate::metrics::SinkSnapshot {
        crate::metrics::SinkSnapshot {
            name: self.config.name.clone(),
            queued: self.queued,
            spool_bytes: self.spool_bytes,
            spool_max_bytes: self.spool_max_bytes,
            spool_full: self.spool_full,
        }
    }
}

/// Why a change of sinks or routes was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The change is not valid; each entry names the field at fault (`path: ...`, `sinks[0]: ...`).
    #[error("not valid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("not found")]
    NotFound,
    /// The sink is still named by these routes.
    #[error("still used by routes {0:?}")]
    InUse(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A webhook sink's secret can only be stored sealed, and no master key is set.
    #[error("no master key is set to seal the secret")]
    NoMasterKey,
    /// The router has stopped (the engine is shutting down): the change is stored but not running.
    #[error("the router has stopped")]
    Stopped,
}

/// A sink worker in service.
struct Running {
    config: SinkConfig,
    updated_at: DateTime<Utc>,
    handle: SinkHandle,
    stats: Arc<SinkStats>,
    /// Turns true when the worker has ended (its queue written).
    done: watch::Receiver<bool>,
}

/// A worker whose sink was removed or replaced, still writing the records it was given.
struct Retiring {
    /// The sink's name, for logs.
    name: String,
    destination: Destination,
    done: watch::Receiver<bool>,
}

/// A route in service: as stored (what the API shows) and as compiled once, when it was set (what the router
/// runs).
struct RunningRoute {
    record: RouteRecord,
    config: RouteConfig,
}

struct State {
    sinks: BTreeMap<String, Running>,
    routes: BTreeMap<String, RunningRoute>,
    retiring: Vec<Retiring>,
    /// The router, until [`EngineSinks::drain`] closes it; from then on changes are refused.
    router: Option<RouterTask>,
}

/// How sink workers run.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The capacity of each worker's queue, in records.
    pub queue: usize,
    /// Where each sink keeps its spool (`<dir>/<sink name>`); none: no spool.
    pub spool_dir: Option<PathBuf>,
    /// The most a sink's spool holds on disk; past it the sink takes nothing more (back-pressure).
    pub spool_max_bytes: u64,
    /// Where sinks may connect (`[egress]`).
    pub egress: crate::egress::Egress,
    /// The most dead letters a sink keeps in the store; past it the oldest are dropped.
    pub dead_letters_max: usize,
    /// Cluster mode: this instance's id, in the paths of what each instance keeps locally (file sinks, logs).
    pub instance: Option<String>,
}

impl WorkerSettings {
    /// `config` as this instance opens it: in cluster mode a file sink's file and a log's directory carry the
    /// instance id, so that two instances on one volume never write one file.
    pub fn local(&self, config: &SinkConfig) -> SinkConfig {
        SinkConfig {
            name: config.name.clone(),
            kind: config.kind.local_to(self.instance.as_deref()),
        }
    }
}

/// The running sinks and routes, and the way to change them while the engine runs.
///
/// One lock serialises changes, so that each one is checked, stored and applied against the state the
/// previous one left, and the router receives the reconfigurations in the order they were stored.
pub struct EngineSinks {
    state: Mutex<State>,
    router: RouterQueue,
    store: Arc<dyn Store>,
    workers: WorkerSettings,
    /// Seals the secrets of webhook sinks stored through the API.
    key: Option<MasterKey>,
    metrics: Arc<Metrics>,
}
