//! `POST /api/v2/analytics/conversations/details/query` over the workload's conversations.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{admit, read_body, require_json};
use crate::sim::analytics::query_conversation_details;
use crate::sim::error::ApiError;
use crate::sim::state::Sim;

pub async fn details_query(
    req: HttpRequest,
    sim: web::Data<Arc<Sim>>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    admit(&sim, &req).await?;
    require_json(&req)?;
    let body = read_body(payload, sim.config.max_body_bytes).await?;
    let result = sim
        .with_org(|org| query_conversation_details(org, &body))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message))?;
    Ok(HttpResponse::Ok().json(result))
}
