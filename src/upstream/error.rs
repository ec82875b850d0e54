//! Errors of calls to the platform, by what the caller should do about them.

use std::time::Duration;

/// A failed call to the platform's REST API or login host.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// 401: the token is expired or revoked (refresh it), or the client credentials are wrong.
    #[error("unauthorized ({code}): {message}")]
    Unauthorized { code: String, message: String },
    /// 429 after the retries allowed: wait `retry_after`.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 404: the channel does not exist (any more).
    #[error("not found: {0}")]
    NotFound(String),
    /// 400/403 and other answers that will not change by retrying the same request.
    #[error("rejected with {status} ({code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// 5xx, timeouts, connection errors: retry with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The answer could not be understood.
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

impl UpstreamError {
    /// A short, bounded label for metrics and status.
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamError::Unauthorized { .. } => "unauthorized",
            UpstreamError::RateLimited { .. } => "rate_limited",
            UpstreamError::NotFound(_) => "not_found",
            UpstreamError::Rejected { .. } => "rejected",
            UpstreamError::Transient(_) => "transient",
            UpstreamError::Protocol(_) => "protocol",
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UpstreamError::Transient(_)
                | UpstreamError::RateLimited { .. }
                | UpstreamError::Protocol(_)
        )
    }
}
