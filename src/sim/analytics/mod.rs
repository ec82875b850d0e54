//! `POST /api/v2/analytics/conversations/details/query` over the simulated org's conversations.
//!
//! The request is modelled on the real API:
//! `{"interval":"<start>/<end>","order":"asc","orderBy":"conversationStart","paging":{"pageSize":100,"pageNumber":1}}`.
//! `segmentFilters` and `conversationFilters` (`{"type":"or","predicates":[{"dimension":"queueId",
//! "value":...}]}`, with nested `clauses`) filter on `queueId`, `userId`, `conversationId` and `divisionId`;
//! every filter must match. Other dimensions and any other top-level field are accepted and ignored. The
//! response is `{"conversations":[...],"totalHits":N}`, without `conversations`
//! when nothing matches, as the platform does.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::sim::workload::{Conversation, Org, Phase};

/// Largest `paging.pageSize` the API allows.
pub const MAX_PAGE_SIZE: i64 = 100;
/// `paging.pageSize` when the request has none.
pub const DEFAULT_PAGE_SIZE: i64 = 25;

/// Why a query was refused; the caller answers HTTP 400 with this code and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct QueryError {
    /// `bad.request` (not JSON, wrong types, no interval), `invalid.date` (the interval) or
    /// `invalid.value` (paging, order, orderBy).
    pub code: &'static str,
    /// What is wrong, naming the field.
    pub message: String,
}

impl QueryError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        QueryError {
            code,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetailsQuery {
    interval: Option<String>,
    order: Option<String>,
    order_by: Option<String>,
    paging: Option<Paging>,
    #[serde(default)]
    segment_filters: Vec<Filter>,
    #[serde(default)]
    conversation_filters: Vec<Filter>,
}

/// A `segmentFilters` or `conversationFilters` entry: `type` (`and`/`or`) over its predicates and clauses.
#[derive(Deserialize)]
struct Filter {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    predicates: Vec<Predicate>,
    #[serde(default)]
    clauses: Vec<Filter>,
}

/// `(dimension) matches (value)`. Dimensions other than `queueId`, `userId`, `conversationId` and
/// `divisionId` are accepted and match every conversation.
#[derive(Deserialize)]
struct Predicate {
    dimension: Option<String>,
    value: Option<String>,
}

impl Filter {
    fn matches(&self, c: &Conversation) -> Result<bool, QueryError> {
        let results = self
            .predicates
            .iter()
            .map(|p| Ok(p.matches(c)))
            .chain(self.clauses.iter().map(|f| f.matches(c)))
            .collect::<Result<Vec<bool>, QueryError>>()?;
        match self.kind.as_str() {
            "or" => Ok(results.is_empty() || results.contains(&true)),
            "and" => Ok(!results.contains(&false)),
            other => Err(QueryError::new(
                "invalid.value",
                format!("a filter's type must be and or or, got {other:?}"),
            )),
        }
    }
}

impl Predicate {
    fn matches(&self, c: &Conversation) -> bool {
        let Some(value) = self.value.as_deref() else {
            return true;
        };
        let is = |s: &str| s.eq_ignore_ascii_case(value);
        match self.dimension.as_deref() {
            Some("queueId") => is(&c.queue_id),
            Some("userId") => c.agent.as_ref().is_some_and(|a| is(&a.user_id)),
            Some("conversationId") => is(&c.id.to_string()),
            Some("divisionId") => is(&c.division_id),
            _ => true,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Paging {
    page_size: Option<i64>,
    page_number: Option<i64>,
}

/// The response body: one page of conversations and how many matched in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetailsResponse {
    /// This page, in the requested order; left out of the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversations: Vec<AnalyticsConversation>,
    /// Conversations matched by the query, over all pages.
    pub total_hits: usize,
}

/// One conversation as the details query reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsConversation {
    /// The conversation id.
    pub conversation_id: String,
    /// When it started (ISO-8601, milliseconds, UTC).
    pub conversation_start: String,
    /// When it ended; absent while it is live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_end: Option<String>,
    /// Always `inbound` for the simulated calls.
    pub originating_direction: String,
    /// The divisions the conversation belongs to.
    pub division_ids: Vec<String>,
    /// Customer, ACD and agent, as far as the call got.
    pub participants: Vec<AnalyticsParticipant>,
}

/// A participant of an [`AnalyticsConversation`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsParticipant {
    /// The participant id.
    pub participant_id: String,
    /// The display name (caller, queue or agent name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_name: Option<String>,
    /// `customer`, `acd` or `agent`.
    pub purpose: String,
    /// The agent's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The participant's media sessions (one voice leg here).
    pub sessions: Vec<AnalyticsSession>,
}

/// A media session (a call leg) of an [`AnalyticsParticipant`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsSession {
    /// The session id.
    pub session_id: String,
    /// Always `voice` here.
    pub media_type: String,
    /// Always `inbound` here.
    pub direction: String,
    /// Caller number.
    pub ani: String,
    /// Dialled number.
    pub dnis: String,
    /// What happened on the leg, in time order.
    pub segments: Vec<AnalyticsSegment>,
}

