//! `GET /v1/tenants/{id}/events`: a live tail of a tenant's records as Server-Sent Events.
//!
//! Each record is one `data:` line (the envelope, exactly as sinks get it). A watcher that falls behind
//! misses records (an SSE comment says how many) rather than slowing delivery to the sinks.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::auth::authorize;
use super::{ApiError, ApiState};
use crate::api::responses::{Invalid, NotFound, Unauthorized};
use crate::config::Role;
use crate::router::Tailed;
use crate::sink::RecordKind;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TailQuery {
    /// Only events of this topic family (`v2.users.{id}.presence`); a trailing `*` matches a prefix.
    family: Option<String>,
    /// Include gap records (default true).
    gaps: Option<bool>,
}

struct Filter {
    tenant: String,
    family: Option<String>,
    gaps: bool,
}

impl Filter {
    fn wants(&self, t: &Tailed) -> bool {
        if *t.tenant != *self.tenant {
            return false;
        }
        match t.kind {
            RecordKind::Gap => self.gaps,
            _ => match &self.family {
                None => true,
                Some(f) => {
                    #[derive(Deserialize)]
                    struct Probe<'a> {
                        #[serde(rename = "topicFamily", borrow)]
                        topic_family: Option<&'a str>,
                    }
                    let family = serde_json::from_slice::<Probe<'_>>(&t.json)
                        .ok()
                        .and_then(|p| p.topic_family);
                    match (f.strip_suffix('*'), family) {
                        (Some(prefix), Some(fam)) => fam.starts_with(prefix),
                        (None, Some(fam)) => fam == f,
                        _ => false,
                    }
                }
            },
        }
    }
}

/// A live tail of the tenant's events and gaps.
#[utoipa::path(get, path = "/v1/tenants/{id}/events", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id", pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length = 63), TailQuery),
    responses((status = 200, description = "text/event-stream of envelopes", content_type = "text/event-stream"),
        Invalid, Unauthorized, NotFound))]
pub async fn tail(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    query: web::Query<TailQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    if !state.board.contains(&id) {
        return Err(ApiError::not_found(format!("no tenant {id}")));
    }
    let q = query.into_inner();
    let filter = Filter {
        tenant: id.into_inner(),
        family: q.family,
        gaps: q.gaps.unwrap_or(true),
    };
    let rx = state.tail.subscribe();
    let stream = futures_util::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(15), rx.recv()).await;
            let chunk = match next {
                Err(_) => Bytes::from_static(b": keepalive\n\n"),
                Ok(Ok(t)) if filter.wants(&t) => {
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
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}
