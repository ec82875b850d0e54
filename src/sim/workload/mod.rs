//! The simulated org and its workload of realistic notification events.
//!
//! - [`spec`]: [`WorkloadSpec`] (how big, how fast, which [`Family`]s) and its validation.
//! - [`org`]: [`Org`]; building and reshaping it. `entities`: its [`Division`]s, [`User`]s and
//!   [`Queue`]s. [`changes`]: what the control API changes in it while it runs.
//! - `generate`: [`Org::next_event`] and [`Org::event_for_topic`], the event generator.
//! - [`conversation`]: a [`Conversation`] and its lifecycle [`Phase`]s.
//! - `bodies`: the `eventBody` writers, shaped as the platform sends them.
//!
//! Everything here is pure: no I/O, no clock (the caller passes `now`), no pacing (the caller calls
//! [`Org::next_event`] at [`WorkloadSpec::rate_per_second`]).

use std::sync::Arc;

mod bodies;
pub mod changes;
pub mod conversation;
mod entities;
mod generate;
pub mod org;
pub mod spec;

#[cfg(test)]
mod tests;

pub use changes::ChangeError;
pub use conversation::{Agent, Conversation, Phase};
pub use entities::{Division, Queue, RoutingStatus, User, UserState};
pub use org::Org;
pub use spec::{Family, WorkloadSpec};

/// One generated notification, before the caller wraps it into a socket frame
/// (`{"topicName","version":"2","eventBody","metadata":{"CorrelationId"}}`) and gives it a sequence
/// number and a CorrelationId.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedEvent {
    /// The topic name, e.g. `v2.users.<uuid>.presence`: catalogue spelling (`routingStatus` keeps
    /// its capital), lower-case ids, as the platform sends it. Shared with every other event on the
    /// same topic.
    pub topic: Arc<str>,
    /// The raw JSON object text of `eventBody`.
    pub event_body: String,
}
