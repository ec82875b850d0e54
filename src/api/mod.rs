//! The admin HTTP API (actix-web), served by `switchboard serve` on `[admin] listen`.
//!
//! Bearer-token auth with two roles (`admin`, `read`); one error body `{"code","message","details"}`; the
//! OpenAPI document at `/v1/openapi.json` is generated from the handlers. `/healthz`, `/readyz` (without its
//! tenants' states unless a token comes with it) and the OpenAPI document need no token (probes); every other
//! request without a known token, `/metrics` included, is refused before its body is read. With `[admin]
//! metrics_listen`, a second listener serves `/metrics` and `/healthz` only, without a token
//! ([`start_metrics`]).

pub mod auth;
mod cluster;
pub mod console;
pub mod error;
mod health;
mod page;
mod responses;
mod sinks;
mod status;
mod tail;
mod tenants;

use std::net::SocketAddr;
use std::sync::Arc;

use actix::Addr;
use actix_web::{App, HttpResponse, HttpServer, web};
use utoipa::OpenApi;

use crate::config::AdminToken;
use crate::router::RouterStats;
use crate::sink::SinkStats;
use crate::store::Store;
use crate::supervisor::Supervisor;

pub use self::error::ApiError;
pub use self::health::Scrape;

/// What the handlers reach.
pub struct ApiState {
    pub supervisor: Addr<Supervisor>,
    /// Every tenant's and channel's status, read without a message to the supervisor.
    pub board: Arc<crate::tenant::StatusBoard>,
    pub store: Arc<dyn Store>,
    pub tokens: Vec<AdminToken>,
    pub router: Arc<RouterStats>,
    pub sinks: Vec<(String, Arc<SinkStats>)>,
    /// Records after de-duplication, for live tails.
    pub tail: crate::router::TailFeed,
    /// Seals OAuth secrets: without it, tenants cannot be managed through the API.
    pub key: Option<crate::secrets::MasterKey>,
    /// The running sinks and routes, changed live by `/v1/sinks` and `/v1/routes`.
    pub engine_sinks: Arc<crate::registry::EngineSinks>,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Where connectors may connect: addresses written in bodies are checked against it.
    pub egress: crate::egress::Egress,
    /// The directory a tenant's `caFile` given through the API must be in (`[admin] ca_dir`).
    pub ca_dir: std::path::PathBuf,
    /// The directory file sinks created through the API write below (`[admin] data_dir`).
    pub data_dir: std::path::PathBuf,
    /// Files and directories no sink may write: the store (and its journal files) and the spool directory.
    pub protected_paths: Vec<std::path::PathBuf>,
    /// This instance's cluster membership, in cluster mode.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "switchboard admin API", description = "Tenants, channels, gaps, sinks, routes and health of a switchboard instance. `/metrics` is also served without a token on `[admin] metrics_listen` when that is set."),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        auth::whoami,
        status::engine_status,
        status::tenant_status,
        status::restart_tenant,
        status::gaps,
        tail::tail,
        tail::records,
        cluster::cluster,
        tenants::list,
        tenants::get,
        tenants::create,
        tenants::update,
        tenants::delete,
        tenants::pause,
        tenants::resume,
        tenants::topics,
        tenants::add_topics,
        tenants::remove_topics,
        tenants::audit,
        sinks::list,
        sinks::get,
        sinks::put,
        sinks::delete,
        sinks::dead_letters,
        sinks::replay,
        sinks::list_routes,
        sinks::put_route,
        sinks::delete_route,
    ),
    components(schemas(
        ApiError,
        crate::supervisor::EngineStatus,
        crate::tenant::TenantStatus,
        crate::channel::ChannelStatus,
        crate::tenant::ClientStatus,
        crate::tenant::QuotaStatus,
        crate::channel::Rejected,
        crate::channel::Lifecycle,
        crate::store::GapRecord,
        health::Health,
        health::Readiness,
        auth::WhoAmI,
        tenants::TenantBody,
        tenants::ClientBody,
        tenants::TopicBody,
        tenants::TopicsBody,
        tenants::TenantView,
        tenants::ClientView,
        crate::tenant::TopicPlacement,
        crate::tenant::TopicsChange,
        crate::store::AuditRecord,
        sinks::SinkBody,
        sinks::SinkView,
        sinks::ReplayView,
        crate::store::DeadLetter,
        sinks::RouteBody,
        sinks::RouteView,
        crate::store::RouteRecord,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Every route's path (as actix matches it) and its methods: a known path asked with another method is a 405
/// naming the methods in `Allow`, any other path a 404; both with an [`ApiError`] body.
const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/metrics", "GET"),
    ("/v1/openapi.json", "GET"),
    ("/v1/whoami", "GET"),
    ("/console", "GET"),
    ("/console/app.js", "GET"),
    ("/console/style.css", "GET"),
    ("/v1/status", "GET"),
    ("/v1/gaps", "GET"),
    ("/v1/audit", "GET"),
    ("/v1/tenants", "GET, POST"),
    ("/v1/tenants/{id}", "GET, PUT, DELETE"),
    ("/v1/tenants/{id}/status", "GET"),
    ("/v1/tenants/{id}/restart", "POST"),
    ("/v1/tenants/{id}/events", "GET"),
    ("/v1/tenants/{id}/records", "GET"),
    ("/v1/cluster", "GET"),
    ("/v1/tenants/{id}/pause", "POST"),
    ("/v1/tenants/{id}/resume", "POST"),
    ("/v1/tenants/{id}/topics", "GET, POST, DELETE"),
    ("/v1/sinks", "GET"),
    ("/v1/sinks/{name}", "GET, PUT, DELETE"),
    ("/v1/sinks/{name}/dead-letters", "GET"),
    ("/v1/sinks/{name}/dead-letters/replay", "POST"),
    ("/v1/routes", "GET"),
    ("/v1/routes/{id}", "PUT, DELETE"),
];

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    unmatched(&req, ROUTES)
}

