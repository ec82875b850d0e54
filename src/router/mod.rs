//! The router: every event leaves a channel once, is de-duplicated, and goes to the sinks its routes select;
//! gap records go to the sinks and to the store.
//!
//! Routes and sinks can be replaced while running ([`Inbound::Reconfigure`], driven by [`crate::registry::EngineSinks`]): the
//! change travels through the same queue as the records, so every record before it is routed the old way and
//! every record after it the new way, with nothing dropped or reordered in between.

mod changes;
mod dedup;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use self::changes::LastStates;
use self::dedup::Dedup;
use crate::config::RouteConfig;
use crate::envelope::fnv1a;
use crate::metrics::Metrics;
use crate::sink::{Delivery, RecordKind, SinkHandle};
use crate::store::{GapRecord, Store};
use crate::topics::TopicPattern;

/// What channels send to the router.
pub enum Inbound {
    /// An event envelope; `key` identifies the upstream event, `topic` is the range of the topic in `json`.
    Event {
        tenant: Arc<str>,
        key: u64,
        json: Vec<u8>,
        topic: std::ops::Range<usize>,
    },
    /// A loss of continuity.
    Gap(GapRecord),
    /// Replaces the routes and the set of sinks, between the record before it and the record after it.
    /// Handles of sinks no longer listed are dropped, so their workers write what they hold and end.
    Reconfigure {
        routes: Vec<RouteConfig>,
        sinks: Vec<SinkHandle>,
    },
}

// By hand: a sink handle has nothing worth printing but its name.
impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inbound::Event {
                tenant,
                key,
                json,
                topic,
            } => f
                .debug_struct("Event")
                .field("tenant", tenant)
                .field("key", key)
                .field("json", json)
                .field("topic", topic)
                .finish(),
            Inbound::Gap(gap) => f.debug_tuple("Gap").field(gap).finish(),
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
}

struct Route {
    tenants: Option<Vec<String>>,
    sinks: Vec<usize>,
    patterns: Vec<TopicPattern>,
    changes_only: bool,
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
    pub queue: mpsc::Sender<Inbound>,
    pub stats: Arc<RouterStats>,
    /// Every record after de-duplication, for live tails (a slow watcher misses records, never slows routing).
    pub tail: tokio::sync::broadcast::Sender<Tailed>,
}

/// A record as a live tail sees it.
#[derive(Debug, Clone)]
pub struct Tailed {
    pub tenant: Arc<str>,
    pub kind: RecordKind,
    pub json: Bytes,
}

/// Compiles routes against the sinks they will run with: sink names become indices into `sinks`; a name no
/// sink carries is left out (the configuration and the API refuse those, so only a damaged store has them).
fn compile(routes: &[RouteConfig], sinks: &[SinkHandle]) -> Vec<Route> {
    let index: HashMap<&str, usize> = sinks
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.name, i))
        .collect();
    routes
        .iter()
        .map(|r| Route {
            tenants: (!r.tenants.iter().any(|t| t == "*")).then(|| r.tenants.clone()),
            sinks: r
                .sinks
                .iter()
                .filter_map(|s| index.get(s.as_str()).copied())
                .collect(),
            patterns: r.topics.iter().map(|p| TopicPattern::new(p)).collect(),
            changes_only: r.changes_only,
        })
        .collect()
}

