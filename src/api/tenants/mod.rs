//! Tenants and their topics: create, read, update, delete, pause and resume; topics added and removed in
//! bulk, validated against the catalogue, listed with where each one is. Changes take effect at once, moving
//! as few topics as possible. OAuth client secrets are write-only: a response shows `"secret": "set"`.

mod body;

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

pub use self::body::{ClientBody, ClientView, TenantBody, TenantView, TopicBody, TopicsBody};
use self::body::{
    check_templates, check_tenant_topics, check_topics, checked_ca_file, split_topics, validate,
};
use super::auth::{Caller, authorize};
use super::error::Body;
use super::page::{self, PageQuery};
use super::{ApiError, ApiState};
use crate::api::responses::{
    Conflict, Forbidden, Invalid, NotFound, TooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use crate::config::{Role, TenantConfig, TopicConfig, TopicTemplate};
use crate::limits::{MAX_TENANTS, MAX_TOPICS_PER_REQUEST};
use crate::secrets::MasterKey;
use crate::supervisor::{GetPlacement, GetTenants, RemoveTenant, UpsertTenant};
use crate::tenants;

fn key(state: &ApiState) -> Result<&MasterKey, ApiError> {
    state.key.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_master_key",
            "tenants can only be changed through the API when a master key is set (SWITCHBOARD_MASTER_KEY or [store] key_file)",
        )
    })
}

async fn current(state: &ApiState, id: &str) -> Result<Option<TenantConfig>, ApiError> {
    // Cluster mode: another instance may have changed it; the store is the source of truth.
    if state.cluster.is_some()
        && let Some(key) = &state.key
    {
        return tenants::load_one(state.store.as_ref(), key, id)
            .await
            .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")));
    }
    let all = state
        .supervisor
        .send(GetTenants)
        .await
        .map_err(|_| ApiError::unavailable("the engine is stopping"))?;
    Ok(all.into_iter().find(|t| t.id == id))
}

/// Stores the tenant, applies it to the engine, and writes the audit log.
async fn apply(
    state: &ApiState,
    caller: &Caller,
    tenant: TenantConfig,
    action: &str,
) -> Result<(), ApiError> {
    let key = key(state)?;
    tenants::save(state.store.as_ref(), key, &tenant)
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    let target = format!("tenants/{}", tenant.id);
    let details = serde_json::json!({"topics": tenant.topics.len(), "clients": tenant.clients.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), "paused": tenant.paused});
    state
        .supervisor
        .send(UpsertTenant(tenant))
        .await
        .map_err(|_| ApiError::unavailable("the engine is stopping"))?;
    tenants::audit(state.store.as_ref(), &caller.name, action, &target, details).await;
    Ok(())
}

/// All tenants, paged (`X-Total-Count`, and `Link: rel="next"` when more remain).
#[utoipa::path(get, path = "/v1/tenants", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Vec<TenantView>, description = "One page", headers(("X-Total-Count" = u64, description = "Items in the whole list"), ("Link" = String, description = "`<path?offset=&limit=>; rel=\"next\"` when more remain"))),
        Invalid, Unauthorized, Unavailable))]
pub async fn list(
    req: HttpRequest,
    state: web::Data<ApiState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let all = state
        .supervisor
        .send(GetTenants)
        .await
        .map_err(|_| ApiError::unavailable("the engine is stopping"))?;
    page::respond(
        &req,
        &query,
        all.iter().map(TenantView::from).collect::<Vec<_>>(),
    )
}

/// One tenant.
#[utoipa::path(get, path = "/v1/tenants/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)),
    responses((status = 200, body = TenantView),
        Unauthorized, NotFound, Unavailable))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let t = current(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))?;
    Ok(HttpResponse::Ok().json(TenantView::from(&t)))
}

/// Creates a tenant (409 if it exists).
#[utoipa::path(post, path = "/v1/tenants", security(("bearer" = [])), request_body = TenantBody,
    responses((status = 201, body = TenantView),
        Invalid, Unauthorized, Forbidden, Conflict, TooLarge, UnsupportedMediaType, Unavailable))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<Body<TenantBody>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    key(&state)?;
    let body = body.into_inner().0;
    if current(&state, &body.id).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("tenant {} exists", body.id),
        ));
    }
    let running = state
        .supervisor
        .send(GetTenants)
        .await
        .map_err(|_| ApiError::unavailable("the engine is stopping"))?
        .len();
    if running >= MAX_TENANTS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "limit_reached",
            format!("this instance runs {running} tenants, at most {MAX_TENANTS}"),
        ));
    }
    let ca_file = checked_ca_file(&state, body.ca_file.as_deref(), None).await;
    let tenant = validate(body, None, ca_file, &state.egress)?;
    let view = TenantView::from(&tenant);
    apply(&state, &caller, tenant, "tenant.create").await?;
    Ok(HttpResponse::Created().json(view))
}

