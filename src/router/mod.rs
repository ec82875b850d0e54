//! The router: every event leaves a channel once, is de-duplicated, and goes to the sinks its routes select;
//! gap records go to the sinks and to the store.
//!
//! Routes and sinks can be replaced while running ([`Inbound::Reconfigure`], driven by [`crate::registry::EngineSinks`]): the
//! change travels through the same queue as the records, so every record before it is routed the old way and
//! every record after it the new way, with nothing dropped or reordered in between.

mod changes;
mod dedup;
mod filters;
mod shards;
mod tail;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use self::changes::LastStates;
use self::dedup::Dedup;
pub use self::filters::FilterCounts;
use self::filters::RouteFilter;
pub use self::shards::{RouterQueue, RouterSettings, RouterTask, ShardRuntimes, spawn, spawn_on};
pub use self::tail::{TailFeed, Tailed};
use crate::config::RouteConfig;
use crate::envelope::fnv1a;
use crate::metrics::Metrics;
use crate::sink::{Delivery, RecordKind, SinkHandle};
use crate::store::{GapRecord, Store};
use crate::topics::TopicPattern;

/// The most messages the router takes from its queue at one wake-up.
const ROUTER_BATCH: usize = 256;

/// What channels send to the router.
pub enum Inbound {
    /// An event envelope; `key` identifies the upstream event, `topic_hash` its topic (`fnv1a` of it, as the
    /// channel read it), `topic` is the range of the topic in `json`.
    Event {
        tenant: Arc<str>,
        key: u64,
        topic_hash: u64,
        /// `receivedAt` of the line, in milliseconds since the epoch.
        received_ms: i64,
        json: Vec<u8>,
        topic: std::ops::Range<usize>,
    },
    /// A loss of continuity.
    Gap(GapRecord),
    /// What a backfill got back (an envelope of kind `backfill`), for the sinks of routes that want one of
    /// `topics` (the gap's topics it stands for).
    Backfill {
        tenant: Arc<str>,
        topics: Vec<String>,
        json: Vec<u8>,
    },
    /// Replaces the routes and the set of sinks, between the record before it and the record after it.
    /// Handles of sinks no longer listed are dropped, so their workers write what they hold and end.
    Reconfigure {
        routes: Vec<RouteEntry>,
        sinks: Vec<SinkHandle>,
    },
}

/// A route and its id (`config-1`... for the configuration file's): the id names the route's series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub id: String,
    pub config: RouteConfig,
}

// By hand: a sink handle has nothing worth printing but its name.
impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inbound::Event {
                tenant,
                key,
                topic_hash,
                received_ms,
                json,
                topic,
            } => f
                .debug_struct("Event")
                .field("tenant", tenant)
                .field("key", key)
                .field("topic_hash", topic_hash)
                .field("received_ms", received_ms)
                .field("json", json)
                .field("topic", topic)
                .finish(),
            Inbound::Gap(gap) => f.debug_tuple("Gap").field(gap).finish(),
            Inbound::Backfill { tenant, topics, .. } => f
                .debug_struct("Backfill")
                .field("tenant", tenant)
                .field("topics", topics)
                .finish_non_exhaustive(),
            Inbound::Reconfigure { routes, sinks } => f
                .debug_struct("Reconfigure")
                .field("routes", routes)
                .field("sinks", &sinks.iter().map(|s| &*s.name).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// Counters of the router.
#[derive(Debug, Default)]
pub struct RouterStats {
    pub events_in: AtomicU64,
    pub duplicates: AtomicU64,
    pub unchanged_dropped: AtomicU64,
    pub unrouted: AtomicU64,
    pub gaps: AtomicU64,
    /// Per filtered route: the events its filter kept from its sinks.
    pub filters: FilterCounts,
}

struct Route {
    tenants: Option<Vec<String>>,
    sinks: Vec<usize>,
    patterns: Vec<TopicPattern>,
    changes_only: bool,
    filter: Option<RouteFilter>,
}

impl Route {
    fn wants_tenant(&self, tenant: &str) -> bool {
        self.tenants
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == tenant))
    }
    fn wants_topic(&self, lower_topic: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(lower_topic))
    }
}

