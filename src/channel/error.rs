//! What went wrong in a channel's REST or socket work, and what the channel does about it.

use std::time::Duration;

use crate::upstream::UpstreamError;

/// A failed step of a channel's work (preparing, connecting, a live socket).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    /// A REST call to the platform failed (after the call's own retries and its one token refresh on a 401).
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The socket could not be opened, failed or was closed.
    #[error("socket: {0}")]
    Socket(String),
    /// Opening the socket took too long.
    #[error("socket connect timed out after {0:?}")]
    Timeout(Duration),
    /// The socket sent no frame at all (no event, heartbeat or pong) for this long.
    #[error("no frame for {0:?}")]
    Silent(Duration),
    /// A panic in the channel's own code was contained.
    #[error("panic in a handler")]
    Panic,
}

/// What to do after a [`ChannelError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Trying the same request again will fail the same way (400, 403, bad credentials): stop at once and show
    /// it; only the slow retry of a failed channel (or an operator) tries again.
    Permanent,
    /// The platform asked to wait this long (429 `Retry-After`) before the next request.
    WaitFor(Duration),
    /// Back off with jitter and try again (5xx, timeouts, lost sockets).
    Retry,
}

impl ChannelError {
    /// What the channel does about this error. A 401 never gets here unanswered: every REST call refreshes the
    /// token once and retries before giving up; a 404 of the channel makes a new channel rather than failing.
    pub fn disposition(&self) -> Disposition {
        match self {
            ChannelError::Upstream(UpstreamError::Rejected { .. })
            | ChannelError::Upstream(UpstreamError::Unauthorized { .. })
            | ChannelError::Upstream(UpstreamError::Refused(_)) => Disposition::Permanent,
            ChannelError::Upstream(UpstreamError::RateLimited { retry_after }) => {
                Disposition::WaitFor(*retry_after)
            }
            ChannelError::Upstream(
                UpstreamError::Transient(_)
                | UpstreamError::Protocol(_)
                | UpstreamError::NotFound(_),
            )
            | ChannelError::Socket(_)
            | ChannelError::Timeout(_)
            | ChannelError::Silent(_)
            | ChannelError::Panic => Disposition::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_400_or_403_is_permanent_a_429_waits_and_the_rest_back_off() {
        let rejected = |status| {
            ChannelError::Upstream(UpstreamError::Rejected {
                status,
                code: "bad.request".into(),
                message: "no".into(),
            })
        };
        assert_eq!(rejected(400).disposition(), Disposition::Permanent);
        assert_eq!(rejected(403).disposition(), Disposition::Permanent);
        let unauthorized = ChannelError::Upstream(UpstreamError::Unauthorized {
            code: "invalid_client".into(),
            message: String::new(),
        });
        assert_eq!(unauthorized.disposition(), Disposition::Permanent);
        let limited = ChannelError::Upstream(UpstreamError::RateLimited {
            retry_after: Duration::from_secs(59),
        });
        assert_eq!(
            limited.disposition(),
            Disposition::WaitFor(Duration::from_secs(59))
        );
        for e in [
            ChannelError::Upstream(UpstreamError::Transient("503".into())),
            ChannelError::Socket("closed".into()),
            ChannelError::Timeout(Duration::from_secs(10)),
            ChannelError::Silent(Duration::from_secs(70)),
        ] {
            assert_eq!(e.disposition(), Disposition::Retry, "{e}");
        }
    }
}
