//! The exposition of a fresh engine's metrics against METRICS-CONTRACT.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::labels::*;
use super::{Metrics, SinkSnapshot};
use crate::gap::GapReason;
use crate::supervisor::EngineStatus;
use crate::tenant::{QuotaStatus, TenantStatus};

/// One family as read back from the text: its type and every sample's labels.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// Parses the text format (as much of it as the encoder writes).
fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            out.entry(name.to_string()).or_default().kind = kind.to_string();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let labels: BTreeMap<String, String> = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once("=\"").unwrap();
                (k.to_string(), v.trim_end_matches('"').to_string())
            })
            .collect();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|base| out.get(*base).is_some_and(|f| f.kind == "histogram"))
            })
            .unwrap_or(name);
        out.entry(family.to_string()).or_default().samples.push((
            name.to_string(),
            labels,
            value.parse().unwrap(),
        ));
    }
    out
}

/// Every family of the contract: name, type, label names.
const CONTRACT: &[(&str, &str, &[&str])] = &[
    ("build_info", "gauge", &["version"]),
    ("tenants", "gauge", &["state"]),
    ("channels", "gauge", &["tenant", "region", "state"]),
    ("channel_connects_total", "counter", &["tenant", "region"]),
    (
        "channel_disconnects_total",
        "counter",
        &["tenant", "region", "reason"],
    ),
    (
        "channel_rollovers_total",
        "counter",
        &["tenant", "region", "reason"],
    ),
    ("heartbeat_age_seconds", "gauge", &["tenant", "region"]),
    ("pong_latency_seconds", "histogram", &["tenant", "region"]),
    ("topics_desired", "gauge", &["tenant", "region"]),
    ("topics_subscribed", "gauge", &["tenant", "region"]),
    ("topics_rejected", "gauge", &["tenant", "region"]),
    ("topics_unplaced", "gauge", &["tenant", "region"]),
    (
        "channel_quota_utilization_ratio",
        "gauge",
        &["tenant", "region"],
    ),
    (
        "channels_per_client_utilization_ratio",
        "gauge",
        &["tenant", "region"],
    ),
    (
        "api_requests_total",
        "counter",
        &["tenant", "region", "endpoint", "status"],
    ),
    ("api_rate_limited_total", "counter", &["tenant", "region"]),
    (
        "socket_opens_throttled_total",
        "counter",
        &["tenant", "region"],
    ),
    (
        "token_refreshes_total",
        "counter",
        &["tenant", "region", "result"],
    ),
    ("token_expiry_seconds", "gauge", &["tenant", "region"]),
    (
        "events_received_total",
        "counter",
        &["tenant", "region", "topic_family"],
    ),
    ("events_duplicate_total", "counter", &["tenant", "region"]),
    ("sink_sent_total", "counter", &["sink"]),
    ("sink_errors_total", "counter", &["sink", "error_code"]),
    ("sink_queue_depth", "gauge", &["sink"]),
    ("spool_bytes", "gauge", &["sink"]),
    ("spool_max_bytes", "gauge", &["sink"]),
    ("spool_full", "gauge", &["sink"]),
    ("spooled_total", "counter", &["sink"]),
    ("dlq_total", "counter", &["sink"]),
    ("dead_letters_dropped_total", "counter", &["sink"]),
    ("delivery_latency_seconds", "histogram", &["sink"]),
    ("route_filtered_total", "counter", &["route"]),
    ("route_filter_errors_total", "counter", &["route"]),
    ("actor_restarts_total", "counter", &["kind", "reason"]),
    ("actors_failed", "gauge", &["kind"]),
    ("gaps_total", "counter", &["tenant", "region", "reason"]),
    ("gap_seconds_total", "counter", &["tenant", "region"]),
    ("backfill_records_total", "counter", &["tenant", "region"]),
    ("cluster_tenants_unowned", "gauge", &[]),
];

fn tenant_status(id: &str, region: &str) -> TenantStatus {
    TenantStatus {
        id: id.into(),
        region: region.into(),
        state: "running".into(),
        channels: Vec::new(),
        unplaced: Vec::new(),
        unplaced_reason: None,
        last_error: None,
        clients: Vec::new(),
        quota: QuotaStatus::default(),
        templates: Vec::new(),
    }
}

