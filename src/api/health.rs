//! Probes and metrics: `/healthz` (the process answers), `/readyz` (the store answers; each tenant's state),
//! `/metrics` (Prometheus text).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::ApiState;
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
    /// Each tenant's state.
    pub tenants: BTreeMap<String, String>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The store answers (503 otherwise); each tenant's state is listed.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    let store = match state.store.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let tenants = state
        .board
        .all()
        .into_iter()
        .map(|t| (t.id, t.state))
        .collect();
    let ready = store == "ok";
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        store,
        tenants,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition (see the README's "Metrics"): the state gauges are refreshed from the engine's
/// status and the sinks first. No raw ids in labels.
pub async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    let status = EngineStatus::of(&state.board).metrics_snapshot();
    let sinks = state.engine_sinks.sinks().await;
    match state.metrics.render(Some(&status), &sinks).await {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
