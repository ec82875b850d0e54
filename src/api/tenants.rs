//! Tenants and their topics: create, read, update, delete, pause and resume; topics added and removed in
//! bulk, validated against the catalogue, listed with where each one is. Changes take effect at once, moving
//! as few topics as possible. OAuth client secrets are write-only: a response shows `"secret": "set"`.

use std::collections::HashSet;
use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::auth::{Caller, authorize};
use super::page::{self, PageQuery};
use super::{ApiError, ApiState};
use crate::config::{
    ClientConfig, Endpoints, Role, Secret, TenantConfig, TopicConfig, is_valid_tenant_id,
};
use crate::egress::Egress;
use crate::limits::{MAX_TENANTS, MAX_TOPICS_PER_REQUEST, MAX_TOPICS_PER_TENANT};
use crate::secrets::MasterKey;
use crate::supervisor::{GetPlacement, GetTenants, RemoveTenant, UpsertTenant};
use crate::tenants;
use crate::topics::{Catalogue, expand};

const MAX_SECRET: usize = 1024;
const MAX_ID: usize = 128;
const MAX_URL: usize = 2048;

/// A topic: a name, or a name with a priority.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TopicBody {
    Name(String),
    WithPriority {
        name: String,
        #[serde(default)]
        priority: i32,
    },
}

impl TopicBody {
    fn into_config(self) -> TopicConfig {
        match self {
            TopicBody::Name(name) => TopicConfig {
                name: name.trim().to_string(),
                priority: 0,
            },
            TopicBody::WithPriority { name, priority } => TopicConfig {
                name: name.trim().to_string(),
                priority,
            },
        }
    }
}

/// An OAuth client. `secret` is required when the client is new; leave it out to keep the stored one.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientBody {
    /// 1 to 128 bytes, no `:`.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^:]+$")]
    pub id: String,
    /// 1 to 1024 bytes.
    #[schema(min_length = 1, max_length = 1024)]
    pub secret: Option<String>,
}

/// A tenant as written: a region key, or both base URLs.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantBody {
    /// a-z, 0-9, `_` and `-`, starting with a letter or digit, at most 63 characters.
    #[schema(
        pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$",
        min_length = 1,
        max_length = 63
    )]
    pub id: String,
    /// A Genesys Cloud region key (e.g. `mypurecloud.com`); or give both `apiBase` and `loginBase`.
    pub region: Option<String>,
    /// An http(s) URL of at most 2048 bytes, allowed by `[egress]`.
    #[schema(max_length = 2048)]
    pub api_base: Option<String>,
    /// An http(s) URL of at most 2048 bytes, allowed by `[egress]`.
    #[schema(max_length = 2048)]
    pub login_base: Option<String>,
    #[serde(default)]
    pub paused: bool,
    /// A PEM file in `[admin] ca_dir`.
    pub ca_file: Option<String>,
    /// At least one OAuth client.
    #[schema(min_items = 1)]
    pub clients: Vec<ClientBody>,
    /// At most 10000 in one request; each must be a topic of the catalogue.
    #[serde(default)]
    #[schema(max_items = 10000)]
    pub topics: Vec<TopicBody>,
}

/// A client as shown: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub id: String,
    /// Always `"set"`.
    pub secret: &'static str,
}

/// A tenant as shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub id: String,
    pub region: String,
    pub api_base: String,
    pub login_base: String,
    pub paused: bool,
    pub ca_file: Option<String>,
    pub clients: Vec<ClientView>,
    pub topics: usize,
}

impl From<&TenantConfig> for TenantView {
    fn from(t: &TenantConfig) -> TenantView {
        TenantView {
            id: t.id.clone(),
            region: t.endpoints.region.clone(),
            api_base: t.endpoints.api_base.clone(),
            login_base: t.endpoints.login_base.clone(),
            paused: t.paused,
            ca_file: t.ca_file.as_ref().map(|p| p.display().to_string()),
            clients: t
                .clients
                .iter()
                .map(|c| ClientView {
                    id: c.id.clone(),
                    secret: "set",
                })
                .collect(),
            topics: t.topics.len(),
        }
    }
}

/// Topics to add or remove.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicsBody {
    /// At most 10000 in one request; each must be a topic of the catalogue.
    #[schema(max_items = 10000)]
    pub topics: Vec<TopicBody>,
}

/// Topics as the platform counts them (combined ids expanded).
fn expanded_count(topics: &[TopicConfig]) -> usize {
    let catalogue = Catalogue::shipped();
    topics
        .iter()
        .map(|t| expand(catalogue, &t.name).map_or(1, |names| names.len()))
        .sum()
}