fn sink_entry(name: &str) -> crate::registry::SinkEntry {
    crate::registry::SinkEntry {
        config: crate::config::SinkConfig {
            name: name.into(),
            kind: crate::config::SinkKind::Stdout,
        },
        updated_at: chrono::Utc::now(),
        sent: 0,
        queued: 0,
        dead: 0,
        spool_bytes: 0,
        spooled: 0,
        spool_full: false,
        spool_full_total: 0,
        spool_max_bytes: 1 << 30,
    }
}

/// The values of `label` among a family's samples named `sample`.
fn values(f: &Family, sample: &str, label: &str) -> BTreeSet<String> {
    f.samples
        .iter()
        .filter(|(n, _, _)| n == sample)
        .filter_map(|(_, l, _)| l.get(label).cloned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_fresh_engine_shows_every_contract_family_with_its_labels_and_pre_initialised_values() {
    let m = Metrics::new().unwrap();
    let acme = m.tenant("acme", "eu-west-1");
    m.sink("file");
    // The two families that appear with use: a REST call, and a topic family a channel announced.
    acme.api_request(ApiEndpoint::Token, StatusClass::Success);
    acme.received("v2.users.{id}.presence");
    // And a route with a filter (routes without one have no series).
    m.route_filter("config-1");
    let status = EngineStatus {
        tenants: vec![tenant_status("acme", "eu-west-1")],
    };
    let text = m
        .render(Some(&status.metrics_snapshot()), &[sink_entry("file")])
        .await
        .unwrap();
    let families = parse(&text);

    for (short, kind, labels) in CONTRACT {
        let name = format!("switchboard_{short}");
        let f = families
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is missing:\n{text}"));
        assert_eq!(&f.kind, kind, "{name}");
        assert!(!f.samples.is_empty(), "{name} has no series");
        let want: BTreeSet<&str> = labels.iter().copied().collect();
        for (sample, got, _) in &f.samples {
            let got: BTreeSet<&str> = got
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "le")
                .collect();
            assert_eq!(got, want, "labels of {sample}");
        }
    }
    for sample in ["process_cpu_seconds_total", "process_resident_memory_bytes"] {
        assert!(families.contains_key(sample), "{sample}");
    }

    let f = |short: &str| &families[&format!("switchboard_{short}")];
    let tenant_reasons = |short: &str| values(f(short), &format!("switchboard_{short}"), "reason");
    assert_eq!(
        tenant_reasons("channel_disconnects_total"),
        DisconnectReason::ALL
            .iter()
            .map(|r| r.as_str().to_string())
            .collect()
    );
    assert_eq!(
        tenant_reasons("channel_rollovers_total"),
        set(&["expiry", "token", "socket_closing", "placement"])
    );
    assert_eq!(
        tenant_reasons("gaps_total"),
        set(&[
            "heartbeat_timeout",
            "socket_lost",
            "channel_lost",
            "token_revoked",
            "restart",
            "crash",
            "failover",
        ])
    );
    assert_eq!(
        values(f("channels"), "switchboard_channels", "state"),
        set(&[
            "preparing",
            "connecting",
            "live",
            "backoff",
            "failed",
            "stopped"
        ])
    );
    assert_eq!(
        values(
            f("token_refreshes_total"),
            "switchboard_token_refreshes_total",
            "result"
        ),
        set(&["ok", "error"])
    );
    assert_eq!(
        values(
            f("sink_errors_total"),
            "switchboard_sink_errors_total",
            "error_code"
        ),
        set(&["retry", "reject", "queue_full"])
    );
    assert_eq!(
        values(f("tenants"), "switchboard_tenants", "state"),
        set(&["running", "paused", "failed"])
    );
    assert_eq!(
        values(f("actors_failed"), "switchboard_actors_failed", "kind"),
        set(&["tenant", "channel"])
    );
    assert_eq!(f("actor_restarts_total").samples.len(), 6);
    assert!(
        f("delivery_latency_seconds")
            .samples
            .iter()
            .any(|(n, l, _)| n.ends_with("_bucket")
                && l.get("le").map(String::as_str) == Some("300")),
        "the contract's buckets"
    );
    // Nothing has happened: every counter reads 0, and the one running tenant is counted.
    for short in [
        "channel_connects_total",
        "gaps_total",
        "sink_sent_total",
        "dlq_total",
        "dead_letters_dropped_total",
    ] {
        assert!(
            f(short).samples.iter().all(|(_, _, v)| *v == 0.0),
            "{short}"
        );
    }
    let running = f("tenants")
        .samples
        .iter()
        .find(|(_, l, _)| l["state"] == "running")
        .unwrap();
    assert_eq!(running.2, 1.0);
    let build = &f("build_info").samples[0];
    assert_eq!(build.1["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build.2, 1.0);
}

#[tokio::test]
async fn a_removed_tenant_or_sink_leaves_no_series_and_cached_handles_learn_it() {
    let m = Metrics::new().unwrap();
    let acme = m.tenant("acme", "eu-west-1");
    m.tenant("other", "us-east-1");
    acme.received("v2.users.{id}.presence").inc();
    acme.api_request(ApiEndpoint::ChannelsCreate, StatusClass::TooManyRequests);
    acme.gap(GapReason::SocketLost, Duration::from_millis(1500));
    m.sink("file");
    let epoch = m.epoch();
    let status = EngineStatus {
        tenants: vec![
            tenant_status("acme", "eu-west-1"),
            tenant_status("other", "us-east-1"),
        ],
    };
    let text = m
        .render(Some(&status.metrics_snapshot()), &[sink_entry("file")])
        .await
        .unwrap();
    assert!(
        text.contains(r#"switchboard_api_rate_limited_total{region="eu-west-1",tenant="acme"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"switchboard_gap_seconds_total{region="eu-west-1",tenant="acme"} 1.5"#),
        "{text}"
    );

    m.remove_tenant("acme");
    m.remove_sink("file");
    assert_ne!(m.epoch(), epoch, "holders of cached handles are told");
    let status = EngineStatus {
        tenants: vec![tenant_status("other", "us-east-1")],
    };
    let text = m
        .render::<SinkSnapshot>(Some(&status.metrics_snapshot()), &[])
        .await
        .unwrap();
    assert!(!text.contains(r#"tenant="acme""#), "{text}");
    assert!(!text.contains(r#"sink="file""#), "{text}");
    assert!(text.contains(r#"tenant="other""#));

    // Back again in another region: counted from 0 under the new region only.
    let again = m.tenant("acme", "custom");
    again.connected();
    let text = m.render::<SinkSnapshot>(None, &[]).await.unwrap();
    assert!(
        text.contains(r#"switchboard_channel_connects_total{region="custom",tenant="acme"} 1"#),
        "{text}"
    );
    assert!(!text.contains(r#"region="eu-west-1""#), "{text}");
}

#[test]
fn delivery_latency_is_observed_for_events_and_not_for_gap_records() {
    let m = Metrics::new().unwrap();
    let sink = m.sink("file");
    let now = chrono::Utc::now();
    let at = crate::envelope::timestamp(now - chrono::Duration::milliseconds(40));
    let event =
        format!(r#"{{"kind":"event","id":"1","topicFamily":"f","receivedAt":"{at}","body":{{}}}}"#);
    let gap = r#"{"kind":"gap","id":"2"}"#.to_string();
    let batch = [event.clone(), event, gap];
    // Read from the line (records from the spool), or carried beside it (10 ms here, whatever the line says).
    let carried = Some((now - chrono::Duration::milliseconds(10)).timestamp_millis());
    let received = [None, carried, None];
    crate::metrics::SinkMetrics::acknowledged(
        &sink.latency_buffer(),
        received.into_iter().zip(batch.iter().map(|s| s.as_bytes())),
        now,
    );
    let h = m.f.delivery_latency.with_label_values(&["file"]);
    assert_eq!(h.get_sample_count(), 2);
    assert!(
        (h.get_sample_sum() - 0.05).abs() < 1e-9,
        "{}",
        h.get_sample_sum()
    );
}

#[test]
fn label_sets_are_indexed_by_their_variants() {
    // Handles are kept in arrays indexed by `variant as usize`: ALL must list the variants in order.
    for (i, r) in DisconnectReason::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i);
    }
    for (i, r) in RolloverReason::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i);
    }
    for (i, r) in GapReason::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i);
    }
    for (i, r) in RestartReason::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i);
    }
    for (i, r) in SinkErrorCode::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i);
    }
}
