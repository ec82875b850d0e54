//! The webhook sink against a tiny local receiver (127.0.0.1, allow-listed): events from the simulator arrive
//! signed per Standard Webhooks and the signatures verify; a receiver answering 503 then 200 loses nothing; a
//! receiver answering 400 sends records to the dead-letter store, visible through the API, and a replay once
//! the receiver is fixed delivers them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::*;

const ADMIN: &str = "webhook-admin-token-0123456789";
const KEY: &[u8] = b"a webhook signing key for tests!";

/// What the receiver does with the next request.
const ANSWER_OK: u32 = 0;
const ANSWER_400: u32 = 1;

#[derive(Default)]
struct Receiver {
    /// Envelope ids received with a valid signature.
    ids: Mutex<BTreeSet<String>>,
    /// Requests whose signature did not verify.
    bad_signatures: AtomicUsize,
    /// Requests answered 503 before answering normally again.
    fail_503: AtomicUsize,
    mode: AtomicU32,
    requests: AtomicUsize,
}

fn verify(headers: &str, body: &[u8]) -> bool {
    let header = |name: &str| {
        headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let (Some(id), Some(ts), Some(sig)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let fresh = ts
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
    fresh && sig.split(' ').any(|s| s == expected)
}

/// What the receiver answers to one request: 503 while `fail_503` lasts, 400 in that mode, else 204 after
/// recording the ids of a request whose signature verifies.
fn answer(rx: &Receiver, req: Request) -> &'static [u8] {
    rx.requests.fetch_add(1, Ordering::SeqCst);
    if rx
        .fail_503
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\ncontent-length: 4\r\n\r\nbusy"
    } else if rx.mode.load(Ordering::SeqCst) == ANSWER_400 {
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 7\r\n\r\nno such"
    } else {
        if verify(&req.head, &req.body) {
            let v = req.json();
            let mut ids = rx.ids.lock();
            match v.as_array() {
                Some(items) => {
                    for item in items {
                        ids.insert(item["id"].as_str().unwrap().to_string());
                    }
                }
                None => {
                    ids.insert(v["id"].as_str().unwrap().to_string());
                }
            }
        } else {
            rx.bad_signatures.fetch_add(1, Ordering::SeqCst);
        }
        b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
    }
}

/// The ids of the events the file sink holds.
fn file_event_ids(scratch: &Scratch) -> BTreeSet<String> {
    std::fs::read_to_string(scratch.sink())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["kind"] == "event").then(|| v["id"].as_str().unwrap().to_string())
        })
        .collect()
}

