//! The platform's common error body (`ErrorBody` in the official API description) and the OAuth error body.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// A REST error answered exactly as the platform does: status, `code`, `message`, `contextId`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Whole seconds for the `Retry-After` header of a 429.
    pub retry_after: Option<u64>,
}

/// The serialized form of [`ApiError`]: the official `ErrorBody`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    message: &'a str,
    code: &'a str,
    status: u16,
    context_id: String,
    details: [(); 0],
    errors: [(); 0],
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad.request", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not.found", message)
    }
    pub fn authentication_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        )
    }
    pub fn bad_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "Invalid login credentials.",
        )
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported.media.type",
            "Unsupported Media Type - Unsupported or incorrect media type, such as an incorrect Content-Type value in the header.",
        )
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.entity.too.large",
            format!("The request is over the size limit. Maximum bytes: {limit}"),
        )
    }
    /// The documented 429: `Retry-After` in whole seconds and the message naming them.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests.retry.after",
            format!(
                "Rate limit exceeded the maximum. Retry the request in [{retry_after_secs}] seconds"
            ),
        );
        e.retry_after = Some(retry_after_secs);
        e
    }
    /// A 4xx as the platform words it, for the `client_error` fault (400, 401, 403, 404; others read as 400).
    pub fn client_error(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::authentication_required(),
            StatusCode::FORBIDDEN => Self::new(
                status,
                "missing.permissions",
                "You are missing the following permission(s) to perform this action.",
            ),
            StatusCode::NOT_FOUND => Self::not_found("The requested resource was not found."),
            _ => Self::bad_request(
                "The request could not be understood by the server due to malformed syntax.",
            ),
        }
    }
    pub fn server_error(status: StatusCode) -> Self {
        match status {
            StatusCode::INTERNAL_SERVER_ERROR => Self::new(
                status,
                "internal.server.error",
                "The server encountered an unexpected condition which prevented it from fulfilling the request.",
            ),
            StatusCode::GATEWAY_TIMEOUT => {
                Self::new(status, "request.timeout", "The request timed out.")
            }
            _ => Self::new(
                status,
                "service.unavailable",
                "Service Unavailable - The server is currently unavailable (because it is overloaded or down for maintenance).",
            ),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let body = ErrorBody {
            message: &self.message,
            code: self.code,
            status: self.status.as_u16(),
            context_id: uuid::Uuid::new_v4().to_string(),
            details: [],
            errors: [],
        };
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header((RETRY_AFTER, HeaderValue::from(secs)));
        }
        resp.insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        resp.json(body)
    }
}

/// The OAuth endpoint's error: `{"error","description","error_description"}` with 400 or 401.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {error}: {description}")]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn invalid_client(description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: description.into(),
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(serde_json::json!({
            "error": self.error,
            "description": self.description,
            "error_description": self.description,
        }))
    }
}
