//! The simulated org: its divisions, users, queues and conversations, and how a spec shapes and
//! reshapes it. The entities live in `entities.rs`, the event generator in `generate.rs`, the
//! changes the control API makes in `changes.rs`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::GeneratedEvent;
use super::conversation::{Conversation, Phase};
use super::entities::{
    Division, OFFLINE, Queue, RoutingStatus, SEEDED_DIVISIONS, SYSTEM_PRESENCES, User, UserState,
    seeded_queue_name, seeded_user_name,
};
use super::spec::{Family, WorkloadSpec};

/// Conversations that may be in flight at once, whatever the org size.
const MAX_IN_FLIGHT: usize = 10_000;
/// Conversation ids announced ahead (see [`Org::topics_for`]).
pub(super) const UPCOMING_IDS: usize = 16;

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

/// The simulated org: divisions, users, queues, conversations, and the generator of their
/// notification events.
///
/// Invariants: there is at least one queue and one division; every user belongs to an existing
/// division and its queue memberships name existing queues; deleted users belong to no queue. Only
/// active users cause events.
///
/// Deterministic when the spec has a `seed`: the same spec and the same sequence of calls (with the
/// same `now` values) give the same ids and the same events.
pub struct Org {
    pub(super) rng: SmallRng,
    pub(super) families: Vec<Family>,
    pub(super) slots: Vec<Slot>,
    pub(super) event_size: Option<usize>,
    pub(super) max_conversations: usize,
    /// Never removed, so users and queues can hold them; the first is the home division.
    pub(super) divisions: Vec<Arc<Division>>,
    pub(super) presence_ids: Vec<String>,
    pub(super) wrapup_codes: Vec<(Arc<str>, Arc<str>)>,
    /// Every user, whatever its state, in creation order.
    pub(super) users: Vec<User>,
    pub(super) queues: Vec<Queue>,
    pub(super) user_index: HashMap<String, usize>,
    pub(super) queue_index: HashMap<String, usize>,
    /// Active users, the ones the generator draws from.
    pub(super) live: Vec<usize>,
    /// Active users not holding a conversation, in no particular order.
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
    /// User and queue indices sorted by name, as the platform lists them; built on first use after
    /// a change, so that paging through 25,000 users does not sort them on every page.
    pub(super) users_by_name: OnceLock<Vec<usize>>,
    pub(super) queues_by_name: OnceLock<Vec<usize>>,
}

