use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use super::*;
use crate::sim::workload::{Family, WorkloadSpec};

/// An org with calls starting over three days from 2026-11-23T00:00Z.
fn org() -> Org {
    let mut org = Org::new(&WorkloadSpec {
        families: vec![Family::DetailEvents, Family::Presence],
        seed: Some(3),
        ..Default::default()
    });
    let t0: DateTime<Utc> = "2026-11-23T00:00:00Z".parse().unwrap();
    for i in 0..4_320 {
        org.next_event(t0 + Duration::minutes(i));
    }
    org
}

fn query(org: &Org, body: &str) -> Result<ConversationDetailsResponse, QueryError> {
    query_conversation_details(org, body.as_bytes())
}

fn page(
    org: &Org,
    interval: &str,
    order: &str,
    size: usize,
    n: usize,
) -> ConversationDetailsResponse {
    let body = format!(
        r#"{{"interval":"{interval}","order":"{order}","orderBy":"conversationStart","paging":{{"pageSize":{size},"pageNumber":{n}}}}}"#
    );
    query(org, &body).unwrap()
}

/// Conversations of `org` that started on UTC day `s`.
fn day(org: &Org, s: &str) -> usize {
    let d: NaiveDate = s.parse().unwrap();
    org.conversations()
        .filter(|c| c.start().date_naive() == d)
        .count()
}

#[test]
fn matches_by_start_day() {
    let org = org();
    let on_24th = day(&org, "2026-11-24");
    assert!(on_24th > 50, "{on_24th}");
    let whole = page(
        &org,
        "2026-11-24T00:00:00.000Z/2026-11-25T00:00:00.000Z",
        "asc",
        100,
        1,
    );
    assert_eq!(whole.total_hits, on_24th);
    // One hour of the 24th still matches the whole day.
    let hour = page(
        &org,
        "2026-11-24T12:00:00.000Z/2026-11-24T13:00:00Z",
        "asc",
        100,
        1,
    );
    assert_eq!(hour.total_hits, on_24th);
    assert_eq!(hour.conversations, whole.conversations);
    for c in &whole.conversations {
        assert!(
            c.conversation_start.starts_with("2026-11-24T"),
            "{}",
            c.conversation_start
        );
    }
    // Across midnight: both days; an offset is read as the instant it names.
    let two = page(
        &org,
        "2026-11-23T23:00:00+00:00/2026-11-24T03:00:00+02:00",
        "asc",
        1,
        1,
    );
    assert_eq!(two.total_hits, day(&org, "2026-11-23") + on_24th);
    let none = query(
        &org,
        r#"{"interval":"2030-01-01T00:00:00Z/2030-01-02T00:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(none.total_hits, 0);
    let json = serde_json::to_value(&none).unwrap();
    assert_eq!(json, serde_json::json!({"totalHits": 0}));
}

#[test]
fn pages_in_order_without_overlap() {
    let org = org();
    let interval = "2026-11-23T00:00:00.000Z/2026-11-26T00:00:00.000Z";
    let total = org.conversations().count();
    let mut asc = Vec::new();
    for n in 1.. {
        let p = page(&org, interval, "asc", 7, n);
        assert_eq!(p.total_hits, total);
        if p.conversations.is_empty() {
            break;
        }
        assert!(p.conversations.len() <= 7);
        asc.extend(p.conversations);
    }
    assert_eq!(asc.len(), total);
    let ids: HashSet<&str> = asc.iter().map(|c| c.conversation_id.as_str()).collect();
    assert_eq!(ids.len(), total);
    assert!(
        asc.windows(2)
            .all(|w| w[0].conversation_start <= w[1].conversation_start)
    );
    let desc = page(&org, interval, "desc", 100, 1).conversations;
    assert_eq!(desc.first(), asc.last());
    assert!(
        desc.windows(2)
            .all(|w| w[0].conversation_start >= w[1].conversation_start)
    );
    let defaults = query(&org, &format!(r#"{{"interval":"{interval}"}}"#)).unwrap();
    assert_eq!(defaults.conversations.len(), 25);
    assert_eq!(defaults.conversations[..], asc[..25]);
}

#[test]
fn conversations_have_the_platform_shape() {
    let org = org();
    let all = page(
        &org,
        "2026-11-23T00:00:00Z/2026-11-26T00:00:00Z",
        "asc",
        100,
        1,
    );
    let json = serde_json::to_value(&all).unwrap();
    let answered = json["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["participants"].as_array().unwrap().len() == 3 && c["conversationEnd"].is_string()
        })
        .expect("an answered, finished call");
    assert_eq!(answered["originatingDirection"], "inbound");
    assert!(answered["divisionIds"][0].is_string());
    let purposes: Vec<&Value> = answered["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["purpose"])
        .collect();
    assert_eq!(purposes, ["customer", "acd", "agent"]);
    let agent = &answered["participants"][2];
    assert!(agent["userId"].is_string());
    let session = &agent["sessions"][0];
    assert_eq!(session["mediaType"], "voice");
    assert!(session["ani"].as_str().unwrap().starts_with("tel:+1"));
    let kinds: Vec<&Value> = session["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["segmentType"])
        .collect();
    assert_eq!(kinds, ["alert", "interact", "wrapup"]);
    assert!(session["segments"][2]["wrapUpCode"].is_string());
    assert!(answered["participants"][1]["sessions"][0]["segments"][0]["queueId"].is_string());
}

#[test]
fn rejects_bad_queries_with_the_right_code() {
    let org = org();
    let ok = r#""interval":"2026-11-23T00:00:00Z/2026-11-24T00:00:00Z""#;
    let cases = [
        ("not json", "bad.request"),
        ("[]", "bad.request"),
        ("{}", "bad.request"),
        (r#"{"interval":5}"#, "bad.request"),
        (r#"{"interval":"yesterday"}"#, "invalid.date"),
        (
            r#"{"interval":"2026-11-23T00:00:00Z/tomorrow"}"#,
            "invalid.date",
        ),
        (
            r#"{"interval":"2026-11-24T00:00:00Z/2026-11-23T00:00:00Z"}"#,
            "invalid.date",
        ),
        (
            r#"{"interval":"2026-11-23T00:00:00Z/2026-11-23T00:00:00Z"}"#,
            "invalid.date",
        ),
        (
            &format!(r#"{{{ok},"paging":{{"pageSize":0}}}}"#),
            "invalid.value",
        ),
        (
            &format!(r#"{{{ok},"paging":{{"pageSize":101}}}}"#),
            "invalid.value",
        ),
        (
            &format!(r#"{{{ok},"paging":{{"pageNumber":0}}}}"#),
            "invalid.value",
        ),
        (
            &format!(r#"{{{ok},"paging":{{"pageSize":"ten"}}}}"#),
            "bad.request",
        ),
        (&format!(r#"{{{ok},"order":"up"}}"#), "invalid.value"),
        (
            &format!(r#"{{{ok},"orderBy":"conversationEnd"}}"#),
            "invalid.value",
        ),
    ];
    for (body, code) in cases {
        let err = query(&org, body).unwrap_err();
        assert_eq!(err.code, code, "{body}: {}", err.message);
        assert!(!err.message.is_empty());
    }
    let accepted = format!(
        r#"{{{ok},"segmentFilters":[{{"type":"and","predicates":[]}}],"conversationFilters":[],"somethingNew":true,"paging":{{"pageSize":100,"pageNumber":99999999}}}}"#
    );
    let r = query(&org, &accepted).unwrap();
    assert!(r.conversations.is_empty() && r.total_hits > 0);
}
