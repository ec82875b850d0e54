//! The simulator's HTTP surface on one origin: OAuth, the notification REST API, the streaming socket, the
//! user and queue listings, the analytics query, and the `/sim/v1` control API.

mod analytics;
mod control;
mod directory;
mod notifications;
mod oauth;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::error::ApiError;
use super::socket;
use super::state::{Caller, Sim};

/// Registers every route of the simulator.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/token", web::post().to(oauth::token))
        .service(
            web::scope("/api/v2/notifications")
                .route(
                    "/availabletopics",
                    web::get().to(notifications::available_topics),
                )
                .route("/channels", web::get().to(notifications::list_channels))
                .route("/channels", web::post().to(notifications::create_channel))
                .route(
                    "/channels/{id}",
                    web::head().to(notifications::head_channel),
                )
                .route(
                    "/channels/{id}/subscriptions",
                    web::get().to(notifications::get_subscriptions),
                )
                .route(
                    "/channels/{id}/subscriptions",
                    web::post().to(notifications::post_subscriptions),
                )
                .route(
                    "/channels/{id}/subscriptions",
                    web::put().to(notifications::put_subscriptions),
                )
                .route(
                    "/channels/{id}/subscriptions",
                    web::delete().to(notifications::delete_subscriptions),
                ),
        )
        .route("/api/v2/users", web::get().to(directory::users))
        .route("/api/v2/routing/queues", web::get().to(directory::queues))
        .route(
            "/api/v2/routing/queues/{queueId}/members",
            web::get().to(directory::members),
        )
        .route(
            "/api/v2/analytics/conversations/details/query",
            web::post().to(analytics::details_query),
        )
        .route("/channels/{id}", web::get().to(socket::connect))
        .service(control::scope());
}

/// Unknown paths and methods: the platform's 404 body.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::not_found(format!(
        "The requested resource was not found: {} {}",
        req.method(),
        req.path()
    ))
    .error_response()
}

/// Counts REST calls by `METHOD /path/template` and status for `/sim/v1/stats`.
pub async fn count_rest_calls(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let counted = req.path().starts_with("/api/") || req.path() == "/oauth/token";
    let sim = req.app_data::<web::Data<Arc<Sim>>>().cloned();
    let method = req.method().clone();
    let in_flight = sim
        .as_ref()
        .filter(|_| counted)
        .map(|sim| sim.stats.rest_call_started());
    let res = next.call(req).await;
    drop(in_flight);
    let res = res?;
    if counted && let Some(sim) = sim {
        let pattern = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        sim.stats
            .record_rest(format!("{method} {pattern}"), res.status().as_u16());
    }
    Ok(res)
}

/// The bearer token of a request, if any.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticates, applies REST faults (waiting out a `slow` fault's latency) and the rate limit.
async fn admit(sim: &Sim, req: &HttpRequest) -> Result<Caller, ApiError> {
    let admitted = sim.admit(bearer(req), req.method().as_str(), req.path())?;
    if !admitted.latency.is_zero() {
        tokio::time::sleep(admitted.latency).await;
    }
    Ok(admitted.caller)
}

/// 415 unless the request says its body is JSON.
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type())
    }
}

/// Reads a request body up to `limit` bytes; past that, the platform's 413.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<BytesMut, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a JSON body with the platform's 400 on failure.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "The request could not be understood by the server: the body is empty.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "The request could not be understood by the server: {e}"
        ))
    })
}
