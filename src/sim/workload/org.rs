//! The simulated org: its users, queues and conversations, and how a spec shapes and reshapes it.
//! The entities live in `entities.rs`, the event generator in `generate.rs`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::GeneratedEvent;
use super::conversation::{Conversation, Phase};
use super::entities::{ON_QUEUE, Queue, RoutingStatus, SYSTEM_PRESENCES, User};
use super::spec::{Family, WorkloadSpec};

/// Conversations that may be in flight at once, whatever the org size.
const MAX_IN_FLIGHT: usize = 10_000;
/// Conversation ids announced ahead (see [`Org::topics_for`]).
pub(super) const UPCOMING_IDS: usize = 16;

const FIRST_NAMES: [&str; 20] = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James",
    "Mia", "William", "Amelia", "Benjamin", "Harper", "Lucas", "Evelyn", "Henry", "Abigail",
    "Theo",
];
const LAST_NAMES: [&str; 20] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
];
const QUEUE_NAMES: [&str; 8] = [
    "Support",
    "Sales",
    "Billing",
    "Technical Support",
    "Retention",
    "Onboarding",
    "Claims",
    "Returns",
];
const WRAPUP_CODES: [&str; 6] = [
    "Resolved",
    "Follow-up Required",
    "Escalated",
    "Sale",
    "No Sale",
    "Callback Scheduled",
];

/// What a uniform draw over the active families lands on.
#[derive(Clone, Copy, Debug)]
pub(super) enum Slot {
    Presence,
    Routing,
    Observations,
    /// One of the conversation families: the next step of the conversation lifecycle.
    Conversation,
}

/// The simulated org: users, queues, conversations, and the generator of their notification events.
///
/// Deterministic when the spec has a `seed`: the same spec and the same sequence of calls (with the
/// same `now` values) give the same ids and the same events.
pub struct Org {
    pub(super) rng: SmallRng,
    pub(super) families: Vec<Family>,
    pub(super) slots: Vec<Slot>,
    pub(super) event_size: Option<usize>,
    pub(super) max_conversations: usize,
    pub(super) division_id: Arc<str>,
    pub(super) presence_ids: Vec<String>,
    pub(super) wrapup_codes: Vec<(Arc<str>, Arc<str>)>,
    pub(super) users: Vec<User>,
    pub(super) queues: Vec<Queue>,
    pub(super) user_index: HashMap<String, usize>,
    pub(super) queue_index: HashMap<String, usize>,
    /// Users not holding a conversation, in no particular order.
    pub(super) idle: Vec<usize>,
    /// Conversations in flight.
    pub(super) active: Vec<Conversation>,
    /// Finished conversations, oldest first.
    pub(super) history: VecDeque<Conversation>,
    /// Events caused by a lifecycle step and not yet handed out, in causal order.
    pub(super) pending: VecDeque<(Family, GeneratedEvent)>,
    /// Ids the next conversations will get.
    pub(super) upcoming: VecDeque<Uuid>,
    pub(super) last_now: Option<DateTime<Utc>>,
}

