//! The simulated platform's state: OAuth clients and tokens, channels and their subscriptions, open sockets,
//! the org's workload and the ledger. One lock guards it; every operation holds it briefly and never awaits.

mod auth;
mod channels;
mod clock;
mod fanout;
mod faults;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, MutexGuard};

pub use auth::Caller;
pub use channels::{ChannelView, IncludeChannels, SubscribeMode, TopicResult};
pub use faults::{FaultKind, FaultRequest, FaultResult, MalformedVariant};

use super::config::{ClientSpec, SimConfig};
use super::ledger::Ledger;
use super::socket::link::SocketLink;
use super::stats::Stats;
use super::workload::{Org, WorkloadSpec};
use crate::topics::{Catalogue, TopicPattern};

/// The simulator: configuration, counters and the locked state. Shared as `Arc<Sim>` by every task.
pub struct Sim {
    pub config: SimConfig,
    pub stats: Stats,
    pub catalogue: &'static Catalogue,
    state: Mutex<State>,
    next_conn_id: AtomicU64,
    started: Instant,
}

struct Client {
    spec: ClientSpec,
    denied: Vec<TopicPattern>,
}

struct Token {
    client_id: Arc<str>,
    expires_at: DateTime<Utc>,
    revoked: bool,
    /// Instants of the requests inside the current rate window, oldest first.
    window: VecDeque<Instant>,
}

struct Channel {
    id: Arc<str>,
    client_id: Arc<str>,
    token: Arc<str>,
    connect_uri: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used: Instant,
    /// Permitted subscriptions, in the order they were made.
    subscriptions: Vec<Subscription>,
    socket: Option<SocketLink>,
}

#[derive(Clone)]
struct Subscription {
    /// The id as the client sent it (possibly the combined form).
    id: String,
    /// The individual lower-case topic names it covers.
    expanded: Vec<String>,
}

/// A socket-level action due at a given time (the close after `socket_closing`).
struct Scheduled {
    due: Instant,
    channel: Arc<str>,
    conn_id: u64,
}

/// A REST fault in force until `until` (and, with `remaining`, for that many more matching requests).
#[derive(Debug, Clone)]
struct RestFault {
    kind: FaultKind,
    client: Option<String>,
    until: Instant,
    latency: std::time::Duration,
    status: u16,
    /// Upper-case method the fault is limited to.
    method: Option<String>,
    /// Lower-case text the request path must contain.
    path: Option<String>,
    /// Matching requests left to affect; `None`: every one until `until`.
    remaining: Option<u32>,
}

impl RestFault {
    fn matches(&self, client_id: &str, method: &str, path: &str) -> bool {
        self.client.as_deref().is_none_or(|c| c == client_id)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path
                .as_deref()
                .is_none_or(|p| path.to_ascii_lowercase().contains(p))
    }
}

struct State {
    clients: HashMap<String, Client>,
    tokens: HashMap<Arc<str>, Token>,
    channels: HashMap<Arc<str>, Channel>,
    /// Lower-case topic name → channels with a permitted subscription to it.
    topic_index: HashMap<String, Vec<Arc<str>>>,
    ledger: Ledger,
    org: Org,
    workload: WorkloadSpec,
    rest_faults: Vec<RestFault>,
    scheduled: Vec<Scheduled>,
    /// No channel or token expires before this: the clock skips its scan until then.
    next_expiry: DateTime<Utc>,
}

impl State {
    /// Notes a new expiry time so the clock does not sleep past it.
    fn expires_at(&mut self, t: DateTime<Utc>) {
        if t < self.next_expiry {
            self.next_expiry = t;
        }
    }
}

impl Sim {
    pub fn new(config: SimConfig) -> Arc<Sim> {
        let mut clients = HashMap::new();
        for spec in &config.clients {
            clients.insert(spec.client_id.clone(), Client::new(spec.clone()));
        }
        let state = State {
            clients,
            tokens: HashMap::new(),
            channels: HashMap::new(),
            topic_index: HashMap::new(),
            ledger: Ledger::new(config.ledger_capacity),
            org: Org::new(&config.workload),
            workload: config.workload.clone(),
            rest_faults: Vec::new(),
            scheduled: Vec::new(),
            next_expiry: DateTime::<Utc>::MAX_UTC,
        };
        Arc::new(Sim {
            stats: Stats::default(),
            catalogue: Catalogue::shipped(),
            state: Mutex::new(state),
            next_conn_id: AtomicU64::new(1),
            started: Instant::now(),
            config,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Time since the simulator started.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Number of channels that exist now.
    pub fn channel_count(&self) -> usize {
        self.lock().channels.len()
    }

    pub fn stats_snapshot(&self) -> super::stats::StatsSnapshot {
        let open = self.channel_count() as u64;
        self.stats.snapshot(open)
    }

    pub fn ledger_page(&self, filter: &super::ledger::LedgerFilter) -> super::ledger::LedgerPage {
        self.lock().ledger.query(filter)
    }

    /// The current workload.
    pub fn workload(&self) -> WorkloadSpec {
        self.lock().workload.clone()
    }

    /// Replaces the workload; entities that exist in both keep their ids.
    pub fn set_workload(&self, spec: WorkloadSpec) -> Result<(), String> {
        spec.validate()?;
        let mut st = self.lock();
        st.org.reshape(&spec);
        st.workload = spec;
        Ok(())
    }

    /// Runs `f` with the org model (for the analytics query and the listings).
    pub fn with_org<R>(&self, f: impl FnOnce(&Org) -> R) -> R {
        f(&self.lock().org)
    }

    /// Changes the org through `f` (the control API's changes). The workload's `users` and `queues` follow
    /// the org's counts, so that a later partial change of the workload (`{"ratePerSecond": ...}`) keeps
    /// what `f` did instead of reshaping back to the old counts.
    pub fn change_org<R>(&self, f: impl FnOnce(&mut Org) -> R) -> R {
        let mut st = self.lock();
        let st = &mut *st;
        let result = f(&mut st.org);
        st.workload.users = st.org.users().count();
        st.workload.queues = st.org.queues().count();
        result
    }
}

impl Client {
    fn new(spec: ClientSpec) -> Client {
        let denied = spec
            .denied_topic_patterns
            .iter()
            .map(|p| TopicPattern::new(p))
            .collect();
        Client { spec, denied }
    }
}

/// A random channel id in the platform's shape: `streaming-0-` and 26 lower-case letters and digits.
fn new_channel_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut id = String::with_capacity(38);
    id.push_str("streaming-0-");
    for _ in 0..26 {
        id.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    id
}

fn new_correlation_id() -> Arc<str> {
    uuid::Uuid::new_v4().to_string().into()
}
