//! `GET /api/v2/users`, `GET /api/v2/routing/queues` and `GET /api/v2/routing/queues/{queueId}/members`
//! over the simulated org. Each is authenticated and counted against the token's rate limit like every
//! REST call; the query is checked after that, so a refused query still spends a request, as on the platform.

use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::admit;
use crate::sim::directory::{self, query};
use crate::sim::error::ApiError;
use crate::sim::state::Sim;

type SimData = web::Data<Arc<Sim>>;

/// A listing is serialized under the org's lock (it borrows the org), then sent.
fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value)
        .map_err(|_| ApiError::server_error(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR))
}

fn ok(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}

pub async fn users(req: HttpRequest, sim: SimData) -> Result<HttpResponse, ApiError> {
    admit(&sim, &req).await?;
    let query = query::UserQuery::parse(req.query_string())?;
    let body = sim.with_org(|org| json(&directory::users(org, &query)))?;
    Ok(ok(body))
}

pub async fn queues(req: HttpRequest, sim: SimData) -> Result<HttpResponse, ApiError> {
    admit(&sim, &req).await?;
    let query = query::QueueQuery::parse(req.query_string())?;
    let body = sim.with_org(|org| json(&directory::queues(org, &query)))?;
    Ok(ok(body))
}

pub async fn members(
    req: HttpRequest,
    sim: SimData,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admit(&sim, &req).await?;
    let query = query::MemberQuery::parse(req.query_string())?;
    let body = sim.with_org(|org| json(&directory::members(org, &path, &query)?))?;
    Ok(ok(body))
}
