//! Sinks and routes: listed, created or replaced, deleted, while the engine runs. Each change is stored, applied
//! to the router at once (records before it go the old way, records after it the new way, none lost), and
//! audited. Validation follows the configuration file's rules; every bad field is named in `details`.

use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::auth::authorize;
use super::error::Body;
use super::{ApiError, ApiState};
use crate::api::responses::{
    Conflict, Forbidden, Invalid, NotFound, TooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use crate::config::{Role, RouteConfig, is_valid_tenant_id};
use crate::registry::{ManageError, SinkEntry};
use crate::sink::SinkKind;
pub use crate::sink::body::{SinkBody, SinkView};
use crate::sink::body::{check_name, truncate};
use crate::sink::config::SinkConfig;
use crate::store::DeadLetter;
use crate::store::RouteRecord;
use crate::tenants;

/// Bodies of these routes are small; the limit is explicit so it holds however the routes are mounted.
const BODY_LIMIT: usize = 1024 * 1024;

/// The routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = || super::error::json_config(BODY_LIMIT);
    cfg.service(
        web::resource("/v1/sinks")
            .app_data(json())
            .default_service(web::to(super::not_found))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/v1/sinks/{name}")
            .app_data(json())
            .default_service(web::to(super::not_found))
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/v1/sinks/{name}/dead-letters")
            .app_data(json())
            .default_service(web::to(super::not_found))
            .route(web::get().to(dead_letters)),
    )
    .service(
        web::resource("/v1/sinks/{name}/dead-letters/replay")
            .app_data(json())
            .default_service(web::to(super::not_found))
            .route(web::post().to(replay)),
    )
    .service(
        web::resource("/v1/routes")
            .app_data(json())
            .default_service(web::to(super::not_found))
            .route(web::get().to(list_routes)),
    )
    .service(
        web::resource("/v1/routes/{id}")
            .app_data(json())
            .default_service(web::to(super::not_found))
            .route(web::put().to(put_route))
            .route(web::delete().to(delete_route)),
    );
}

impl From<SinkEntry> for SinkView {
    fn from(e: SinkEntry) -> SinkView {
        let mut view = SinkView::new(e.config, e.updated_at, e.sent, e.queued);
        view.dead_letters = e.dead;
        view.spool_bytes = e.spool_bytes;
        view.spool_full = e.spool_full;
        view
    }
}

/// A route as written. Every event of a listed tenant on a matching topic goes to every listed sink.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteBody {
    /// Tenant ids, or `"*"` for every tenant; not empty. Default `["*"]`.
    #[schema(min_items = 1)]
    pub tenants: Option<Vec<String>>,
    /// Names of existing sinks, at least one.
    #[schema(min_items = 1)]
    pub sinks: Vec<String>,
    /// Topic patterns (`*` matches any run of characters, case ignored), without spaces; not empty. Default
    /// `["*"]`.
    #[schema(min_items = 1)]
    pub topics: Option<Vec<String>>,
    /// Drop presence and routing-status events whose state equals the last one delivered. Default false.
    #[serde(default)]
    pub changes_only: bool,
    /// A CEL expression over each event (`topic`, `family`, `entity`, `tenant`, `body`, `metadata`): only
    /// events it is true for reach the route's sinks. A malformed one is refused (400) with its line and
    /// column. Default none: every event.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub filter: Option<String>,
}

/// A route as listed: as stored, and for a route with a filter, what its filter kept from the sinks since
/// the process started.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteView {
    #[serde(flatten)]
    pub route: RouteRecord,
    /// Events the filter kept from the route's sinks (it said false, or failed on them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filtered: Option<u64>,
    /// Of those, the events the filter failed on (a missing field, a result that is not a bool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_errors: Option<u64>,
}

/// Validates a sink on its own, as the configuration does (the check against other sinks' files is made
/// when it is applied); each kind checks its fields in its own `config.rs`.
fn validate_sink(name: &str, body: SinkBody) -> Result<SinkConfig, ApiError> {
    crate::sink::body::validate_sink(name, body).map_err(|details| invalid("sink", details))
}

fn invalid(what: &str, details: Vec<String>) -> ApiError {
    // The message names the first field at fault, for a reader that shows only the message.
    let mut e = match details.first() {
        Some(first) if details.len() == 1 => {
            ApiError::invalid(format!("the {what} is not valid: {first}"))
        }
        Some(first) => ApiError::invalid(format!(
            "the {what} is not valid: {first} (and {} more, see details)",
            details.len() - 1
        )),
        None => ApiError::invalid(format!("the {what} is not valid")),
    };
    e.details = details;
    e
}

