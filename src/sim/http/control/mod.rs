//! `/sim/v1`: the control API that tests, the demo and the benchmarks use to steer the simulator.
//! No auth: the simulator is a test fixture and listens on loopback by default. The org's routes
//! (`/sim/v1/org...`) are in `org.rs`.

mod org;

use std::sync::Arc;

use actix_web::{HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::read_body;
use crate::sim::config::ClientSpec;
use crate::sim::ledger::LedgerFilter;
use crate::sim::state::{FaultRequest, Sim};
use crate::sim::workload::{ChangeError, WorkloadSpec};

type SimData = web::Data<Arc<Sim>>;

/// An error of the control API: 400 (or 404) with `{"code","message"}`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    status: actix_web::http::StatusCode,
    code: &'static str,
    message: String,
}

impl ControlError {
    fn invalid(message: impl Into<String>) -> Self {
        ControlError {
            status: actix_web::http::StatusCode::BAD_REQUEST,
            code: "invalid",
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        ControlError {
            status: actix_web::http::StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }
}

impl From<ChangeError> for ControlError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Invalid(m) => ControlError::invalid(m),
            ChangeError::NotFound(m) => ControlError::not_found(m),
        }
    }
}

impl ResponseError for ControlError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .json(serde_json::json!({"code": self.code, "message": self.message}))
    }
}

pub fn scope() -> actix_web::Scope {
    web::scope("/sim/v1")
        .route("/clients", web::post().to(register_client))
        .route("/clients", web::get().to(list_clients))
        .route("/workload", web::get().to(get_workload))
        .route("/workload", web::post().to(set_workload))
        .route("/faults", web::post().to(inject_fault))
        .route("/faults", web::delete().to(clear_faults))
        .route("/ledger", web::get().to(ledger))
        .route("/stats", web::get().to(stats))
        .route("/stats/topics", web::get().to(topic_stats))
        .route("/events", web::post().to(emit))
        .configure(org::routes)
}

async fn json_body<T: serde::de::DeserializeOwned>(
    payload: web::Payload,
) -> Result<T, ControlError> {
    let body = read_body(payload, 16 * 1024 * 1024)
        .await
        .map_err(|e| ControlError::invalid(e.message))?;
    serde_json::from_slice(&body)
        .map_err(|e| ControlError::invalid(format!("invalid JSON body: {e}")))
}

async fn register_client(
    sim: SimData,
    payload: web::Payload,
) -> Result<HttpResponse, ControlError> {
    let spec: ClientSpec = json_body(payload).await?;
    let id = spec.client_id.clone();
    sim.register_client(spec).map_err(ControlError::invalid)?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "clientId": id })))
}

async fn list_clients(sim: SimData) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "clients": sim.client_ids() }))
}

async fn get_workload(sim: SimData) -> HttpResponse {
    HttpResponse::Ok().json(sim.workload())
}

/// Changes the fields given and keeps the others.
async fn set_workload(sim: SimData, payload: web::Payload) -> Result<HttpResponse, ControlError> {
    let changes: serde_json::Map<String, serde_json::Value> = json_body(payload).await?;
    let mut merged =
        serde_json::to_value(sim.workload()).map_err(|e| ControlError::invalid(e.to_string()))?;
    if let Some(current) = merged.as_object_mut() {
        current.extend(changes);
    }
    let spec: WorkloadSpec = serde_json::from_value(merged)
        .map_err(|e| ControlError::invalid(format!("invalid workload: {e}")))?;
    sim.set_workload(spec).map_err(ControlError::invalid)?;
    Ok(HttpResponse::Ok().json(sim.workload()))
}

async fn inject_fault(sim: SimData, payload: web::Payload) -> Result<HttpResponse, ControlError> {
    let req: FaultRequest = json_body(payload).await?;
    let result = sim.inject(&req).map_err(ControlError::invalid)?;
    Ok(HttpResponse::Ok().json(result))
}

async fn clear_faults(sim: SimData) -> HttpResponse {
    sim.clear_faults();
    HttpResponse::NoContent().finish()
}

async fn ledger(sim: SimData, query: web::Query<LedgerFilter>) -> HttpResponse {
    HttpResponse::Ok().json(sim.ledger_page(&query))
}

async fn stats(sim: SimData) -> HttpResponse {
    HttpResponse::Ok().json(sim.stats_snapshot())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TopicStatsQuery {
    /// Only topics starting with this (case ignored).
    topic_prefix: Option<String>,
}

async fn topic_stats(sim: SimData, query: web::Query<TopicStatsQuery>) -> HttpResponse {
    HttpResponse::Ok().json(sim.stats.topic_churn(query.topic_prefix.as_deref()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EmitRequest {
    topic: String,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

async fn emit(sim: SimData, payload: web::Payload) -> Result<HttpResponse, ControlError> {
    let req: EmitRequest = json_body(payload).await?;
    if req.count == 0 || req.count > 100_000 {
        return Err(ControlError::invalid("count must be between 1 and 100000"));
    }
    let seqs = sim
        .emit(&req.topic, req.count)
        .map_err(ControlError::invalid)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "seqs": seqs })))
}
