//! A simulated inbound voice conversation and its lifecycle.
//!
//! An answered call goes through every [`Phase`] in order:
//! `customer.start → acd.start → user.start → acd.end (ANSWERED) → customer.end → user.end → wrapup`.
//! An abandoned call (the customer hangs up while queued) goes
//! `customer.start → acd.start → acd.end (ABANDON) → customer.end`.
//! Each phase is also the name of the detail-event topic the step is published on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The detail-event topic templates, in [`Phase::ALL`] order.
pub(super) const DETAIL_TEMPLATES: [&str; 7] = [
    "v2.detail.events.conversation.{id}.customer.start",
    "v2.detail.events.conversation.{id}.acd.start",
    "v2.detail.events.conversation.{id}.user.start",
    "v2.detail.events.conversation.{id}.acd.end",
    "v2.detail.events.conversation.{id}.customer.end",
    "v2.detail.events.conversation.{id}.user.end",
    "v2.detail.events.conversation.{id}.wrapup",
];

/// One step of a conversation's lifecycle; each is published on
/// `v2.detail.events.conversation.<conversationId>.<suffix>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// The customer's call arrives (`customer.start`).
    CustomerStart,
    /// The call enters the queue (`acd.start`).
    AcdStart,
    /// An agent is alerted (`user.start`).
    UserStart,
    /// The call leaves the queue, answered or abandoned (`acd.end`).
    AcdEnd,
    /// The customer hangs up (`customer.end`).
    CustomerEnd,
    /// The agent's leg ends (`user.end`).
    UserEnd,
    /// The agent submits the wrap-up code (`wrapup`).
    Wrapup,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 7] = [
        Phase::CustomerStart,
        Phase::AcdStart,
        Phase::UserStart,
        Phase::AcdEnd,
        Phase::CustomerEnd,
        Phase::UserEnd,
        Phase::Wrapup,
    ];

    /// The topic-name suffix, e.g. `acd.start`.
    pub fn suffix(self) -> &'static str {
        match self {
            Phase::CustomerStart => "customer.start",
            Phase::AcdStart => "acd.start",
            Phase::UserStart => "user.start",
            Phase::AcdEnd => "acd.end",
            Phase::CustomerEnd => "customer.end",
            Phase::UserEnd => "user.end",
            Phase::Wrapup => "wrapup",
        }
    }

    /// The phase whose suffix is `suffix` (compared case-insensitively).
    pub fn from_suffix(suffix: &str) -> Option<Phase> {
        Phase::ALL
            .into_iter()
            .find(|p| p.suffix().eq_ignore_ascii_case(suffix))
    }

    /// The catalogue template of this phase's topic.
    pub fn template(self) -> &'static str {
        DETAIL_TEMPLATES[self as usize]
    }
}

const ANSWERED_PATH: [Phase; 7] = Phase::ALL;
const ABANDONED_PATH: [Phase; 4] = [
    Phase::CustomerStart,
    Phase::AcdStart,
    Phase::AcdEnd,
    Phase::CustomerEnd,
];

/// The agent who took a conversation, fixed at `user.start`.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    /// The user's id.
    pub user_id: Arc<str>,
    /// The user's display name.
    pub user_name: Arc<str>,
    /// The agent participant's id.
    pub participant_id: Uuid,
    /// The agent leg's session (call) id.
    pub session_id: Uuid,
    /// Index of the user in the org; meaningful only while the conversation is in flight.
    pub(super) user_index: usize,
}

/// A simulated inbound voice conversation: who took part and when each [`Phase`] happened.
///
/// Built and advanced only by [`Org`](super::Org); read by the analytics query. Ids unique to the
/// conversation are [`Uuid`]s and shared ones `Arc<str>`, so that the 100,000 conversations kept by
/// default take about 50 MB.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    /// The conversation id.
    pub id: Uuid,
    /// The queue the call was routed through.
    pub queue_id: Arc<str>,
    /// That queue's name (the ACD participant's name).
    pub queue_name: Arc<str>,
    /// The division the conversation belongs to.
    pub division_id: Arc<str>,
    /// Caller number, as `tel:+1...`.
    pub ani: String,
    /// Dialled number, as `tel:+1...`.
    pub dnis: Arc<str>,
    /// The customer participant's id.
    pub customer_participant_id: Uuid,
    /// The customer leg's session id.
    pub customer_session_id: Uuid,
    /// The ACD (queue) participant's id.
    pub acd_participant_id: Uuid,
    /// The ACD leg's session id.
    pub acd_session_id: Uuid,
    /// The agent, from `user.start` on; `None` for a call still queued or abandoned.
    pub agent: Option<Agent>,
    /// Whether the customer hangs up while queued (decided when the call arrives).
    pub abandoned: bool,
    /// The wrap-up code `(id, name)` chosen at `wrapup`.
    pub wrapup_code: Option<(Arc<str>, Arc<str>)>,
    /// When each phase happened, indexed by `Phase as usize`.
    pub phase_times: [Option<DateTime<Utc>>; 7],
    /// Index of the queue in the org; meaningful only while the conversation is in flight.
    pub(super) queue_index: usize,
}

impl Conversation {
    /// The phases this conversation goes through, in order.
    pub fn path(&self) -> &'static [Phase] {
        if self.abandoned {
            &ABANDONED_PATH
        } else {
            &ANSWERED_PATH
        }
    }

    /// When `phase` happened, if it has.
    pub fn time(&self, phase: Phase) -> Option<DateTime<Utc>> {
        self.phase_times[phase as usize]
    }

    /// When the conversation started (`customer.start`).
    pub fn start(&self) -> DateTime<Utc> {
        self.time(Phase::CustomerStart)
            .expect("a conversation exists only once it has started")
    }

    /// When the last participant disconnected: `user.end` for an answered call, `customer.end` for an
    /// abandoned one; `None` while the call is live.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        if self.abandoned {
            self.time(Phase::CustomerEnd)
        } else {
            self.time(Phase::UserEnd)
        }
    }

    /// The last phase reached.
    pub fn last_phase(&self) -> Phase {
        *self
            .path()
            .iter()
            .rev()
            .find(|p| self.time(**p).is_some())
            .unwrap_or(&Phase::CustomerStart)
    }

    /// The next phase on its path, or `None` once the conversation is over.
    pub fn next_phase(&self) -> Option<Phase> {
        self.path()
            .iter()
            .copied()
            .find(|p| self.time(*p).is_none())
    }

    /// Whether every phase on its path has happened.
    pub fn is_finished(&self) -> bool {
        self.next_phase().is_none()
    }

    /// Whether the conversation is live for the agent (alerted, talking or in wrap-up).
    pub(super) fn holds_agent(&self) -> bool {
        self.agent.is_some() && self.time(Phase::Wrapup).is_none()
    }
}