/// Validates a route on its own, as the configuration does, except that tenants need not exist yet (they
/// come and go through the API); that its sinks exist is checked when it is applied.
fn validate_route(id: &str, body: RouteBody) -> Result<RouteConfig, ApiError> {
    let mut details = Vec::new();
    check_name("id", id, &mut details);
    let tenants = body.tenants.unwrap_or_else(|| vec!["*".into()]);
    if tenants.is_empty() {
        details.push("tenants: must not be empty (leave it out to mean every tenant)".into());
    }
    for (i, t) in tenants.iter().enumerate() {
        if t != "*" && !is_valid_tenant_id(t) {
            details.push(format!(
                "tenants[{i}]: {:?} is not a tenant id (or \"*\")",
                truncate(t)
            ));
        }
    }
    if body.sinks.is_empty() {
        details.push("sinks: must name at least one sink".into());
    }
    let topics = body.topics.unwrap_or_else(|| vec!["*".into()]);
    if topics.is_empty() {
        details.push("topics: must not be empty (leave it out to mean every topic)".into());
    }
    for (i, t) in topics.iter().enumerate() {
        if t.trim().is_empty() {
            details.push(format!("topics[{i}]: must not be empty"));
        } else if t.chars().any(char::is_whitespace) {
            details.push(format!(
                "topics[{i}]: {:?}: a topic pattern has no spaces",
                truncate(t)
            ));
        }
    }
    // Compiled here, once: the router runs what was checked.
    let filter = body
        .filter
        .and_then(|text| match crate::filter::Filter::compile(&text) {
            Ok(f) => Some(f),
            Err(e) => {
                details.push(format!(
                    "filter: {}",
                    crate::config::filter_fault(&text, &e)
                ));
                None
            }
        });
    if !details.is_empty() {
        return Err(invalid(&format!("route {:?}", truncate(id)), details));
    }
    Ok(RouteConfig {
        tenants,
        sinks: body.sinks,
        topics,
        changes_only: body.changes_only,
        filter,
    })
}

/// The API's form of a refused change.
fn refused(e: ManageError, what: &str, name: &str) -> ApiError {
    match e {
        ManageError::Invalid(details) => invalid(what, details),
        ManageError::NotFound => ApiError::not_found(format!("no {what} {name}")),
        ManageError::InUse(routes) => {
            let mut err = ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "{what} {name} is used by route(s) {}: change or delete them first",
                    routes.join(", ")
                ),
            );
            err.details = routes.into_iter().map(|r| format!("routes/{r}")).collect();
            err
        }
        ManageError::Store(e) => ApiError::unavailable(format!("the store did not answer: {e}")),
        ManageError::Stopped => ApiError::unavailable("the engine is stopping"),
        ManageError::NoMasterKey => ApiError::new(
            StatusCode::CONFLICT,
            "no_master_key",
            "a sink's secret (a webhook's signing secret, a Kafka sink's secret properties) can only be given through the API when a master key is set (SWITCHBOARD_MASTER_KEY or [store] key_file); otherwise define the sink in the configuration file",
        ),
    }
}

/// A file sink's path or a log sink's directory given through the API (`field`): below `[admin] data_dir`
/// (relative paths are taken from it), no `..`, no symbolic link leading out, and not the store, a spool or
/// anything inside the spool directory.
async fn confined_file_path(
    state: &ApiState,
    written: String,
    field: &'static str,
) -> Result<PathBuf, ApiError> {
    let dir = state.data_dir.clone();
    let protected = state.protected_paths.clone();
    let checked = web::block(move || {
        std::fs::create_dir_all(&dir).map_err(|e| format!("the data directory: {e}"))?;
        let path = crate::files::confine(&dir, &written)?;
        let protected: Vec<PathBuf> = protected
            .into_iter()
            .map(|p| p.canonicalize().unwrap_or(p))
            .collect();
        if let Some(p) = protected
            .iter()
            .find(|p| path.starts_with(p) || p.starts_with(&path))
        {
            return Err(format!(
                "{} is the store's or a spool's ({}), not a sink's",
                path.display(),
                p.display()
            ));
        }
        Ok(path)
    })
    .await
    .map_err(|_| ApiError::unavailable("the path cannot be checked now"))?;
    checked.map_err(|e| {
        let mut err = ApiError::invalid("the sink is not valid");
        err.details = vec![format!("{field}: {e}")];
        err
    })
}

