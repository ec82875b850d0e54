//! Starting and stopping the engine: store, sinks, router, channel arbiters and the supervisor, on a thread of
//! their own (an actix system), so that the CLI and the tests drive it the same way.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::EngineSinks;
use crate::router::RouterStats;
use crate::secrets::{MASTER_KEY_ENV, MasterKey};
use crate::sink::SinkStats;
use crate::store::Store;
use crate::supervisor::{self, EngineShared, EngineStatus, Supervisor};
use crate::tenant::StatusBoard;

/// How long stopping the tenants may take: each channel closes its socket and stores where it stood (one
/// store write). Past it, a hung store or actor does not hold the process.
const TENANTS_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the router and the sink workers may take to deliver what they hold once the tenants are stopped.
/// Past it, a destination that does not answer does not hold the process; what its worker had moved to its
/// spool is delivered by the next run. Together with the above, within Kubernetes' default 30 s grace period.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// A running engine.
pub struct EngineHandle {
    supervisor: Addr<Supervisor>,
    /// This instance's cluster membership, in cluster mode.
    cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Every tenant's status, as the actors last wrote it.
    board: Arc<StatusBoard>,
    /// The router and the sink workers, to drain at shutdown.
    flow: Arc<EngineSinks>,
    /// Where the admin API listens, when `[admin] listen` is set.
    pub admin_addr: Option<std::net::SocketAddr>,
    /// Where `/metrics` is served without a token, when `[admin] metrics_listen` is set.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub router: Arc<RouterStats>,
    pub sinks: Vec<(String, Arc<SinkStats>)>,
    /// The engine's Prometheus registry (what `/metrics` shows).
    pub metrics: Arc<Metrics>,
    system: actix::System,
    thread: Option<JoinHandle<()>>,
}

impl EngineHandle {
    /// Every tenant's and channel's status, from the status board (counters at most
    /// [`crate::tenant::BOARD_REFRESH`] old).
    pub async fn status(&self) -> anyhow::Result<EngineStatus> {
        if !self.supervisor.connected() {
            anyhow::bail!("the engine is not running");
        }
        Ok(EngineStatus::of(&self.board))
    }

    /// Adds or changes a tenant while running (a change of topics only is applied in place).
    pub async fn upsert_tenant(
        &self,
        config: crate::config::TenantConfig,
    ) -> anyhow::Result<Option<crate::tenant::TopicsChange>> {
        self.supervisor
            .send(supervisor::UpsertTenant(config))
            .await
            .context("the engine is not running")
    }

    /// Stops and forgets a tenant.
    pub async fn remove_tenant(&self, id: &str) -> anyhow::Result<bool> {
        self.supervisor
            .send(supervisor::RemoveTenant(id.to_string()))
            .await
            .context("the engine is not running")
    }

    /// Fault injection: a panic inside one channel's handler.
    pub fn crash_channel(&self, tenant: &str, slot: usize) {
        self.supervisor.do_send(supervisor::Crash {
            tenant: tenant.to_string(),
            slot,
        });
    }

