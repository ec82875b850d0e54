//! Reading a tenant's records from a log: which records a reader wants ([`Filter`]), where it starts
//! ([`Start`]), and the reader itself ([`LogReader`]), which says `replay_window` when its records were
//! trimmed. Blocking file reads: callers run [`LogReader::step`] off the async threads.

use std::sync::Arc;
use std::time::SystemTime;

use actix_web::HttpRequest;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::api::{ApiError, ApiState};
use crate::sink::log::{Cursor, ReplayLog};
use crate::sink::{Delivery, RecordKind};

/// Which records a reader wants.
pub(super) struct Filter {
    pub(super) tenant: String,
    pub(super) family: Option<String>,
    pub(super) gaps: bool,
}

impl Filter {
    pub(super) fn wants(&self, tenant: &str, kind: RecordKind, json: &[u8]) -> bool {
        if tenant != self.tenant {
            return false;
        }
        match kind {
            RecordKind::Gap => self.gaps,
            _ => match &self.family {
                None => true,
                Some(f) => {
                    let family = crate::envelope::topic_family(json);
                    match (f.strip_suffix('*'), family) {
                        (Some(prefix), Some(fam)) => fam.starts_with(prefix),
                        (None, Some(fam)) => fam == *f,
                        _ => false,
                    }
                }
            },
        }
    }
}

/// When a record happened, for `since`: an event's or backfill's `receivedAt`, a gap's `to`.
fn record_time(d: &Delivery) -> Option<DateTime<Utc>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Times<'a> {
        received_at: Option<&'a str>,
        to: Option<&'a str>,
    }
    let text = match d.kind {
        RecordKind::Event => std::str::from_utf8(crate::envelope::received_at(&d.json)?)
            .ok()?
            .to_string(),
        _ => {
            let t: Times<'_> = serde_json::from_slice(&d.json).ok()?;
            t.received_at.or(t.to)?.to_string()
        }
    };
    DateTime::parse_from_rfc3339(&text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Where a reader starts, from `Last-Event-ID`, `after` or `since`: at most one.
pub(super) enum Start {
    Live,
    After(u64),
    Since(DateTime<Utc>),
}

pub(super) fn start_of(
    req: &HttpRequest,
    after: Option<u64>,
    since: Option<DateTime<Utc>>,
) -> Result<Start, ApiError> {
    let header = match req.headers().get("Last-Event-ID") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid("Last-Event-ID must be a record id (a whole number)")
                })?,
        ),
    };
    match (header.or(after), since) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "give a position (Last-Event-ID or after) or a time (since), not both",
        )),
        (Some(id), None) => Ok(Start::After(id)),
        (None, Some(t)) => Ok(Start::Since(t)),
        (None, None) => Ok(Start::Live),
    }
}

/// The `replay_window` gap: records from `from` on were asked for, the log keeps only those from `to` on.
pub(super) fn replay_window(
    state: &ApiState,
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<u8> {
    let region = state
        .board
        .get(tenant)
        .map(|s| s.region.clone())
        .unwrap_or_default();
    crate::envelope::gap_line(&crate::store::GapRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.to_string(),
        region,
        channel_id: String::new(),
        topics: Vec::new(),
        from: from.min(to),
        to,
        reason: "replay_window".into(),
        backfill: None,
    })
}

/// A reader of a tenant's records in a log: where it is, what it wants, and what it must say first.
pub(super) struct LogReader {
    pub(super) log: Arc<ReplayLog>,
    pub(super) cursor: Cursor,
    filter: Filter,
    /// Records before this time are passed over (until the first one at or after it).
    since: Option<DateTime<Utc>>,
    /// The time a `replay_window` gap says was asked for.
    asked_from: DateTime<Utc>,
}

/// What one step of a reader found.
pub(super) struct Step {
    /// (id, json); the id is `None` for a `replay_window` gap.
    pub(super) records: Vec<(Option<u64>, Bytes)>,
    /// Records were read (perhaps all filtered out): read again at once.
    pub(super) progressed: bool,
}

impl LogReader {
    pub(super) fn new(log: Arc<ReplayLog>, filter: Filter, start: &Start) -> LogReader {
        let (cursor, since) = match start {
            Start::Live => (log.end(), None),
            Start::After(id) => (log.after(*id), None),
            Start::Since(t) => (log.from_time(SystemTime::from(*t)), Some(*t)),
        };
        let asked_from = since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        LogReader {
            log,
            cursor,
            filter,
            since,
            asked_from,
        }
    }

    /// Reads the next records (blocking file reads: call off the async threads).
    /// `window` writes the `replay_window` gap for a span that was trimmed.
    pub(super) fn step(
        &mut self,
        window: &dyn Fn(DateTime<Utc>, DateTime<Utc>) -> Vec<u8>,
        max: usize,
    ) -> std::io::Result<Step> {
        let mut out = Vec::new();
        // A `since` older than the log: the oldest kept record is later than what was asked for.
        if let Some(since) = self.since
            && self.cursor.next == self.log.first_id()
            && self.log.first_id() > 1
        {
            let oldest = DateTime::<Utc>::from(self.log.oldest_time());
            if since < oldest {
                out.push((None, Bytes::from(window(since, oldest))));
            }
        }
        let read = self.log.read(self.cursor, max)?;
        if read.trimmed {
            let oldest = DateTime::<Utc>::from(self.log.oldest_time());
            out.push((None, Bytes::from(window(self.asked_from, oldest))));
        }
        let progressed = !read.records.is_empty();
        self.cursor = read.cursor;
        for (id, d) in read.records {
            if let Some(since) = self.since {
                match record_time(&d) {
                    Some(t) if t >= since => self.since = None,
                    _ => continue,
                }
            }
            if self.filter.wants(&d.tenant, d.kind, &d.json) {
                out.push((Some(id), d.json));
            }
        }
        Ok(Step {
            records: out,
            progressed,
        })
    }
}
