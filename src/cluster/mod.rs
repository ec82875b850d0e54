//! Cluster mode: several instances share the tenants of one PostgreSQL store (`[cluster]`). Each tenant has a
//! lease row with an owner, an expiry and a fencing epoch, in database time only; an instance runs only the
//! tenants it holds. The membership loop here heartbeats, renews what it holds (a tenant missing from the
//! renewal is lost and stopped at once), computes the balanced assignment every instance agrees on
//! ([`assign`]), takes what is its own and free, and gives up what now belongs to another live instance. Before
//! every claiming action the actors check the [`Fence`]: past the renew deadline this instance claims nothing.
//!
//! `assign.rs` who should own what, `leases.rs` the statements; the self-fence is `crate::fence` (a leaf:
//! the actors check it).

pub mod assign;
pub mod leases;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix::Addr;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::{ClusterConfig, TenantConfig};
pub use crate::fence::Fence;
use crate::metrics::{ClusterMetrics, Metrics};
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::supervisor::{Disown, Own, Supervisor, UpsertTenant};

/// This instance's membership: what the admin API and the shutdown need of it.
pub struct Cluster {
    pub config: ClusterConfig,
    pub fence: Fence,
    metrics: ClusterMetrics,
    /// Refusals of the fence already counted in `metrics`.
    fenced_counted: AtomicU64,
    pool: PgPool,
    /// Tenants held, with their epochs.
    held: Mutex<BTreeMap<String, i64>>,
    /// For each tenant held, when its stored definition last changed as this instance loaded it: a newer one
    /// (changed through any instance's API) is loaded and applied at the next look.
    loaded: Mutex<BTreeMap<String, Option<DateTime<Utc>>>>,
}

/// Where the loop finds the tenants and their definitions.
pub struct Sources {
    pub store: Arc<dyn Store>,
    pub key: Option<MasterKey>,
    /// The configuration file's tenants (the only ones without a master key).
    pub file_tenants: Vec<TenantConfig>,
}

