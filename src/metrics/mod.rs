//! Prometheus metrics (names, labels and meaning: METRICS-CONTRACT, and the README's "Metrics" section).
//!
//! One [`Metrics`] per engine, handed down the actor tree: the supervisor makes a [`TenantMetrics`] per tenant
//! (given to its tenant actor, channels and OAuth sessions), the router and the sink workers hold handles
//! resolved once. Counters move where things happen; gauges that describe current state are filled from a
//! snapshot of the engine's status and its sinks when `/metrics` is scraped ([`Metrics::render`]), so that
//! metrics imports no engine type. Label values come from configured names and small fixed sets
//! ([`labels`]), never from raw ids.

mod families;
pub mod labels;
mod scrape;
mod sink;
mod snapshot;
mod tenant;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use prometheus::Registry;

use self::families::{Families, SINK, TENANT, remove_where};
use self::labels::{ActorKind, RestartReason};
pub use self::sink::SinkMetrics;
pub use self::snapshot::{
    ChannelSnapshot, SinkGauges, SinkSnapshot, StatusSnapshot, TenantSnapshot,
};
pub use self::tenant::TenantMetrics;
pub use families::DELIVERY_BUCKETS;

/// The tenant states pre-initialised in `switchboard_tenants{state}`.
const TENANT_STATES: [&str; 3] = ["running", "paused", "failed"];

