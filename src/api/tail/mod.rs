//! `GET /v1/tenants/{id}/events`: the tenant's records as Server-Sent Events, and
//! `GET /v1/tenants/{id}/records`: the same, paged, for batch consumers.
//!
//! When a sink of kind `log` receives the tenant's records (a route names it), both read from that log: every
//! record carries its id (`id:` in the stream), a consumer resumes with `Last-Event-ID` (or `?after=ID`, or
//! `?since=RFC3339` by `receivedAt`), replays up to the live edge and follows on with no hole and no
//! duplicate; a slow watcher reads the log at its own pace instead of skipping. A position older than what
//! the log keeps gets one `gap` record with reason `replay_window` first. `?log=NAME` picks the log when
//! several receive the tenant's records.
//!
//! Without a log sink the events stream is a live tail of what the router hands the sinks, without ids: a
//! watcher that falls behind misses records (an SSE comment says how many).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

mod reader;

use self::reader::{Filter, LogReader, Start, replay_window, start_of};
use super::auth::authorize;
use super::{ApiError, ApiState};
use crate::api::responses::{Conflict, Invalid, NotFound, Redirected, Unauthorized, Unavailable};
use crate::config::Role;
use crate::router::Tailed;
use crate::sink::SinkKind;
use crate::sink::log::ReplayLog;

/// Records read from the log at once.
const READ_BATCH: usize = 256;
/// How long a stream stays silent before a keep-alive comment.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Records a paged read scans at most (a rare tenant in a busy log answers with fewer than `limit`).
const MAX_SCAN: usize = 100_000;
/// A paged read's default and largest `limit`.
const DEFAULT_LIMIT: usize = 1_000;
const MAX_LIMIT: usize = 10_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TailQuery {
    /// Only events of this topic family (`v2.users.{id}.presence`); a trailing `*` matches a prefix.
    family: Option<String>,
    /// Include gap records (default true).
    gaps: Option<bool>,
    /// The log sink to read (when several receive the tenant's records).
    log: Option<String>,
    /// Resume after this record id (as `Last-Event-ID`).
    after: Option<u64>,
    /// Start at the first record received at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordsQuery {
    /// The log sink to read (when several receive the tenant's records).
    log: Option<String>,
    /// Records after this id (default 0: from the oldest kept).
    after: Option<u64>,
    /// Start at the first record received at or after this time (RFC 3339), instead of `after`.
    since: Option<DateTime<Utc>>,
    /// At most this many records: 1 to 10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
    /// Only events of this topic family; a trailing `*` matches a prefix.
    family: Option<String>,
    /// Include gap records (default true).
    gaps: Option<bool>,
}

/// One record of a paged read.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordItem {
    /// The record's id in the log; absent for the `replay_window` gap that says records were trimmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    /// The envelope, exactly as sinks get it.
    #[schema(value_type = Object)]
    record: Box<serde_json::value::RawValue>,
}

/// A page of records.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordsPage {
    records: Vec<RecordItem>,
    /// Pass as `after` for the next page: the last id this page read through (records of other tenants or
    /// filtered out are passed over too).
    next: u64,
    /// The id of the newest record in the log: the page is the live edge when `next` reaches it.
    last: u64,
}