/// The router's input and counters.
#[derive(Clone)]
pub struct RouterHandle {
    pub queue: RouterQueue,
    pub stats: Arc<RouterStats>,
    /// Every record after de-duplication, for live tails (a slow watcher misses records, never slows routing).
    pub tail: TailFeed,
}

/// Compiles routes against the sinks they will run with: sink names become indices into `sinks`; a name no
/// sink carries is left out (the configuration and the API refuse those, so only a damaged store has them).
/// Filters arrive compiled (when the route was set); here they get their counters.
fn compile(routes: &[RouteEntry], sinks: &[SinkHandle], metrics: &Metrics) -> Vec<Route> {
    let index: HashMap<&str, usize> = sinks
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.name, i))
        .collect();
    routes
        .iter()
        .map(|RouteEntry { id, config: r }| Route {
            tenants: (!r.tenants.iter().any(|t| t == "*")).then(|| r.tenants.clone()),
            sinks: r
                .sinks
                .iter()
                .filter_map(|s| index.get(s.as_str()).copied())
                .collect(),
            patterns: r.topics.iter().map(|p| TopicPattern::new(p)).collect(),
            changes_only: r.changes_only,
            filter: r.filter.clone().map(|f| RouteFilter::new(id, f, metrics)),
        })
        .collect()
}

/// Which routes and sinks want `topic` of `tenant`, and its counter.
fn decide(routes: &[Route], metrics: &Metrics, tenant: &str, topic: &str, json: &[u8]) -> Decision {
    let lower = topic.to_ascii_lowercase();
    let wanting: Vec<usize> = (0..routes.len())
        .filter(|&i| routes[i].wants_tenant(tenant) && routes[i].wants_topic(&lower))
        .collect();
    let mut sinks: Vec<usize> = wanting
        .iter()
        .flat_map(|&i| routes[i].sinks.iter().copied())
        .collect();
    sinks.sort_unstable();
    sinks.dedup();
    let family = crate::envelope::topic_family(json);
    let received = metrics
        .known_tenant(tenant)
        .map(|t| t.received(family.as_deref().unwrap_or("unknown")));
    let filtered = wanting.iter().any(|&r| routes[r].filter.is_some());
    Decision {
        routes: wanting,
        sinks,
        filtered,
        family,
        received,
    }
}

/// The topic of an event line, at `range` in it (the channel wrote it there from a `&str`). Read only where
/// it is needed (a topic not seen before, a filter, a changes-only route): checking the UTF-8 of every
/// event's topic was a visible share of routing it.
fn topic_in<'a>(json: &'a [u8], range: &std::ops::Range<usize>) -> &'a str {
    std::str::from_utf8(json.get(range.clone()).unwrap_or_default()).unwrap_or_default()
}

/// For one (tenant, topic): the routes that want it, the sinks it goes to, whether one of those routes has a
/// filter, and the counter of its tenant and topic family (resolved once, not per event).
struct Decision {
    routes: Vec<usize>,
    sinks: Vec<usize>,
    /// Only then is the event's body read: every other event takes the path it took before filters existed.
    filtered: bool,
    /// The topic's family, whose counter `received` is.
    family: Option<String>,
    received: Option<prometheus::IntCounter>,
}

/// An event as the router takes it from [`Inbound::Event`].
struct Event {
    key: u64,
    topic_hash: u64,
    received_ms: i64,
    json: Vec<u8>,
    topic: std::ops::Range<usize>,
}

/// What the router keeps per tenant: recent event ids, the counter of duplicates, and the decision of each
/// topic seen.
struct TenantFlow {
    dedup: Dedup,
    duplicates: Option<prometheus::IntCounter>,
    /// Topic hash (as the channel sent it) → routes, sinks and counter.
    decisions: HashMap<u64, Arc<Decision>, ahash::RandomState>,
    /// The distinct decisions of `decisions`, by routes and family (the rest follows from those): topics that
    /// route alike share one, so that the few read for every event stay in the CPU's cache (one allocation
    /// per topic did not, among thousands of topics).
    distinct: HashMap<(Vec<usize>, Option<String>), Arc<Decision>>,
}

