//! The org's entities: divisions, users, queues, and their states.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The system presences a user can show, as the platform spells them.
pub(super) const SYSTEM_PRESENCES: [&str; 9] = [
    "Available",
    "Away",
    "Busy",
    "Offline",
    "On Queue",
    "Break",
    "Meal",
    "Meeting",
    "Training",
];
/// Index of `Offline` in [`SYSTEM_PRESENCES`].
pub(super) const OFFLINE: usize = 3;
/// Index of `On Queue` in [`SYSTEM_PRESENCES`].
pub(super) const ON_QUEUE: usize = 4;

/// The divisions every org starts with; the first is the home division, where users are created.
pub(super) const SEEDED_DIVISIONS: [&str; 3] = ["Home", "North America", "Europe"];

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

/// The name the `i`-th user of an org gets when none is given: unique within the org.
pub(super) fn seeded_user_name(i: usize) -> String {
    let name = format!("{} {}", FIRST_NAMES[i % 20], LAST_NAMES[i / 20 % 20]);
    if i >= 400 {
        format!("{name} {}", i / 400 + 1)
    } else {
        name
    }
}

/// The name the `i`-th queue of an org gets when none is given.
pub(super) fn seeded_queue_name(i: usize) -> String {
    let base = QUEUE_NAMES[i % QUEUE_NAMES.len()];
    if i < QUEUE_NAMES.len() {
        base.to_owned()
    } else {
        format!("{base} {}", i / QUEUE_NAMES.len() + 1)
    }
}

/// A division: the platform scopes permissions by it, and every user and queue belongs to one.
#[derive(Debug, PartialEq, Eq)]
pub struct Division {
    /// The division id (a lower-case UUID).
    pub id: Arc<str>,
    pub name: Arc<str>,
}

/// A user's account state, as the platform's `User.state`. Only active users take calls and change
/// presence, so only they cause events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    Active,
    Inactive,
    /// Deleted users stay listed (`GET /api/v2/users?state=deleted`) but belong to no queue.
    Deleted,
}

impl UserState {
    /// The platform's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Inactive => "inactive",
            UserState::Deleted => "deleted",
        }
    }
}

/// A user's ACD routing status, as published on `v2.users.{id}.routingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoutingStatus {
    /// Not on queue.
    OffQueue,
    /// On queue and free for an interaction.
    Idle,
    /// Alerted by or handling an interaction.
    Interacting,
    /// Did not answer an alert.
    NotResponding,
    /// On a non-ACD interaction.
    Communicating,
}

impl RoutingStatus {
    /// The platform's spelling, e.g. `OFF_QUEUE`.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStatus::OffQueue => "OFF_QUEUE",
            RoutingStatus::Idle => "IDLE",
            RoutingStatus::Interacting => "INTERACTING",
            RoutingStatus::NotResponding => "NOT_RESPONDING",
            RoutingStatus::Communicating => "COMMUNICATING",
        }
    }
}

fn topic(prefix: &str, id: &str, suffix: &str) -> Arc<str> {
    let mut s = String::with_capacity(prefix.len() + id.len() + suffix.len());
    s.push_str(prefix);
    s.push_str(id);
    s.push_str(suffix);
    Arc::from(s)
}

/// A simulated user (agent) with the topics it publishes on.
#[derive(Clone, Debug)]
pub struct User {
    /// The user id (a lower-case UUID).
    pub id: String,
    /// The display name.
    pub name: String,
    pub(super) state: UserState,
    pub(super) division: Arc<Division>,
    /// Bumped whenever the user's listed fields change, as the platform's `version`.
    pub(super) version: u32,
    /// Indices of the queues the user is a member of, in the order joined.
    pub(super) queues: Vec<usize>,
    pub(super) presence: usize,
    pub(super) routing: RoutingStatus,
    pub(super) routing_since: Option<DateTime<Utc>>,
    pub(super) busy: bool,
    pub(super) shared_id: Arc<str>,
    pub(super) shared_name: Arc<str>,
    pub(super) topic_presence: Arc<str>,
    pub(super) topic_routing: Arc<str>,
    pub(super) topic_conversations: Arc<str>,
}

impl User {
    /// A user on queue and idle, member of no queue yet.
    pub(super) fn new(id: String, name: String, division: Arc<Division>, state: UserState) -> User {
        User {
            topic_presence: topic("v2.users.", &id, ".presence"),
            topic_routing: topic("v2.users.", &id, ".routingStatus"),
            topic_conversations: topic("v2.users.", &id, ".conversations"),
            shared_id: Arc::from(id.as_str()),
            shared_name: Arc::from(name.as_str()),
            id,
            name,
            state,
            division,
            version: 1,
            queues: Vec::new(),
            presence: if state == UserState::Active {
                ON_QUEUE
            } else {
                OFFLINE
            },
            routing: if state == UserState::Active {
                RoutingStatus::Idle
            } else {
                RoutingStatus::OffQueue
            },
            routing_since: None,
            busy: false,
        }
    }

    /// The current system presence, e.g. `On Queue`.
    pub fn system_presence(&self) -> &'static str {
        SYSTEM_PRESENCES[self.presence]
    }

    /// The current routing status.
    pub fn routing_status(&self) -> RoutingStatus {
        self.routing
    }

    /// When the routing status last changed, if it has since the user was created.
    pub fn routing_since(&self) -> Option<DateTime<Utc>> {
        self.routing_since
    }

    pub fn state(&self) -> UserState {
        self.state
    }

    pub fn division(&self) -> &Division {
        &self.division
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether the user may cause events (only active users do).
    pub(super) fn is_active(&self) -> bool {
        self.state == UserState::Active
    }
}

/// A simulated routing queue with its live counters and the topics it publishes on.
#[derive(Clone, Debug)]
pub struct Queue {
    /// The queue id (a lower-case UUID).
    pub id: String,
    /// The display name.
    pub name: String,
    pub(super) division: Arc<Division>,
    pub(super) shared_id: Arc<str>,
    pub(super) shared_name: Arc<str>,
    pub(super) dnis: Arc<str>,
    /// Users that are members, whatever their state (recounted after every change).
    pub(super) members: u32,
    pub(super) waiting: u32,
    pub(super) interacting: u32,
    pub(super) idle_members: u32,
    pub(super) topic_conversations: Arc<str>,
    pub(super) topic_observations: Arc<str>,
}

impl Queue {
    /// A queue with no member and no call. `line` picks its dialled number.
    pub(super) fn new(id: String, name: String, division: Arc<Division>, line: usize) -> Queue {
        Queue {
            topic_conversations: topic("v2.routing.queues.", &id, ".conversations"),
            topic_observations: topic("v2.analytics.queues.", &id, ".observations"),
            shared_id: Arc::from(id.as_str()),
            shared_name: Arc::from(name.as_str()),
            id,
            name,
            division,
            dnis: Arc::from(format!("tel:+1800555{:04}", line % 10_000)),
            members: 0,
            waiting: 0,
            interacting: 0,
            idle_members: 0,
        }
    }

    /// Conversations waiting in the queue now (`oWaiting`).
    pub fn waiting(&self) -> u32 {
        self.waiting
    }

    /// Conversations answered from the queue and still connected (`oInteracting`).
    pub fn interacting(&self) -> u32 {
        self.interacting
    }

    pub fn division(&self) -> &Division {
        &self.division
    }

    /// How many users are members of the queue.
    pub fn member_count(&self) -> u32 {
        self.members
    }
}