/// The log sink that receives `tenant`'s records (`wanted` names it when several do); `None` when no log
/// sink does and none was asked for.
async fn tenant_log(
    state: &ApiState,
    tenant: &str,
    wanted: Option<&str>,
) -> Result<Option<(String, Arc<ReplayLog>)>, ApiError> {
    let routes = state.engine_sinks.routes().await;
    let receives = |sink: &str| {
        routes.iter().any(|r| {
            r.sinks.iter().any(|s| s == sink) && r.tenants.iter().any(|t| t == "*" || t == tenant)
        })
    };
    let logs: Vec<(String, std::path::PathBuf)> = state
        .engine_sinks
        .sinks()
        .await
        .into_iter()
        .filter_map(|e| match e.config.kind {
            SinkKind::Log(l) if receives(&e.config.name) => Some((e.config.name, l.dir)),
            _ => None,
        })
        .collect();
    let (name, dir) = match (wanted, logs.as_slice()) {
        (Some(w), _) => logs.iter().find(|(n, _)| n == w).cloned().ok_or_else(|| {
            ApiError::not_found(format!(
                "no log sink {w:?} receives the records of tenant {tenant}"
            ))
        })?,
        (None, []) => return Ok(None),
        (None, [one]) => one.clone(),
        (None, several) => {
            let names: Vec<&str> = several.iter().map(|(n, _)| n.as_str()).collect();
            let mut e = ApiError::invalid(format!(
                "several log sinks receive the records of tenant {tenant}: choose one with ?log="
            ));
            e.details = vec![format!("log: one of {}", names.join(", "))];
            return Err(e);
        }
    };
    // Cluster mode: each instance keeps its own log, below the configured directory.
    let dir = match &state.cluster {
        Some(c) => dir.join(c.id()),
        None => dir,
    };
    let log = ReplayLog::find(&dir).ok_or_else(|| {
        ApiError::unavailable(format!(
            "the log of sink {name} is not open (its worker is starting or failed)"
        ))
    })?;
    Ok(Some((name, log)))
}

/// The tenant's records as Server-Sent Events: from its log sink with ids (resumable), or live.
#[utoipa::path(get, path = "/v1/tenants/{id}/events", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63), TailQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this record id (log sinks only)")),
    responses((status = 200, description = "text/event-stream of envelopes (`id:` the record's id in the log)", content_type = "text/event-stream"),
        Redirected,
        Invalid, Unauthorized, NotFound, Conflict, Unavailable))]
pub async fn tail(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    query: web::Query<TailQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(to) = reader_of(&req, &state, &id).await? {
        return Ok(to);
    }
    let q = query.into_inner();
    let start = start_of(&req, q.after, q.since)?;
    let tenant = id.into_inner();
    let filter = Filter {
        tenant: tenant.clone(),
        family: q.family,
        gaps: q.gaps.unwrap_or(true),
    };
    let Some((_, log)) = tenant_log(&state, &tenant, q.log.as_deref()).await? else {
        if !matches!(start, Start::Live) {
            return Err(no_log(&tenant));
        }
        return Ok(live_tail(&state, filter));
    };
    let reader = LogReader::new(log.clone(), filter, &start);
    let watch = log.watch();
    let region_of = {
        let state = state.clone();
        move |from, to| replay_window(&state, &tenant, from, to)
    };
    let stream = futures_util::stream::unfold(
        (
            Some(reader),
            watch,
            VecDeque::<Bytes>::new(),
            Arc::new(region_of),
        ),
        |(mut reader, mut watch, mut pending, region_of)| async move {
            loop {
                if let Some(chunk) = pending.pop_front() {
                    return Some((
                        Ok::<_, actix_web::Error>(chunk),
                        (reader, watch, pending, region_of),
                    ));
                }
                let mut r = reader.take()?;
                let region = region_of.clone();
                let stepped = tokio::task::spawn_blocking(move || {
                    let step = r.step(&*region, READ_BATCH);
                    (r, step)
                })
                .await;
                let (r, step) = match stepped {
                    Ok(done) => done,
                    Err(_) => return None,
                };
                reader = Some(r);
                let step = match step {
                    Ok(s) => s,
                    Err(e) => {
                        // The reader cannot go on; say why and end the stream (the client reconnects).
                        let chunk = Bytes::from(format!(": the log cannot be read: {e}\n\n"));
                        return Some((Ok(chunk), (None, watch, pending, region_of)));
                    }
                };
                for (id, json) in step.records {
                    let mut line = Vec::with_capacity(json.len() + 32);
                    if let Some(id) = id {
                        line.extend_from_slice(format!("id: {id}\n").as_bytes());
                    }
                    line.extend_from_slice(b"data: ");
                    line.extend_from_slice(&json);
                    line.extend_from_slice(b"\n\n");
                    pending.push_back(Bytes::from(line));
                }
                if !pending.is_empty() || step.progressed {
                    continue;
                }
                match tokio::time::timeout(KEEPALIVE, watch.changed()).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(_)) => return None,
                    Err(_) => {
                        pending.push_back(Bytes::from_static(b": keepalive\n\n"));
                    }
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}

fn no_log(tenant: &str) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::CONFLICT,
        "conflict",
        format!(
            "no log sink receives the records of tenant {tenant}: resuming needs a sink of kind \"log\" \
             and a route to it"
        ),
    )
}