struct Router {
    tail: TailFeed,
    routes: Vec<Route>,
    /// What `routes` was compiled from, to tell on a reconfiguration which routes stayed the same.
    route_configs: Vec<RouteEntry>,
    sinks: Vec<SinkHandle>,
    /// Per sink (as `sinks`), what the batch being routed hands it: a batch's records go to each sink
    /// together, at the end of the batch, so that a sink worker on another thread is woken once per batch
    /// rather than once per record.
    pending: Vec<Vec<Delivery>>,
    store: Arc<dyn Store>,
    /// Per tenant: de-duplication and decisions. aHash: looked up for every event (SipHash cost a share).
    flows: HashMap<Arc<str>, TenantFlow, ahash::RandomState>,
    dedup_window: usize,
    last: LastStates,
    stats: Arc<RouterStats>,
    metrics: Arc<Metrics>,
    /// The metrics' epoch the cached counters were resolved in.
    metrics_epoch: u64,
    /// Gap records being written to the store, awaited before the router ends.
    gap_writes: JoinSet<()>,
}

impl Router {
    /// Routes what arrives until the queue is closed (by [`RouterTask::close`]) and drained, or every sender
    /// is gone; then waits for its gap records to be stored.
    async fn run(mut self, mut rx: mpsc::Receiver<Inbound>, mut close: oneshot::Receiver<()>) {
        let mut closing = false;
        // Everything queued is taken at one wake-up: under load the router wakes once per burst, not once per
        // event (each wake-up is a context switch between the runtime's threads).
        let mut batch: Vec<Inbound> = Vec::with_capacity(ROUTER_BATCH);
        loop {
            let taken = tokio::select! {
                // The close first, so that a queue that is never empty cannot hold it off.
                biased;
                signal = &mut close, if !closing => {
                    closing = true;
                    // A `RouterTask` dropped without closing is no request to close.
                    if signal.is_ok() {
                        rx.close();
                    }
                    continue;
                }
                taken = rx.recv_many(&mut batch, ROUTER_BATCH) => taken,
            };
            if taken == 0 {
                break;
            }
            self.warm(&batch);
            for msg in batch.drain(..) {
                self.handle(msg).await;
            }
            self.hand_over().await;
        }
        while self.gap_writes.join_next().await.is_some() {}
    }

    /// Touches the de-duplication slots the batch's events will read, a run of one tenant's events at a
    /// time, before the first of them is checked ([`Dedup::warm`]).
    fn warm(&self, batch: &[Inbound]) {
        let mut rest = batch;
        while let Some((first, after)) = rest.split_first() {
            let Inbound::Event { tenant, .. } = first else {
                rest = after;
                continue;
            };
            let run = rest
                .iter()
                .take_while(|m| matches!(m, Inbound::Event { tenant: t, .. } if t == tenant))
                .count();
            if let Some(flow) = self.flows.get(&**tenant) {
                flow.dedup.warm(rest[..run].iter().filter_map(|m| match m {
                    Inbound::Event { key, .. } => Some(*key),
                    _ => None,
                }));
            }
            rest = &rest[run..];
        }
    }

    /// One message of the queue, in the order it was queued.
    async fn handle(&mut self, msg: Inbound) {
        match msg {
            Inbound::Event {
                tenant,
                key,
                topic_hash,
                received_ms,
                json,
                topic,
            } => {
                let event = Event {
                    key,
                    topic_hash,
                    received_ms,
                    json,
                    topic,
                };
                self.event(tenant, event).await
            }
            Inbound::Gap(gap) => self.gap(gap).await,
            Inbound::Backfill {
                tenant,
                topics,
                json,
            } => {
                self.route_record(tenant, RecordKind::Backfill, &topics, Bytes::from(json))
                    .await
            }
            Inbound::Reconfigure { routes, sinks } => {
                // What was routed the old way goes to the old sinks before they are let go.
                self.hand_over().await;
                self.reconfigure(routes, sinks)
            }
        }
    }