/// Replaces a tenant's definition (clients given without a secret keep theirs).
#[utoipa::path(put, path = "/v1/tenants/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)), request_body = TenantBody,
    responses((status = 200, body = TenantView),
        Invalid, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, UnsupportedMediaType, Unavailable))]
pub async fn update(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<Body<TenantBody>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    key(&state)?;
    let existing = current(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))?;
    let body = body.into_inner().0;
    if body.id != *id {
        return Err(ApiError::invalid("the body's id must be the path's id"));
    }
    let ca_file = checked_ca_file(&state, body.ca_file.as_deref(), Some(&existing)).await;
    let tenant = validate(body, Some(&existing), ca_file, &state.egress)?;
    let view = TenantView::from(&tenant);
    apply(&state, &caller, tenant, "tenant.update").await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes a tenant: its channels stop and its definition, clients and topics are forgotten.
#[utoipa::path(delete, path = "/v1/tenants/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)),
    responses((status = 204),
        Unauthorized, Forbidden, NotFound, Conflict, Unavailable))]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    key(&state)?;
    let found = state
        .supervisor
        .send(RemoveTenant(id.to_string()))
        .await
        .map_err(|_| ApiError::unavailable("the engine is stopping"))?;
    let stored = state
        .store
        .delete_tenant(&id)
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    if !found && !stored {
        return Err(ApiError::not_found(format!("no tenant {id}")));
    }
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "tenant.delete",
        &format!("tenants/{id}"),
        serde_json::json!({}),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_paused(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    paused: bool,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    key(&state)?;
    let mut t = current(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))?;
    t.paused = paused;
    let view = TenantView::from(&t);
    apply(
        &state,
        &caller,
        t,
        if paused {
            "tenant.pause"
        } else {
            "tenant.resume"
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Pauses a tenant: its channels stop, its definition is kept.
#[utoipa::path(post, path = "/v1/tenants/{id}/pause", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)),
    responses((status = 200, body = TenantView),
        Unauthorized, Forbidden, NotFound, Conflict, Unavailable))]
pub async fn pause(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_paused(req, state, id, true).await
}

/// Resumes a paused tenant.
#[utoipa::path(post, path = "/v1/tenants/{id}/resume", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)),
    responses((status = 200, body = TenantView),
        Unauthorized, Forbidden, NotFound, Conflict, Unavailable))]
pub async fn resume(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_paused(req, state, id, false).await
}

/// The tenant's topics and where each one is: its channel and state (`Permitted`, `Rejected`, `pending`,
/// `unplaced`) with the reason. Paged (`X-Total-Count`, and `Link: rel="next"` when more remain).
#[utoipa::path(get, path = "/v1/tenants/{id}/topics", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63), PageQuery),
    responses((status = 200, body = Vec<crate::tenant::TopicPlacement>, description = "One page", headers(("X-Total-Count" = u64, description = "Items in the whole list"), ("Link" = String, description = "`<path?offset=&limit=>; rel=\"next\"` when more remain"))),
        Invalid, Unauthorized, NotFound, Unavailable))]
pub async fn topics(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let t = current(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))?;
    let placement = state
        .supervisor
        .send(GetPlacement(id.to_string()))
        .await
        .map_err(|_| ApiError::unavailable("the engine is stopping"))?;
    let list = placement.unwrap_or_else(|| {
        t.topics
            .iter()
            .map(|tp| crate::tenant::TopicPlacement {
                topic: tp.name.clone(),
                priority: tp.priority,
                channel_id: None,
                state: "pending".into(),
                reason: Some("the tenant is not running".into()),
            })
            .collect()
    });
    page::respond(&req, &query, list)
}

/// Adds topics (thousands at once); every invalid one is named, and nothing changes if any is.
#[utoipa::path(post, path = "/v1/tenants/{id}/topics", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)), request_body = TopicsBody,
    responses((status = 200, body = crate::tenant::TopicsChange),
        Invalid, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, UnsupportedMediaType, Unavailable))]
