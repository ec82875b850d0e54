//! `/metrics` of an engine that ran against the simulator through a stall: the values agree with the
//! engine's status, the sink's file and the fault that was injected, and no label carries a raw id.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use switchboard::sim::workload::Family;

use crate::harness::*;

/// One sample: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// The samples of the text exposition, by series name.
fn parse(text: &str) -> BTreeMap<String, Vec<Sample>> {
    let mut out: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once("=\"").unwrap();
                (k.to_string(), v.trim_end_matches('"').to_string())
            })
            .collect();
        out.entry(name.to_string())
            .or_default()
            .push((labels, value.parse().unwrap()));
    }
    out
}

/// The sum of `name` over the samples whose labels include every pair of `with`.
fn sum(m: &BTreeMap<String, Vec<Sample>>, name: &str, with: &[(&str, &str)]) -> f64 {
    m.get(name)
        .into_iter()
        .flatten()
        .filter(|(l, _)| {
            with.iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .sum()
}

/// Whether `s` holds a UUID (8-4-4-4-12 hex digits).
fn has_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(36).any(|w| {
        w.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    })
}

const READER: &str = "read-token-0123456789";

/// `/metrics` on the admin listener, with a read token (it needs one there).
async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let res = http
        .get(format!("{base}/metrics"))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_stall_from_socket_to_sink_without_raw_ids_in_labels() {
    let sim = Sim::start(|c| {
        c.workload.users = 20;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
        // Heartbeats far apart: during the stall only the missing pongs reveal it.
        c.heartbeat_interval = Duration::from_secs(30);
    });
    let topics = sim.topics(&["presence", "routingStatus"]).await;
    let App {
        engine,
        scratch,
        admin,
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .read_token(READER)
        .start();
    let base = admin.expect("admin API").base;
    let http = reqwest::Client::new();
    wait_live(&engine, "acme", 1).await;

    // A fresh engine already has its series.
    let fresh = parse(&scrape(&http, &base).await);
    assert_eq!(
        sum(
            &fresh,
            "switchboard_gaps_total",
            &[("tenant", "acme"), ("reason", "heartbeat_timeout")]
        ),
        0.0
    );
    assert!(fresh.contains_key("switchboard_backfill_records_total"));

    sim.workload(json_rate(200.0, &["presence", "routingStatus"]))
        .await;
    wait_until("events in the sink", || async {
        read_sink(&scratch).events.len() >= 50
    })
    .await;
    let first = engine.status().await.unwrap().tenants[0].channels[0]
        .channel_id
        .clone()
        .unwrap();
    sim.inject(FaultRequest {
        channel: Some(first.clone()),
        duration_seconds: Some(3.0),
        ..fault(FaultKind::Stall)
    })
    .await;
    wait_until("a gap record", || async {
        !read_sink(&scratch).gaps.is_empty()
    })
    .await;
    wait_live(&engine, "acme", 1).await;
    let count_before = read_sink(&scratch).events.len();
    wait_until("events after the gap", || async {
        read_sink(&scratch).events.len() >= count_before + 50
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);

    // Once the sink's count has caught up with its file, every counter of this run is in.
    let out = read_sink(&scratch);
    wait_until("sink_sent_total to count every line", || async {
        let m = parse(&scrape(&http, &base).await);
        sum(&m, "switchboard_sink_sent_total", &[("sink", "file")]) == out.lines as f64
    })
    .await;
    // A pong comes back only after a ping interval: wait for the first one rather than assume it came.
    wait_until("a pong measured", || async {
        engine.status().await.unwrap().tenants[0]
            .channels
            .iter()
            .any(|c| c.pong_latency_ms.is_some())
    })
    .await;
    let status = engine.status().await.unwrap();
    let text = scrape(&http, &base).await;
    let m = parse(&text);
    let acme = [("tenant", "acme"), ("region", "custom")];
    let with = |extra: (&'static str, &'static str)| [acme[0], acme[1], extra];

    assert_eq!(
        sum(&m, "switchboard_channels", &with(("state", "live"))),
        live_channels(&status, "acme") as f64
    );
    assert_eq!(
        sum(&m, "switchboard_channels", &acme),
        1.0,
        "one channel in all"
    );
    let delivered: usize = out.events.values().sum();
    let received = sum(&m, "switchboard_events_received_total", &acme);
    assert!(
        received >= delivered as f64,
        "received {received}, delivered {delivered}"
    );
    for family in ["v2.users.{id}.presence", "v2.users.{id}.routingStatus"] {
        assert!(
            sum(
                &m,
                "switchboard_events_received_total",
                &[("topic_family", family)]
            ) > 0.0,
            "{family}"
        );
    }
    assert_eq!(
        sum(
            &m,
            "switchboard_gaps_total",
            &with(("reason", "heartbeat_timeout"))
        ),
        out.gaps.len() as f64
    );
    assert_eq!(
        sum(&m, "switchboard_gaps_total", &acme),
        out.gaps.len() as f64,
        "no gap of another reason"
    );
    assert!(sum(&m, "switchboard_gap_seconds_total", &acme) > 0.0);
    assert!(
        sum(
            &m,
            "switchboard_channel_disconnects_total",
            &with(("reason", "heartbeat_timeout"))
        ) >= 1.0
    );
    assert!(sum(&m, "switchboard_channel_connects_total", &acme) >= 2.0);
    assert!(
        sum(
            &m,
            "switchboard_actor_restarts_total",
            &[("kind", "channel"), ("reason", "error")]
        ) >= 1.0
    );
    assert_eq!(
        sum(&m, "switchboard_sink_sent_total", &[("sink", "file")]),
        out.lines as f64
    );
    for endpoint in ["token", "channels_create", "subscriptions_put"] {
        assert!(
            sum(
                &m,
                "switchboard_api_requests_total",
                &[
                    ("tenant", "acme"),
                    ("endpoint", endpoint),
                    ("status", "2xx")
                ]
            ) >= 1.0,
            "{endpoint}"
        );
    }
    assert_eq!(
        sum(
            &m,
            "switchboard_token_refreshes_total",
            &with(("result", "ok"))
        ),
        sum(
            &m,
            "switchboard_api_requests_total",
            &[("endpoint", "token"), ("status", "2xx")]
        )
    );
    assert!(
        sum(
            &m,
            "switchboard_delivery_latency_seconds_count",
            &[("sink", "file")]
        ) > 0.0
    );
    assert!(sum(&m, "switchboard_pong_latency_seconds_count", &acme) > 0.0);
    assert!(sum(&m, "switchboard_token_expiry_seconds", &acme) > 0.0);
    assert_eq!(
        sum(&m, "switchboard_topics_desired", &acme),
        topics.len() as f64
    );
    assert_eq!(
        sum(&m, "switchboard_topics_subscribed", &acme),
        topics.len() as f64
    );
    assert_eq!(sum(&m, "switchboard_topics_unplaced", &acme), 0.0);
    assert_eq!(
        sum(&m, "switchboard_channel_quota_utilization_ratio", &acme),
        topics.len() as f64 / 1000.0
    );
    assert_eq!(sum(&m, "switchboard_tenants", &[("state", "running")]), 1.0);

    // Labels carry configured names and fixed sets only.
    let mut ids: Vec<String> = vec![first, "demo".into()];
    ids.extend(
        status.tenants[0]
            .channels
            .iter()
            .filter_map(|c| c.channel_id.clone()),
    );
    for (name, samples) in &m {
        for (labels, _) in samples {
            for value in labels.values() {
                assert!(!has_uuid(value), "{name}: {value}");
                assert!(!value.starts_with("streaming-"), "{name}: {value}");
                assert!(!ids.contains(value), "{name}: {value}");
            }
        }
    }
    engine.stop();
}