/// Every sink.
#[utoipa::path(get, path = "/v1/sinks", security(("bearer" = [])),
    responses((status = 200, body = Vec<SinkView>),
        Unauthorized, Unavailable))]
pub async fn list(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let sinks = state.engine_sinks.sinks().await;
    Ok(HttpResponse::Ok().json(sinks.into_iter().map(SinkView::from).collect::<Vec<_>>()))
}

/// One sink.
#[utoipa::path(get, path = "/v1/sinks/{name}", security(("bearer" = [])), params(("name" = String, Path, description = "Sink name", pattern = r"^[a-z0-9_-]+$")),
    responses((status = 200, body = SinkView),
        Unauthorized, NotFound))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let sink = state
        .engine_sinks
        .sink(&name)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no sink {name}")))?;
    Ok(HttpResponse::Ok().json(SinkView::from(sink)))
}

/// Creates (201) or replaces (200) a sink, live. A replaced sink first writes what was routed to it before.
#[utoipa::path(put, path = "/v1/sinks/{name}", security(("bearer" = [])), params(("name" = String, Path, description = "Sink name", pattern = r"^[a-z0-9_-]+$")), request_body = SinkBody,
    responses((status = 200, body = SinkView),
        (status = 201, body = SinkView),
        Invalid, Unauthorized, Forbidden, Conflict, TooLarge, UnsupportedMediaType, Unavailable))]
pub async fn put(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<Body<SinkBody>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    let body = body.into_inner().0;
    let written_path = body
        .0
        .get("path")
        .and_then(|p| p.as_str())
        .map(str::to_string);
    let mut config = validate_sink(&name, body)?;
    match &mut config.kind {
        SinkKind::File(file) => {
            if let Some(written) = written_path {
                file.path = confined_file_path(&state, written, "path").await?;
            }
        }
        SinkKind::Log(log) => {
            let written = log.dir.display().to_string();
            log.dir = confined_file_path(&state, written, "dir").await?;
        }
        _ => {}
    }
    let (kind, mut settings) = (config.kind.name(), config.kind.settings());
    // The audit log never holds a credential written in a URL.
    if let Some(url) = settings.get_mut("url")
        && let Some(text) = url.as_str()
    {
        *url = serde_json::Value::String(crate::settings::redact_urls(text));
    }
    let (entry, created) = state
        .engine_sinks
        .put_sink(config)
        .await
        .map_err(|e| refused(e, "sink", &name))?;
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "sink.put",
        &format!("sinks/{name}"),
        serde_json::json!({"kind": kind, "settings": settings, "created": created}),
    )
    .await;
    Ok(put_answer(created, SinkView::from(entry)))
}

/// Audits a deletion by `caller` and answers 204.
async fn deleted(state: &ApiState, caller: &str, action: &str, target: String) -> HttpResponse {
    tenants::audit(
        state.store.as_ref(),
        caller,
        action,
        &target,
        serde_json::json!({}),
    )
    .await;
    HttpResponse::NoContent().finish()
}

/// The answer to a PUT: 201 with the thing when it was created, 200 when it was replaced.
fn put_answer(created: bool, body: impl Serialize) -> HttpResponse {
    if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// Deletes a sink (409 while a route names it). Its worker writes what was routed to it, then ends.
#[utoipa::path(delete, path = "/v1/sinks/{name}", security(("bearer" = [])), params(("name" = String, Path, description = "Sink name", pattern = r"^[a-z0-9_-]+$")),
    responses((status = 204),
        Unauthorized, Forbidden, NotFound, Conflict, Unavailable))]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    state
        .engine_sinks
        .delete_sink(&name)
        .await
        .map_err(|e| refused(e, "sink", &name))?;
    Ok(deleted(&state, &caller.name, "sink.delete", format!("sinks/{name}")).await)
}

/// `?limit=` of the dead-letter routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeadLetterQuery {
    /// At most this many (default 100); more than 10,000 is taken as 10,000.
    #[param(minimum = 0)]
    pub limit: Option<i64>,
}

/// What a replay did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayView {
    /// Dead letters sent to the sink again (and removed from the store).
    pub replayed: usize,
}