/// A tenant may follow at most [`MAX_TOPICS_PER_TENANT`] topics.
fn check_tenant_topics(topics: &[TopicConfig]) -> Result<(), ApiError> {
    let n = expanded_count(topics);
    if n > MAX_TOPICS_PER_TENANT {
        return Err(ApiError::invalid(format!(
            "the tenant would follow {n} topics, at most {MAX_TOPICS_PER_TENANT}"
        )));
    }
    Ok(())
}

/// Validates topics; every bad one is named in `details`.
fn check_topics(topics: &[TopicConfig], details: &mut Vec<String>) {
    if topics.len() > MAX_TOPICS_PER_REQUEST {
        details.push(format!(
            "topics: {} given, at most {MAX_TOPICS_PER_REQUEST} in one request",
            topics.len()
        ));
        return;
    }
    let catalogue = Catalogue::shipped();
    let mut seen = HashSet::new();
    for (i, t) in topics.iter().enumerate() {
        match expand(catalogue, &t.name) {
            Err(e) => details.push(format!("topics[{i}]: {:?}: {e}", truncate(&t.name))),
            Ok(names) => {
                for n in names {
                    if !seen.insert(n) {
                        details.push(format!(
                            "topics[{i}]: {:?} is listed twice",
                            truncate(&t.name)
                        ));
                    }
                }
            }
        }
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(120)])
    } else {
        s.to_string()
    }
}

fn endpoints(body: &TenantBody, egress: &Egress, details: &mut Vec<String>) -> Option<Endpoints> {
    let url_ok = |u: &str| {
        (u.starts_with("https://") || u.starts_with("http://"))
            && u.len() <= MAX_URL
            && !u.contains(char::is_whitespace)
    };
    match (&body.region, &body.api_base, &body.login_base) {
        (Some(r), None, None) => Endpoints::for_region(r).or_else(|| {
            details.push(format!("region: {:?} is not a region key", truncate(r)));
            None
        }),
        (None, Some(a), Some(l)) => {
            if !url_ok(a) {
                details.push("apiBase: must be an http(s) URL".into());
            }
            if !url_ok(l) {
                details.push("loginBase: must be an http(s) URL".into());
            }
            // Hosts written as addresses are refused here; names when they are resolved.
            for (field, base) in [("apiBase", a), ("loginBase", l)] {
                let host = reqwest::Url::parse(base)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                if let Err(e) = egress.check_literal(&host) {
                    details.push(format!("{field}: {e}"));
                }
            }
            (url_ok(a) && url_ok(l)).then(|| Endpoints {
                region: "custom".into(),
                api_base: a.trim_end_matches('/').to_string(),
                login_base: l.trim_end_matches('/').to_string(),
            })
        }
        _ => {
            details.push("give either region, or both apiBase and loginBase".into());
            None
        }
    }
}

/// A body's `caFile`: below the API's CA directory (`[admin] ca_dir`), a regular file of at most 1 MiB with a
/// PEM certificate, read on a blocking thread (never on the request worker). A tenant keeps the `caFile` it
/// has (one from the config file may be anywhere) when the body repeats it.
async fn checked_ca_file(
    state: &ApiState,
    requested: Option<&str>,
    existing: Option<&TenantConfig>,
) -> Result<Option<PathBuf>, String> {
    let Some(requested) = requested else {
        return Ok(None);
    };
    if let Some(kept) = existing.and_then(|t| t.ca_file.as_ref())
        && kept.as_os_str() == requested
    {
        return Ok(Some(kept.clone()));
    }
    let dir = state.ca_dir.clone();
    let requested = requested.to_string();
    web::block(move || {
        let path = crate::files::confine(&dir, &requested)?;
        let pem = crate::files::read_regular(&path, crate::files::MAX_CA_FILE_BYTES)?;
        if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            Ok(Some(path))
        } else {
            Err(format!("{} holds no PEM certificate", path.display()))
        }
    })
    .await
    .map_err(|_| "cannot be read now".to_string())?
}