/// A span of time on a session in one state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsSegment {
    /// When the segment began.
    pub segment_start: String,
    /// When it ended; absent while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_end: Option<String>,
    /// `interact`, `alert` or `wrapup`.
    pub segment_type: String,
    /// The queue, on ACD and agent segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// The wrap-up code id, on a finished `wrapup` segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_up_code: Option<String>,
    /// How the leg ended (`endpoint`, `peer`, `transfer`), on its last segment once over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_type: Option<String>,
}

/// Runs a conversation details query (the raw request body) over `org`'s conversations.
///
/// Like the real platform, matching is by **start day**: a conversation matches when the UTC
/// calendar day of its `conversationStart` is one of the UTC days the interval touches, so the
/// result can hold conversations that started outside the exact interval (earlier or later the same
/// day). The interval is half-open: `.../2026-11-24T00:00:00.000Z` does not touch the 24th. Callers
/// backfilling a gap must filter and de-duplicate. Results are ordered by `conversationStart`
/// (ties by id), then paged.
pub fn query_conversation_details(
    org: &Org,
    body: &[u8],
) -> Result<ConversationDetailsResponse, QueryError> {
    let query: DetailsQuery = serde_json::from_slice(body).map_err(|e| {
        QueryError::new(
            "bad.request",
            format!("the request body is not a valid details query: {e}"),
        )
    })?;
    let interval = query
        .interval
        .ok_or_else(|| QueryError::new("bad.request", "interval is required"))?;
    let (first_day, last_day) = interval_days(&interval)?;
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(QueryError::new(
                "invalid.value",
                format!("order must be asc or desc, got {other:?}"),
            ));
        }
    };
    if let Some(by) = query.order_by.as_deref()
        && by != "conversationStart"
    {
        return Err(QueryError::new(
            "invalid.value",
            format!("orderBy {by:?} is not supported: use conversationStart"),
        ));
    }
    let paging = query.paging.unwrap_or(Paging {
        page_size: None,
        page_number: None,
    });
    let page_size = paging.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(QueryError::new(
            "invalid.value",
            format!("paging.pageSize must be from 1 to {MAX_PAGE_SIZE}, got {page_size}"),
        ));
    }
    let page_number = paging.page_number.unwrap_or(1);
    if page_number < 1 {
        return Err(QueryError::new(
            "invalid.value",
            format!("paging.pageNumber must be 1 or more, got {page_number}"),
        ));
    }

    let filters: Vec<&Filter> = query
        .segment_filters
        .iter()
        .chain(&query.conversation_filters)
        .collect();
    let mut matched: Vec<&Conversation> = Vec::new();
    for c in org
        .conversations()
        .filter(|c| (first_day..=last_day).contains(&c.start().date_naive()))
    {
        let mut all = true;
        for f in &filters {
            all &= f.matches(c)?;
        }
        if all {
            matched.push(c);
        }
    }
    matched.sort_by(|a, b| (a.start(), &a.id).cmp(&(b.start(), &b.id)));
    if descending {
        matched.reverse();
    }
    let skip = usize::try_from(page_number - 1)
        .unwrap_or(usize::MAX)
        .saturating_mul(page_size as usize);
    Ok(ConversationDetailsResponse {
        total_hits: matched.len(),
        conversations: matched
            .into_iter()
            .skip(skip)
            .take(page_size as usize)
            .map(to_analytics)
            .collect(),
    })
}

