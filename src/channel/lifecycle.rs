//! The lifecycle of one channel, as one state machine.

use chrono::{DateTime, Utc};
use serde::Serialize;

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
    pub const NAMES: [&'static str; 6] = [
        "preparing",
        "connecting",
        "live",
        "backoff",
        "failed",
        "stopped",
    ];

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

/// Why continuity was lost; the `reason` of a gap record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// No frame for longer than the heartbeat timeout while TCP stayed open.
    HeartbeatTimeout,
    /// The socket closed or failed without warning.
    SocketLost,
    /// The platform said the channel is gone (`no_longer_subscribed`, a 404, expiry).
    ChannelLost,
    /// The token was revoked: its channels died with it.
    TokenRevoked,
    /// The process was not running (restart).
    Restart,
    /// A panic in the channel's own code.
    Crash,
}

impl GapReason {
    /// Every reason, in the order of the variants.
    pub const ALL: [GapReason; 6] = [
        GapReason::HeartbeatTimeout,
        GapReason::SocketLost,
        GapReason::ChannelLost,
        GapReason::TokenRevoked,
        GapReason::Restart,
        GapReason::Crash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::HeartbeatTimeout => "heartbeat_timeout",
            GapReason::SocketLost => "socket_lost",
            GapReason::ChannelLost => "channel_lost",
            GapReason::TokenRevoked => "token_revoked",
            GapReason::Restart => "restart",
            GapReason::Crash => "crash",
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