/// The router's task, to end it at shutdown and wait for it.
pub struct RouterTask {
    close: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RouterTask {
    /// Closes the router's queue: whatever it holds is still routed, anything sent from now on is refused.
    /// Returns once the router has routed it all, stored its gap records and let go of its sinks (whose workers
    /// then write their queues and end). An error means the router panicked.
    pub async fn close(self) -> Result<(), JoinError> {
        let _ = self.close.send(());
        self.task.await
    }

    /// Waits for the router to end by itself, once every sender of its queue is dropped.
    pub async fn join(self) -> Result<(), JoinError> {
        // Dropping the close signal unsent does not close the queue (see `Router::run`).
        self.task.await
    }
}

/// Starts the router task.
pub fn spawn(
    routes: &[RouteConfig],
    sinks: Vec<SinkHandle>,
    store: Arc<dyn Store>,
    queue: usize,
    dedup_window: usize,
    metrics: Arc<Metrics>,
) -> (RouterHandle, RouterTask) {
    let (tx, rx) = mpsc::channel(queue.max(1));
    let (close, closed) = oneshot::channel();
    let stats = Arc::new(RouterStats::default());
    let (tail, _) = tokio::sync::broadcast::channel(4096);
    let router = Router {
        tail: tail.clone(),
        routes: compile(routes, &sinks),
        route_configs: routes.to_vec(),
        sinks,
        store,
        dedup: HashMap::new(),
        dedup_window,
        decisions: HashMap::new(),
        last: LastStates::default(),
        stats: stats.clone(),
        metrics_epoch: metrics.epoch(),
        metrics,
        gap_writes: JoinSet::new(),
    };
    let task = tokio::spawn(router.run(rx, closed));
    (
        RouterHandle {
            queue: tx,
            stats,
            tail,
        },
        RouterTask { close, task },
    )
}

/// For one (tenant, topic): the routes that want it, the sinks it goes to, and the counter of its
/// tenant and topic family (resolved once, not per event).
struct Decision {
    routes: Vec<usize>,
    sinks: Vec<usize>,
    received: Option<prometheus::IntCounter>,
}

/// What the router keeps per tenant: recent event ids, and the counter of duplicates.
struct TenantFlow {
    dedup: Dedup,
    duplicates: Option<prometheus::IntCounter>,
}

struct Router {
    tail: tokio::sync::broadcast::Sender<Tailed>,
    routes: Vec<Route>,
    /// What `routes` was compiled from, to tell on a reconfiguration which routes stayed the same.
    route_configs: Vec<RouteConfig>,
    sinks: Vec<SinkHandle>,
    store: Arc<dyn Store>,
    dedup: HashMap<Arc<str>, TenantFlow>,
    dedup_window: usize,
    /// (tenant, topic) → (routes that want it, sinks it goes to, its counter).
    decisions: HashMap<u64, Arc<Decision>>,
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
        loop {
            let msg = tokio::select! {
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
                msg = rx.recv() => msg,
            };
            let Some(msg) = msg else {
                break;
            };
            match msg {
                Inbound::Event {
                    tenant,
                    key,
                    json,
                    topic,
                } => self.event(tenant, key, json, topic).await,
                Inbound::Gap(gap) => self.gap(gap).await,
                Inbound::Reconfigure { routes, sinks } => self.reconfigure(routes, sinks),
            }
        }
        while self.gap_writes.join_next().await.is_some() {}
    }

    /// Switches to new routes and sinks. Records already handed to a sink stay in its queue: a sink left out
    /// here loses only the router's handle, and its worker ends once it has written its queue. De-duplication
    /// is kept (an event seen before the switch is still a duplicate after it); the last states of
    /// changes-only routes follow the routes that are unchanged, and start afresh for the others.
    fn reconfigure(&mut self, routes: Vec<RouteConfig>, sinks: Vec<SinkHandle>) {
        // Old index → new index of each route that is still there unchanged.
        let mut moved: Vec<Option<usize>> = vec![None; self.route_configs.len()];
        for (new, config) in routes.iter().enumerate() {
            if let Some(old) = (0..self.route_configs.len())
                .find(|&i| moved[i].is_none() && self.route_configs[i] == *config)
            {
                moved[old] = Some(new);
            }
        }
        self.last.remap(&moved);
        self.routes = compile(&routes, &sinks);
        self.route_configs = routes;
        // Dropping the old handles here, after every earlier record was queued to them, is what lets a removed
        // sink's worker finish with exactly the records routed to it.
        self.sinks = sinks;
        // Cached decisions hold indices into the old routes and sinks.
        self.decisions.clear();
        tracing::info!(
            routes = self.routes.len(),
            sinks = self.sinks.len(),
            "routes and sinks reconfigured"
        );
    }

