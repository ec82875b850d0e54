//! The admin API's one error type: a status, a stable `code`, a message and details, as
//! `{"code","message","details"}`. Nothing secret ever goes into it.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, Clone, thiserror::Error, Serialize, utoipa::ToSchema)]
#[error("{code}: {message}")]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// Stable, machine-readable: `unauthorized`, `forbidden`, `not_found`, `invalid`, `conflict`,
    /// `no_master_key`, `unavailable`, `limit_reached`, `too_large`, `unsupported_media_type`,
    /// `method_not_allowed`.
    pub code: &'static str,
    pub message: String,
    pub details: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }
    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token's role may not do that",
        )
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Client {
        id: String,
        secret: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Tenant {
        id: String,
        max_bytes: Option<u64>,
        clients: Vec<Client>,
    }

    fn detail(body: &str) -> String {
        let e = serde_json::from_str::<Body<Tenant>>(body).unwrap_err();
        field_error(&e)
    }

    #[test]
    fn a_body_error_names_the_field_at_fault() {
        assert_eq!(detail(r#"{"clients":[]}"#), "id: is required");
        assert_eq!(
            detail(r#"{"id":"a","clients":[{"id":"c"}]}"#),
            "clients[0].secret: is required"
        );
        assert_eq!(
            detail(r#"{"id":"a","clients":[],"colour":1}"#),
            "colour: is not a field here (expected one of id, maxBytes, clients)"
        );
        let wrong = detail(r#"{"id":"a","clients":[],"maxBytes":"big"}"#);
        assert!(
            wrong.starts_with("maxBytes: invalid type: string"),
            "{wrong}"
        );
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        res.json(self)
    }
}

/// A JSON body actix could not take, as an [`ApiError`]: too big → 413, not `application/json` → 415, anything
/// else (syntax, a field of the wrong type, an unknown field) → 400.
pub fn json_error(e: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match e {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON (Content-Type: application/json)",
        ),
        E::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        E::Deserialize(e) if e.is_data() => {
            let detail = field_error(&e);
            let mut error = ApiError::invalid(format!("the body is not valid: {detail}"));
            error.details.push(detail);
            error
        }
        E::Deserialize(e) => ApiError::invalid(format!("the body is not JSON: {e}")),
        _ => ApiError::invalid(e.to_string()),
    }
}

/// A body whose deserialization errors name the field at fault (`clients[0].secret: is required`) rather
/// than serde's bare text: extract `web::Json<Body<T>>`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Body<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Body<T>, D::Error> {
        serde_path_to_error::deserialize(d).map(Body).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            <D::Error as serde::de::Error>::custom(field_message(&path, &inner))
        })
    }
}

/// `path: what is wrong`, in the API's words: a missing field is "required", an unknown one is named.
fn field_message(path: &str, inner: &str) -> String {
    let inner = without_position(inner);
    let path = if path == "." { "" } else { path };
    let quoted = |s: &str| s.split('`').nth(1).map(str::to_string);
    if let Some(field) = inner.strip_prefix("missing field ").and_then(quoted) {
        // The path is the object the field is missing from.
        return if path.is_empty() {
            format!("{field}: is required")
        } else {
            format!("{path}.{field}: is required")
        };
    }
    if let Some(rest) = inner.strip_prefix("unknown field ")
        && let Some(field) = quoted(rest)
    {
        // The path already ends with the unknown field.
        let expected = rest
            .split_once(", ")
            .map_or("", |(_, e)| e)
            .replace('`', "");
        let at = if path.is_empty() {
            field
        } else {
            path.to_string()
        };
        return format!("{at}: is not a field here ({expected})");
    }
    if path.is_empty() {
        inner.to_string()
    } else {
        format!("{path}: {inner}")
    }
}

/// serde_json's message without its ` at line L column C` (the field is named instead).
fn without_position(text: &str) -> &str {
    match text.rfind(" at line ") {
        Some(cut) if text[cut..].contains(" column ") => &text[..cut],
        _ => text,
    }
}

/// A deserialization error's text without serde_json's position suffix (the field is named instead).
fn field_error(e: &serde_json::Error) -> String {
    without_position(&e.to_string()).to_string()
}

/// The error handlers of actix's extractors: a body, a query or a path it could not parse is a JSON
/// [`ApiError`], never actix's plain text.
pub fn json_config(limit: usize) -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(limit)
        .error_handler(|e, _| json_error(e).into())
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default()
        .error_handler(|e, _| ApiError::invalid(e.to_string()).into())
}

pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default()
        .error_handler(|e, _| ApiError::invalid(e.to_string()).into())
}