fn dead_letter_limit(q: &DeadLetterQuery) -> Result<usize, ApiError> {
    match q.limit {
        None => Ok(100),
        Some(l) if l < 0 => Err(ApiError::invalid("limit must not be negative")),
        Some(l) => Ok(usize::try_from(l.min(10_000)).unwrap_or(10_000)),
    }
}

/// The records a sink's destination rejected for good, newest first.
#[utoipa::path(get, path = "/v1/sinks/{name}/dead-letters", security(("bearer" = [])),
    params(("name" = String, Path, description = "Sink name", pattern = r"^[a-z0-9_-]+$"), DeadLetterQuery),
    responses((status = 200, body = Vec<DeadLetter>),
        (status = 400, description = "The query is not valid (`invalid`)", body = ApiError),
        (status = 404, description = "The name is not a sink name (`not_found`)", body = ApiError),
        Unauthorized, Unavailable))]
pub async fn dead_letters(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    query: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    if !crate::sink::config::is_valid_sink_name(&name) {
        return Err(ApiError::not_found(format!("no sink {}", truncate(&name))));
    }
    let letters = state
        .store
        .dead_letters(&name, dead_letter_limit(&query)?)
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    Ok(HttpResponse::Ok().json(letters))
}

/// Sends a sink's dead letters (the oldest `limit`) to it again and removes them from the store. A record the
/// destination rejects again becomes a new dead letter.
#[utoipa::path(post, path = "/v1/sinks/{name}/dead-letters/replay", security(("bearer" = [])),
    params(("name" = String, Path, description = "Sink name", pattern = r"^[a-z0-9_-]+$"), DeadLetterQuery),
    responses((status = 200, body = ReplayView),
        Invalid, Unauthorized, Forbidden, NotFound, Conflict, Unavailable))]
pub async fn replay(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    query: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    let replayed = state
        .engine_sinks
        .replay_dead_letters(&name, dead_letter_limit(&query)?.max(1))
        .await
        .map_err(|e| refused(e, "sink", &name))?;
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "deadletters.replay",
        &format!("sinks/{name}"),
        serde_json::json!({"replayed": replayed}),
    )
    .await;
    Ok(HttpResponse::Ok().json(ReplayView { replayed }))
}

/// Every route. Routes from the configuration file have the ids `config-1`, `config-2`... in file order.
#[utoipa::path(get, path = "/v1/routes", security(("bearer" = [])),
    responses((status = 200, body = Vec<RouteView>),
        Unauthorized, Unavailable))]
pub async fn list_routes(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let views: Vec<RouteView> = state
        .engine_sinks
        .routes()
        .await
        .into_iter()
        .map(|route| {
            let counts = state.router.filters.of(&route.id);
            RouteView {
                route,
                filtered: counts.map(|c| c.0),
                filter_errors: counts.map(|c| c.1),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Creates (201) or replaces (200) a route, live. Every sink it names must exist.
#[utoipa::path(put, path = "/v1/routes/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "Route id (`config-1`... for the configuration file's)", pattern = r"^[a-z0-9_-]+$")), request_body = RouteBody,
    responses((status = 200, body = RouteRecord),
        (status = 201, body = RouteRecord),
        Invalid, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, UnsupportedMediaType, Unavailable))]
pub async fn put_route(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<Body<RouteBody>>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    let route = validate_route(&id, body.into_inner().0)?;
    let (record, created) = state
        .engine_sinks
        .put_route(&id, route)
        .await
        .map_err(|e| refused(e, "route", &id))?;
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "route.put",
        &format!("routes/{id}"),
        serde_json::json!({"tenants": record.tenants, "sinks": record.sinks, "topics": record.topics,
            "changesOnly": record.changes_only, "filter": record.filter, "created": created}),
    )
    .await;
    Ok(put_answer(created, record))
}

/// Deletes a route.
#[utoipa::path(delete, path = "/v1/routes/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "Route id (`config-1`... for the configuration file's)", pattern = r"^[a-z0-9_-]+$")),
    responses((status = 204),
        Unauthorized, Forbidden, NotFound, Conflict, Unavailable))]
pub async fn delete_route(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    state
        .engine_sinks
        .delete_route(&id)
        .await
        .map_err(|e| refused(e, "route", &id))?;
    Ok(deleted(&state, &caller.name, "route.delete", format!("routes/{id}")).await)
}

#[cfg(test)]
mod tests;