pub async fn add_topics(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<Body<TopicsBody>>,
) -> Result<HttpResponse, ApiError> {
    change_topics(req, state, id, body.into_inner().0, true).await
}

/// Removes topics (by name, case ignored).
#[utoipa::path(delete, path = "/v1/tenants/{id}/topics", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)), request_body = TopicsBody,
    responses((status = 200, body = crate::tenant::TopicsChange),
        Invalid, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, UnsupportedMediaType, Unavailable))]
pub async fn remove_topics(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<Body<TopicsBody>>,
) -> Result<HttpResponse, ApiError> {
    change_topics(req, state, id, body.into_inner().0, false).await
}

async fn change_topics(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: TopicsBody,
    add: bool,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    let key = key(&state)?.clone();
    let mut t = current(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))?;
    let (given, templates) = split_topics(body.topics);
    let mut details = Vec::new();
    if add {
        check_topics(&given, &mut details);
        check_templates(&templates, &mut details);
    } else if given.len() + templates.len() > MAX_TOPICS_PER_REQUEST {
        details.push(format!(
            "topics: {} given, at most {MAX_TOPICS_PER_REQUEST} in one request",
            given.len() + templates.len()
        ));
    }
    if !details.is_empty() {
        let mut e = ApiError::invalid(format!("{} topic(s) are not valid", details.len()));
        e.details = details;
        return Err(e);
    }
    let names: HashSet<String> = given.iter().map(|g| g.name.to_ascii_lowercase()).collect();
    t.topics
        .retain(|x| !names.contains(&x.name.to_ascii_lowercase()));
    // A template is named by its topic and selector; on removal, a bare name equal to a template's topic
    // removes every template of that topic.
    let keys: HashSet<String> = templates.iter().map(|x| x.key()).collect();
    let templates_before = t.templates.len();
    t.templates.retain(|x| {
        !keys.contains(&x.key()) && (add || !names.contains(&x.template.to_ascii_lowercase()))
    });
    let templates_changed = add && !templates.is_empty() || t.templates.len() != templates_before;
    if add {
        t.topics.extend(given.iter().cloned());
        t.templates.extend(templates.iter().cloned());
        check_tenant_topics(&t.topics)?;
    }
    let stored = if templates_changed {
        tenants::save(state.store.as_ref(), &key, &t).await
    } else {
        tenants::set_topics(state.store.as_ref(), &t.id, &t.topics).await
    };
    stored.map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    let change = state
        .supervisor
        .send(UpsertTenant(t))
        .await
        .map_err(|_| ApiError::unavailable("the engine is stopping"))?;
    let action = if add { "topics.add" } else { "topics.remove" };
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        action,
        &format!("tenants/{id}/topics"),
        audited_topics(&given, &templates),
    )
    .await;
    Ok(HttpResponse::Ok().json(change.unwrap_or_default()))
}

/// Topics named in one audit entry; the rest are counted.
const AUDITED_TOPICS: usize = 100;

/// The audit entry's details of a topic change: how many, the first [`AUDITED_TOPICS`] by name, and how many
/// more there were (an entry stays small however large the request).
fn audited_topics(given: &[TopicConfig], templates: &[TopicTemplate]) -> serde_json::Value {
    let named: Vec<&str> = given
        .iter()
        .take(AUDITED_TOPICS)
        .map(|t| t.name.as_str())
        .collect();
    let mut details = serde_json::json!({
        "count": given.len(),
        "topics": named,
        "more": given.len().saturating_sub(AUDITED_TOPICS),
    });
    if !templates.is_empty() {
        details["templates"] = templates.iter().map(TopicTemplate::to_json).collect();
    }
    details
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries whose target starts with this, e.g. `tenants/acme`.
    target: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many: 1 to 10000.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// The audit log: every change, who made it and when, newest first.
#[utoipa::path(get, path = "/v1/audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Vec<crate::store::AuditRecord>),
        Invalid, Unauthorized, Unavailable))]
pub async fn audit(
    req: HttpRequest,
    state: web::Data<ApiState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let q = query.into_inner();
    if q.limit.is_some_and(|l| l == 0 || l > 10_000) {
        return Err(ApiError::invalid("limit must be between 1 and 10000"));
    }
    let filter = crate::store::AuditFilter {
        target_prefix: q.target,
        since: q.since,
        until: q.until,
        limit: q.limit,
    };
    let entries = state
        .store
        .audit(&filter)
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    Ok(HttpResponse::Ok().json(entries))
}