    /// Hands every sink what the batch routed to it, in order (waiting while a sink's queue is full).
    async fn hand_over(&mut self) {
        for (sink, pending) in self.sinks.iter().zip(self.pending.iter_mut()) {
            for delivery in pending.drain(..) {
                sink.send(delivery).await;
            }
        }
    }

    /// Switches to new routes and sinks. Records already handed to a sink stay in its queue: a sink left out
    /// here loses only the router's handle, and its worker ends once it has written its queue. De-duplication
    /// is kept (an event seen before the switch is still a duplicate after it); the last states of
    /// changes-only routes follow the routes that are unchanged, and start afresh for the others.
    fn reconfigure(&mut self, routes: Vec<RouteEntry>, sinks: Vec<SinkHandle>) {
        // Old index → new index of each route that is still there unchanged (whatever its id).
        let mut moved: Vec<Option<usize>> = vec![None; self.route_configs.len()];
        for (new, entry) in routes.iter().enumerate() {
            if let Some(old) = (0..self.route_configs.len())
                .find(|&i| moved[i].is_none() && self.route_configs[i].config == entry.config)
            {
                moved[old] = Some(new);
            }
        }
        self.last.remap(&moved);
        self.routes = compile(&routes, &sinks, &self.metrics);
        self.stats.filters.publish(
            self.routes.iter().filter_map(|r| r.filter.as_ref()),
            &self.metrics,
        );
        self.route_configs = routes;
        // Dropping the old handles here, after every earlier record was queued to them, is what lets a removed
        // sink's worker finish with exactly the records routed to it.
        self.pending = vec![Vec::new(); sinks.len()];
        self.sinks = sinks;
        // Cached decisions hold indices into the old routes and sinks.
        for flow in self.flows.values_mut() {
            flow.decisions.clear();
            flow.distinct.clear();
        }
        tracing::info!(
            routes = self.routes.len(),
            sinks = self.sinks.len(),
            "routes and sinks reconfigured"
        );
    }

