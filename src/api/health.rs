//! Probes and metrics: `/healthz` (the process answers), `/readyz` (the store answers; each tenant's state for
//! a caller with a token), `/metrics` (Prometheus text: a read or admin token on the admin listener, none on
//! the metrics listener).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::ApiState;
use super::auth::authorize;
use crate::api::responses::Unauthorized;
use crate::config::Role;
use crate::supervisor::EngineStatus;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// `ok` or the store's error.
    pub store: String,
    /// Cluster mode only: `ok` while this instance renews its leases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<&'static str>,
    /// Each tenant's state; only for a caller with a read or admin token (tenant ids are not for anyone
    /// who can reach the port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenants: Option<BTreeMap<String, String>>,
}

/// What `/metrics` is rendered from, on the admin listener and on the metrics listener alike.
pub struct Scrape {
    pub board: Arc<crate::tenant::StatusBoard>,
    pub engine_sinks: Arc<crate::registry::EngineSinks>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The store answers (503 otherwise). With a read or admin token, each tenant's state is listed too; without
/// one (or with an unknown one) the answer has only `status` and `store`.
#[utoipa::path(get, path = "/readyz", security((), ("bearer" = [])),
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(req: HttpRequest, state: web::Data<ApiState>) -> HttpResponse {
    let store = match state.store.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let tenants = authorize(&req, &state.tokens, Role::Read).is_ok().then(|| {
        state
            .board
            .all()
            .into_iter()
            .map(|t| (t.id, t.state))
            .collect()
    });
    // Cluster mode: ready once this instance renews its leases (its membership is current).
    let cluster = state.cluster.as_ref().map(|c| {
        if c.fence.holds() {
            "ok"
        } else {
            "not renewing its leases"
        }
    });
    let ready = store == "ok" && cluster.is_none_or(|c| c == "ok");
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        store,
        cluster,
        tenants,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition (see the README's "Metrics"): the state gauges are refreshed from the status
/// board and the sinks first. No raw ids in labels. On the admin listener it needs a read or admin token; the
/// metrics listener (`[admin] metrics_listen`) serves it without one.
#[utoipa::path(get, path = "/metrics", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
        Unauthorized))]
pub async fn metrics(scrape: web::Data<Scrape>) -> HttpResponse {
    let status = EngineStatus::of(&scrape.board).metrics_snapshot();
    let sinks = scrape.engine_sinks.sinks().await;
    match scrape.metrics.render(Some(&status), &sinks).await {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
