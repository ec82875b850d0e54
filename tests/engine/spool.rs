//! The sink spool across a crash: `switchboard serve` runs as a child process with a webhook sink whose
//! receiver (127.0.0.1, allow-listed) answers 503; the events go to the spool on disk while the file sink
//! keeps receiving them; the process is killed with SIGKILL, started again, the receiver recovers, and every
//! event the simulator's ledger has for the followed topics arrives at the receiver, in order per topic
//! (duplicates of a batch re-sent after the crash are allowed).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::harness::*;

#[derive(Default)]
struct Receiver {
    /// (topic, correlation id) of every event received with a 2xx answer, in arrival order.
    events: Mutex<Vec<(String, String)>>,
    up: AtomicBool,
}

/// What the receiver answers to one request: 204 and the events recorded while it is up, 503 while it is down.
fn answer(rx: &Receiver, req: Request) -> &'static [u8] {
    if rx.up.load(Ordering::SeqCst) {
        let items = match req.json() {
            Value::Array(items) => items,
            one => vec![one],
        };
        let mut events = rx.events.lock();
        for item in items.iter().filter(|i| i["kind"] == "event") {
            events.push((
                item["topic"].as_str().unwrap().to_ascii_lowercase(),
                item["correlationId"].as_str().unwrap().to_string(),
            ));
        }
        b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
    } else {
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown"
    }
}

const ADMIN: &str = "spool-admin-token-0123456789";

/// The value of `name{sink="hook"}` on /metrics, once the admin API answers.
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("{name}{{sink=\"hook\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether every channel of the engine at `base` is live (the API answers at once, before the channels are).
async fn channels_live(http: &reqwest::Client, base: &str) -> bool {
    let Ok(res) = http
        .get(format!("{base}/v1/status"))
        .bearer_auth(ADMIN)
        .send()
        .await
    else {
        return false;
    };
    let Ok(status) = res.json::<Value>().await else {
        return false;
    };
    let channels: Vec<&Value> = status["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["channels"].as_array().into_iter().flatten())
        .collect();
    !channels.is_empty() && channels.iter().all(|c| c["state"] == "live")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_records_survive_kill_9_and_are_delivered_in_order_when_the_destination_recovers() {
    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence", "routingStatus"]).await;
    let scratch = Scratch::new();
    let receiver = Arc::new(Receiver::default());
    let hook_port = http_receiver({
        let receiver = receiver.clone();
        move |req| answer(&receiver, req)
    })
    .await;
    let admin_port = free_port();
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"a webhook signing key for tests!")
    );
    let text = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &followed)
        .client("demo", "secret")
        .sink_file()
        .sink(
            "hook",
            &format!(
                "kind = \"webhook\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nsecret = \"{secret}\"\ntimeout = \"2s\"\nallow = [\"127.0.0.1\"]\n"
            ),
        )
        .admin_listen(&format!("127.0.0.1:{admin_port}"))
        .admin_token(ADMIN)
        .text();
    let config = scratch.0.join("switchboard.toml");
    std::fs::write(&config, text).unwrap();
    let base = format!("http://127.0.0.1:{admin_port}");
    let http = reqwest::Client::new();

    let mut child = spawn_serve(&config);
    wait_until("the admin API of the first run", || async {
        metric(&http, &base, "switchboard_spooled_total")
            .await
            .is_some()
    })
    .await;
    wait_until("the channels live", || channels_live(&http, &base)).await;

    // The receiver is down: the webhook sink spools, and the file sink is not held up by it.
    sim.workload(json_rate(100.0, &["presence", "routingStatus"]))
        .await;
    wait_until("events in the file sink", || async {
        read_sink(&scratch).events.len() >= 100
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let verdict = settle(&sim, &scratch, &followed).await;
    assert_complete(&verdict);
    assert!(verdict.happened >= 100, "{verdict:?}");
    let lines = read_sink(&scratch).lines as u64;
    wait_until("every record in the webhook sink's spool", || async {
        metric(&http, &base, "switchboard_spooled_total")
            .await
            .is_some_and(|n| n >= lines)
    })
    .await;
    assert!(
        metric(&http, &base, "switchboard_spool_bytes")
            .await
            .unwrap()
            > 0
    );
    assert!(receiver.events.lock().is_empty());

    // kill -9 during the outage, then a restart.
    child.kill().await.unwrap();
    let spool_dir = scratch.0.join("spool").join("hook");
    let on_disk: u64 = std::fs::read_dir(&spool_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(on_disk > 0, "the spool in {} is empty", spool_dir.display());
    let mut child = spawn_serve(&config);
    wait_until("the admin API of the second run", || async {
        metric(&http, &base, "switchboard_spool_bytes")
            .await
            .is_some_and(|n| n > 0)
    })
    .await;

    // The destination recovers: everything spooled arrives, in order per topic.
    receiver.up.store(true, Ordering::SeqCst);
    let followed_lc: BTreeSet<String> = followed.iter().map(|t| t.to_ascii_lowercase()).collect();
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in sim.ledger().await {
        let topic = e["topic"].as_str().unwrap().to_ascii_lowercase();
        if followed_lc.contains(&topic) {
            expected
                .entry(topic)
                .or_default()
                .push(e["correlationId"].as_str().unwrap().to_string());
        }
    }
    let all: BTreeSet<String> = expected.values().flatten().cloned().collect();
    wait_until("every spooled event at the receiver", || async {
        let got: BTreeSet<String> = receiver
            .events
            .lock()
            .iter()
            .map(|(_, id)| id.clone())
            .collect();
        all.is_subset(&got)
    })
    .await;
    wait_until("the spool empty", || async {
        metric(&http, &base, "switchboard_spool_bytes").await == Some(0)
    })
    .await;
    // In order per topic: the first arrival of each event follows the ledger's order.
    let mut firsts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (topic, id) in receiver.events.lock().iter() {
        if seen.insert(id.clone()) {
            firsts.entry(topic.clone()).or_default().push(id.clone());
        }
    }
    for (topic, ids) in &expected {
        let got: Vec<&String> = firsts
            .get(topic)
            .map(|v| v.iter().filter(|id| all.contains(*id)).collect())
            .unwrap_or_default();
        assert_eq!(
            got,
            ids.iter().collect::<Vec<_>>(),
            "order of topic {topic}"
        );
    }
    // `kill` also waits for the process to end.
    child.kill().await.unwrap();
}