/// Validates a body into a tenant; `existing` provides the secrets of clients given without one.
fn validate(
    body: TenantBody,
    existing: Option<&TenantConfig>,
    ca_file: Result<Option<PathBuf>, String>,
    egress: &Egress,
) -> Result<TenantConfig, ApiError> {
    let mut details = Vec::new();
    if !is_valid_tenant_id(&body.id) {
        details.push(format!(
            "id: {:?} is not a valid tenant id (a-z, 0-9, _ and -, up to 63)",
            truncate(&body.id)
        ));
    }
    let endpoints = endpoints(&body, egress, &mut details);
    if body.clients.is_empty() {
        details.push("clients: at least one OAuth client is required".into());
    }
    let mut clients = Vec::new();
    let mut ids = HashSet::new();
    for (i, c) in body.clients.iter().enumerate() {
        if c.id.trim().is_empty() || c.id.len() > MAX_ID || c.id.contains(':') {
            details.push(format!("clients[{i}].id: 1 to {MAX_ID} characters, no ':'"));
        }
        if !ids.insert(c.id.clone()) {
            details.push(format!(
                "clients[{i}].id: {:?} is listed twice",
                truncate(&c.id)
            ));
        }
        let secret = match &c.secret {
            Some(s) if s.is_empty() || s.len() > MAX_SECRET => {
                details.push(format!("clients[{i}].secret: 1 to {MAX_SECRET} characters"));
                None
            }
            Some(s) => Some(Secret::new(s.clone())),
            None => match existing.and_then(|t| t.clients.iter().find(|x| x.id == c.id)) {
                Some(old) => Some(old.secret.clone()),
                None => {
                    details.push(format!("clients[{i}].secret: required for a new client"));
                    None
                }
            },
        };
        if let Some(secret) = secret {
            clients.push(ClientConfig {
                id: c.id.clone(),
                secret,
            });
        }
    }
    let topics: Vec<TopicConfig> = body
        .topics
        .into_iter()
        .map(TopicBody::into_config)
        .collect();
    check_topics(&topics, &mut details);
    if let Err(e) = check_tenant_topics(&topics) {
        details.push(format!("topics: {}", e.message));
    }
    let ca_file = ca_file.unwrap_or_else(|e| {
        details.push(format!("caFile: {e}"));
        None
    });
    match endpoints {
        Some(endpoints) if details.is_empty() => Ok(TenantConfig {
            id: body.id,
            endpoints,
            clients,
            topics,
            paused: body.paused,
            ca_file,
        }),
        _ => {
            let mut e = ApiError::invalid("the tenant is not valid");
            e.details = details;
            Err(e)
        }
    }
}

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
    responses(
        (status = 200, body = Vec<TenantView>, description = "One page", headers(("X-Total-Count" = u64, description = "Items in the whole list"), ("Link" = String, description = "`<path?offset=&limit=>; rel=\"next\"` when more remain"))),
        (status = 400, description = "The query, the path or the body is not valid (`invalid`): every bad field is named in `details`", body = ApiError),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
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
    responses(
        (status = 200, body = TenantView),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 404, description = "No such tenant, sink or route (`not_found`)", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
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
    responses(
        (status = 201, body = TenantView),
        (status = 400, description = "The query, the path or the body is not valid (`invalid`): every bad field is named in `details`", body = ApiError),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 403, description = "The token's role may not do that (`forbidden`)", body = ApiError),
        (status = 409, description = "Refused in the current state: `conflict`, `no_master_key` or `limit_reached`", body = ApiError),
        (status = 413, description = "The body is too big (`too_large`)", body = ApiError),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<TenantBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    key(&state)?;
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
    let tenant = validate(body.into_inner(), None, ca_file, &state.egress)?;
    let view = TenantView::from(&tenant);
    apply(&state, &caller, tenant, "tenant.create").await?;
    Ok(HttpResponse::Created().json(view))
}

/// Replaces a tenant's definition (clients given without a secret keep theirs).
#[utoipa::path(put, path = "/v1/tenants/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)), request_body = TenantBody,
    responses(
        (status = 200, body = TenantView),
        (status = 400, description = "The query, the path or the body is not valid (`invalid`): every bad field is named in `details`", body = ApiError),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 403, description = "The token's role may not do that (`forbidden`)", body = ApiError),
        (status = 404, description = "No such tenant, sink or route (`not_found`)", body = ApiError),
        (status = 409, description = "Refused in the current state: `conflict`, `no_master_key` or `limit_reached`", body = ApiError),
        (status = 413, description = "The body is too big (`too_large`)", body = ApiError),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
pub async fn update(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<TenantBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    key(&state)?;
    let existing = current(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))?;
    if body.id != *id {
        return Err(ApiError::invalid("the body's id must be the path's id"));
    }
    let ca_file = checked_ca_file(&state, body.ca_file.as_deref(), Some(&existing)).await;
    let tenant = validate(body.into_inner(), Some(&existing), ca_file, &state.egress)?;
    let view = TenantView::from(&tenant);
    apply(&state, &caller, tenant, "tenant.update").await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes a tenant: its channels stop and its definition, clients and topics are forgotten.
#[utoipa::path(delete, path = "/v1/tenants/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)),
    responses(
        (status = 204),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 403, description = "The token's role may not do that (`forbidden`)", body = ApiError),
        (status = 404, description = "No such tenant, sink or route (`not_found`)", body = ApiError),
        (status = 409, description = "Refused in the current state: `conflict`, `no_master_key` or `limit_reached`", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
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
    responses(
        (status = 200, body = TenantView),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 403, description = "The token's role may not do that (`forbidden`)", body = ApiError),
        (status = 404, description = "No such tenant, sink or route (`not_found`)", body = ApiError),
        (status = 409, description = "Refused in the current state: `conflict`, `no_master_key` or `limit_reached`", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
pub async fn pause(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_paused(req, state, id, true).await
}

/// Resumes a paused tenant.
#[utoipa::path(post, path = "/v1/tenants/{id}/resume", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)),
    responses(
        (status = 200, body = TenantView),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 403, description = "The token's role may not do that (`forbidden`)", body = ApiError),
        (status = 404, description = "No such tenant, sink or route (`not_found`)", body = ApiError),
        (status = 409, description = "Refused in the current state: `conflict`, `no_master_key` or `limit_reached`", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
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
    responses(
        (status = 200, body = Vec<crate::tenant::TopicPlacement>, description = "One page", headers(("X-Total-Count" = u64, description = "Items in the whole list"), ("Link" = String, description = "`<path?offset=&limit=>; rel=\"next\"` when more remain"))),
        (status = 400, description = "The query, the path or the body is not valid (`invalid`): every bad field is named in `details`", body = ApiError),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 404, description = "No such tenant, sink or route (`not_found`)", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
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
    responses(
        (status = 200, body = crate::tenant::TopicsChange),
        (status = 400, description = "The query, the path or the body is not valid (`invalid`): every bad field is named in `details`", body = ApiError),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 403, description = "The token's role may not do that (`forbidden`)", body = ApiError),
        (status = 404, description = "No such tenant, sink or route (`not_found`)", body = ApiError),
        (status = 409, description = "Refused in the current state: `conflict`, `no_master_key` or `limit_reached`", body = ApiError),
        (status = 413, description = "The body is too big (`too_large`)", body = ApiError),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
pub async fn add_topics(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<TopicsBody>,
) -> Result<HttpResponse, ApiError> {
    change_topics(req, state, id, body.into_inner(), true).await
}

/// Removes topics (by name, case ignored).
#[utoipa::path(delete, path = "/v1/tenants/{id}/topics", security(("bearer" = [])), params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63)), request_body = TopicsBody,
    responses(
        (status = 200, body = crate::tenant::TopicsChange),
        (status = 400, description = "The query, the path or the body is not valid (`invalid`): every bad field is named in `details`", body = ApiError),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 403, description = "The token's role may not do that (`forbidden`)", body = ApiError),
        (status = 404, description = "No such tenant, sink or route (`not_found`)", body = ApiError),
        (status = 409, description = "Refused in the current state: `conflict`, `no_master_key` or `limit_reached`", body = ApiError),
        (status = 413, description = "The body is too big (`too_large`)", body = ApiError),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
pub async fn remove_topics(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<TopicsBody>,
) -> Result<HttpResponse, ApiError> {
    change_topics(req, state, id, body.into_inner(), false).await
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
    let given: Vec<TopicConfig> = body
        .topics
        .into_iter()
        .map(TopicBody::into_config)
        .collect();
    let mut details = Vec::new();
    if add {
        check_topics(&given, &mut details);
    } else if given.len() > MAX_TOPICS_PER_REQUEST {
        details.push(format!(
            "topics: {} given, at most {MAX_TOPICS_PER_REQUEST} in one request",
            given.len()
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
    if add {
        t.topics.extend(given.iter().cloned());
        check_tenant_topics(&t.topics)?;
    }
    tenants::set_topics(state.store.as_ref(), &t.id, &t.topics)
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    // The definition (and its sealed secrets) is unchanged; only the topics moved.
    let _ = key;
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
        serde_json::json!({"count": given.len()}),
    )
    .await;
    Ok(HttpResponse::Ok().json(change.unwrap_or_default()))
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
    responses(
        (status = 200, body = Vec<crate::store::AuditRecord>),
        (status = 400, description = "The query, the path or the body is not valid (`invalid`): every bad field is named in `details`", body = ApiError),
        (status = 401, description = "No known bearer token (`unauthorized`)", body = ApiError),
        (status = 503, description = "The store did not answer or the engine is stopping (`unavailable`)", body = ApiError)))]
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