    async fn event(
        &mut self,
        tenant: Arc<str>,
        key: u64,
        json: Vec<u8>,
        topic: std::ops::Range<usize>,
    ) {
        self.stats.events_in.fetch_add(1, Ordering::Relaxed);
        self.refresh_counters();
        let topic = std::str::from_utf8(json.get(topic).unwrap_or_default()).unwrap_or_default();
        let topic_key = fnv1a(&[tenant.as_bytes(), topic.as_bytes()]);
        let decision = match self.decisions.get(&topic_key) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(self.decide(&tenant, topic, &json));
                self.decisions.insert(topic_key, d.clone());
                d
            }
        };
        if let Some(received) = &decision.received {
            received.inc();
        }
        let window = self.dedup_window;
        let metrics = &self.metrics;
        let flow = self
            .dedup
            .entry(tenant.clone())
            .or_insert_with(|| TenantFlow {
                dedup: Dedup::new(window),
                duplicates: metrics.known_tenant(&tenant).map(|t| t.duplicates()),
            });
        if !flow.dedup.first_time(key) {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            if let Some(d) = &flow.duplicates {
                d.inc();
            }
            return;
        }
        if self.tail.receiver_count() > 0 {
            let _ = self.tail.send(Tailed {
                tenant: tenant.clone(),
                kind: RecordKind::Event,
                json: Bytes::copy_from_slice(&json),
            });
        }
        let Decision { routes, sinks, .. } = &*decision;
        if sinks.is_empty() {
            self.stats.unrouted.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut skip: Vec<usize> = Vec::new();
        if routes.iter().any(|&r| self.routes[r].changes_only)
            && let Some(state) = changes::state_of(topic, &json)
        {
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
        let targets: Vec<usize> = sinks
            .iter()
            .copied()
            .filter(|s| !skip.contains(s))
            .collect();
        let mut json = Some(Bytes::from(json));
        for (i, &s) in targets.iter().enumerate() {
            // The last sink takes the bytes themselves: a single sink costs no extra allocation.
            let bytes = if i + 1 == targets.len() {
                json.take().unwrap_or_default()
            } else {
                json.clone().unwrap_or_default()
            };
            let delivery = Delivery {
                kind: RecordKind::Event,
                tenant: tenant.clone(),
                json: bytes,
            };
            self.sinks[s].send(delivery).await;
        }
    }

    /// Which routes and sinks want `topic` of `tenant`, and its counter.
    fn decide(&self, tenant: &str, topic: &str, json: &[u8]) -> Decision {
        let lower = topic.to_ascii_lowercase();
        let routes: Vec<usize> = (0..self.routes.len())
            .filter(|&i| self.routes[i].wants_tenant(tenant) && self.routes[i].wants_topic(&lower))
            .collect();
        let mut sinks: Vec<usize> = routes
            .iter()
            .flat_map(|&i| self.routes[i].sinks.iter().copied())
            .collect();
        sinks.sort_unstable();
        sinks.dedup();
        let received = self.metrics.known_tenant(tenant).map(|t| {
            let family = crate::envelope::topic_family(json);
            t.received(family.as_deref().unwrap_or("unknown"))
        });
        Decision {
            routes,
            sinks,
            received,
        }
    }

    /// Series were removed (a tenant went away, perhaps to come back): resolve the cached counters again.
    fn refresh_counters(&mut self) {
        let epoch = self.metrics.epoch();
        if epoch == self.metrics_epoch {
            return;
        }
        self.metrics_epoch = epoch;
        self.decisions.clear();
        for (tenant, flow) in &mut self.dedup {
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
        if self.tail.receiver_count() > 0 {
            let _ = self.tail.send(Tailed {
                tenant: gap.tenant.as_str().into(),
                kind: RecordKind::Gap,
                json: json.clone(),
            });
        }
        let lower: Vec<String> = gap.topics.iter().map(|t| t.to_ascii_lowercase()).collect();
        let mut sinks: Vec<usize> = self
            .routes
            .iter()
            .filter(|r| {
                r.wants_tenant(&gap.tenant)
                    && (lower.is_empty() || lower.iter().any(|t| r.wants_topic(t)))
            })
            .flat_map(|r| r.sinks.iter().copied())
            .collect();
        sinks.sort_unstable();
        sinks.dedup();
        let tenant: Arc<str> = gap.tenant.as_str().into();
        for s in sinks {
            let delivery = Delivery {
                kind: RecordKind::Gap,
                tenant: tenant.clone(),
                json: json.clone(),
            };
            self.sinks[s].send(delivery).await;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sink::Sink;

    /// A sink that keeps the `n` of each record it is given, in order.
    struct Collect(Arc<parking_lot::Mutex<Vec<u64>>>);

    #[async_trait::async_trait]
    impl Sink for Collect {
        async fn write(&mut self, batch: &[Delivery]) -> Result<(), crate::sink::SinkError> {
            let mut got = self.0.lock();
            for d in batch {
                let v: serde_json::Value = serde_json::from_slice(&d.json).unwrap();
                got.push(v["n"].as_u64().unwrap());
            }
            Ok(())
        }
        async fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    pub(crate) fn event(n: u64, topic: &str) -> Inbound {
        let json = format!(r#"{{"kind":"event","topic":"{topic}","n":{n}}}"#);
        let start = json.find(topic).unwrap();
        Inbound::Event {
            tenant: Arc::from("acme"),
            key: n,
            json: json.into_bytes(),
            topic: start..start + topic.len(),
        }
    }

    fn route(sinks: &[&str], topics: &[&str]) -> RouteConfig {
        RouteConfig {
            tenants: vec!["*".into()],
            sinks: sinks.iter().map(|s| s.to_string()).collect(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            changes_only: false,
        }
    }

    #[tokio::test]
    async fn a_reconfiguration_splits_the_stream_exactly_where_it_was_sent() {
        let dir = std::env::temp_dir().join(format!("sb-router-{}", uuid::Uuid::new_v4()));
        let store: Arc<dyn Store> = Arc::new(
            crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
                .await
                .unwrap(),
        );
        let sinks_store: Arc<dyn crate::store::Store> = store.clone();
        let (a_got, b_got) = (Arc::default(), Arc::default());
        let (a, a_task) = crate::sink::spawn(
            "a",
            Box::new(Collect(Arc::clone(&a_got))),
            8,
            sinks_store.clone(),
        );
        let (b, b_task) = crate::sink::spawn(
            "b",
            Box::new(Collect(Arc::clone(&b_got))),
            8,
            sinks_store.clone(),
        );
        let (router, task) = spawn(
            &[route(&["a"], &["*"]), route(&["b"], &["*"])],
            vec![a.clone(), b],
            store,
            16,
            1000,
            Arc::new(Metrics::new().unwrap()),
        );
        let presence = "v2.users.u.presence";
        let routing = "v2.users.u.routingStatus";
        for n in 0..100 {
            router.queue.send(event(n, presence)).await.unwrap();
        }
        // `b` is dropped; a new `c` takes presence only.
        let c_got = Arc::default();
        let (c, c_task) = crate::sink::spawn(
            "c",
            Box::new(Collect(Arc::clone(&c_got))),
            8,
            sinks_store.clone(),
        );
        router
            .queue
            .send(Inbound::Reconfigure {
                routes: vec![route(&["a"], &["*"]), route(&["c"], &["*.presence"])],
                sinks: vec![a, c],
            })
            .await
            .unwrap();
        for n in 100..200 {
            let topic = if n % 2 == 0 { presence } else { routing };
            router.queue.send(event(n, topic)).await.unwrap();
        }
        // Seen before the switch: still a duplicate after it.
        router.queue.send(event(5, presence)).await.unwrap();
        // The router held the last handle on `b`: its worker ends once it has written its queue.
        b_task.await.unwrap();
        assert_eq!(*b_got.lock(), (0..100).collect::<Vec<u64>>());
        drop(router);
        task.join().await.unwrap();
        a_task.await.unwrap();
        c_task.await.unwrap();
        assert_eq!(*a_got.lock(), (0..200).collect::<Vec<u64>>());
        assert_eq!(
            *c_got.lock(),
            (100..200).filter(|n| n % 2 == 0).collect::<Vec<u64>>()
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn closing_routes_what_is_queued_stores_its_gaps_and_ends_while_senders_remain() {
        let store: Arc<dyn Store> = Arc::new(
            crate::store::sqlite::SqliteStore::in_memory()
                .await
                .unwrap(),
        );
        let got = Arc::default();
        let (a, a_task) =
            crate::sink::spawn("a", Box::new(Collect(Arc::clone(&got))), 8, store.clone());
        // The gap is on a topic no route wants: stored, never delivered (`Collect` takes events only).
        let (router, task) = spawn(
            &[route(&["a"], &["v2.users.*.presence"])],
            vec![a],
            store.clone(),
            64,
            1000,
            Arc::new(Metrics::new().unwrap()),
        );
        for n in 0..20 {
            router
                .queue
                .send(event(n, "v2.users.u.presence"))
                .await
                .unwrap();
        }
        let gap = GapRecord {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: "acme".into(),
            region: "eu-west-1".into(),
            channel_id: "ch".into(),
            topics: vec!["v2.routing.queues.q.conversations".into()],
            // Stores keep milliseconds.
            from: chrono::DateTime::from_timestamp_millis(1_750_000_000_000).unwrap(),
            to: chrono::DateTime::from_timestamp_millis(1_750_000_001_000).unwrap(),
            reason: "socket_lost".into(),
        };
        router.queue.send(Inbound::Gap(gap.clone())).await.unwrap();

        // `router` still holds a sender: the close alone ends the task.
        task.close().await.unwrap();
        assert!(
            router
                .queue
                .send(event(20, "v2.users.u.presence"))
                .await
                .is_err(),
            "a closed queue refuses records"
        );
        // The router let go of the sink's only handle: its worker writes its queue and ends.
        a_task.await.unwrap();
        assert_eq!(*got.lock(), (0..20).collect::<Vec<u64>>());
        let stored = store
            .gaps(&crate::store::GapFilter {
                tenant: Some("acme".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            stored,
            vec![gap],
            "the gap was stored before the router ended"
        );
    }

    /// Waits (bounded) until the collecting sink holds `n` records.
    async fn sink_holds(got: &parking_lot::Mutex<Vec<u64>>, n: usize) {
        let wait = async {
            while got.lock().len() < n {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), wait)
            .await
            .expect("the sink got its records");
    }

    #[tokio::test]
    async fn events_and_duplicates_are_counted_per_tenant_and_family_across_a_removal() {
        let dir = std::env::temp_dir().join(format!("sb-router-{}", uuid::Uuid::new_v4()));
        let store: Arc<dyn Store> = Arc::new(
            crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
                .await
                .unwrap(),
        );
        let got = Arc::default();
        let (a, a_task) =
            crate::sink::spawn("a", Box::new(Collect(Arc::clone(&got))), 8, store.clone());
        let metrics = Arc::new(Metrics::new().unwrap());
        metrics.tenant("acme", "eu-west-1");
        let (router, task) = spawn(
            &[route(&["a"], &["*"])],
            vec![a],
            store,
            16,
            1000,
            metrics.clone(),
        );
        let event = |n: u64| {
            let topic = "v2.users.u.presence";
            let json = format!(
                r#"{{"kind":"event","topic":"{topic}","topicFamily":"v2.users.{{id}}.presence","n":{n}}}"#
            );
            let start = json.find(topic).unwrap();
            Inbound::Event {
                tenant: Arc::from("acme"),
                key: n,
                json: json.into_bytes(),
                topic: start..start + topic.len(),
            }
        };
        for n in [1, 2, 2, 3] {
            router.queue.send(event(n)).await.unwrap();
        }
        let counted = |text: &str, name: &str| -> Option<f64> {
            text.lines()
                .find(|l| l.starts_with(name) && l.contains(r#"tenant="acme""#))
                .and_then(|l| l.rsplit_once(' '))
                .map(|(_, v)| v.parse().unwrap())
        };
        let received = "switchboard_events_received_total{region=\"eu-west-1\",tenant=\"acme\",topic_family=\"v2.users.{id}.presence\"}";
        // The router counts before the sink sees the event: once the sink has all three, the counts are in.
        sink_holds(&got, 3).await;
        let text = metrics
            .render::<crate::metrics::SinkSnapshot>(None, &[])
            .await
            .unwrap();
        assert_eq!(counted(&text, received), Some(4.0), "{text}");
        assert_eq!(
            counted(&text, "switchboard_events_duplicate_total"),
            Some(1.0),
            "{text}"
        );

        // Removed and added again: the router's cached counters follow to the new series.
        metrics.remove_tenant("acme");
        metrics.tenant("acme", "eu-west-1");
        router.queue.send(event(4)).await.unwrap();
        router.queue.send(event(4)).await.unwrap();
        sink_holds(&got, 4).await;
        drop(router);
        task.join().await.unwrap();
        a_task.await.unwrap();
        let text = metrics
            .render::<crate::metrics::SinkSnapshot>(None, &[])
            .await
            .unwrap();
        assert_eq!(counted(&text, received), Some(2.0), "{text}");
        assert_eq!(
            counted(&text, "switchboard_events_duplicate_total"),
            Some(1.0),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
