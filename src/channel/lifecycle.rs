//! The lifecycle of one channel, as one state machine.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Kept here for the paths that name it `channel::lifecycle::GapReason`; defined in [`crate::gap`].
pub use crate::gap::GapReason;

/// Where a [`super::ChannelActor`] is. Transitions:
/// - `Preparing` → `Connecting` (a channel exists and holds its topics) | `Backoff` | `Failed`
/// - `Connecting` → `Live` | `Backoff` | `Failed`
/// - `Live` → `Live` (socket handover on `socket_closing`, rollover to a new channel) | `Backoff` (socket lost)
///   | `Preparing` (the channel is gone)
/// - `Backoff` → `Preparing` | `Connecting` (after a HEAD says the channel still exists)
/// - `Failed` → `Preparing` (the slow retry)
/// - any → `Stopped`
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Lifecycle {
    /// Finding a channel: re-using a recorded one (HEAD) or creating one and subscribing its topics.
    Preparing,
    /// The channel holds its topics; opening the socket.
    Connecting,
    /// The socket is open and frames arrive.
    Live { since: DateTime<Utc> },
    /// Waiting before the next attempt.
    Backoff { attempt: u64, last_error: String },
    /// Too many failures in a row: retried on a slow cadence.
    Failed {
        reason: String,
        since: DateTime<Utc>,
        last_error: String,
    },
    /// Shut down on request.
    Stopped,
}

impl Lifecycle {
    /// Every [`Lifecycle::name`], in the order of the variants.
    pub const NAMES: [&'static str; 6] = crate::metrics::labels::CHANNEL_STATES;

    /// A short name for metrics and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Lifecycle::Preparing => "preparing",
            Lifecycle::Connecting => "connecting",
            Lifecycle::Live { .. } => "live",
            Lifecycle::Backoff { .. } => "backoff",
            Lifecycle::Failed { .. } => "failed",
            Lifecycle::Stopped => "stopped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lists_every_state_name() {
        let t = Utc::now();
        let every = [
            Lifecycle::Preparing,
            Lifecycle::Connecting,
            Lifecycle::Live { since: t },
            Lifecycle::Backoff {
                attempt: 1,
                last_error: String::new(),
            },
            Lifecycle::Failed {
                reason: String::new(),
                since: t,
                last_error: String::new(),
            },
            Lifecycle::Stopped,
        ];
        let names: Vec<&str> = every.iter().map(Lifecycle::name).collect();
        assert_eq!(names, Lifecycle::NAMES);
    }
}