async fn metrics_not_found(req: actix_web::HttpRequest) -> HttpResponse {
    unmatched(&req, &[("/metrics", "GET"), ("/healthz", "GET")])
}

fn unmatched(req: &actix_web::HttpRequest, routes: &[(&str, &str)]) -> HttpResponse {
    use actix_web::ResponseError;
    let path = req.path();
    let allowed = routes
        .iter()
        .find(|(pattern, _)| actix_web::dev::ResourceDef::new(*pattern).is_match(path));
    match allowed {
        Some((_, methods)) => {
            let mut res = ApiError::new(
                actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{path} answers {methods} only"),
            )
            .error_response();
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(methods) {
                res.headers_mut().insert(actix_web::http::header::ALLOW, v);
            }
            res
        }
        None => ApiError::not_found("no such route").error_response(),
    }
}

/// The routes, for the server and for tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/v1/openapi.json", web::get().to(openapi_json))
        .route("/v1/whoami", web::get().to(auth::whoami))
        .route("/v1/status", web::get().to(status::engine_status))
        .route(
            "/v1/tenants/{id}/status",
            web::get().to(status::tenant_status),
        )
        .route(
            "/v1/tenants/{id}/restart",
            web::post().to(status::restart_tenant),
        )
        .route("/v1/gaps", web::get().to(status::gaps))
        .route("/v1/tenants/{id}/events", web::get().to(tail::tail))
        .route("/v1/tenants/{id}/records", web::get().to(tail::records))
        .route("/v1/cluster", web::get().to(cluster::cluster))
        .route("/v1/tenants", web::get().to(tenants::list))
        .route("/v1/tenants", web::post().to(tenants::create))
        .route("/v1/tenants/{id}", web::get().to(tenants::get))
        .route("/v1/tenants/{id}", web::put().to(tenants::update))
        .route("/v1/tenants/{id}", web::delete().to(tenants::delete))
        .route("/v1/tenants/{id}/pause", web::post().to(tenants::pause))
        .route("/v1/tenants/{id}/resume", web::post().to(tenants::resume))
        .route("/v1/audit", web::get().to(tenants::audit))
        .service(
            web::resource("/v1/tenants/{id}/topics")
                // Bulk changes of thousands of topics are bigger than other bodies.
                .app_data(error::json_config(16 * 1024 * 1024))
                .default_service(web::to(not_found))
                .route(web::get().to(tenants::topics))
                .route(web::post().to(tenants::add_topics))
                .route(web::delete().to(tenants::remove_topics)),
        );
    sinks::configure(cfg);
    console::configure(cfg);
}

/// The routes of the metrics listener: the scrape and the liveness probe, nothing else, no token.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(health::metrics))
        .route("/healthz", web::get().to(health::healthz));
}

/// How long a client has to send a request's head.
const REQUEST_HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long an idle kept-alive connection stays open.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(30);
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;

/// Starts the API on the current actix system, on a listener bound beforehand (see [`bind`]); returns its
/// address.
pub fn start(
    listener: std::net::TcpListener,
    state: ApiState,
) -> std::io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let scrape = web::Data::new(Scrape {
        board: state.board.clone(),
        engine_sinks: state.engine_sinks.clone(),
        metrics: state.metrics.clone(),
    });
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(scrape.clone())
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .app_data(error::json_config(1024 * 1024))
            .app_data(error::query_config())
            .app_data(error::path_config())
            .configure(configure)
            .default_service(web::to(not_found))
            .wrap(actix_web::middleware::from_fn(auth::require_token))
    })
    .workers(1)
    // A client gets this long to send a request's head, and an idle kept-alive connection is closed after
    // KEEP_ALIVE: held connections cost descriptors.
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .max_connections(MAX_CONNECTIONS)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the admin API has no address"))?;
    let server = server.run();
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the admin API stopped");
        }
    });
    Ok((addr, handle))
}

/// Binds a listener of the API before anything else starts, so that a taken address fails the start at once
/// and says which setting names it (`setting`: where the address came from).
pub fn bind(listen: SocketAddr, setting: &str) -> anyhow::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(listen).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "already in use (another switchboard?)".to_string()
        } else {
            e.to_string()
        };
        anyhow::anyhow!("cannot listen on {listen}: {why}; choose another address with {setting}")
    })
}

/// Starts the metrics listener (`[admin] metrics_listen`) on the current actix system: `/metrics` and
/// `/healthz` without a token, nothing else. Returns the bound address.
pub fn start_metrics(
    listener: std::net::TcpListener,
    scrape: Scrape,
) -> std::io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let scrape = web::Data::new(scrape);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(scrape.clone())
            .configure(configure_metrics)
            .default_service(web::to(metrics_not_found))
    })
    .workers(1)
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .max_connections(MAX_CONNECTIONS)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the metrics listener has no address"))?;
    let server = server.run();
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok((addr, handle))
}