/// The live tail without a log: what the router hands the sinks, no ids; a slow watcher skips.
fn live_tail(state: &ApiState, filter: Filter) -> HttpResponse {
    let rx = state.tail.subscribe();
    let stream = futures_util::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            let next = tokio::time::timeout(KEEPALIVE, rx.recv()).await;
            let chunk = match next {
                Err(_) => Bytes::from_static(b": keepalive\n\n"),
                Ok(Ok(t)) if wants_tailed(&filter, &t) => {
                    let mut line = Vec::with_capacity(t.json.len() + 8);
                    line.extend_from_slice(b"data: ");
                    line.extend_from_slice(&t.json);
                    line.extend_from_slice(b"\n\n");
                    Bytes::from(line)
                }
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(n))) => Bytes::from(format!(
                    ": {n} records skipped (the watcher fell behind)\n\n"
                )),
                Ok(Err(RecvError::Closed)) => return None,
            };
            return Some((Ok::<_, actix_web::Error>(chunk), (rx, filter)));
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream)
}

fn wants_tailed(filter: &Filter, t: &Tailed) -> bool {
    filter.wants(&t.tenant, t.kind, &t.json)
}

/// A page of the tenant's records from its log sink, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{id}/records", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63), RecordsQuery),
    responses((status = 200, body = RecordsPage),
        Redirected,
        Invalid, Unauthorized, NotFound, Conflict, Unavailable))]
pub async fn records(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    query: web::Query<RecordsQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(to) = reader_of(&req, &state, &id).await? {
        return Ok(to);
    }
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let start = match (q.after, q.since) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("give after or since, not both"));
        }
        (after, None) => Start::After(after.unwrap_or(0)),
        (None, Some(t)) => Start::Since(t),
    };
    let tenant = id.into_inner();
    let Some((_, log)) = tenant_log(&state, &tenant, q.log.as_deref()).await? else {
        return Err(no_log(&tenant));
    };
    let filter = Filter {
        tenant: tenant.clone(),
        family: q.family,
        gaps: q.gaps.unwrap_or(true),
    };
    let mut reader = LogReader::new(log.clone(), filter, &start);
    let st = state.clone();
    let page = web::block(move || -> std::io::Result<RecordsPage> {
        let region = |f, t| replay_window(&st, &tenant, f, t);
        let mut items = Vec::new();
        let mut scanned = 0;
        while items.len() < limit && scanned < MAX_SCAN {
            let step = reader.step(&region, READ_BATCH.min(limit - items.len()).max(1))?;
            for (id, json) in step.records {
                let record = serde_json::value::RawValue::from_string(
                    String::from_utf8_lossy(&json).into_owned(),
                )
                .map_err(std::io::Error::other)?;
                items.push(RecordItem { id, record });
            }
            if !step.progressed {
                break;
            }
            scanned += READ_BATCH;
        }
        Ok(RecordsPage {
            records: items,
            next: reader.cursor.next.saturating_sub(1),
            last: *reader.log.watch().borrow(),
        })
    })
    .await
    .map_err(|_| ApiError::unavailable("the log cannot be read now"))?
    .map_err(|e| ApiError::unavailable(format!("the log cannot be read: {e}")))?;
    Ok(HttpResponse::Ok().json(page))
}

/// Who may read the tenant's records here: a read token, a known tenant, and (cluster mode) a tenant this
/// instance owns; otherwise the redirect to its owner.
async fn reader_of(
    req: &HttpRequest,
    state: &ApiState,
    tenant: &str,
) -> Result<Option<HttpResponse>, ApiError> {
    authorize(req, &state.tokens, Role::Read)?;
    if !state.board.contains(tenant) {
        return Err(ApiError::not_found(format!("no tenant {tenant}")));
    }
    super::cluster::redirect_to_owner(state, tenant, req, true).await
}
