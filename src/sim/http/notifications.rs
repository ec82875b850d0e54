//! The eight notification operations under `/api/v2/notifications` (contract §3-4).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{admit, parse_json, read_body, require_json};
use crate::sim::error::ApiError;
use crate::sim::state::{IncludeChannels, Sim, SubscribeMode, TopicResult};

type SimData = web::Data<Arc<Sim>>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncludeQuery {
    includechannels: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreErrorsQuery {
    ignore_errors: Option<String>,
}

/// One element of a subscription request body (`ChannelTopic`); only `id` matters.
#[derive(Deserialize)]
struct TopicRequest {
    id: String,
}

fn entities<T: serde::Serialize>(list: Vec<T>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "entities": list }))
}

/// `ws://host:port` or `wss://host:port`, the origin the client reached us on.
fn ws_base(req: &HttpRequest, sim: &Sim) -> String {
    let scheme = if sim.config.tls { "wss" } else { "ws" };
    format!("{scheme}://{}", req.connection_info().host())
}

pub async fn available_topics(req: HttpRequest, sim: SimData) -> Result<HttpResponse, ApiError> {
    admit(&sim, &req).await?;
    let list: Vec<serde_json::Value> = sim
        .catalogue
        .names()
        .map(|name| {
            let params: Vec<&str> = name
                .split('.')
                .filter(|s| *s == "{id}")
                .map(|_| "id")
                .collect();
            serde_json::json!({
                "id": name,
                "description": format!("Notifications for {name}"),
                "requiresPermissions": [],
                "enforced": false,
                "visibility": "Public",
                "transports": ["All"],
                "topicParameters": params,
            })
        })
        .collect();
    Ok(entities(list))
}

pub async fn list_channels(
    req: HttpRequest,
    sim: SimData,
    query: web::Query<IncludeQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = admit(&sim, &req).await?;
    let include = match query
        .includechannels
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("token") => IncludeChannels::Token,
        Some("oauthclient") => IncludeChannels::Oauthclient,
        Some(other) => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid.query.param.value",
                format!(
                    "Value [{other}] is not valid for parameter [includechannels]. Allowable values are: token, oauthclient"
                ),
            ));
        }
    };
    Ok(entities(sim.list_channels(&caller, include)))
}

pub async fn create_channel(req: HttpRequest, sim: SimData) -> Result<HttpResponse, ApiError> {
    let caller = admit(&sim, &req).await?;
    Ok(HttpResponse::Ok().json(sim.create_channel(&caller, &ws_base(&req, &sim))))
}

pub async fn head_channel(
    req: HttpRequest,
    sim: SimData,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = admit(&sim, &req).await?;
    if sim.channel_exists(&caller, &path) {
        Ok(HttpResponse::Ok().finish())
    } else {
        Err(ApiError::not_found(format!("Channel {path} not found")))
    }
}

pub async fn get_subscriptions(
    req: HttpRequest,
    sim: SimData,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = admit(&sim, &req).await?;
    Ok(entities(sim.subscriptions(&caller, &path)?))
}

pub async fn post_subscriptions(
    req: HttpRequest,
    sim: SimData,
    path: web::Path<String>,
    query: web::Query<IgnoreErrorsQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    subscribe(req, sim, path, query, payload, SubscribeMode::Add).await
}

pub async fn put_subscriptions(
    req: HttpRequest,
    sim: SimData,
    path: web::Path<String>,
    query: web::Query<IgnoreErrorsQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    subscribe(req, sim, path, query, payload, SubscribeMode::Replace).await
}

async fn subscribe(
    req: HttpRequest,
    sim: SimData,
    path: web::Path<String>,
    query: web::Query<IgnoreErrorsQuery>,
    payload: web::Payload,
    mode: SubscribeMode,
) -> Result<HttpResponse, ApiError> {
    let caller = admit(&sim, &req).await?;
    require_json(&req)?;
    let ignore_errors = match query.ignore_errors.as_deref() {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid.value",
                format!(
                    "Value [{v}] is not valid for field type [Boolean]. Allowable values are: true, false"
                ),
            ));
        }
    };
    let body = read_body(payload, sim.config.max_body_bytes).await?;
    let requested: Vec<TopicRequest> = parse_json(&body)?;
    let ids: Vec<String> = requested.into_iter().map(|t| t.id).collect();
    let results: Vec<TopicResult> = sim.subscribe(&caller, &path, &ids, mode, ignore_errors)?;
    Ok(entities(results))
}

pub async fn delete_subscriptions(
    req: HttpRequest,
    sim: SimData,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = admit(&sim, &req).await?;
    sim.unsubscribe_all(&caller, &path)?;
    Ok(HttpResponse::Ok().finish())
}
