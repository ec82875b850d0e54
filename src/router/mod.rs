//! The router: every event leaves a channel once, is de-duplicated, and goes to the sinks its routes select;
//! gap records go to the sinks and to the store.

mod changes;
mod dedup;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

use self::changes::LastStates;
use self::dedup::Dedup;
use crate::config::RouteConfig;
use crate::envelope::fnv1a;
use crate::sim::topics::TopicPattern;
use crate::sink::{Delivery, RecordKind, SinkHandle};
use crate::store::{GapRecord, Store};

/// What channels send to the router.
#[derive(Debug)]
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

/// Starts the router task.
pub fn spawn(
    routes: &[RouteConfig],
    sinks: Vec<SinkHandle>,
    store: Arc<dyn Store>,
    queue: usize,
    dedup_window: usize,
) -> (RouterHandle, tokio::task::JoinHandle<()>) {
    let index: HashMap<&str, usize> = sinks
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.name, i))
        .collect();
    let compiled = routes
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
        .collect();
    let (tx, rx) = mpsc::channel(queue.max(1));
    let stats = Arc::new(RouterStats::default());
    let (tail, _) = tokio::sync::broadcast::channel(4096);
    let router = Router {
        tail: tail.clone(),
        routes: compiled,
        sinks,
        store,
        dedup: HashMap::new(),
        dedup_window,
        decisions: HashMap::new(),
        last: LastStates::default(),
        stats: stats.clone(),
    };
    let task = tokio::spawn(router.run(rx));
    (
        RouterHandle {
            queue: tx,
            stats,
            tail,
        },
        task,
    )
}

/// For one (tenant, topic): the routes that want it and the sinks it goes to.
struct Decision {
    routes: Vec<usize>,
    sinks: Vec<usize>,
}

struct Router {
    tail: tokio::sync::broadcast::Sender<Tailed>,
    routes: Vec<Route>,
    sinks: Vec<SinkHandle>,
    store: Arc<dyn Store>,
    dedup: HashMap<Arc<str>, Dedup>,
    dedup_window: usize,
    /// (tenant, topic) → (routes that want it, sinks it goes to).
    decisions: HashMap<u64, Arc<Decision>>,
    last: LastStates,
    stats: Arc<RouterStats>,
}

impl Router {
    async fn run(mut self, mut rx: mpsc::Receiver<Inbound>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Inbound::Event {
                    tenant,
                    key,
                    json,
                    topic,
                } => self.event(tenant, key, json, topic).await,
                Inbound::Gap(gap) => self.gap(gap).await,
            }
        }
    }

    async fn event(
        &mut self,
        tenant: Arc<str>,
        key: u64,
        json: Vec<u8>,
        topic: std::ops::Range<usize>,
    ) {
        self.stats.events_in.fetch_add(1, Ordering::Relaxed);
        let window = self.dedup_window;
        let dedup = self
            .dedup
            .entry(tenant.clone())
            .or_insert_with(|| Dedup::new(window));
        if !dedup.first_time(key) {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.tail.receiver_count() > 0 {
            let _ = self.tail.send(Tailed {
                tenant: tenant.clone(),
                kind: RecordKind::Event,
                json: Bytes::copy_from_slice(&json),
            });
        }
        let topic = std::str::from_utf8(json.get(topic).unwrap_or_default()).unwrap_or_default();
        let topic_key = fnv1a(&[tenant.as_bytes(), topic.as_bytes()]);
        let decision = match self.decisions.get(&topic_key) {
            Some(d) => d.clone(),
            None => {
                let lower = topic.to_ascii_lowercase();
                let routes: Vec<usize> = (0..self.routes.len())
                    .filter(|&i| {
                        self.routes[i].wants_tenant(&tenant) && self.routes[i].wants_topic(&lower)
                    })
                    .collect();
                let mut sinks: Vec<usize> = routes
                    .iter()
                    .flat_map(|&i| self.routes[i].sinks.iter().copied())
                    .collect();
                sinks.sort_unstable();
                sinks.dedup();
                let d = Arc::new(Decision { routes, sinks });
                self.decisions.insert(topic_key, d.clone());
                d
            }
        };
        let Decision { routes, sinks } = &*decision;
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

    async fn gap(&mut self, gap: GapRecord) {
        self.stats.gaps.fetch_add(1, Ordering::Relaxed);
        let store = self.store.clone();
        let stored = gap.clone();
        tokio::spawn(async move {
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
