//! Status of tenants and channels, restarts, and gap records.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::auth::authorize;
use super::{ApiError, ApiState};
use crate::api::responses::{Forbidden, Invalid, NotFound, Redirected, Unauthorized, Unavailable};
use crate::config::Role;
use crate::store::GapFilter;
use crate::supervisor::{EngineStatus, RestartTenant};

/// Every tenant and channel.
#[utoipa::path(get, path = "/v1/status", security(("bearer" = [])),
    responses((status = 200, body = crate::supervisor::EngineStatus),
        Unauthorized))]
pub async fn engine_status(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    Ok(HttpResponse::Ok().json(EngineStatus::of(&state.board)))
}

/// One tenant and its channels.
#[utoipa::path(get, path = "/v1/tenants/{id}/status", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)),
    responses((status = 200, body = crate::tenant::TenantStatus),
        Redirected, Unauthorized, NotFound))]
pub async fn tenant_status(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    // Cluster mode: the owner's status (its channels); without an advertised owner, this instance's view.
    if let Some(to) = super::cluster::redirect_to_owner(&state, &id, &req, false).await? {
        return Ok(to);
    }
    let tenant = state
        .board
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))?;
    Ok(HttpResponse::Ok().json(tenant))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestartQuery {
    /// Restart only the channels that are `failed`.
    #[serde(default)]
    only_failed: bool,
}

/// Restarts a tenant's channels now (only the failed ones with `onlyFailed=true`).
#[utoipa::path(post, path = "/v1/tenants/{id}/restart", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63), RestartQuery),
    responses((status = 202),
        Invalid, Unauthorized, Forbidden, NotFound, Unavailable))]
pub async fn restart_tenant(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    query: web::Query<RestartQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    let found = state
        .supervisor
        .send(RestartTenant {
            id: id.to_string(),
            only_failed: query.only_failed,
        })
        .await
        .map_err(|_| ApiError::unavailable("the engine is stopping"))?;
    if !found {
        return Err(ApiError::not_found(format!("no tenant {id}")));
    }
    tracing::info!(tenant = %id, by = %caller.name, only_failed = query.only_failed, "restart requested");
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GapQuery {
    tenant: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// At most this many: 1 to 10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// Gap records, oldest first.
#[utoipa::path(get, path = "/v1/gaps", security(("bearer" = [])), params(GapQuery),
    responses((status = 200, body = Vec<crate::store::GapRecord>),
        Invalid, Unauthorized, Unavailable))]
pub async fn gaps(
    req: HttpRequest,
    state: web::Data<ApiState>,
    query: web::Query<GapQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let q = query.into_inner();
    if q.limit.is_some_and(|l| l == 0 || l > 10_000) {
        return Err(ApiError::invalid("limit must be between 1 and 10000"));
    }
    let filter = GapFilter {
        tenant: q.tenant,
        since: q.since,
        until: q.until,
        limit: q.limit,
    };
    let gaps = state
        .store
        .gaps(&filter)
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    Ok(HttpResponse::Ok().json(gaps))
}
