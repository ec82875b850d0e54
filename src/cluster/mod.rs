//! Cluster mode: several instances share the tenants of one PostgreSQL store (`[cluster]`). Each tenant has a
//! lease row with an owner, an expiry and a fencing epoch, in database time only; an instance runs only the
//! tenants it holds. The membership loop here heartbeats, renews what it holds (a tenant missing from the
//! renewal is lost and stopped at once), computes the balanced assignment every instance agrees on
//! ([`assign`]), takes what is its own and free, and gives up what now belongs to another live instance. Before
//! every claiming action the actors check the [`Fence`]: past the renew deadline this instance claims nothing.
//!
//! Handing a tenant over (SIGTERM, or an instance joined) is make-before-break: the owner turns the tenant's
//! [`Handover`] on (its sockets read on, nothing is claimed) and offers the lease, refreshing the offer every
//! [`OFFER_REFRESH`] while every channel of the tenant is live; the taker takes a fresh offer before it expires,
//! adopts the recorded channels (its sockets displace the owner's) and records no gap. A channel that drops
//! while offered withdraws the offer: the owner reconnects it as usual, with its gap, and offers again.
//!
//! `assign.rs` who should own what, `leases.rs` the statements; the self-fence is `crate::fence` (a leaf:
//! the actors check it).

pub mod assign;
mod displacing;
pub mod leases;
mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::Addr;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::ClusterConfig;
pub use crate::fence::{Fence, Handover};
use crate::metrics::{ClusterMetrics, Metrics};
use crate::supervisor::{Disown, Own, Supervisor, UpsertTenant};
use crate::tenant::StatusBoard;
pub use sources::Sources;
use sources::{tenant_config, tenant_versions};

/// How often an owner refreshes the offer of a tenant it hands over (and looks whether it was taken).
pub const OFFER_REFRESH: Duration = Duration::from_millis(200);

/// How old an offer may be when it is taken: the owner vouched that every channel of the tenant was live at
/// most this long ago. Past it, the lease is taken only once it expires, as after a crash (with its gap).
pub const OFFER_FRESH: Duration = Duration::from_secs(1);

