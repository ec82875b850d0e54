//! Losses of continuity, outside the channel that detects them: why continuity was lost ([`GapReason`], used by
//! the channel, the metrics and the stored gap records) and the [`continuity::Continuity`] tracker that turns a
//! loss into a gap once it is regained. A leaf: it depends on no other module of the crate.

pub mod backfill;
pub mod continuity;

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
    /// Another instance owned the tenant and stopped renewing its lease (cluster mode): from its last
    /// recorded proof of life to this instance's socket.
    Failover,
}

impl GapReason {
    /// Every reason, in the order of the variants.
    pub const ALL: [GapReason; 7] = [
        GapReason::HeartbeatTimeout,
        GapReason::SocketLost,
        GapReason::ChannelLost,
        GapReason::TokenRevoked,
        GapReason::Restart,
        GapReason::Crash,
        GapReason::Failover,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::HeartbeatTimeout => "heartbeat_timeout",
            GapReason::SocketLost => "socket_lost",
            GapReason::ChannelLost => "channel_lost",
            GapReason::TokenRevoked => "token_revoked",
            GapReason::Restart => "restart",
            GapReason::Crash => "crash",
            GapReason::Failover => "failover",
        }
    }
}
