//! Where a channel is, with the data that belongs to that phase. The reported [`Lifecycle`] is derived from
//! it; the allowed transitions are written down once, in [`Phase::may_become`].

use std::time::Duration;

use actix::SpawnHandle;
use chrono::{DateTime, Utc};
use futures_channel::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::error::ChannelError;
use super::lifecycle::Lifecycle;
use crate::lifetime::Lifetimes;
use crate::metrics::labels::{DisconnectReason, RolloverReason};
use crate::store::ChannelRecord;

/// A channel on the platform that holds (or held) our topics.
#[derive(Debug, Clone)]
pub struct Bound {
    pub id: String,
    pub connect_uri: String,
    pub expires_at: DateTime<Utc>,
    /// How long the channel was granted for when `expires_at` was last set.
    pub lifetime: Duration,
    pub token_expires_at: DateTime<Utc>,
    /// The lifetime of the token that made the channel.
    pub token_lifetime: Duration,
    /// Generation of the session token that made it; 0 when an earlier process made it.
    pub token_generation: u64,
    /// The unit ids the platform holds for it (as last subscribed).
    pub subscribed: Vec<String>,
}

/// Which renewal comes first for a bound channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The channel itself nears its expiry: a subscription call pushes it out.
    Extend,
    /// The token that made it nears its expiry: move to a channel of a newer token.
    MoveToken,
}

impl Bound {
    /// The channel a record (of this or an earlier process) describes. Its token's lifetime is not recorded:
    /// `token_lifetime` is the session's, the same OAuth client's.
    pub fn from_record(record: ChannelRecord, token_lifetime: Duration) -> Bound {
        Bound {
            id: record.channel_id,
            connect_uri: record.connect_uri,
            expires_at: record.expires_at,
            lifetime: crate::config::CHANNEL_LIFETIME,
            token_expires_at: record.token_expires_at,
            token_lifetime,
            token_generation: 0,
            subscribed: record.topics,
        }
    }

    /// When the next renewal is due, and which.
    pub fn next_renewal(&self, lifetimes: &Lifetimes) -> (DateTime<Utc>, Renewal) {
        let extend = lifetimes.channel_renew_at(self.expires_at, self.lifetime);
        let moving = lifetimes.token_move_at(self.token_expires_at, self.token_lifetime);
        if moving < extend {
            (moving, Renewal::MoveToken)
        } else {
            (extend, Renewal::Extend)
        }
    }

    /// Whether a socket may still be (re)connected to it: no renewal is due yet.
    pub fn usable(&self, lifetimes: &Lifetimes, now: DateTime<Utc>) -> bool {
        self.next_renewal(lifetimes).0 > now
    }
}

/// The socket being read.
#[derive(Debug)]
pub struct Socket {
    pub generation: u64,
    /// To the socket's writer task. Unbounded, yet bounded in practice: a channel queues one ping per watchdog
    /// tick and a close, and gives the socket up after a few unanswered pings. futures' queue rather than
    /// tokio's: tokio's allocates a cache-padded channel and a first block of 32 slots up front (about
    /// 2.6 KiB of every idle channel with tungstenite's messages), futures' a node per message.
    pub writer: UnboundedSender<Outgoing>,
}

/// What a channel writes to its socket: an intent, turned into a message by the writer task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// The app-level `{"message":"ping"}`.
    Ping,
    /// A close frame; the writer ends after it.
    Close,
}

impl Outgoing {
    pub fn message(self) -> WsMessage {
        match self {
            Outgoing::Ping => WsMessage::text(r#"{"message":"ping"}"#),
            Outgoing::Close => WsMessage::Close(None),
        }
    }
}

impl Socket {
    /// Asks the writer task to close the socket.
    pub fn close(&self) {
        let _ = self.writer.unbounded_send(Outgoing::Close);
    }
}

/// A live channel: its socket, and the renewals under way.
#[derive(Debug)]
pub struct Live {
    pub bound: Bound,
    pub socket: Socket,
    pub since: DateTime<Utc>,
    /// A second socket is being opened on the same channel (`socket_closing`, a restart asked for): why the
    /// current one will close. Its close is then expected.
    pub handover: Option<DisconnectReason>,
    /// A new channel is being made to replace this one (make before break), and why.
    pub rollover: Option<RolloverReason>,
    /// The timer of the next extension or rollover.
    pub renewal: Option<SpawnHandle>,
}

/// The channel's phase. Transitions (see [`Phase::may_become`]):
/// - `Preparing` → `Connecting` (a channel exists and holds the topics) | `Backoff` | `Failed` | `Preparing`
///   (the re-usable channel is gone: make one)
/// - `Connecting` → `Live` | `Backoff` | `Failed` | `Preparing` (the channel is gone: make one)
/// - `Live` → `Live` (socket handover, rollover to a new channel, extension) | `Backoff` (socket lost)
///   | `Failed` (lost too often) | `Preparing` (the channel is gone)
/// - `Backoff` → `Preparing` (after the delay)
/// - `Failed` → `Preparing` (the slow retry, or a restart asked for)
/// - any → `Stopped`; `Stopped` is final.
#[derive(Debug)]
pub enum Phase {
    /// Finding a channel: re-using `reuse` if it still exists and is not due for renewal, else creating one;
    /// then subscribing the topics.
    Preparing { reuse: Option<Bound> },
    /// The channel holds its topics; opening the socket.
    Connecting { bound: Bound },
    /// The socket is open and frames arrive.
    Live(Live),
    /// Waiting before the next attempt.
    Backoff {
        bound: Option<Bound>,
        attempt: u64,
        last_error: ChannelError,
    },
    /// Too many failures in a row, or one that will not pass by retrying: retried on a slow cadence.
    Failed {
        bound: Option<Bound>,
        reason: &'static str,
        since: DateTime<Utc>,
        last_error: ChannelError,
    },
    /// Shut down on request.
    Stopped,
}

impl Phase {
    /// The channel bound in this phase, if any.
    pub fn bound(&self) -> Option<&Bound> {
        match self {
            Phase::Preparing { reuse } => reuse.as_ref(),
            Phase::Connecting { bound } => Some(bound),
            Phase::Live(live) => Some(&live.bound),
            Phase::Backoff { bound, .. } | Phase::Failed { bound, .. } => bound.as_ref(),
            Phase::Stopped => None,
        }
    }

