//! The small fixed sets of label values (METRICS-CONTRACT): each is an `enum` so that no free text, and no
//! raw id, can reach a label.

/// Why a channel's socket went away (`channel_disconnects_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// No frame for longer than the heartbeat timeout.
    HeartbeatTimeout,
    /// The socket closed or failed without warning.
    SocketLost,
    /// The platform said the channel is gone.
    ChannelLost,
    /// The token was revoked.
    TokenRevoked,
    /// Replaced by a new socket after `socket_closing`.
    SocketClosing,
    /// Replaced by a socket on a new channel (make before break).
    Rollover,
    /// Closed on request: stop, restart, or the channel's topics went away.
    Stopped,
    /// A panic in the channel's code.
    Crash,
}

impl DisconnectReason {
    pub const ALL: [DisconnectReason; 8] = [
        DisconnectReason::HeartbeatTimeout,
        DisconnectReason::SocketLost,
        DisconnectReason::ChannelLost,
        DisconnectReason::TokenRevoked,
        DisconnectReason::SocketClosing,
        DisconnectReason::Rollover,
        DisconnectReason::Stopped,
        DisconnectReason::Crash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::HeartbeatTimeout => "heartbeat_timeout",
            DisconnectReason::SocketLost => "socket_lost",
            DisconnectReason::ChannelLost => "channel_lost",
            DisconnectReason::TokenRevoked => "token_revoked",
            DisconnectReason::SocketClosing => "socket_closing",
            DisconnectReason::Rollover => "rollover",
            DisconnectReason::Stopped => "stopped",
            DisconnectReason::Crash => "crash",
        }
    }
}

/// Why a channel moved to a new socket or channel (`channel_rollovers_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloverReason {
    /// The channel was about to expire and could not be extended.
    Expiry,
    /// The channel's token was about to expire or was replaced.
    Token,
    /// The platform announced `socket_closing`.
    SocketClosing,
    /// A change of topic placement moved the channel.
    Placement,
}

impl RolloverReason {
    pub const ALL: [RolloverReason; 4] = [
        RolloverReason::Expiry,
        RolloverReason::Token,
        RolloverReason::SocketClosing,
        RolloverReason::Placement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RolloverReason::Expiry => "expiry",
            RolloverReason::Token => "token",
            RolloverReason::SocketClosing => "socket_closing",
            RolloverReason::Placement => "placement",
        }
    }
}

/// Which platform endpoint a REST call went to (`api_requests_total{endpoint}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiEndpoint {
    Token,
    ChannelsCreate,
    ChannelsList,
    ChannelHead,
    SubscriptionsPut,
    SubscriptionsPost,
    SubscriptionsGet,
    SubscriptionsDelete,
    AnalyticsDetails,
    UsersList,
    QueuesList,
    QueueMembersList,
    Other,
}

impl ApiEndpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiEndpoint::Token => "token",
            ApiEndpoint::ChannelsCreate => "channels_create",
            ApiEndpoint::ChannelsList => "channels_list",
            ApiEndpoint::ChannelHead => "channel_head",
            ApiEndpoint::SubscriptionsPut => "subscriptions_put",
            ApiEndpoint::SubscriptionsPost => "subscriptions_post",
            ApiEndpoint::SubscriptionsGet => "subscriptions_get",
            ApiEndpoint::SubscriptionsDelete => "subscriptions_delete",
            ApiEndpoint::AnalyticsDetails => "analytics_details",
            ApiEndpoint::UsersList => "users_list",
            ApiEndpoint::QueuesList => "queues_list",
            ApiEndpoint::QueueMembersList => "queue_members_list",
            ApiEndpoint::Other => "other",
        }
    }
}

/// What came back from a REST call (`api_requests_total{status}`): the status class, 429 apart, or `error`
/// when no answer came (timeout, connection refused) or the answer was no usable status (1xx, 3xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    ClientError,
    TooManyRequests,
    ServerError,
    NoAnswer,
}

impl StatusClass {
    pub fn of(status: u16) -> StatusClass {
        match status {
            429 => StatusClass::TooManyRequests,
            200..=299 => StatusClass::Success,
            400..=499 => StatusClass::ClientError,
            500..=599 => StatusClass::ServerError,
            _ => StatusClass::NoAnswer,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::ClientError => "4xx",
            StatusClass::TooManyRequests => "429",
            StatusClass::ServerError => "5xx",
            StatusClass::NoAnswer => "error",
        }
    }
}

/// The states of a channel (`channels{state}`): the names of `channel::Lifecycle`, in the order of its variants.
pub const CHANNEL_STATES: [&str; 6] = [
    "preparing",
    "connecting",
    "live",
    "backoff",
    "failed",
    "stopped",
];

/// A supervised actor (`actor_restarts_total{kind}`, `actors_failed{kind}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    Tenant,
    Channel,
}

impl ActorKind {
    pub const ALL: [ActorKind; 2] = [ActorKind::Tenant, ActorKind::Channel];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Tenant => "tenant",
            ActorKind::Channel => "channel",
        }
    }
}

/// Why an actor was restarted (`actor_restarts_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// A step failed (a REST call, a socket): the actor starts that work over after a backoff.
    Error,
    /// A panic inside a handler was contained.
    Panic,
    /// The actor stopped without being asked to.
    Stopped,
}

impl RestartReason {
    pub const ALL: [RestartReason; 3] = [
        RestartReason::Error,
        RestartReason::Panic,
        RestartReason::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RestartReason::Error => "error",
            RestartReason::Panic => "panic",
            RestartReason::Stopped => "stopped",
        }
    }
}

/// What went wrong in a sink (`sink_errors_total{error_code}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkErrorCode {
    /// A write failed and is retried (counted per failed attempt).
    Retry,
    /// Records the destination refused for good, dead-lettered (counted per record).
    Reject,
    /// The sink's queue was full when the router handed it a record (the router waited).
    QueueFull,
}

impl SinkErrorCode {
    pub const ALL: [SinkErrorCode; 3] = [
        SinkErrorCode::Retry,
        SinkErrorCode::Reject,
        SinkErrorCode::QueueFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SinkErrorCode::Retry => "retry",
            SinkErrorCode::Reject => "reject",
            SinkErrorCode::QueueFull => "queue_full",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_fall_into_their_class_with_429_apart() {
        assert_eq!(StatusClass::of(200).as_str(), "2xx");
        assert_eq!(StatusClass::of(204).as_str(), "2xx");
        assert_eq!(StatusClass::of(404).as_str(), "4xx");
        assert_eq!(StatusClass::of(429).as_str(), "429");
        assert_eq!(StatusClass::of(503).as_str(), "5xx");
        assert_eq!(StatusClass::of(302).as_str(), "error");
    }
}