/// The first and last UTC days `<start>/<end>` touches.
fn interval_days(interval: &str) -> Result<(NaiveDate, NaiveDate), QueryError> {
    let invalid = |why: String| {
        QueryError::new(
            "invalid.date",
            format!("interval {interval:?} {why}; expected <ISO-8601 start>/<ISO-8601 end>"),
        )
    };
    let (start, end) = interval
        .split_once('/')
        .ok_or_else(|| invalid("has no '/'".to_owned()))?;
    let parse = |s: &str| {
        DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| invalid(format!("has an invalid instant {s:?} ({e})")))
    };
    let (start, end) = (parse(start)?, parse(end)?);
    if start >= end {
        return Err(invalid("does not start before it ends".to_owned()));
    }
    Ok((
        start.date_naive(),
        (end - Duration::nanoseconds(1)).date_naive(),
    ))
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn segment(
    c: &Conversation,
    from: Phase,
    to: Phase,
    kind: &str,
    queue: bool,
) -> Option<AnalyticsSegment> {
    Some(AnalyticsSegment {
        segment_start: iso(c.time(from)?),
        segment_end: c.time(to).map(iso),
        segment_type: kind.to_owned(),
        queue_id: queue.then(|| c.queue_id.to_string()),
        wrap_up_code: None,
        disconnect_type: None,
    })
}

fn session(c: &Conversation, id: &Uuid, segments: Vec<AnalyticsSegment>) -> AnalyticsSession {
    AnalyticsSession {
        session_id: id.to_string(),
        media_type: "voice".to_owned(),
        direction: "inbound".to_owned(),
        ani: c.ani.clone(),
        dnis: c.dnis.to_string(),
        segments,
    }
}

fn ended(mut s: AnalyticsSegment, how: &str) -> AnalyticsSegment {
    if s.segment_end.is_some() {
        s.disconnect_type = Some(how.to_owned());
    }
    s
}

fn to_analytics(c: &Conversation) -> AnalyticsConversation {
    let mut participants = Vec::with_capacity(3);
    let customer = segment(
        c,
        Phase::CustomerStart,
        Phase::CustomerEnd,
        "interact",
        false,
    );
    participants.push(AnalyticsParticipant {
        participant_id: c.customer_participant_id.to_string(),
        participant_name: Some("Customer".to_owned()),
        purpose: "customer".to_owned(),
        user_id: None,
        sessions: vec![session(
            c,
            &c.customer_session_id,
            customer.map(|s| ended(s, "endpoint")).into_iter().collect(),
        )],
    });
    if let Some(acd) = segment(c, Phase::AcdStart, Phase::AcdEnd, "interact", true) {
        let how = if c.abandoned { "peer" } else { "transfer" };
        participants.push(AnalyticsParticipant {
            participant_id: c.acd_participant_id.to_string(),
            participant_name: Some(c.queue_name.to_string()),
            purpose: "acd".to_owned(),
            user_id: None,
            sessions: vec![session(c, &c.acd_session_id, vec![ended(acd, how)])],
        });
    }
    if let Some(agent) = &c.agent {
        let mut segments: Vec<AnalyticsSegment> = [
            segment(c, Phase::UserStart, Phase::AcdEnd, "alert", true),
            segment(c, Phase::AcdEnd, Phase::UserEnd, "interact", true).map(|s| ended(s, "peer")),
            segment(c, Phase::UserEnd, Phase::Wrapup, "wrapup", true),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let (Some(last), Some((code, _))) = (segments.last_mut(), &c.wrapup_code)
            && last.segment_type == "wrapup"
        {
            last.wrap_up_code = Some(code.to_string());
        }
        participants.push(AnalyticsParticipant {
            participant_id: agent.participant_id.to_string(),
            participant_name: Some(agent.user_name.to_string()),
            purpose: "agent".to_owned(),
            user_id: Some(agent.user_id.to_string()),
            sessions: vec![session(c, &agent.session_id, segments)],
        });
    }
    AnalyticsConversation {
        conversation_id: c.id.to_string(),
        conversation_start: iso(c.start()),
        conversation_end: c.end().map(iso),
        originating_direction: "inbound".to_owned(),
        division_ids: vec![c.division_id.to_string()],
        participants,
    }
}

#[cfg(test)]
mod tests;
