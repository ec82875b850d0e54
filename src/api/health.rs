//! Probes and metrics: `/healthz` (the process answers), `/readyz` (the store answers; each tenant's state),
//! `/metrics` (Prometheus text).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::ApiState;
use crate::supervisor::GetStatus;

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
    let tenants = match state.supervisor.send(GetStatus).await {
        Ok(s) => s.tenants.into_iter().map(|t| (t.id, t.state)).collect(),
        Err(_) => BTreeMap::new(),
    };
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

/// Prometheus text exposition of the engine's counters (no raw ids in labels).
pub async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    let mut out = String::new();
    let r = &state.router;
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP switchboard_{name} {help}\n# TYPE switchboard_{name} counter\nswitchboard_{name} {value}"
        );
    };
    counter(
        &mut out,
        "events_received_total",
        "Events received from channels.",
        r.events_in.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "events_duplicate_total",
        "Duplicate events dropped.",
        r.duplicates.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "gaps_total",
        "Losses of continuity recorded.",
        r.gaps.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP switchboard_sink_sent_total Records delivered per sink.\n# TYPE switchboard_sink_sent_total counter"
    );
    // The sinks running now (they can change while the service runs).
    let sinks = state.engine_sinks.sinks().await;
    for s in &sinks {
        let _ = writeln!(
            out,
            "switchboard_sink_sent_total{{sink=\"{}\"}} {}",
            s.config.name, s.sent
        );
    }
    let _ = writeln!(
        out,
        "# HELP switchboard_sink_queue_depth Records waiting per sink.\n# TYPE switchboard_sink_queue_depth gauge"
    );
    for s in &sinks {
        let _ = writeln!(
            out,
            "switchboard_sink_queue_depth{{sink=\"{}\"}} {}",
            s.config.name, s.queued
        );
    }
    let _ = writeln!(
        out,
        "# HELP switchboard_dlq_total Records moved to the dead-letter store per sink.\n# TYPE switchboard_dlq_total counter"
    );
    for s in &sinks {
        let _ = writeln!(
            out,
            "switchboard_dlq_total{{sink=\"{}\"}} {}",
            s.config.name, s.dead
        );
    }
    let _ = writeln!(
        out,
        "# HELP switchboard_sink_spool_bytes Bytes waiting in each sink's spool on disk.\n# TYPE switchboard_sink_spool_bytes gauge"
    );
    for s in &sinks {
        let _ = writeln!(
            out,
            "switchboard_sink_spool_bytes{{sink=\"{}\"}} {}",
            s.config.name, s.spool_bytes
        );
    }
    let _ = writeln!(
        out,
        "# HELP switchboard_sink_spooled_total Records written to each sink's spool.\n# TYPE switchboard_sink_spooled_total counter"
    );
    for s in &sinks {
        let _ = writeln!(
            out,
            "switchboard_sink_spooled_total{{sink=\"{}\"}} {}",
            s.config.name, s.spooled
        );
    }
    let _ = writeln!(
        out,
        "# HELP switchboard_sink_spool_full 1 while a sink's spool is full (the router then waits for it).\n# TYPE switchboard_sink_spool_full gauge"
    );
    for s in &sinks {
        let _ = writeln!(
            out,
            "switchboard_sink_spool_full{{sink=\"{}\"}} {}",
            s.config.name,
            u8::from(s.spool_full)
        );
    }
    let _ = writeln!(
        out,
        "# HELP switchboard_sink_spool_full_total Times a sink found its spool full.\n# TYPE switchboard_sink_spool_full_total counter"
    );
    for s in &sinks {
        let _ = writeln!(
            out,
            "switchboard_sink_spool_full_total{{sink=\"{}\"}} {}",
            s.config.name, s.spool_full_total
        );
    }
    if let Ok(status) = state.supervisor.send(GetStatus).await {
        let _ = writeln!(
            out,
            "# HELP switchboard_channels Channels by state.\n# TYPE switchboard_channels gauge"
        );
        for t in &status.tenants {
            let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
            for c in &t.channels {
                *by_state.entry(c.lifecycle.name()).or_default() += 1;
            }
            for (s, n) in by_state {
                let _ = writeln!(
                    out,
                    "switchboard_channels{{tenant=\"{}\",state=\"{s}\"}} {n}",
                    t.id
                );
            }
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}