    async fn event(&mut self, tenant: Arc<str>, event: Event) {
        let Event {
            key,
            topic_hash,
            received_ms,
            json,
            topic,
        } = event;
        self.stats.events_in.fetch_add(1, Ordering::Relaxed);
        self.refresh_counters();
        let flow = match self.flows.get_mut(&*tenant) {
            Some(flow) => flow,
            None => self
                .flows
                .entry(tenant.clone())
                .or_insert_with(|| TenantFlow {
                    dedup: Dedup::new(self.dedup_window),
                    duplicates: self.metrics.known_tenant(&tenant).map(|t| t.duplicates()),
                    decisions: HashMap::default(),
                    distinct: HashMap::new(),
                }),
        };
        let decision = match flow.decisions.get(&topic_hash) {
            Some(d) => d.clone(),
            None => {
                let d = decide(
                    &self.routes,
                    &self.metrics,
                    &tenant,
                    topic_in(&json, &topic),
                    &json,
                );
                let d = flow
                    .distinct
                    .entry((d.routes.clone(), d.family.clone()))
                    .or_insert_with(|| Arc::new(d))
                    .clone();
                flow.decisions.insert(topic_hash, d.clone());
                d
            }
        };
        if let Some(received) = &decision.received {
            received.inc();
        }
        if !flow.dedup.first_time(key) {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            if let Some(d) = &flow.duplicates {
                d.inc();
            }
            return;
        }
        if let Some(tail) = self.tail.watched() {
            let _ = tail.send(Tailed {
                tenant: tenant.clone(),
                kind: RecordKind::Event,
                json: Bytes::copy_from_slice(&json),
            });
        }
        let Decision {
            routes,
            sinks,
            filtered,
            ..
        } = &*decision;
        if sinks.is_empty() {
            self.stats.unrouted.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut skip: Vec<usize> = Vec::new();
        // The state of changes-only routes is kept per (tenant, topic).
        let topic_key = |topic: &str| fnv1a(&[tenant.as_bytes(), topic.as_bytes()]);
        if *filtered {
            let topic = topic_in(&json, &topic);
            skip = self.filter(&tenant, topic, topic_key(topic), routes, &json);
        } else if routes.iter().any(|&r| self.routes[r].changes_only)
            && let topic = topic_in(&json, &topic)
            && let Some(state) = changes::state_of(topic, &json)
        {
            let topic_key = topic_key(topic);
            for &r in routes.iter().filter(|&&r| self.routes[r].changes_only) {
                if !self.last.changed(r, topic_key, state) {
                    skip.extend(self.routes[r].sinks.iter().copied());
                }
            }
            // A sink also reached through a route without the filter still gets the event.
            for &r in routes.iter().filter(|&&r| !self.routes[r].changes_only) {
                skip.retain(|s| !self.routes[r].sinks.contains(s));
            }
            if !skip.is_empty() {
                self.stats.unchanged_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        // No list of targets is built: the common event (one sink, nothing skipped) allocates nothing here.
        let wanted = |s: &usize| !skip.contains(s);
        let mut left = sinks.iter().filter(|s| wanted(s)).count();
        let mut json = Some(Bytes::from(json));
        for &s in sinks.iter().filter(|s| wanted(s)) {
            left -= 1;
            // The last sink takes the bytes themselves: a single sink costs no extra allocation.
            let bytes = if left == 0 {
                json.take().unwrap_or_default()
            } else {
                json.clone().unwrap_or_default()
            };
            let delivery = Delivery {
                kind: RecordKind::Event,
                received_ms: Some(received_ms),
                tenant: tenant.clone(),
                json: bytes,
            };
            self.pending[s].push(delivery);
        }
    }

    /// Series were removed (a tenant went away, perhaps to come back): resolve the cached counters again.
    fn refresh_counters(&mut self) {
        let epoch = self.metrics.epoch();
        if epoch == self.metrics_epoch {
            return;
        }
        self.metrics_epoch = epoch;
        for (tenant, flow) in &mut self.flows {
            flow.decisions.clear();
            flow.distinct.clear();
            flow.duplicates = self.metrics.known_tenant(tenant).map(|t| t.duplicates());
        }
    }

    async fn gap(&mut self, gap: GapRecord) {
        self.stats.gaps.fetch_add(1, Ordering::Relaxed);
        let store = self.store.clone();
        let stored = gap.clone();
        // Those done are reaped here, so that the set holds only the writes still under way.
        while self.gap_writes.try_join_next().is_some() {}
        self.gap_writes.spawn(async move {
            if let Err(e) = store.record_gap(&stored).await {
                tracing::error!(tenant = %stored.tenant, error = %e, "could not store a gap record");
            }
        });
        let json = Bytes::from(crate::envelope::gap_line(&gap));
        let tenant: Arc<str> = gap.tenant.as_str().into();
        self.route_record(tenant, RecordKind::Gap, &gap.topics, json)
            .await;
    }

    /// A record that is not an event (a gap, a backfill): to the live tail, and to the sinks of the routes
    /// that want the tenant and one of `topics` (any route of the tenant when there are none).
    async fn route_record(
        &mut self,
        tenant: Arc<str>,
        kind: RecordKind,
        topics: &[String],
        json: Bytes,
    ) {
        if let Some(tail) = self.tail.watched() {
            let _ = tail.send(Tailed {
                tenant: tenant.clone(),
                kind,
                json: json.clone(),
            });
        }
        let lower: Vec<String> = topics.iter().map(|t| t.to_ascii_lowercase()).collect();
        let mut sinks: Vec<usize> = self
            .routes
            .iter()
            .filter(|r| {
                r.wants_tenant(&tenant)
                    && (lower.is_empty() || lower.iter().any(|t| r.wants_topic(t)))
            })
            .flat_map(|r| r.sinks.iter().copied())
            .collect();
        sinks.sort_unstable();
        sinks.dedup();
        for s in sinks {
            let delivery = Delivery {
                kind,
                received_ms: None,
                tenant: tenant.clone(),
                json: json.clone(),
            };
            self.pending[s].push(delivery);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