impl fmt::Debug for Org {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Org")
            .field("families", &self.families)
            .field("users", &self.users.len())
            .field("queues", &self.queues.len())
            .field("active_conversations", &self.active.len())
            .field("finished_conversations", &self.history.len())
            .field("pending_events", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// A fresh (version 4) UUID drawn from `rng`.
pub(super) fn new_uuid(rng: &mut SmallRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// A fresh UUID drawn from `rng`, as lower-case text.
pub(super) fn new_id(rng: &mut SmallRng) -> String {
    let mut buf = [0u8; 36];
    new_uuid(rng).hyphenated().encode_lower(&mut buf).to_owned()
}

fn topic(prefix: &str, id: &str, suffix: &str) -> Arc<str> {
    let mut s = String::with_capacity(prefix.len() + id.len() + suffix.len());
    s.push_str(prefix);
    s.push_str(id);
    s.push_str(suffix);
    Arc::from(s)
}

impl Org {
    /// Builds an org of `spec.users` users and `spec.queues` queues with UUID ids (drawn from the
    /// seed when the spec has one). The spec should have passed [`WorkloadSpec::validate`]; out-of-range
    /// counts are clamped.
    pub fn new(spec: &WorkloadSpec) -> Org {
        let mut rng = match spec.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_rng(&mut rand::rng()),
        };
        let division_id = Arc::from(new_id(&mut rng));
        let presence_ids = SYSTEM_PRESENCES.iter().map(|_| new_id(&mut rng)).collect();
        let wrapup_codes = WRAPUP_CODES
            .iter()
            .map(|name| (Arc::from(new_id(&mut rng)), Arc::from(*name)))
            .collect();
        let mut org = Org {
            rng,
            families: Vec::new(),
            slots: Vec::new(),
            event_size: None,
            max_conversations: 1,
            division_id,
            presence_ids,
            wrapup_codes,
            users: Vec::new(),
            queues: Vec::new(),
            user_index: HashMap::new(),
            queue_index: HashMap::new(),
            idle: Vec::new(),
            active: Vec::new(),
            history: VecDeque::new(),
            pending: VecDeque::new(),
            upcoming: VecDeque::new(),
            last_now: None,
        };
        org.reshape(spec);
        org
    }

    /// Applies a new spec. Existing users and queues keep their ids where the new counts allow;
    /// entities are added or removed at the end. Conversations in flight whose queue or agent is
    /// removed end at once, silently (the customer is disconnected, no events). Events not yet
    /// handed out are dropped when their family is no longer active or their user or queue is gone.
    /// The seed of the new spec is ignored: the generator keeps its state. An unvalidated spec does
    /// not panic: counts are clamped and an empty family list means every family.
    pub fn reshape(&mut self, spec: &WorkloadSpec) {
        self.families.clear();
        let wanted = if spec.families.is_empty() {
            &Family::ALL[..]
        } else {
            &spec.families[..]
        };
        for f in wanted {
            if !self.families.contains(f) {
                self.families.push(*f);
            }
        }
        self.slots = self
            .families
            .iter()
            .map(|f| match f {
                Family::Presence => Slot::Presence,
                Family::RoutingStatus => Slot::Routing,
                Family::QueueObservations => Slot::Observations,
                _ => Slot::Conversation,
            })
            .collect();
        self.event_size = spec.event_size_bytes;
        self.max_conversations = spec.max_conversations.max(1);
        let families = self.families.clone();
        self.pending.retain(|(f, _)| families.contains(f));

        let users = spec.users.clamp(1, super::spec::MAX_USERS);
        let queues = spec.queues.clamp(1, super::spec::MAX_QUEUES);
        self.end_orphans(users, queues);

        let mut gone: Vec<Arc<str>> = Vec::new();
        for i in users..self.users.len() {
            self.user_index.remove(&self.users[i].id);
            gone.push(self.users[i].shared_id.clone());
        }
        for i in queues..self.queues.len() {
            gone.push(self.queues[i].shared_id.clone());
        }
        if !gone.is_empty() {
            self.pending
                .retain(|(_, e)| !gone.iter().any(|id| e.topic.contains(&**id)));
        }
        self.users.truncate(users);
        while self.users.len() < users {
            let i = self.users.len();
            let id = new_id(&mut self.rng);
            let mut name = format!("{} {}", FIRST_NAMES[i % 20], LAST_NAMES[i / 20 % 20]);
            if i >= 400 {
                name = format!("{name} {}", i / 400 + 1);
            }
            self.user_index.insert(id.clone(), i);
            self.users.push(User {
                topic_presence: topic("v2.users.", &id, ".presence"),
                topic_routing: topic("v2.users.", &id, ".routingStatus"),
                topic_conversations: topic("v2.users.", &id, ".conversations"),
                shared_id: Arc::from(id.as_str()),
                shared_name: Arc::from(name.as_str()),
                id,
                name,
                presence: ON_QUEUE,
                routing: RoutingStatus::Idle,
                routing_since: None,
                home_queue: 0,
                busy: false,
            });
        }

        for i in queues..self.queues.len() {
            self.queue_index.remove(&self.queues[i].id);
        }
        self.queues.truncate(queues);
        while self.queues.len() < queues {
            let i = self.queues.len();
            let id = new_id(&mut self.rng);
            let base = QUEUE_NAMES[i % QUEUE_NAMES.len()];
            let name = if i < QUEUE_NAMES.len() {
                base.to_owned()
            } else {
                format!("{base} {}", i / QUEUE_NAMES.len() + 1)
            };
            self.queue_index.insert(id.clone(), i);
            self.queues.push(Queue {
                topic_conversations: topic("v2.routing.queues.", &id, ".conversations"),
                topic_observations: topic("v2.analytics.queues.", &id, ".observations"),
                shared_id: Arc::from(id.as_str()),
                shared_name: Arc::from(name.as_str()),
                id,
                name,
                dnis: Arc::from(format!("tel:+1800555{:04}", i % 10_000)),
                waiting: 0,
                interacting: 0,
                idle_members: 0,
            });
        }

        while self.upcoming.len() < UPCOMING_IDS {
            let id = new_uuid(&mut self.rng);
            self.upcoming.push_back(id);
        }
        self.recount();
        self.trim_history();
    }

    /// Ends, silently, the conversations in flight that refer to a user or queue about to go.
    fn end_orphans(&mut self, users: usize, queues: usize) {
        let Some(now) = self.last_now else { return };
        let mut i = 0;
        while i < self.active.len() {
            let c = &self.active[i];
            let orphan = c.queue_index >= queues
                || c.holds_agent() && c.agent.as_ref().is_some_and(|a| a.user_index >= users);
            if !orphan {
                i += 1;
                continue;
            }
            let mut c = self.active.swap_remove(i);
            if c.agent.is_none() {
                c.abandoned = true;
            } else if c.wrapup_code.is_none() {
                c.wrapup_code = Some(self.wrapup_codes[0].clone());
            }
            for p in c.path() {
                let slot = &mut c.phase_times[*p as usize];
                slot.get_or_insert(now);
            }
            if let Some(a) = &c.agent
                && let Some(u) = self.users.get_mut(a.user_index)
            {
                u.busy = false;
                u.routing = RoutingStatus::Idle;
                u.routing_since = Some(now);
            }
            self.history.push_back(c);
        }
    }

    /// Recomputes the idle-user list and every queue counter from the entities themselves.
    fn recount(&mut self) {
        let queues = self.queues.len();
        for q in &mut self.queues {
            q.waiting = 0;
            q.interacting = 0;
            q.idle_members = 0;
        }
        self.idle.clear();
        for (i, u) in self.users.iter_mut().enumerate() {
            u.home_queue = i % queues;
            if !u.busy {
                self.idle.push(i);
            }
            if u.routing == RoutingStatus::Idle {
                self.queues[u.home_queue].idle_members += 1;
            }
        }
        for c in &self.active {
            let q = &mut self.queues[c.queue_index];
            if c.time(Phase::AcdStart).is_some() && c.time(Phase::AcdEnd).is_none() {
                q.waiting += 1;
            }
            if !c.abandoned && c.time(Phase::AcdEnd).is_some() && c.time(Phase::UserEnd).is_none() {
                q.interacting += 1;
            }
        }
    }

    /// Drops the oldest finished conversations beyond `max_conversations`.
    pub(super) fn trim_history(&mut self) {
        while !self.history.is_empty()
            && self.history.len() + self.active.len() > self.max_conversations
        {
            self.history.pop_front();
        }
    }

    /// How many conversations may be in flight at once: about three quarters of the users, so that
    /// a queued call always finds a free agent.
    pub(super) fn in_flight_cap(&self) -> usize {
        (self.users.len() * 3 / 4)
            .max(1)
            .min(self.max_conversations)
            .min(MAX_IN_FLIGHT)
    }

    /// The users, in creation order.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// The queues, in creation order.
    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.queues.iter()
    }

    /// The active families, in the spec's order without duplicates.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Every conversation kept: the finished ones (oldest first), then those in flight.
    pub fn conversations(&self) -> impl Iterator<Item = &Conversation> {
        self.history.iter().chain(self.active.iter())
    }

    /// The exact topic names this org can emit for `family`, empty when the family is not active.
    ///
    /// Detail-event topics name conversations, which come and go: the list covers the conversations
    /// in flight and the next 16 conversations to start (their ids are drawn ahead), each with every
    /// phase of its path (all seven for a conversation not yet started).
    pub fn topics_for(&self, family: Family) -> Vec<String> {
        if !self.families.contains(&family) {
            return Vec::new();
        }
        let users = || self.users.iter();
        let queues = || self.queues.iter();
        match family {
            Family::Presence => users().map(|u| u.topic_presence.to_string()).collect(),
            Family::RoutingStatus => users().map(|u| u.topic_routing.to_string()).collect(),
            Family::UserConversations => {
                users().map(|u| u.topic_conversations.to_string()).collect()
            }
            Family::QueueConversations => queues()
                .map(|q| q.topic_conversations.to_string())
                .collect(),
            Family::QueueObservations => {
                queues().map(|q| q.topic_observations.to_string()).collect()
            }
            Family::DetailEvents => {
                let active = self.active.iter().map(|c| (&c.id, c.path()));
                let upcoming = self.upcoming.iter().map(|id| (id, &Phase::ALL[..]));
                active
                    .chain(upcoming)
                    .flat_map(|(id, path)| path.iter().map(move |p| detail_topic(id, *p)))
                    .collect()
            }
        }
    }
}

/// `v2.detail.events.conversation.<id>.<phase>`.
pub(super) fn detail_topic(conversation_id: &Uuid, phase: Phase) -> String {
    const PREFIX: &str = "v2.detail.events.conversation.";
    let suffix = phase.suffix();
    let mut s = String::with_capacity(PREFIX.len() + 36 + 1 + suffix.len());
    s.push_str(PREFIX);
    let mut buf = [0u8; 36];
    s.push_str(conversation_id.hyphenated().encode_lower(&mut buf));
    s.push('.');
    s.push_str(suffix);
    s
}
