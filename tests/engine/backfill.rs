//! Backfill of gaps: what a stall missed on queue conversations comes back from the platform's analytics
//! conversation details query, once per conversation, and the gap says what became of it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard::sim::workload::Family;

use crate::harness::*;

const TOKEN: &str = "backfill-read-token-0123456789abcdef";

struct Stalled {
    sim: Sim,
    app: App,
    admin: String,
    topics: Vec<String>,
}

/// 50 queues' conversations followed by one channel, conversations flowing; with `backfill` as the tenant's
/// `[tenants.backfill]` table (none when empty).
async fn queues_app(backfill: &str) -> Stalled {
    let sim = Sim::start(|c| {
        c.heartbeat_interval = Duration::from_secs(30);
        c.workload.queues = 50;
        c.workload.users = 60;
        c.workload.families = vec![Family::QueueConversations];
    });
    let topics = sim.topics(&["queueConversations"]).await;
    assert_eq!(topics.len(), 50);
    let port = free_port();
    let mut builder = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .admin_listen(&format!("127.0.0.1:{port}"))
        .read_token(TOKEN);
    if !backfill.is_empty() {
        builder = builder.backfill(backfill);
    }
    let app = builder.start();
    wait_live(&app.engine, "acme", 1).await;
    Stalled {
        sim,
        app,
        admin: format!("http://127.0.0.1:{port}"),
        topics,
    }
}

impl Stalled {
    /// Conversations flow; the channel stalls for 10 s while they go on; the stall ends and the channel is
    /// live again. Returns the gap as the sink wrote it.
    async fn stall(&self) -> Gap {
        self.sim
            .workload(json!({"ratePerSecond": 100.0, "families": ["queueConversations"]}))
            .await;
        let scratch = &self.app.scratch;
        wait_until("events flowing", || async {
            read_sink(scratch).events.len() > 20
        })
        .await;
        let channel = self.app.engine.status().await.unwrap().tenants[0].channels[0]
            .channel_id
            .clone()
            .unwrap();
        self.sim
            .inject(FaultRequest {
                channel: Some(channel),
                duration_seconds: Some(10.0),
                ..fault(FaultKind::Stall)
            })
            .await;
        wait_until("a gap record", || async {
            !read_sink(scratch).gaps.is_empty()
        })
        .await;
        wait_live(&self.app.engine, "acme", 1).await;
        self.sim.workload(json!({"ratePerSecond": 0.0})).await;
        let gaps = read_sink(scratch).gaps;
        assert_eq!(gaps.len(), 1, "one stall, one gap: {gaps:?}");
        gaps[0].clone()
    }