    pub fn live(&self) -> Option<&Live> {
        match self {
            Phase::Live(live) => Some(live),
            _ => None,
        }
    }

    pub fn live_mut(&mut self) -> Option<&mut Live> {
        match self {
            Phase::Live(live) => Some(live),
            _ => None,
        }
    }

    /// What the API and metrics show.
    pub fn lifecycle(&self) -> Lifecycle {
        match self {
            Phase::Preparing { .. } => Lifecycle::Preparing,
            Phase::Connecting { .. } => Lifecycle::Connecting,
            Phase::Live(live) => Lifecycle::Live { since: live.since },
            Phase::Backoff {
                attempt,
                last_error,
                ..
            } => Lifecycle::Backoff {
                attempt: *attempt,
                last_error: last_error.to_string(),
            },
            Phase::Failed {
                reason,
                since,
                last_error,
                ..
            } => Lifecycle::Failed {
                reason: (*reason).to_string(),
                since: *since,
                last_error: last_error.to_string(),
            },
            Phase::Stopped => Lifecycle::Stopped,
        }
    }

    /// Whether the transition from this phase to `next` is one of those documented on [`Phase`].
    pub fn may_become(&self, next: &Phase) -> bool {
        use Phase::*;
        matches!(
            (self, next),
            (_, Stopped)
                | (
                    Preparing { .. },
                    Connecting { .. } | Backoff { .. } | Failed { .. } | Preparing { .. }
                )
                | (
                    Connecting { .. },
                    Live(_) | Backoff { .. } | Failed { .. } | Preparing { .. }
                )
                | (
                    Live(_),
                    Live(_) | Backoff { .. } | Failed { .. } | Preparing { .. }
                )
                | (Backoff { .. }, Preparing { .. })
                | (Failed { .. }, Preparing { .. })
        ) && !matches!(self, Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> Bound {
        let now = Utc::now();
        Bound {
            id: "streaming-0-x".into(),
            connect_uri: "ws://127.0.0.1:1/channels/streaming-0-x".into(),
            expires_at: now + chrono::Duration::hours(24),
            lifetime: Duration::from_secs(86_400),
            token_expires_at: now + chrono::Duration::seconds(15),
            token_lifetime: Duration::from_secs(15),
            token_generation: 1,
            subscribed: vec![],
        }
    }

    fn socket() -> Socket {
        Socket {
            generation: 1,
            writer: futures_channel::mpsc::unbounded().0,
        }
    }

    fn every() -> Vec<Phase> {
        let err = || ChannelError::Socket("closed".into());
        vec![
            Phase::Preparing { reuse: None },
            Phase::Connecting { bound: bound() },
            Phase::Live(Live {
                bound: bound(),
                socket: socket(),
                since: Utc::now(),
                handover: None,
                rollover: None,
                renewal: None,
            }),
            Phase::Backoff {
                bound: None,
                attempt: 1,
                last_error: err(),
            },
            Phase::Failed {
                bound: None,
                reason: "r",
                since: Utc::now(),
                last_error: err(),
            },
            Phase::Stopped,
        ]
    }

    #[test]
    fn the_lifecycle_is_derived_and_names_every_phase_once() {
        let names: Vec<&str> = every().iter().map(|p| p.lifecycle().name()).collect();
        assert_eq!(names, Lifecycle::NAMES);
    }

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        let allowed = [
            (
                "preparing",
                &["preparing", "connecting", "backoff", "failed", "stopped"][..],
            ),
            (
                "connecting",
                &["preparing", "live", "backoff", "failed", "stopped"],
            ),
            (
                "live",
                &["preparing", "live", "backoff", "failed", "stopped"],
            ),
            ("backoff", &["preparing", "stopped"]),
            ("failed", &["preparing", "stopped"]),
            ("stopped", &[]),
        ];
        for from in every() {
            let name = from.lifecycle().name();
            let expected = allowed.iter().find(|(n, _)| *n == name).unwrap().1;
            let got: Vec<&str> = every()
                .iter()
                .filter(|to| from.may_become(to))
                .map(|to| to.lifecycle().name())
                .collect();
            assert_eq!(got, expected, "from {name}");
        }
    }

    #[test]
    fn a_channel_of_a_short_token_is_renewed_a_third_before_the_token_expires() {
        let b = bound();
        let lifetimes = Lifetimes::of(&crate::config::EnginePolicy::default());
        let (at, which) = b.next_renewal(&lifetimes);
        assert_eq!(which, Renewal::MoveToken);
        assert_eq!(at, b.token_expires_at - chrono::Duration::seconds(5));
        assert!(
            b.usable(&lifetimes, Utc::now()),
            "not due at once: no rollover storm"
        );
        assert!(!b.usable(&lifetimes, at));
    }
}