async fn api(
    http: &reqwest::Client,
    admin: &Admin,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http
        .request(method, format!("{}{path}", admin.base))
        .bearer_auth(&admin.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn dead_letter_ids(http: &reqwest::Client, admin: &Admin) -> BTreeSet<String> {
    let (status, body) = api(
        http,
        admin,
        Method::GET,
        "/v1/sinks/hook/dead-letters?limit=10000",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let v: Value = serde_json::from_str(d["json"].as_str().unwrap()).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_signed_retried_and_dead_lettered_then_replayed() {
    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence", "routingStatus"]).await;
    let scratch = Scratch::new();
    let receiver = Arc::new(Receiver::default());
    // The first answers are 503: nothing may be lost for it.
    receiver.fail_503.store(3, Ordering::SeqCst);
    let port = http_receiver({
        let receiver = receiver.clone();
        move |req| answer(&receiver, req)
    })
    .await;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    );
    let extra = format!(
        "\n[[sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{secret}\"\ntimeout = \"2s\"\nallow = [\"127.0.0.1\"]\n\n[[routes]]\nsinks = [\"hook\"]",
    );
    let App { engine, admin, .. } = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &followed)
        .client("demo", "secret")
        .sink_file()
        .extra(&extra)
        .admin_token(ADMIN)
        .start();
    let admin = admin.expect("admin API");
    let http = reqwest::Client::new();
    wait_live(&engine, "acme", 1).await;

    // The sink shows its settings, never its secret.
    let (status, view) = api(&http, &admin, Method::GET, "/v1/sinks/hook", None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["kind"], "webhook");
    assert_eq!(view["secret"], "set");
    assert!(!view.to_string().contains(&secret[6..]), "{view}");

    // Without a master key, the API cannot store a webhook secret; a bad body names its fields.
    let (status, body) = api(
        &http,
        &admin,
        Method::PUT,
        "/v1/sinks/other",
        Some(
            json!({"kind": "webhook", "url": "https://h.example.com/x", "secret": "s3cr3t-value"}),
        ),
    )
    .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("no_master_key")),
        "{body}"
    );
    assert!(!body.to_string().contains("s3cr3t-value"), "{body}");
    let (status, body) = api(
        &http,
        &admin,
        Method::PUT,
        "/v1/sinks/other",
        Some(json!({"kind": "webhook", "url": "ftp://x", "timeoutMs": 0, "allow": ["1.2.3.4/99"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    for field in ["url:", "secret:", "timeoutMs:", "allow[0]:"] {
        assert!(body.to_string().contains(field), "{field} in {body}");
    }

    // Events arrive signed, through the 503s.
    sim.workload(json_rate(100.0, &["presence", "routingStatus"]))
        .await;
    wait_until("events in the file sink", || async {
        file_event_ids(&scratch).len() >= 50
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    wait_until("every event at the receiver", || async {
        let file = file_event_ids(&scratch);
        let got = receiver.ids.lock().clone();
        !file.is_empty() && file.is_subset(&got)
    })
    .await;
    assert_eq!(
        receiver.fail_503.load(Ordering::SeqCst),
        0,
        "the 503s were answered"
    );
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);

    // The receiver now refuses: records go to the dead-letter store.
    let before = file_event_ids(&scratch);
    receiver.mode.store(ANSWER_400, Ordering::SeqCst);
    sim.workload(json_rate(100.0, &["presence"])).await;
    wait_until("new events in the file sink", || async {
        file_event_ids(&scratch).len() >= before.len() + 20
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    wait_until("every new event dead-lettered", || async {
        let new: BTreeSet<String> = file_event_ids(&scratch)
            .difference(&before)
            .cloned()
            .collect();
        let dead = dead_letter_ids(&http, &admin).await;
        new.is_subset(&dead)
    })
    .await;
    let dead = dead_letter_ids(&http, &admin).await;
    assert!(!dead.is_empty());
    assert!(
        dead.is_disjoint(&receiver.ids.lock()),
        "a dead letter was also delivered"
    );
    let (_, metrics) = http
        .get(format!("{}/metrics", admin.base))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| ((), t))
        .unwrap();
    assert!(
        metrics.contains("switchboard_dlq_total{sink=\"hook\"}"),
        "{metrics}"
    );

    // Fixed receiver, replay: every dead letter is delivered and the store is empty.
    receiver.mode.store(ANSWER_OK, Ordering::SeqCst);
    let (status, body) = api(
        &http,
        &admin,
        Method::POST,
        "/v1/sinks/hook/dead-letters/replay?limit=10000",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"].as_u64().unwrap() as usize, dead.len());
    wait_until("the replayed records at the receiver", || async {
        dead.is_subset(&receiver.ids.lock())
    })
    .await;
    assert!(dead_letter_ids(&http, &admin).await.is_empty());
    assert!(file_event_ids(&scratch).is_subset(&receiver.ids.lock()));
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
    assert!(receiver.requests.load(Ordering::SeqCst) > 0);
    engine.stop();
}

/// A sink counter of `/metrics` for sink `hook` (0 when the series is not there yet).
fn hook_counter(metrics: &str, family: &str) -> u64 {
    let prefix = format!("{family}{{sink=\"hook\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

/// How many dead letters sink `hook` holds.
async fn dead_letters_held(http: &reqwest::Client, admin: &Admin) -> usize {
    let (status, body) = api(
        http,
        admin,
        Method::GET,
        "/v1/sinks/hook/dead-letters?limit=10000",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().len()
}

/// (dead-lettered, dropped) of sink `hook`, from `/metrics`.
async fn dead_letter_counters(http: &reqwest::Client, admin: &Admin) -> (u64, u64) {
    let metrics = http
        .get(format!("{}/metrics", admin.base))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (
        hook_counter(&metrics, "switchboard_dlq_total"),
        hook_counter(&metrics, "switchboard_dead_letters_dropped_total"),
    )
}

/// A receiver that refuses everything for good (400) dead-letters every record, but the store never holds
/// more than `[store] dead_letters_max` of the sink's (the oldest are dropped), and
/// `switchboard_dead_letters_dropped_total` counts exactly those dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_refused_for_good_keeps_at_most_the_bound_of_dead_letters() {
    const BOUND: usize = 20;
    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence"]).await;
    let port = http_receiver(|_| {
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 7\r\n\r\nno such" as &[u8]
    })
    .await;
    let App { engine, admin, .. } = App::builder(&sim)
        .tenant("acme", &followed)
        .client("demo", "secret")
        .store(&format!("dead_letters_max = {BOUND}"))
        .sink(
            "hook",
            &format!(
                "kind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"k\"\ntimeout = \"2s\"\nallow = [\"127.0.0.1\"]\n"
            ),
        )
        .admin_token(ADMIN)
        .start();
    let admin = admin.expect("admin API");
    let http = reqwest::Client::new();
    wait_live(&engine, "acme", 1).await;

    // Events flow until three bounds' worth were dead-lettered; the store never held more than the bound.
    sim.workload(json_rate(100.0, &["presence"])).await;
    wait_until("three bounds' worth of records dead-lettered", || async {
        let held = dead_letters_held(&http, &admin).await;
        assert!(held <= BOUND, "{held} dead letters held, over {BOUND}");
        dead_letter_counters(&http, &admin).await.0 >= 3 * BOUND as u64
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;

    // Once the last records are in: the bound is held, and every record dead-lettered is either held or
    // counted as dropped.
    wait_until("dead-lettered = held + dropped", || async {
        let (dead, dropped) = dead_letter_counters(&http, &admin).await;
        let held = dead_letters_held(&http, &admin).await;
        assert!(held <= BOUND, "{held} dead letters held, over {BOUND}");
        held == BOUND && dead == dropped + held as u64
    })
    .await;
    let (dead, dropped) = dead_letter_counters(&http, &admin).await;
    assert!(dead >= 3 * BOUND as u64, "{dead}");
    assert!(dropped >= 2 * BOUND as u64, "{dropped}");
    engine.stop();
}