/// A tenant this instance hands over: its lease is still ours at `epoch`.
struct Offer {
    epoch: i64,
    since: tokio::time::Instant,
    /// Offered in the store, with the tenant's handover on (false until every channel is live).
    open: bool,
    /// Offered at least once (every channel was live at some point).
    opened: bool,
}

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
    /// The handover switch of each tenant held (shared with its actors).
    handovers: Mutex<BTreeMap<String, Handover>>,
    /// The tenants being handed over.
    offers: Mutex<BTreeMap<String, Offer>>,
    /// Stopping: every tenant is being handed over, none taken.
    leaving: AtomicBool,
    /// Tenants taken by another instance whose sockets read on until the taker's displace them.
    displacing: displacing::Displacing,
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
            handovers: Mutex::new(BTreeMap::new()),
            offers: Mutex::new(BTreeMap::new()),
            displacing: Default::default(),
            leaving: AtomicBool::new(false),
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

    /// Hands every tenant held over to the other instances, make-before-break, before a graceful stop: this
    /// instance leaves the membership (the others' assignment gives its tenants away) and offers each lease;
    /// it returns once every tenant was taken, or after `lease_ttl` plus two acquire intervals, when what is
    /// left is given up as before (stopped, recorded, released: the takers record `failover` gaps).
    pub async fn hand_over(&self) {
        if self.held.lock().is_empty() || !self.fence.holds() {
            return;
        }
        let others = match leases::live_instances(&self.pool, self.config.lease_ttl).await {
            Ok(live) => live.into_iter().filter(|i| i != self.id()).count(),
            Err(e) => {
                tracing::warn!(error = %e, "cluster: cannot see the other instances; no handover");
                return;
            }
        };
        if others == 0 {
            tracing::info!("cluster: no other instance to hand the tenants over to");
            return;
        }
        self.leaving.store(true, Ordering::Release);
        if let Err(e) = leases::withdraw_membership(&self.pool, self.id()).await {
            tracing::warn!(error = %e, "cluster: could not leave the membership; no handover");
            self.leaving.store(false, Ordering::Release);
            return;
        }
        let now = tokio::time::Instant::now();
        {
            let held = self.held();
            let mut offers = self.offers.lock();
            for (t, epoch) in held {
                offers.entry(t).or_insert(Offer {
                    epoch,
                    since: now,
                    open: false,
                    opened: false,
                });
            }
        }
        tracing::info!(
            tenants = self.offers.lock().len(),
            "cluster: handing the tenants over"
        );
        let deadline = now + self.handover_timeout();
        while tokio::time::Instant::now() < deadline && !self.held.lock().is_empty() {
            tokio::time::sleep(OFFER_REFRESH / 2).await;
        }
        // The taken tenants read on until the takers' sockets displace ours.
        let deadline = tokio::time::Instant::now() + displacing::DISPLACE_GRACE;
        while tokio::time::Instant::now() < deadline && !self.displacing.is_empty() {
            tokio::time::sleep(OFFER_REFRESH / 2).await;
        }
        let left = self.held.lock().len();
        if left > 0 {
            tracing::warn!(
                tenants = left,
                "cluster: not every tenant was taken in time; giving them up"
            );
        }
        // What is left claims again (records its channels at stop) before it is given up.
        for (_, h) in self.handovers.lock().iter() {
            h.cancel();
        }
    }

    /// How long an offer waits to be taken before it is withdrawn and the tenant given up.
    fn handover_timeout(&self) -> Duration {
        self.config.lease_ttl + self.config.acquire_interval * 2
    }

    /// Leaves the cluster at shutdown (after the tenants stopped and recorded their channels): every lease
    /// expires now, so the others take over at their next look instead of after the TTL.
    pub async fn leave(&self) {
        self.offers.lock().clear();
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
        let mut first = true;
        while supervisor.connected() {
            // Faster while handing tenants over: the offers are refreshed and watched.
            if !first {
                let offering = !self.offers.lock().is_empty() || !self.displacing.is_empty();
                tokio::time::sleep(if offering { OFFER_REFRESH } else { tick }).await;
            }
            first = false;
            let now = tokio::time::Instant::now();
            if now >= next_renew {
                next_renew = now + c.renew_interval;
                self.renew(&supervisor).await;
            }
            if !self.offers.lock().is_empty() {
                self.tend_offers(&supervisor, &sources.board).await;
            }
            for t in self.displacing.due(&sources.board) {
                let _ = supervisor.send(Disown(t)).await;
            }
            if self.leaving.load(Ordering::Acquire) {
                continue;
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
        let leaving = self.leaving.load(Ordering::Acquire);
        let result = async {
            if !leaving {
                leases::heartbeat(&self.pool, self.id(), self.config.advertise_url.as_deref())
                    .await?;
            }
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
                        self.handovers.lock().remove(t);
                    }
                    lost
                };
                // The lost tenants stop before the fence opens again: a process that was frozen past its
                // deadline wakes up fenced, and stays so until what it lost has stopped (their last writes
                // are refused).
                for t in lost {
                    if self.offers.lock().remove(&t).is_some() {
                        tracing::info!(tenant = %t, "cluster: tenant handed over");
                        self.displacing.add(t);
                    } else {
                        tracing::warn!(tenant = %t, "cluster: lease lost; stopping the tenant");
                        self.metrics.lost.inc();
                        let _ = supervisor.send(Disown(t)).await;
                    }
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
        self.offers.lock().clear();
        self.handovers.lock().clear();
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
        // Hand over what is another's now (an instance joined): offered, it takes it at its next look.
        let held = self.held();
        for (t, epoch) in &held {
            if !mine.contains(t) && assignment.contains_key(t) {
                self.offers.lock().entry(t.clone()).or_insert_with(|| {
                    tracing::info!(tenant = %t, to = %assignment[t], "cluster: handing the tenant over");
                    Offer {
                        epoch: *epoch,
                        since: tokio::time::Instant::now(),
                        open: false,
                        opened: false,
                    }
                });
            } else if mine.contains(t) && self.offers.lock().contains_key(t) {
                // Ours again (the instance it was offered to left, or one came back): keep it, no gap.
                self.keep(t, *epoch).await?;
            }
        }
        for t in mine {
            if held.contains_key(t.as_str()) || !self.fence.admit() {
                continue;
            }
            let Some(taken) =
                leases::acquire(&self.pool, self.id(), t, self.config.lease_ttl, OFFER_FRESH)
                    .await?
            else {
                continue;
            };
            let Some(config) = tenant_config(sources, t).await else {
                leases::release(&self.pool, self.id(), t, taken.epoch).await?;
                continue;
            };
            let failover =
                !taken.handed_over && taken.previous.as_deref().is_some_and(|p| p != self.id());
            if failover {
                self.metrics.takeovers.inc();
            }
            if taken.handed_over {
                self.metrics.handovers.inc();
            }
            tracing::info!(tenant = %t, epoch = taken.epoch, previous = ?taken.previous,
                handed_over = taken.handed_over, "cluster: lease taken");
            let handover = Handover::default();
            self.handovers.lock().insert(t.clone(), handover.clone());
            self.held.lock().insert(t.clone(), taken.epoch);
            self.loaded
                .lock()
                .insert(t.clone(), versions.get(t).copied().flatten());
            supervisor.do_send(Own {
                config,
                failover,
                handed_over: taken.handed_over,
                handover,
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
                    self.forget(&t);
                    leases::release(&self.pool, self.id(), &t, epoch).await?;
                }
            }
        }
        Ok(())
    }

    /// Forgets a tenant no longer held.
    fn forget(&self, t: &str) {
        self.held.lock().remove(t);
        self.loaded.lock().remove(t);
        self.offers.lock().remove(t);
        self.handovers.lock().remove(t);
    }

    /// Refreshes, withdraws or gives up each offer (every [`OFFER_REFRESH`] while there are any): an offer
    /// stands while every channel of the tenant is live; a drop withdraws it (the tenant reconnects as usual,
    /// with its gap); once taken, the tenant stops here (its sockets were displaced by the taker's).
    async fn tend_offers(&self, supervisor: &Addr<Supervisor>, board: &StatusBoard) {
        let offers: Vec<(String, i64, tokio::time::Instant, bool, bool)> = self
            .offers
            .lock()
            .iter()
            .map(|(t, o)| (t.clone(), o.epoch, o.since, o.open, o.opened))
            .collect();
        for (t, epoch, since, open, opened) in offers {
            let handover = self.handovers.lock().get(&t).cloned().unwrap_or_default();
            let state = board.get(&t).map(|s| s.state);
            let running = state.as_deref() == Some("running");
            let result: sqlx::Result<Step> = async {
                if since.elapsed() > self.handover_timeout() {
                    // Nobody took it: stop offering. Leaving, the shutdown gives it up. Otherwise it runs on
                    // here (the next look offers it again if it is still another's), unless its channels
                    // were never all live: then it is given up, for the other to take (with its gap).
                    if leases::withdraw(&self.pool, self.id(), &t, epoch).await? {
                        handover.cancel();
                        return Ok(if opened || self.leaving.load(Ordering::Acquire) {
                            Step::Keep
                        } else {
                            Step::GiveUp
                        });
                    }
                    return Ok(Step::Taken);
                }
                if state.as_deref() == Some("paused") {
                    // No socket to hand over: nothing is lost by letting it go at once.
                    return Ok(Step::GiveUp);
                }
                Ok(match (open, running) {
                    (true, true) | (false, true) => {
                        handover.begin();
                        if leases::offer(&self.pool, self.id(), &t, epoch).await? {
                            Step::Open
                        } else {
                            Step::Taken
                        }
                    }
                    (true, false) => {
                        if leases::withdraw(&self.pool, self.id(), &t, epoch).await? {
                            handover.cancel();
                            Step::Closed
                        } else {
                            Step::Taken
                        }
                    }
                    (false, false) => Step::Closed,
                })
            }
            .await;
            match result {
                Ok(Step::Open) => self.set_open(&t, true),
                Ok(Step::Closed) => self.set_open(&t, false),
                Ok(Step::Keep) => {
                    self.offers.lock().remove(&t);
                }
                Ok(Step::Taken) => {
                    tracing::info!(tenant = %t, "cluster: tenant handed over");
                    self.forget(&t);
                    self.displacing.add(t);
                }
                Ok(Step::GiveUp) => {
                    tracing::info!(tenant = %t, "cluster: giving the tenant up");
                    let _ = supervisor.send(Disown(t.clone())).await;
                    self.forget(&t);
                    if let Err(e) = leases::release(&self.pool, self.id(), &t, epoch).await {
                        tracing::warn!(tenant = %t, error = %e, "cluster: could not release the lease");
                    }
                }
                Err(e) => {
                    // The offer ages out in the store on its own ([`OFFER_FRESH`]); the next tick tries again.
                    tracing::warn!(tenant = %t, error = %e, "cluster: could not tend the offer");
                }
            }
        }
        self.publish();
    }

    fn set_open(&self, t: &str, open: bool) {
        if let Some(o) = self.offers.lock().get_mut(t) {
            o.open = open;
            o.opened |= open;
        }
    }

    /// Withdraws the offer of a tenant that is ours again: it claims again, and runs on here without a gap.
    async fn keep(&self, t: &str, epoch: i64) -> sqlx::Result<()> {
        if leases::withdraw(&self.pool, self.id(), t, epoch).await? {
            if let Some(h) = self.handovers.lock().get(t) {
                h.cancel();
            }
            self.offers.lock().remove(t);
            tracing::info!(tenant = %t, "cluster: the tenant is ours again; no longer handed over");
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

/// What became of an offer at one look.
enum Step {
    /// Offered (again): every channel is live.
    Open,
    /// Not offered now: a channel is down (the tenant claims again).
    Closed,
    /// Taken by another instance: stop the tenant here.
    Taken,
    /// Nobody took it in time and its channels were never all live (or it is paused): give it up now.
    GiveUp,
    /// Nobody took it in time: it runs on here (offered again at a later look if it is still another's;
    /// when this instance is stopping, the shutdown gives it up).
    Keep,
}