    /// Stops every channel (recording where each stood), drains the router and the sinks, and returns when done.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let supervisor = self.supervisor.clone();
        let flow = self.flow.clone();
        let cluster = self.cluster.clone();
        let system = self.system.clone();
        // On the engine's own runtime, in order: the tenants stop (nothing new enters the router), the router
        // routes what it holds, the sinks write what they hold; then the system stops.
        system.arbiter().spawn(async move {
            // Cluster mode: the tenants are handed over make-before-break first (no gap), while this
            // instance still reads them.
            if let Some(c) = &cluster {
                c.hand_over().await;
            }
            match tokio::time::timeout(TENANTS_STOP_TIMEOUT, supervisor.send(supervisor::Shutdown))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "the supervisor did not answer the shutdown")
                }
                Err(_) => tracing::error!(
                    timeout = ?TENANTS_STOP_TIMEOUT,
                    "tenants still stopping; draining without them"
                ),
            }
            // The channels are recorded: the others may take the tenants over now rather than after the TTL.
            if let Some(c) = cluster {
                c.leave().await;
            }
            match flow.drain(DRAIN_TIMEOUT).await {
                Ok(()) => tracing::info!("router and sinks drained"),
                Err(late) => tracing::error!(
                    timeout = ?DRAIN_TIMEOUT,
                    still_writing = ?late,
                    "stopping before every sink has written what it holds"
                ),
            }
            System::current().stop();
        });
        let _ = thread.join();
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the engine for `config` and returns once its actors are running.
pub fn start(config: Config) -> anyhow::Result<EngineHandle> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            let system = System::new();
            let result = system.block_on(async move {
                // The listeners first: a taken port fails the start before any actor or task runs.
                let admin_listener = config
                    .admin
                    .listen
                    .map(|a| crate::api::bind(a, "[admin] listen or SWITCHBOARD_ADMIN_LISTEN"))
                    .transpose()?;
                let metrics_listener = config
                    .admin
                    .metrics_listen
                    .map(|a| {
                        crate::api::bind(a, "[admin] metrics_listen or SWITCHBOARD_METRICS_LISTEN")
                    })
                    .transpose()?;
                let store: Arc<dyn Store> = crate::store::open(&config.store.location())
                    .await
                    .context("while opening the store")?;
                let key =
                    MasterKey::from_env_or_file(MASTER_KEY_ENV, config.store.key_file.as_deref())
                        .context("while reading the master key")?;
                // With a master key the store is the source of truth (the file's tenants seed it).
                let tenants = match &key {
                    Some(key) => {
                        crate::tenants::seed_and_load(store.as_ref(), key, &config.tenants)
                            .await
                            .context("while loading the tenants from the store")?
                    }
                    None => config.tenants.clone(),
                };
                let metrics = Arc::new(Metrics::new().context("while registering the metrics")?);
                // Channels on this thread by default: an event then goes socket → router → sink without
                // waking another thread (see `channel_threads`).
                let arbiters: Vec<ArbiterHandle> = match config.engine.channel_threads {
                    0 => vec![Arbiter::current()],
                    n => (0..n).map(|_| Arbiter::new().handle()).collect(),
                };
                // One router stays on this thread, beside the sink workers: with channel threads that splits
                // the data path in two (read and frame | route and write), which measured cheapest on two
                // threads. Shards go to the channel threads, one each (the configuration keeps them within).
                let here = crate::router::ShardRuntimes::one(tokio::runtime::Handle::current());
                let router_runtimes = if config.engine.router_shards > 1 {
                    let mut shards = Vec::new();
                    for arbiter in arbiters.iter().take(config.engine.router_shards) {
                        shards.push(runtime_of(arbiter).await?);
                    }
                    // No channel thread to shard over: one shard, here.
                    crate::router::ShardRuntimes::each(shards).unwrap_or(here)
                } else {
                    here
                };
                // The store holds the sinks and routes too (seeded from the file); the admin API changes them live.
                let (engine_sinks, router, sink_stats) = crate::registry::EngineSinks::start(
                    store.clone(),
                    &config.sinks,
                    &config.routes,
                    key.clone(),
                    crate::registry::WorkerSettings {
                        queue: config.engine.sink_queue,
                        // Cluster mode: each instance its own spools, even on a shared volume.
                        spool_dir: Some(match &config.cluster {
                            Some(c) => config.store.spool_dir().join(&c.instance_id),
                            None => config.store.spool_dir(),
                        }),
                        spool_max_bytes: config.store.spool_max_bytes,
                        egress: config.egress.clone(),
                        dead_letters_max: config.store.dead_letters_max,
                        instance: config.cluster.as_ref().map(|c| c.instance_id.clone()),
                    },
                    crate::router::RouterSettings {
                        queue: config.engine.router_queue,
                        dedup_window: config.engine.dedup_window,
                        runtimes: router_runtimes,
                    },
                    metrics.clone(),
                )
                .await?;
                let http = reqwest::Client::builder()
                    // Every name is resolved through the outbound address policy; a redirect could lead past it.
                    .dns_resolver(Arc::new(config.egress.clone()))
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_idle_timeout(std::time::Duration::from_secs(30))
                    // Idle connections hold buffers: keep a few, not one per channel that was being set up.
                    .pool_max_idle_per_host(4)
                    .build()
                    .context("while building the HTTP client")?;
                let board = Arc::new(StatusBoard::new());
                let cluster = match (&config.cluster, &config.store.url) {
                    (Some(c), Some(url)) => {
                        Some(crate::cluster::Cluster::connect(c.clone(), url, &metrics).await?)
                    }
                    _ => None,
                };
                let shared = Arc::new(EngineShared {
                    board: board.clone(),
                    policy: config.engine.clone(),
                    router: router.clone(),
                    store,
                    http,
                    arbiters: Arc::new(arbiters),
                    metrics: metrics.clone(),
                    egress: config.egress.clone(),
                    fence: cluster
                        .as_ref()
                        .map_or_else(crate::fence::Fence::open, |c| c.fence.clone()),
                    clustered: cluster.is_some(),
                });
                let store_for_api = shared.store.clone();
                let store_for_cluster = shared.store.clone();
                let supervisor = Supervisor::new(shared, tenants).start();
                if let Some(c) = &cluster {
                    tracing::info!(instance = %c.id(), "cluster mode: running the tenants this instance holds");
                    actix::spawn(c.clone().run(
                        supervisor.clone(),
                        crate::cluster::Sources {
                            store: store_for_cluster,
                            key: key.clone(),
                            file_tenants: config.tenants.clone(),
                            board: board.clone(),
                        },
                    ));
                }
                let admin_addr = match admin_listener {
                    Some(listener) => {
                        let state = crate::api::ApiState {
                            supervisor: supervisor.clone(),
                            board: board.clone(),
                            store: store_for_api,
                            tokens: config.admin.tokens.clone(),
                            router: router.stats.clone(),
                            sinks: sink_stats.clone(),
                            tail: router.tail.clone(),
                            key: key.clone(),
                            engine_sinks: engine_sinks.clone(),
                            metrics: metrics.clone(),
                            egress: config.egress.clone(),
                            ca_dir: config.admin.ca_dir.clone(),
                            data_dir: config.admin.data_dir.clone(),
                            protected_paths: protected_paths(&config.store),
                            cluster: cluster.clone(),
                        };
                        let (addr, _handle) = crate::api::start(listener, state)
                            .context("while starting the admin API")?;
                        tracing::info!(%addr, "admin API listening");
                        Some(addr)
                    }
                    None => None,
                };
                let metrics_addr = match metrics_listener {
                    Some(listener) => {
                        let scrape = crate::api::Scrape {
                            board: board.clone(),
                            engine_sinks: engine_sinks.clone(),
                            metrics: metrics.clone(),
                        };
                        let (addr, _handle) = crate::api::start_metrics(listener, scrape)
                            .context("while starting the metrics listener")?;
                        tracing::info!(%addr, "metrics listening (no token)");
                        Some(addr)
                    }
                    None => None,
                };
                actix::spawn(crate::heap::trim_periodically(
                    std::time::Duration::from_secs(10),
                    std::time::Duration::from_secs(60),
                ));
                anyhow::Ok(Started {
                    cluster,
                    supervisor,
                    board,
                    flow: engine_sinks,
                    router: router.stats.clone(),
                    sinks: sink_stats,
                    admin_addr,
                    metrics_addr,
                    metrics,
                })
            });
            match result {
                Ok(started) => {
                    let _ = tx.send(Ok((started, System::current())));
                    let _ = system.run();
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
    let (started, system) = rx.recv().context("the engine thread ended early")??;
    Ok(EngineHandle {
        cluster: started.cluster,
        supervisor: started.supervisor,
        board: started.board,
        flow: started.flow,
        admin_addr: started.admin_addr,
        metrics_addr: started.metrics_addr,
        router: started.router,
        sinks: started.sinks,
        metrics: started.metrics,
        system,
        thread: Some(thread),
    })
}

/// The runtime an arbiter's thread runs, to start tasks on it that are not actors (the router's shards).
async fn runtime_of(arbiter: &ArbiterHandle) -> anyhow::Result<tokio::runtime::Handle> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    arbiter.spawn(async move {
        let _ = tx.send(tokio::runtime::Handle::current());
    });
    rx.await.context("a channel thread ended as it started")
}

/// What the engine thread hands back once its actors run.
struct Started {
    cluster: Option<Arc<crate::cluster::Cluster>>,
    supervisor: Addr<Supervisor>,
    board: Arc<StatusBoard>,
    flow: Arc<EngineSinks>,
    router: Arc<RouterStats>,
    sinks: Vec<(String, Arc<SinkStats>)>,
    admin_addr: Option<std::net::SocketAddr>,
    metrics_addr: Option<std::net::SocketAddr>,
    metrics: Arc<Metrics>,
}

/// What no file sink may write: the spool directory and, with a SQLite store, the database and its journals.
fn protected_paths(store: &crate::config::StoreConfig) -> Vec<std::path::PathBuf> {
    let absolute = |p: std::path::PathBuf| std::path::absolute(&p).unwrap_or(p);
    let mut paths = vec![absolute(store.spool_dir())];
    if store.url.is_none() {
        let db = absolute(store.path.clone());
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            paths.push(name.into());
        }
        paths.push(db);
    }
    paths
}