    /// The stored gaps, as `GET /v1/gaps` shows them.
    async fn stored_gaps(&self) -> Vec<Value> {
        let res = reqwest::Client::new()
            .get(format!("{}/v1/gaps?tenant=acme", self.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(status.is_success(), "GET /v1/gaps: {status} {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until the gap's backfill is no longer pending; returns it.
    async fn finished_backfill(&self) -> Value {
        wait_until("the gap's backfill to finish", || async {
            self.backfill_status().await.is_some_and(|s| s != "pending")
        })
        .await;
        self.stored_gaps().await[0]["backfill"].clone()
    }

    async fn backfill_status(&self) -> Option<String> {
        let gaps = self.stored_gaps().await;
        gaps.first()?["backfill"]["status"]
            .as_str()
            .map(str::to_string)
    }

    /// The sink's backfill records, once it holds as many as the finished backfill says it delivered (the
    /// gap is updated when the records are handed to the router, a moment before the sink writes them).
    async fn backfill_records(&self, result: &Value) -> Vec<Value> {
        let n = result["records"].as_u64().unwrap() as usize;
        let scratch = &self.app.scratch;
        wait_until("the backfill records in the sink", || async {
            read_sink(scratch).backfills.len() >= n
        })
        .await;
        read_sink(scratch).backfills
    }

    /// The simulator's conversations through the followed queues that started inside `[from, to]`.
    fn conversations_in(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeSet<String> {
        let queues: BTreeSet<String> = self
            .topics
            .iter()
            .map(|t| t.split('.').nth(3).unwrap().to_ascii_lowercase())
            .collect();
        self.sim.handle.sim.with_org(|org| {
            org.conversations()
                .filter(|c| queues.contains(&c.queue_id.to_ascii_lowercase()))
                .filter(|c| c.start() >= from && c.start() <= to)
                .map(|c| c.id.to_string())
                .collect()
        })
    }
}

/// Details queries the simulator answered (with `status`, or all).
fn analytics_calls(stats: &SimStats, status: Option<u16>) -> u64 {
    stats
        .rest
        .iter()
        .filter(|(endpoint, _)| endpoint.contains("/analytics/"))
        .flat_map(|(_, by_status)| by_status.iter())
        .filter(|(s, _)| status.is_none_or(|want| **s == want))
        .map(|(_, n)| *n)
        .sum()
}

/// Backfill records by conversation id, with how many times each came.
fn backfilled(records: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        *out.entry(
            r["conversation"]["conversationId"]
                .as_str()
                .unwrap()
                .to_string(),
        )
        .or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_on_queue_conversations_is_backfilled_once_per_conversation() {
    let t = queues_app("on_gap = true").await;
    let gap = t.stall().await;
    let result = t.finished_backfill().await;
    let expected = t.conversations_in(gap.from, gap.to);
    assert!(
        expected.len() >= 10,
        "conversations started during the 10 s stall: {}",
        expected.len()
    );
    assert_eq!(result["status"], "done", "{result}");
    let records = t.backfill_records(&result).await;
    let got = backfilled(&records);
    for id in &expected {
        assert_eq!(
            got.get(id),
            Some(&1),
            "conversation {id} backfilled exactly once"
        );
    }
    assert_eq!(
        result["records"],
        got.len(),
        "the gap counts what was delivered"
    );
    let gap_id = t.stored_gaps().await[0]["id"].clone();
    for r in &records {
        assert_eq!(r["gapId"], gap_id);
        assert_eq!(r["tenant"], "acme");
        assert_eq!(r["topicFamily"], "v2.routing.queues.{id}.conversations");
        // Only what started inside the gap (at the gap's millisecond precision), though the platform matches
        // whole days.
        let start: DateTime<Utc> = r["conversation"]["conversationStart"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(start >= gap.from && start <= gap.to + chrono::Duration::milliseconds(1));
    }
    t.app.engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_backfill_a_gap_brings_nothing_back() {
    let t = queues_app("").await;
    let gap = t.stall().await;
    assert!(!t.conversations_in(gap.from, gap.to).is_empty());
    // The gap is stored (so the router has passed it on) with no backfill.
    wait_until("the gap stored", || async {
        !t.stored_gaps().await.is_empty()
    })
    .await;
    let stored = t.stored_gaps().await;
    assert!(stored[0].get("backfill").is_none(), "{}", stored[0]);
    assert!(read_sink(&t.app.scratch).backfills.is_empty());
    assert_eq!(analytics_calls(&t.sim.stats().await, None), 0);
    t.app.engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_during_backfill_is_waited_out_and_the_backfill_completes() {
    let t = queues_app("on_gap = true").await;
    t.sim
        .inject(FaultRequest {
            path: Some("/analytics".into()),
            count: Some(3),
            ..fault(FaultKind::RateLimit)
        })
        .await;
    let gap = t.stall().await;
    let result = t.finished_backfill().await;
    assert_eq!(result["status"], "done", "{result}");
    let stats = t.sim.stats().await;
    assert_eq!(analytics_calls(&stats, Some(429)), 3, "the storm was met");
    assert!(
        analytics_calls(&stats, Some(200)) >= 1,
        "then the query went through"
    );
    let got = backfilled(&t.backfill_records(&result).await);
    for id in t.conversations_in(gap.from, gap.to) {
        assert_eq!(
            got.get(&id),
            Some(&1),
            "conversation {id} backfilled exactly once"
        );
    }
    t.app.engine.stop();
}

/// `METHOD path` with the token and a JSON body; the status and the JSON answer.
async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_is_set_through_the_api_checked_and_kept_across_a_restart() {
    use reqwest::Method;
    const ADMIN: &str = "backfill-admin-token-0123456789abcdef";
    let sim = Sim::start(|c| c.workload.queues = 3);
    let queues = sim.topics(&["queueConversations"]).await;
    let scratch = Scratch::new();
    let config = || {
        App::builder(&sim)
            .scratch(&scratch)
            .tenant("acme", &queues)
            .client("demo", "secret")
            .sink_file()
            .master_key()
            .admin_token(ADMIN)
            .config()
    };
    let engine = start(config());
    let base = format!("http://{}", engine.admin_addr.unwrap());
    let beta = |backfill: Value| {
        json!({"id": "beta", "apiBase": sim.base(), "loginBase": sim.base(),
            "clients": [{"id": "demo", "secret": "secret"}], "topics": queues, "backfill": backfill})
    };
    let (status, body) = call(
        &base,
        Method::POST,
        "/v1/tenants",
        ADMIN,
        Some(beta(json!({"reconcileEvery": "1s"}))),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["details"]
            .to_string()
            .contains("backfill.reconcileEvery: must be at least 10 s"),
        "{body}"
    );
    let (status, body) = call(
        &base,
        Method::POST,
        "/v1/tenants",
        ADMIN,
        Some(beta(json!({"onGap": true, "when": 1}))),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");

    let wanted = json!({"onGap": true, "reconcileEvery": "10m"});
    let (status, body) = call(
        &base,
        Method::POST,
        "/v1/tenants",
        ADMIN,
        Some(beta(wanted.clone())),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["backfill"], wanted);
    wait_live(&engine, "beta", 1).await;
    let (_, acme) = call(&base, Method::GET, "/v1/tenants/acme", ADMIN, None).await;
    assert!(acme.get("backfill").is_none(), "off unless asked: {acme}");

    engine.stop();
    let engine = start(config());
    let base = format!("http://{}", engine.admin_addr.unwrap());
    let (status, body) = call(&base, Method::GET, "/v1/tenants/beta", ADMIN, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["backfill"], wanted, "kept in the store");
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_delivers_the_last_intervals_conversations_once_each() {
    let sim = Sim::start(|c| {
        c.workload.queues = 3;
        c.workload.users = 10;
        c.workload.families = vec![Family::QueueConversations];
    });
    let topics = sim.topics(&["queueConversations"]).await;
    let app = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .backfill("reconcile_every = \"10s\"")
        .start();
    wait_live(&app.engine, "acme", 1).await;
    let scratch = &app.scratch;
    // Conversations happen (and are delivered as events), then stop before the first pass.
    sim.workload(json!({"ratePerSecond": 50.0, "families": ["queueConversations"]}))
        .await;
    wait_until("events", || async { read_sink(scratch).events.len() > 30 }).await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let expected: BTreeSet<String> = sim
        .handle
        .sim
        .with_org(|org| org.conversations().map(|c| c.id.to_string()).collect());
    assert!(!expected.is_empty());
    wait_until("a reconciliation pass delivered them", || async {
        backfilled(&read_sink(scratch).backfills).len() >= expected.len()
    })
    .await;
    let first = read_sink(scratch).backfills;
    let got = backfilled(&first);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every conversation of the last interval"
    );
    assert!(got.values().all(|&n| n == 1), "each once: {got:?}");
    assert!(
        first.iter().all(|r| r.get("gapId").is_none()),
        "reconciliation records name no gap"
    );
    // The next pass queries again and finds nothing that changed: nothing is delivered twice. (Once the pass
    // after it has queried, the next one has delivered whatever it had.)
    let queried = analytics_calls(&sim.stats().await, Some(200));
    wait_until("two more passes", || async {
        analytics_calls(&sim.stats().await, Some(200)) >= queried + 2
    })
    .await;
    let after = read_sink(scratch).backfills;
    assert_eq!(
        after.len(),
        first.len(),
        "deduplicated against what was already delivered"
    );
    app.engine.stop();
}