/// An engine's metrics: its own registry (several engines may run in one process, as in the tests).
pub struct Metrics {
    registry: Registry,
    f: Families,
    tenants: RwLock<HashMap<String, Arc<TenantMetrics>>>,
    /// Moves whenever series are removed: holders of cached handles re-resolve them (see [`Metrics::epoch`]).
    epoch: AtomicU64,
    /// One scrape at a time: a scrape empties and refills the state gauges.
    scrape: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with every family, the process metrics (on Linux), and the engine-wide series at 0.
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let f = Families::register(&registry)?;
        f.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        f.cluster_tenants_unowned
            .with_label_values(&[] as &[&str])
            .set(0);
        for kind in ActorKind::ALL {
            f.actors_failed.with_label_values(&[kind.as_str()]).set(0);
            for reason in RestartReason::ALL {
                f.actor_restarts
                    .with_label_values(&[kind.as_str(), reason.as_str()]);
            }
        }
        let m = Metrics {
            registry,
            f,
            tenants: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            scrape: tokio::sync::Mutex::new(()),
        };
        m.reset_tenant_states();
        Ok(m)
    }

    fn reset_tenant_states(&self) {
        self.f.tenants.reset();
        for state in TENANT_STATES {
            self.f.tenants.with_label_values(&[state]).set(0);
        }
    }

    /// The handles of tenant `id` in `region`, creating its series. A tenant seen before in another region
    /// loses the old region's series.
    pub fn tenant(&self, id: &str, region: &str) -> Arc<TenantMetrics> {
        if let Some(t) = self.tenants.read().get(id)
            && &*t.region == region
        {
            return t.clone();
        }
        let mut tenants = self.tenants.write();
        if let Some(old) = tenants.get(id) {
            if &*old.region == region {
                return old.clone();
            }
            self.remove_tenant_series(id);
        }
        let t = Arc::new(TenantMetrics::new(&self.f, id, region));
        tenants.insert(id.to_string(), t.clone());
        t
    }

    /// The handles of a tenant already known (the router learns a tenant's region this way).
    pub fn known_tenant(&self, id: &str) -> Option<Arc<TenantMetrics>> {
        self.tenants.read().get(id).cloned()
    }

    /// Drops every series of tenant `id` (it was removed).
    pub fn remove_tenant(&self, id: &str) {
        if self.tenants.write().remove(id).is_some() {
            self.remove_tenant_series(id);
        }
    }

    fn remove_tenant_series(&self, id: &str) {
        let f = &self.f;
        let t = TENANT;
        let with = |more: &'static str| [t[0], t[1], more];
        remove_where(&f.channels, &with("state"), "tenant", id);
        remove_where(&f.channel_connects, t, "tenant", id);
        remove_where(&f.channel_disconnects, &with("reason"), "tenant", id);
        remove_where(&f.channel_rollovers, &with("reason"), "tenant", id);
        remove_where(&f.heartbeat_age, t, "tenant", id);
        remove_where(&f.pong_latency, t, "tenant", id);
        for g in [
            &f.topics_desired,
            &f.topics_subscribed,
            &f.topics_rejected,
            &f.topics_unplaced,
        ] {
            remove_where(g, t, "tenant", id);
        }
        remove_where(&f.channel_quota_utilization, t, "tenant", id);
        remove_where(&f.channels_per_client_utilization, t, "tenant", id);
        remove_where(
            &f.api_requests,
            &[t[0], t[1], "endpoint", "status"],
            "tenant",
            id,
        );
        remove_where(&f.api_rate_limited, t, "tenant", id);
        remove_where(&f.socket_opens_throttled, t, "tenant", id);
        remove_where(&f.token_refreshes, &with("result"), "tenant", id);
        remove_where(&f.token_expiry, t, "tenant", id);
        remove_where(&f.events_received, &with("topic_family"), "tenant", id);
        remove_where(&f.events_duplicate, t, "tenant", id);
        remove_where(&f.gaps, &with("reason"), "tenant", id);
        remove_where(&f.gap_seconds, t, "tenant", id);
        remove_where(&f.backfill_records, t, "tenant", id);
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// The handles of sink `name`, creating its series.
    pub fn sink(&self, name: &str) -> SinkMetrics {
        SinkMetrics::new(&self.f, name)
    }

    /// Drops every series of sink `name` (it was deleted).
    pub fn remove_sink(&self, name: &str) {
        let f = &self.f;
        for c in [
            &f.sink_sent,
            &f.spooled,
            &f.spool_full_total,
            &f.dlq,
            &f.dead_letters_dropped,
        ] {
            remove_where(c, SINK, "sink", name);
        }
        remove_where(&f.sink_errors, &["sink", "error_code"], "sink", name);
        for g in [
            &f.sink_queue_depth,
            &f.spool_bytes,
            &f.spool_max_bytes,
            &f.spool_full,
        ] {
            remove_where(g, SINK, "sink", name);
        }
        remove_where(&f.delivery_latency, SINK, "sink", name);
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// The counters of route `id`'s filter, creating its series (only routes with a filter have them).
    pub fn route_filter(&self, id: &str) -> RouteFilterMetrics {
        RouteFilterMetrics {
            filtered: self.f.route_filtered.with_label_values(&[id]),
            errors: self.f.route_filter_errors.with_label_values(&[id]),
        }
    }

    /// Drops the series of route `id`'s filter (the route was deleted or lost its filter). Nothing caches
    /// these handles but the router, which removes them itself: the epoch does not move.
    pub fn remove_route(&self, id: &str) {
        let _ = self.f.route_filtered.remove_label_values(&[id]);
        let _ = self.f.route_filter_errors.remove_label_values(&[id]);
    }

    /// Changes whenever series were removed. Code that caches handles compares it (one atomic load) and
    /// resolves them again when it moved, so that a tenant removed and added again is counted anew.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A supervised actor was restarted.
    pub fn actor_restarted(&self, kind: ActorKind, reason: RestartReason) {
        self.f
            .actor_restarts
            .with_label_values(&[kind.as_str(), reason.as_str()])
            .inc();
    }

    /// This instance's cluster series: leases held, lost, takeovers, handovers and refused claiming actions.
    pub fn cluster(&self, instance: &str) -> ClusterMetrics {
        let l = [instance];
        ClusterMetrics {
            held: self.f.cluster_leases_held.with_label_values(&l),
            lost: self.f.cluster_leases_lost.with_label_values(&l),
            takeovers: self.f.cluster_takeovers.with_label_values(&l),
            handovers: self.f.cluster_handovers.with_label_values(&l),
            fenced: self.f.cluster_fenced.with_label_values(&l),
            unowned: self
                .f
                .cluster_tenants_unowned
                .with_label_values(&[] as &[&str]),
        }
    }

    /// How many actors of `kind` are over their restart intensity now.
    pub fn set_actors_failed(&self, kind: ActorKind, n: usize) {
        self.f
            .actors_failed
            .with_label_values(&[kind.as_str()])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// One filtered route's series (see [`Metrics::route_filter`]).
#[derive(Debug, Clone)]
pub struct RouteFilterMetrics {
    /// Events the filter kept from the route's sinks.
    pub filtered: prometheus::IntCounter,
    /// Of those, the ones it failed on.
    pub errors: prometheus::IntCounter,
}

/// One instance's cluster series (see [`Metrics::cluster`]).
#[derive(Clone)]
pub struct ClusterMetrics {
    pub held: prometheus::IntGauge,
    pub lost: prometheus::IntCounter,
    pub takeovers: prometheus::IntCounter,
    pub handovers: prometheus::IntCounter,
    pub fenced: prometheus::IntCounter,
    pub unowned: prometheus::IntGauge,
}
