//! The NATS JetStream sink in the engine: the simulator's events reach JetStream exactly once each, in routing
//! order per entity; and when the server goes away, the records go to the spool and reach JetStream once it is
//! back, none lost, in order per entity.
//!
//! The first test uses the machine's NATS (`SWITCHBOARD_TEST_NATS_URL`, default 127.0.0.1:4222, started by
//! scripts/test.sh); the second starts and kills a `nats-server -js` of its own (`SWITCHBOARD_TEST_NATS_SERVER`,
//! default /usr/sbin/nats-server). Without them the tests fail.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::harness::*;

/// The stream's message count, or 0 while it cannot be read.
async fn stream_count(url: &str, stream: &str) -> u64 {
    let Some(js) = jetstream_at(url).await else {
        return 0;
    };
    match js.get_stream(stream).await {
        Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

/// tenant/user for the simulator's user topics (`v2.users.{id}.<family>`), the tenant otherwise.
fn entity(v: &Value) -> String {
    let tenant = v["tenant"].as_str().unwrap_or_default();
    match v["topic"].as_str() {
        Some(topic) if topic.starts_with("v2.users.") => {
            format!("{tenant}/{}", topic.split('.').nth(2).unwrap_or_default())
        }
        _ => tenant.to_string(),
    }
}

/// What the file sink holds, in routing order: (entity, id).
fn file_records(scratch: &Scratch) -> Vec<(String, String)> {
    std::fs::read_to_string(scratch.sink())
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (entity(&v), v["id"].as_str().unwrap().to_string())
        })
        .collect()
}

fn nats_sink(url: &str, prefix: &str, stream: &str) -> String {
    format!(
        "\n[[sinks]]\nname = \"nats\"\nkind = \"nats\"\nurl = \"{url}\"\nsubject = \"{prefix}.{{tenant}}.{{family}}\"\nstream = \"{stream}\"\ncreate_stream = true\n\n[[routes]]\nsinks = [\"nats\"]\n"
    )
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_jetstream_once_in_routing_order_per_entity() {
    let url = std::env::var("SWITCHBOARD_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let js = jetstream_at(&url).await.unwrap_or_else(|| {
        panic!("no NATS with JetStream at {url}: the NATS sink tests need `nats-server -js` there")
    });
    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence", "routingStatus"]).await;
    let scratch = Scratch::new();
    let id = unique();
    let (prefix, stream) = (format!("sbtest{id}"), format!("SBTEST{id}"));
    let engine = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &followed)
        .client("demo", "secret")
        .sink_file()
        .extra(&nats_sink(&url, &prefix, &stream))
        .start()
        .engine;
    wait_live(&engine, "acme", 1).await;

    sim.workload(json_rate(100.0, &["presence", "routingStatus"]))
        .await;
    wait_until("events in the file sink", || async {
        read_sink(&scratch).events.len() >= 300
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let verdict = settle(&sim, &scratch, &followed).await;
    assert_complete(&verdict);
    let file = file_records(&scratch);
    wait_until("every record in JetStream", || async {
        stream_count(&url, &stream).await >= file.len() as u64
    })
    .await;
    engine.stop();

    let got = read_stream(&js, &stream).await;
    assert_eq!(got.len(), file.len(), "each record exactly once");
    let mut ids = HashSet::new();
    for (msg_id, envelope) in &got {
        assert!(ids.insert(msg_id.clone()), "{msg_id} delivered twice");
        assert_eq!(
            msg_id,
            envelope["id"].as_str().unwrap(),
            "Nats-Msg-Id is the envelope id"
        );
    }
    let correlation: BTreeSet<&str> = got
        .iter()
        .filter_map(|(_, e)| e["correlationId"].as_str())
        .collect();
    assert_eq!(
        correlation.len(),
        verdict.delivered_once,
        "every followed ledger event, once"
    );
    let stream_order: Vec<(String, String)> =
        got.iter().map(|(id, e)| (entity(e), id.clone())).collect();
    assert_eq!(
        first_copies_by_key(&stream_order),
        first_copies_by_key(&file),
        "in routing order per entity"
    );
    assert!(
        first_copies_by_key(&file).len() > 10,
        "events of many users"
    );
    let _ = js.delete_stream(&stream).await;
}

/// A `nats-server -js` of the test's own on `port`, keeping its streams in `dir` (so a restart keeps them).
fn spawn_nats(port: u16, dir: &std::path::Path) -> tokio::process::Child {
    let bin = std::env::var("SWITCHBOARD_TEST_NATS_SERVER")
        .unwrap_or_else(|_| "/usr/sbin/nats-server".into());
    tokio::process::Command::new(&bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {bin} ({e}): the NATS outage test needs nats-server \
                 (or set SWITCHBOARD_TEST_NATS_SERVER)"
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_outage_spools_and_loses_nothing_and_keeps_order_per_entity() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let data = Scratch::new();
    let mut server = spawn_nats(port, &data.0);
    wait_until("the test's NATS server", || async {
        jetstream_at(&url).await.is_some()
    })
    .await;

    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence", "routingStatus"]).await;
    let scratch = Scratch::new();
    let stream = "SBOUTAGE";
    let engine = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &followed)
        .client("demo", "secret")
        .sink_file()
        .extra(&nats_sink(&url, "sboutage", stream))
        .start()
        .engine;
    let stats = engine
        .sinks
        .iter()
        .find(|(name, _)| name == "nats")
        .map(|(_, s)| s.clone())
        .expect("the nats sink runs");
    wait_live(&engine, "acme", 1).await;

    sim.workload(json_rate(100.0, &["presence", "routingStatus"]))
        .await;
    wait_until("events in the file sink", || async {
        read_sink(&scratch).events.len() >= 100
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    assert_complete(&settle(&sim, &scratch, &followed).await);
    let first = file_records(&scratch).len() as u64;
    wait_until("the first events in JetStream", || async {
        stream_count(&url, stream).await >= first
    })
    .await;

    // The server goes away; events keep coming and go to the spool.
    server.kill().await.unwrap();
    let spooled = stats.spooled.load(Ordering::Relaxed);
    sim.workload(json_rate(100.0, &["presence", "routingStatus"]))
        .await;
    wait_until("more events in the file sink", || async {
        read_sink(&scratch).events.len() as u64 >= first + 200
    })
    .await;
    wait_until("records in the NATS sink's spool", || async {
        stats.spooled.load(Ordering::Relaxed) >= spooled + 100
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    assert_complete(&settle(&sim, &scratch, &followed).await);
    assert!(stats.spool_bytes.load(Ordering::Relaxed) > 0);

    // Back, with its stream kept on disk: the spool is delivered.
    let _server = spawn_nats(port, &data.0);
    let file = file_records(&scratch);
    wait_until("every record in JetStream after the outage", || async {
        stream_count(&url, stream).await >= file.len() as u64
    })
    .await;
    wait_until("the spool empty", || async {
        stats.spool_bytes.load(Ordering::Relaxed) == 0
    })
    .await;
    engine.stop();

    let js = jetstream_at(&url).await.expect("the test's NATS server");
    let got = read_stream(&js, stream).await;
    let delivered: BTreeSet<&String> = got.iter().map(|(id, _)| id).collect();
    let all: BTreeSet<&String> = file.iter().map(|(_, id)| id).collect();
    assert_eq!(delivered, all, "0 lost, nothing else");
    let stream_order: Vec<(String, String)> =
        got.iter().map(|(id, e)| (entity(e), id.clone())).collect();
    assert_eq!(
        first_copies_by_key(&stream_order),
        first_copies_by_key(&file),
        "in routing order per entity"
    );
}