impl fmt::Debug for Org {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Org")
            .field("families", &self.families)
            .field("divisions", &self.divisions.len())
            .field("users", &self.users.len())
            .field("active_users", &self.live.len())
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

impl Org {
    /// Builds an org of `spec.users` users and `spec.queues` queues with UUID ids (drawn from the
    /// seed when the spec has one), in three divisions (see [`Org::reshape`] for who goes where).
    /// The spec should have passed [`WorkloadSpec::validate`]; out-of-range counts are clamped.
    pub fn new(spec: &WorkloadSpec) -> Org {
        let mut rng = match spec.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_rng(&mut rand::rng()),
        };
        // Ids are drawn in the order they always were (home division, presences, wrap-up codes,
        // users, queues), so that a seed gives the ids it gave before divisions were added: configs
        // (deploy/compose) name them. The other seeded divisions draw from a stream of their own.
        let home = new_uuid(&mut rng);
        let mut side = SmallRng::seed_from_u64(home.as_u64_pair().0);
        let divisions = SEEDED_DIVISIONS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let id = if i == 0 {
                    home.hyphenated().to_string()
                } else {
                    new_id(&mut side)
                };
                Arc::new(Division {
                    id: Arc::from(id),
                    name: Arc::from(*name),
                })
            })
            .collect();
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
            divisions,
            presence_ids,
            wrapup_codes,
            users: Vec::new(),
            queues: Vec::new(),
            user_index: HashMap::new(),
            queue_index: HashMap::new(),
            live: Vec::new(),
            idle: Vec::new(),
            active: Vec::new(),
            history: VecDeque::new(),
            pending: VecDeque::new(),
            upcoming: VecDeque::new(),
            last_now: None,
            users_by_name: OnceLock::new(),
            queues_by_name: OnceLock::new(),
        };
        org.reshape(spec);
        org
    }

    /// Applies a new spec. `spec.users` counts user records whatever their state (deleted users
    /// stay listed, as on the platform); `spec.queues` counts queues. Existing users and queues
    /// keep their ids, divisions, states and memberships where the new counts allow; entities are
    /// added or removed at the end. A new queue `i` goes to division `i % 3` of the three seeded
    /// ones; a new user `i` is active, in the home division and a member of queue `i % queues`.
    /// A user whose every queue is removed joins queue `i % queues` in the same way.
    ///
    /// Conversations in flight whose queue or agent is removed end at once, silently (the customer
    /// is disconnected, no events). Events not yet handed out are dropped when their family is no
    /// longer active or their user or queue is gone. The seed of the new spec is ignored: the
    /// generator keeps its state. An unvalidated spec does not panic: counts are clamped and an
    /// empty family list means every family.
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

        // Queues go before users come, so that no new user joins a queue about to go.
        let mut joining = Vec::new();
        if queues < self.queues.len() {
            let gone: Vec<usize> = (queues..self.queues.len()).collect();
            joining = self.remove_queues(&gone);
        }
        if users < self.users.len() {
            self.truncate_users(users);
            joining.retain(|u| *u < users);
        }
        // User ids are drawn before queue ids, as they always were.
        while self.users.len() < users {
            let i = self.users.len();
            let id = new_id(&mut self.rng);
            let home = self.divisions[0].clone();
            self.user_index.insert(id.clone(), i);
            self.users
                .push(User::new(id, seeded_user_name(i), home, UserState::Active));
            joining.push(i);
        }
        while self.queues.len() < queues {
            let i = self.queues.len();
            let id = new_id(&mut self.rng);
            let division = self.divisions[i % SEEDED_DIVISIONS.len()].clone();
            self.queue_index.insert(id.clone(), i);
            self.queues
                .push(Queue::new(id, seeded_queue_name(i), division, i));
        }
        for u in joining {
            self.users[u].queues.push(u % queues);
        }

        while self.upcoming.len() < UPCOMING_IDS {
            let id = new_uuid(&mut self.rng);
            self.upcoming.push_back(id);
        }
        self.recount();
        self.trim_history();
    }

    /// Removes the queues at the `gone` indices (ascending): their calls in flight end silently,
    /// their pending events are dropped, memberships of them end. Returns the users left in no
    /// queue by it. The caller keeps at least one queue.
    pub(super) fn remove_queues(&mut self, gone: &[usize]) -> Vec<usize> {
        let mut dropped = vec![false; self.queues.len()];
        for &q in gone {
            if let Some(d) = dropped.get_mut(q) {
                *d = true;
            }
        }
        self.end_silently(|c| dropped.get(c.queue_index).copied().unwrap_or(true));
        let ids: HashSet<Arc<str>> = gone
            .iter()
            .filter_map(|q| self.queues.get(*q))
            .map(|q| q.shared_id.clone())
            .collect();
        self.drop_pending(&ids);

        let mut remap = Vec::with_capacity(dropped.len());
        let mut next = 0;
        for d in &dropped {
            remap.push((!d).then(|| {
                next += 1;
                next - 1
            }));
        }
        let mut i = 0;
        self.queues.retain(|_| {
            i += 1;
            !dropped[i - 1]
        });
        self.queue_index = self
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| (q.id.clone(), i))
            .collect();
        for c in &mut self.active {
            if let Some(Some(n)) = remap.get(c.queue_index) {
                c.queue_index = *n;
            }
        }
        let mut stranded = Vec::new();
        for (u, user) in self.users.iter_mut().enumerate() {
            let had = !user.queues.is_empty();
            user.queues = user
                .queues
                .iter()
                .filter_map(|q| remap.get(*q).copied().flatten())
                .collect();
            if had && user.queues.is_empty() {
                stranded.push(u);
            }
        }
        stranded
    }

    /// Removes every user from index `keep` on: their calls end silently, their pending events are
    /// dropped.
    fn truncate_users(&mut self, keep: usize) {
        self.end_silently(|c| {
            c.holds_agent() && c.agent.as_ref().is_some_and(|a| a.user_index >= keep)
        });
        let ids: HashSet<Arc<str>> = self.users[keep..]
            .iter()
            .map(|u| u.shared_id.clone())
            .collect();
        self.drop_pending(&ids);
        for u in &self.users[keep..] {
            self.user_index.remove(&u.id);
        }
        self.users.truncate(keep);
    }

    /// Drops the pending events whose topic names one of `ids` (a user or a queue).
    pub(super) fn drop_pending(&mut self, ids: &HashSet<Arc<str>>) {
        if ids.is_empty() {
            return;
        }
        self.pending
            .retain(|(_, e)| !e.topic.split('.').any(|segment| ids.contains(segment)));
    }

    /// Ends, silently, the conversations in flight that `orphan` picks: their agent is freed and
    /// every phase left on their path is stamped now.
    pub(super) fn end_silently(&mut self, orphan: impl Fn(&Conversation) -> bool) {
        let Some(now) = self.last_now else { return };
        let mut i = 0;
        while i < self.active.len() {
            if !orphan(&self.active[i]) {
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

    /// Takes users out of the active state's duties: their calls end silently, they go off queue
    /// and offline, and their pending events are dropped. The caller changes their state.
    pub(super) fn retire(&mut self, users: &[usize]) {
        let set: HashSet<usize> = users.iter().copied().collect();
        self.end_silently(|c| {
            c.holds_agent()
                && c.agent
                    .as_ref()
                    .is_some_and(|a| set.contains(&a.user_index))
        });
        let mut ids = HashSet::new();
        for &u in users {
            let user = &mut self.users[u];
            user.busy = false;
            user.presence = OFFLINE;
            if user.routing != RoutingStatus::OffQueue {
                user.routing = RoutingStatus::OffQueue;
                user.routing_since = self.last_now;
            }
            ids.insert(user.shared_id.clone());
        }
        self.drop_pending(&ids);
    }

    /// Recomputes the active and idle user lists, every queue counter and the name orders from
    /// the entities themselves. Called after every change to the org.
    pub(super) fn recount(&mut self) {
        for q in &mut self.queues {
            q.members = 0;
            q.waiting = 0;
            q.interacting = 0;
            q.idle_members = 0;
        }
        self.live.clear();
        self.idle.clear();
        for (i, u) in self.users.iter().enumerate() {
            for &q in &u.queues {
                self.queues[q].members += 1;
            }
            if !u.is_active() {
                continue;
            }
            self.live.push(i);
            if !u.busy {
                self.idle.push(i);
            }
            if u.routing == RoutingStatus::Idle {
                for &q in &u.queues {
                    self.queues[q].idle_members += 1;
                }
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
        self.users_by_name = OnceLock::new();
        self.queues_by_name = OnceLock::new();
    }

    /// Drops the oldest finished conversations beyond `max_conversations`.
    pub(super) fn trim_history(&mut self) {
        while !self.history.is_empty()
            && self.history.len() + self.active.len() > self.max_conversations
        {
            self.history.pop_front();
        }
    }

    /// How many conversations may be in flight at once: about three quarters of the active users,
    /// so that a queued call always finds a free agent.
    pub(super) fn in_flight_cap(&self) -> usize {
        (self.live.len() * 3 / 4)
            .max(1)
            .min(self.max_conversations)
            .min(MAX_IN_FLIGHT)
    }

    /// The users, whatever their state, in creation order.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// The queues, in creation order.
    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.queues.iter()
    }

    /// The divisions, the three seeded ones first.
    pub fn divisions(&self) -> impl Iterator<Item = &Division> {
        self.divisions.iter().map(|d| &**d)
    }

    /// The users, whatever their state, sorted by name (case ignored), then id.
    pub fn users_by_name(&self) -> impl DoubleEndedIterator<Item = &User> {
        let order = self.users_by_name.get_or_init(|| {
            let mut order: Vec<usize> = (0..self.users.len()).collect();
            order.sort_by_cached_key(|&i| (self.users[i].name.to_lowercase(), &self.users[i].id));
            order
        });
        order.iter().map(|&i| &self.users[i])
    }

    /// The queues sorted by name (case ignored), then id.
    pub fn queues_by_name(&self) -> impl DoubleEndedIterator<Item = &Queue> {
        let order = self.queues_by_name.get_or_init(|| {
            let mut order: Vec<usize> = (0..self.queues.len()).collect();
            order.sort_by_cached_key(|&i| (self.queues[i].name.to_lowercase(), &self.queues[i].id));
            order
        });
        order.iter().map(|&i| &self.queues[i])
    }

    /// The user with this id (any letter case), whatever its state.
    pub fn user(&self, id: &str) -> Option<&User> {
        let i = self.user_index.get(id.to_ascii_lowercase().as_str())?;
        self.users.get(*i)
    }

    /// The queue with this id (any letter case).
    pub fn queue(&self, id: &str) -> Option<&Queue> {
        let i = self.queue_index.get(id.to_ascii_lowercase().as_str())?;
        self.queues.get(*i)
    }

    /// The members of a queue sorted by name, then id; `None` for an unknown queue.
    pub fn members_of(&self, queue_id: &str) -> Option<impl DoubleEndedIterator<Item = &User>> {
        let q = *self
            .queue_index
            .get(queue_id.to_ascii_lowercase().as_str())?;
        Some(self.users_by_name().filter(move |u| u.queues.contains(&q)))
    }

    /// The ids of the queues a user is a member of, in the order joined.
    pub fn queue_ids_of<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a str> {
        user.queues
            .iter()
            .filter_map(|q| self.queues.get(*q))
            .map(|q| q.id.as_str())
    }

    /// The id of the presence definition the user shows now.
    pub fn presence_definition_id(&self, user: &User) -> &str {
        &self.presence_ids[user.presence]
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
    /// User topics are those of active users only.
    ///
    /// Detail-event topics name conversations, which come and go: the list covers the conversations
    /// in flight and the next 16 conversations to start (their ids are drawn ahead), each with every
    /// phase of its path (all seven for a conversation not yet started).
    pub fn topics_for(&self, family: Family) -> Vec<String> {
        if !self.families.contains(&family) {
            return Vec::new();
        }
        let users = || self.live.iter().map(|&u| &self.users[u]);
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
