//! Resumable reading from a log sink: the SSE tail's ids, `Last-Event-ID`, `since`, the paged read, and the
//! `replay_window` gap for a position the log no longer keeps.

use serde_json::{Value, json};
use switchboard::sim::workload::Family;

use crate::harness::*;

const TOKEN: &str = "replay-read-token-0123456789abcdef";
const FAMILIES: [&str; 2] = ["presence", "routingStatus"];

struct Replay {
    sim: Sim,
    app: App,
    admin: String,
}

/// Users' presence and routing status, a file sink and a log sink `replay` on one route.
async fn replay_app(log_table: &str, event_size: Option<usize>) -> Replay {
    let sim = Sim::start(|c| {
        c.workload.users = 30;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
        c.workload.event_size_bytes = event_size;
    });
    let topics = sim.topics(&FAMILIES).await;
    let port = free_port();
    let scratch = Scratch::new();
    let dir = scratch.0.join("replay-log");
    let app = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .sink(
            "replay",
            &format!("kind = \"log\"\ndir = \"{}\"\n{log_table}", dir.display()),
        )
        .admin_listen(&format!("127.0.0.1:{port}"))
        .read_token(TOKEN)
        .start();
    wait_live(&app.engine, "acme", 1).await;
    Replay {
        sim,
        app,
        admin: format!("http://127.0.0.1:{port}"),
    }
}

impl Replay {
    async fn produce(&self, n: u64) {
        let before = self.sim.stats().await.events_generated;
        self.sim.workload(json_rate(500.0, &FAMILIES)).await;
        wait_until(&format!("{n} events"), || async {
            self.sim.stats().await.events_generated >= before + n
        })
        .await;
        self.sim.workload(json!({"ratePerSecond": 0.0})).await;
    }

