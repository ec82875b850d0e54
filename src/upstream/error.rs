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
    /// The outbound address policy refuses the host (`[egress] allow`): no request was sent.
    #[error("refused by the outbound address policy: {0}")]
    Refused(String),
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
            UpstreamError::Refused(_) => "refused",
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

    /// A failed send, as what the caller should do about it: a refusal of the address policy is for good,
    /// anything else of the connection is transient. `what` says which call it was; the text has the causes
    /// (the address, "connection refused") but not the URL.
    pub fn from_send(what: &str, e: reqwest::Error) -> UpstreamError {
        if let Some(refusal) = crate::egress::refusal_in(&e) {
            return UpstreamError::Refused(refusal.to_string());
        }
        let mut causes = String::new();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !causes.contains(&cause_text) {
                causes.push_str(": ");
                causes.push_str(&cause_text);
            }
            source = cause.source();
        }
        UpstreamError::Transient(format!("{what}: {}{causes}", e.without_url()))
    }
}
