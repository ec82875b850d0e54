//! The org's entities: users, queues, and their presence and routing states.

use std::sync::Arc;

use chrono::{DateTime, Utc};

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
/// Index of `On Queue` in [`SYSTEM_PRESENCES`].
pub(super) const ON_QUEUE: usize = 4;

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

/// A simulated user (agent) with the topics it publishes on.
#[derive(Clone, Debug)]
pub struct User {
    /// The user id (a lower-case UUID).
    pub id: String,
    /// The display name.
    pub name: String,
    pub(super) presence: usize,
    pub(super) routing: RoutingStatus,
    pub(super) routing_since: Option<DateTime<Utc>>,
    pub(super) home_queue: usize,
    pub(super) busy: bool,
    pub(super) shared_id: Arc<str>,
    pub(super) shared_name: Arc<str>,
    pub(super) topic_presence: Arc<str>,
    pub(super) topic_routing: Arc<str>,
    pub(super) topic_conversations: Arc<str>,
}

impl User {
    /// The current system presence, e.g. `On Queue`.
    pub fn system_presence(&self) -> &'static str {
        SYSTEM_PRESENCES[self.presence]
    }

    /// The current routing status.
    pub fn routing_status(&self) -> RoutingStatus {
        self.routing
    }
}

/// A simulated routing queue with its live counters and the topics it publishes on.
#[derive(Clone, Debug)]
pub struct Queue {
    /// The queue id (a lower-case UUID).
    pub id: String,
    /// The display name.
    pub name: String,
    pub(super) shared_id: Arc<str>,
    pub(super) shared_name: Arc<str>,
    pub(super) dnis: Arc<str>,
    pub(super) waiting: u32,
    pub(super) interacting: u32,
    pub(super) idle_members: u32,
    pub(super) topic_conversations: Arc<str>,
    pub(super) topic_observations: Arc<str>,
}

impl Queue {
    /// Conversations waiting in the queue now (`oWaiting`).
    pub fn waiting(&self) -> u32 {
        self.waiting
    }

    /// Conversations answered from the queue and still connected (`oInteracting`).
    pub fn interacting(&self) -> u32 {
        self.interacting
    }
}