    /// The file sink's records, once it has at least `n` lines.
    async fn file_records(&self, n: usize) -> Vec<Value> {
        let path = self.app.scratch.sink();
        wait_until("the file sink's records", || async {
            read_sink(&self.app.scratch).lines >= n
        })
        .await;
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn events_url(&self, query: &str) -> String {
        format!("{}/v1/tenants/acme/events{query}", self.admin)
    }

    async fn page(&self, query: &str) -> Value {
        let res = reqwest::Client::new()
            .get(format!("{}/v1/tenants/acme/records{query}", self.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(status.is_success(), "{status} {body}");
        body
    }
}

/// Reads events until `n` have come (each within the patience).
async fn take(sse: &mut Sse, n: usize) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(sse.next(PATIENCE).await.expect("the next record"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_resumes_with_last_event_id_and_gets_every_record_once_in_order() {
    let t = replay_app("", None).await;
    let mut first = Sse::open(&t.events_url(""), TOKEN, None).await;
    t.produce(200).await;
    let before = take(&mut first, 50).await;
    drop(first);
    let last = before
        .last()
        .unwrap()
        .id
        .expect("records from a log carry ids");
    assert!(
        before.windows(2).all(|w| w[1].id == w[0].id.map(|i| i + 1)),
        "ids are consecutive"
    );
    // Away while more happens.
    t.produce(300).await;
    let all = t.file_records(500).await;
    let start = all
        .iter()
        .position(|r| *r == before[0].data)
        .expect("the first record is in the file");
    let wanted = &all[start..];
    let mut again = Sse::open(&t.events_url(""), TOKEN, Some(last)).await;
    let after = take(&mut again, wanted.len() - before.len()).await;
    let got: Vec<&Value> = before.iter().chain(&after).map(|e| &e.data).collect();
    assert_eq!(
        got,
        wanted.iter().collect::<Vec<_>>(),
        "every record once, in order, across the reconnect"
    );
    assert_eq!(after[0].id, Some(last + 1));
    // Then live, with no hole.
    t.produce(20).await;
    let live = take(&mut again, 20).await;
    assert_eq!(live[0].id, after.last().unwrap().id.map(|i| i + 1));
    // `?after=` is the same as the header.
    let mut by_query = Sse::open(&t.events_url(&format!("?after={last}")), TOKEN, None).await;
    assert_eq!(by_query.next(PATIENCE).await.unwrap().data, after[0].data);
    t.app.engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_and_the_paged_read_return_every_record_from_a_time() {
    let t = replay_app("", None).await;
    t.produce(300).await;
    let all = t.page("?limit=10000").await;
    let records = all["records"].as_array().unwrap();
    assert!(records.len() >= 300, "{}", records.len());
    assert_eq!(records[0]["id"], 1);
    assert_eq!(all["next"], records.last().unwrap()["id"]);
    // Pages of 100 read the same records.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = t.page(&format!("?after={after}&limit=100")).await;
        let items = page["records"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        after = page["next"].as_u64().unwrap();
        paged.extend(items);
    }
    assert_eq!(&paged, records);
    // `since` a middle record's time: every record received at or after it, and none before.
    let middle = &records[records.len() / 2]["record"];
    let since = middle["receivedAt"].as_str().unwrap();
    let from_time = t.page(&format!("?since={since}&limit=10000")).await;
    let times: Vec<&str> = from_time["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["receivedAt"].as_str().unwrap())
        .collect();
    let expected = records
        .iter()
        .filter(|r| r["record"]["receivedAt"].as_str().unwrap() >= since)
        .count();
    assert_eq!(times.len(), expected);
    assert!(times.iter().all(|t| *t >= since));
    let mut sse = Sse::open(&t.events_url(&format!("?since={since}")), TOKEN, None).await;
    assert_eq!(
        sse.next(PATIENCE).await.unwrap().data["receivedAt"]
            .as_str()
            .unwrap(),
        times[0]
    );
    t.app.engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_older_than_the_log_keeps_gets_one_replay_window_gap_first() {
    // A 1 MiB log (segments of 128 KiB) and ~4 KiB events: a few thousand trims the oldest.
    let t = replay_app("max_bytes = 1048576\n", Some(4096)).await;
    t.produce(600).await;
    let page = t.page("?after=0&limit=10").await;
    let first = page["records"][0].clone();
    assert!(first.get("id").is_none(), "the gap has no id: {first}");
    assert_eq!(first["record"]["kind"], "gap");
    assert_eq!(first["record"]["reason"], "replay_window");
    let kept = page["records"][1]["id"].as_u64().unwrap();
    assert!(kept > 1, "the oldest records were trimmed");
    let mut sse = Sse::open(&t.events_url(""), TOKEN, Some(1)).await;
    let events = take(&mut sse, 20).await;
    let gaps: Vec<&SseEvent> = events
        .iter()
        .filter(|e| e.data["reason"] == "replay_window")
        .collect();
    assert_eq!(gaps.len(), 1, "exactly one replay_window gap");
    assert!(events[0].id.is_none() && events[0].data["kind"] == "gap");
    assert_eq!(
        events[1].id,
        Some(kept),
        "then the oldest record kept, and on"
    );
    assert!(
        events[1..]
            .windows(2)
            .all(|w| w[1].id == w[0].id.map(|i| i + 1))
    );
    t.app.engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_log_sink_resuming_is_refused_and_the_live_tail_stays() {
    let sim = Sim::start(|c| c.workload.users = 5);
    let topics = sim.topics(&FAMILIES).await;
    let port = free_port();
    let app = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .admin_listen(&format!("127.0.0.1:{port}"))
        .read_token(TOKEN)
        .start();
    let base = format!("http://127.0.0.1:{port}");
    let events = |last_event_id: Option<&'static str>| {
        let mut req = reqwest::Client::new()
            .get(format!("{base}/v1/tenants/acme/events"))
            .bearer_auth(TOKEN);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        async move { req.send().await.unwrap() }
    };
    let res = events(Some("5")).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("kind \"log\""),
        "{body}"
    );
    assert_eq!(events(Some("five")).await.status(), 400);
    let live = events(None).await;
    assert_eq!(live.status(), 200);
    drop(live);
    app.engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_and_a_restart_a_consumer_resumes_where_it_was() {
    let sim = Sim::start(|c| {
        c.workload.users = 30;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
    });
    let topics = sim.topics(&FAMILIES).await;
    let port = free_port();
    let scratch = Scratch::new();
    let text = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .sink(
            "replay",
            &format!(
                "kind = \"log\"\ndir = \"{}\"\n",
                scratch.0.join("replay-log").display()
            ),
        )
        .admin_listen(&format!("127.0.0.1:{port}"))
        .read_token(TOKEN)
        .text();
    let config = scratch.0.join("switchboard.toml");
    std::fs::write(&config, text).unwrap();
    let url = format!("http://127.0.0.1:{port}/v1/tenants/acme/events");
    let mut child = spawn_serve(&config);
    let mut sse = open_when_up(&url, None).await;
    sim.workload(json_rate(200.0, &FAMILIES)).await;
    let before = take(&mut sse, 100).await;
    let last = before.last().unwrap().id.unwrap();
    child.kill().await.expect("SIGKILL");
    drop(sse);
    let mut child = spawn_serve(&config);
    let mut sse = open_when_up(&url, Some(last)).await;
    let after = take(&mut sse, 100).await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    child.kill().await.ok();
    let ids: Vec<u64> = after.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(
        ids,
        (last + 1..=last + 100).collect::<Vec<_>>(),
        "every record after the last one seen, once, in order, across the crash"
    );
    assert!(
        after
            .iter()
            .any(|e| e.data["kind"] == "gap" && e.data["reason"] == "restart"),
        "what the crash lost is a restart gap in the same stream"
    );
}

/// Opens the stream once the process answers.
async fn open_when_up(url: &str, last: Option<u64>) -> Sse {
    wait_until("the admin API up", || async {
        reqwest::Client::new()
            .get(url.replace("/v1/tenants/acme/events", "/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    Sse::open(url, TOKEN, last).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_sink_made_through_the_api_is_confined_and_replayed_from() {
    const ADMIN: &str = "replay-admin-token-0123456789abcdef";
    let sim = Sim::start(|c| c.workload.users = 10);
    let topics = sim.topics(&FAMILIES).await;
    let app = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .admin_token(ADMIN)
        .start();
    let base = format!("http://{}", app.engine.admin_addr.unwrap());
    let send = |method: reqwest::Method, path: &str, body: Value| {
        let req = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // A directory outside [admin] data_dir, an age under a second: each refused, naming the field.
    for (sink, body, field) in [
        (
            "elsewhere",
            json!({"kind": "log", "dir": "/etc/switchboard-log"}),
            "dir: ",
        ),
        (
            "replay",
            json!({"kind": "log", "maxAge": "500ms"}),
            "maxAge: ",
        ),
    ] {
        let (status, answer) = send(reqwest::Method::PUT, &format!("/v1/sinks/{sink}"), body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["details"][0].as_str().unwrap().starts_with(field),
            "{answer}"
        );
    }
    let (status, body) = send(
        reqwest::Method::PUT,
        "/v1/sinks/replay",
        json!({"kind": "log"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["dir"].as_str().unwrap().ends_with("logs/replay"),
        "{body}"
    );
    assert_eq!(body["maxBytes"], 1u64 << 30);
    let (status, body) = send(
        reqwest::Method::PUT,
        "/v1/routes/replay",
        json!({"sinks": ["replay"], "tenants": ["acme"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    wait_live(&app.engine, "acme", 1).await;
    sim.workload(json_rate(200.0, &FAMILIES)).await;
    let mut sse = Sse::open(&format!("{base}/v1/tenants/acme/events"), ADMIN, Some(0)).await;
    let events = take(&mut sse, 30).await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    assert_eq!(
        events.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    app.engine.stop();
}