impl Cluster {
    /// Connects to the store's PostgreSQL for the lease statements (a pool of its own, so that a busy store
    /// never delays a renewal).
    pub async fn connect(
        config: ClusterConfig,
        url: &str,
        metrics: &Metrics,
    ) -> anyhow::Result<Arc<Cluster>> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(config.renew_interval)
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cluster: cannot reach the store's PostgreSQL: {e}"))?;
        Ok(Arc::new(Cluster {
            metrics: metrics.cluster(&config.instance_id),
            fenced_counted: AtomicU64::new(0),
            config,
            fence: Fence::closed(),
            pool,
            held: Mutex::new(BTreeMap::new()),
            loaded: Mutex::new(BTreeMap::new()),
        }))
    }

    /// This instance's id.
    pub fn id(&self) -> &str {
        &self.config.instance_id
    }

    /// The tenants held now.
    pub fn held(&self) -> BTreeMap<String, i64> {
        self.held.lock().clone()
    }

    /// The cluster as the database sees it.
    pub async fn view(&self) -> sqlx::Result<(Vec<leases::InstanceRow>, Vec<leases::LeaseRow>)> {
        leases::view(&self.pool, self.config.lease_ttl).await
    }

    /// Leaves the cluster at shutdown (after the tenants stopped and recorded their channels): every lease
    /// expires now, so the others take over at their next look instead of after the TTL.
    pub async fn leave(&self) {
        self.fence.close();
        if let Err(e) = leases::leave(&self.pool, self.id()).await {
            tracing::warn!(error = %e, "cluster: could not give the leases up; they expire on their own");
        }
        self.held.lock().clear();
    }

    /// Runs the membership loop until the supervisor is gone.
    pub async fn run(self: Arc<Self>, supervisor: Addr<Supervisor>, sources: Sources) {
        let c = &self.config;
        let tick = c.renew_interval.min(c.acquire_interval);
        let mut next_renew = tokio::time::Instant::now();
        // The first look for leases waits one interval after the first heartbeat, so that instances started
        // together see each other and do not take everything only to hand most of it over at once.
        let mut next_acquire =
            tokio::time::Instant::now() + c.acquire_interval.max(c.renew_interval);
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while supervisor.connected() {
            ticker.tick().await;
            let now = tokio::time::Instant::now();
            if now >= next_renew {
                next_renew = now + c.renew_interval;
                self.renew(&supervisor).await;
            }
            if now >= next_acquire && self.fence.holds() {
                next_acquire = now + c.acquire_interval;
                if let Err(e) = self.rebalance(&supervisor, &sources).await {
                    tracing::warn!(error = %e, "cluster: could not look for leases");
                }
            }
        }
    }

    /// Heartbeats and renews; on failure past the deadline, gives everything up locally.
    async fn renew(&self, supervisor: &Addr<Supervisor>) {
        let sent = Instant::now();
        let result = async {
            leases::heartbeat(&self.pool, self.id(), self.config.advertise_url.as_deref()).await?;
            leases::renew(&self.pool, self.id(), self.config.lease_ttl).await
        }
        .await;
        match result {
            Ok(renewed) => {
                let lost: Vec<String> = {
                    let mut held = self.held.lock();
                    let lost: Vec<String> = held
                        .keys()
                        .filter(|t| !renewed.contains_key(*t))
                        .cloned()
                        .collect();
                    for t in &lost {
                        held.remove(t);
                        self.loaded.lock().remove(t);
                    }
                    lost
                };
                // The lost tenants stop before the fence opens again: a process that was frozen past its
                // deadline wakes up fenced, and stays so until what it lost has stopped (their last writes
                // are refused).
                for t in lost {
                    tracing::warn!(tenant = %t, "cluster: lease lost; stopping the tenant");
                    self.metrics.lost.inc();
                    let _ = supervisor.send(Disown(t)).await;
                }
                self.fence.extend(sent + self.config.renew_deadline);
                self.publish();
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster: renewal failed");
                if !self.fence.holds() {
                    self.give_up_all(supervisor, "the renew deadline passed");
                }
            }
        }
    }

    /// Stops every tenant held (the deadline passed without a renewal: another instance may own them soon).
    fn give_up_all(&self, supervisor: &Addr<Supervisor>, why: &str) {
        let all: Vec<String> = std::mem::take(&mut *self.held.lock()).into_keys().collect();
        if !all.is_empty() {
            tracing::error!(
                tenants = all.len(),
                why,
                "cluster: self-fenced; stopping every tenant"
            );
        }
        for t in all {
            self.metrics.lost.inc();
            supervisor.do_send(Disown(t));
        }
        self.publish();
    }

    /// Takes the tenants assigned to this instance that are free, gives up those assigned to another.
    async fn rebalance(
        &self,
        supervisor: &Addr<Supervisor>,
        sources: &Sources,
    ) -> anyhow::Result<()> {
        let versions = tenant_versions(sources).await?;
        let tenants: Vec<String> = versions.keys().cloned().collect();
        leases::ensure_rows(&self.pool, &tenants).await?;
        let mut live = leases::live_instances(&self.pool, self.config.lease_ttl).await?;
        if !live.iter().any(|i| i == self.id()) {
            live.push(self.id().to_string());
        }
        let assignment = assign::assign(&tenants, &live);
        let mine: BTreeSet<&String> = assignment
            .iter()
            .filter(|(_, i)| i.as_str() == self.id())
            .map(|(t, _)| t)
            .collect();
        // Give up what is another's now (an instance joined): it takes it at its next look.
        let held = self.held();
        for (t, epoch) in &held {
            if !mine.contains(t) && assignment.contains_key(t) {
                supervisor
                    .send(Disown(t.clone()))
                    .await
                    .map_err(|_| anyhow::anyhow!("the engine is stopping"))?;
                self.held.lock().remove(t);
                leases::release(&self.pool, self.id(), t, *epoch).await?;
                tracing::info!(tenant = %t, "cluster: tenant handed over to another instance");
            }
        }
        for t in mine {
            if held.contains_key(t.as_str()) || !self.fence.admit() {
                continue;
            }
            let Some(taken) =
                leases::acquire(&self.pool, self.id(), t, self.config.lease_ttl).await?
            else {
                continue;
            };
            let Some(config) = tenant_config(sources, t).await else {
                leases::release(&self.pool, self.id(), t, taken.epoch).await?;
                continue;
            };
            let failover = taken.previous.as_deref().is_some_and(|p| p != self.id());
            if failover {
                self.metrics.takeovers.inc();
            }
            tracing::info!(tenant = %t, epoch = taken.epoch, previous = ?taken.previous, "cluster: lease taken");
            self.held.lock().insert(t.clone(), taken.epoch);
            self.loaded
                .lock()
                .insert(t.clone(), versions.get(t).copied().flatten());
            supervisor.do_send(Own {
                config,
                failover,
                lease: crate::store::Lease {
                    owner: self.id().to_string(),
                    epoch: taken.epoch,
                },
            });
        }
        self.follow_changes(supervisor, sources, &versions).await?;
        self.metrics
            .unowned
            .set(leases::unowned(&self.pool, &tenants).await?);
        self.publish();
        Ok(())
    }

    /// Applies the stored definitions of held tenants that changed since they were loaded (through any
    /// instance's API: the store is the source of truth), and gives up those deleted. A short poll on the
    /// tenants' `updated_at`, every `acquire_interval`.
    async fn follow_changes(
        &self,
        supervisor: &Addr<Supervisor>,
        sources: &Sources,
        versions: &BTreeMap<String, Option<DateTime<Utc>>>,
    ) -> anyhow::Result<()> {
        let held = self.held();
        for (t, epoch) in held {
            let loaded = self.loaded.lock().get(&t).copied().flatten();
            match versions.get(&t) {
                Some(now) if *now == loaded => {}
                Some(now) => {
                    let Some(config) = tenant_config(sources, &t).await else {
                        continue;
                    };
                    tracing::info!(tenant = %t, "cluster: the tenant changed in the store; applying it");
                    self.loaded.lock().insert(t.clone(), *now);
                    let _ = supervisor.send(UpsertTenant(config)).await;
                }
                None => {
                    tracing::info!(tenant = %t, "cluster: the tenant was deleted; stopping it");
                    let _ = supervisor.send(Disown(t.clone())).await;
                    self.held.lock().remove(&t);
                    self.loaded.lock().remove(&t);
                    leases::release(&self.pool, self.id(), &t, epoch).await?;
                }
            }
        }
        Ok(())
    }

    fn publish(&self) {
        let n = self.held.lock().len();
        self.metrics.held.set(i64::try_from(n).unwrap_or(i64::MAX));
        let refused = self.fence.refused();
        let counted = self.fenced_counted.swap(refused, Ordering::Relaxed);
        self.metrics.fenced.inc_by(refused.saturating_sub(counted));
    }
}

/// Every tenant's id with when its stored definition last changed: the store's (with a master key the store
/// is the source of truth), or the file's (which do not change while running).
async fn tenant_versions(
    sources: &Sources,
) -> anyhow::Result<BTreeMap<String, Option<DateTime<Utc>>>> {
    Ok(match &sources.key {
        Some(_) => sources
            .store
            .tenants()
            .await?
            .into_iter()
            .map(|t| (t.id, Some(t.updated_at)))
            .collect(),
        None => sources
            .file_tenants
            .iter()
            .map(|t| (t.id.clone(), None))
            .collect(),
    })
}

/// A tenant's definition as it is now (changes made through any instance's API are in the store).
async fn tenant_config(sources: &Sources, id: &str) -> Option<TenantConfig> {
    match &sources.key {
        Some(key) => match crate::tenants::load_one(sources.store.as_ref(), key, id).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(tenant = %id, error = %e, "cluster: cannot load the tenant");
                None
            }
        },
        None => sources.file_tenants.iter().find(|t| t.id == id).cloned(),
    }
}
