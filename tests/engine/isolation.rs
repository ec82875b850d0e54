//! One sink's trouble stays its own: beside a healthy file sink, a webhook whose receiver takes requests and
//! never answers (slow) and a webhook whose port refuses connections (dead). The healthy sink gets every event
//! while the slow sink has not finished a single write, and the slow sink's records go to its spool instead of
//! holding the router. (How much latency the healthy sink keeps is measured by `switchboard bench sinks
//! --isolation`, not asserted here.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::harness::*;

/// Accepts connections and reads whatever comes, never answering.
async fn never_answer(listener: tokio::net::TcpListener, requests: Arc<AtomicUsize>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            let mut counted = false;
            while let Ok(n) = conn.read(&mut buf).await {
                if n == 0 {
                    return;
                }
                if !counted {
                    counted = true;
                    requests.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
}

fn sent(engine: &switchboard::engine::EngineHandle, sink: &str) -> (u64, u64) {
    let (_, stats) = engine
        .sinks
        .iter()
        .find(|(name, _)| name == sink)
        .unwrap_or_else(|| panic!("sink {sink} runs"));
    (
        stats.sent.load(Ordering::Relaxed),
        stats.spooled.load(Ordering::Relaxed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_and_a_dead_sink_do_not_hold_a_healthy_one() {
    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence", "routingStatus"]).await;
    let scratch = Scratch::new();

    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_port = slow.local_addr().unwrap().port();
    let slow_requests = Arc::new(AtomicUsize::new(0));
    tokio::spawn(never_answer(slow, slow_requests.clone()));
    // A port that was just free: connections to it are refused.
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };

    let hook = |name: &str, port: u16, timeout: &str| {
        format!(
            "\n[[sinks]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"\ntimeout = \"{timeout}\"\nallow = [\"127.0.0.1\"]\n\n[[routes]]\nsinks = [\"{name}\"]\n"
        )
    };
    // The slow receiver's one request outlives the test; a small queue makes its records reach the spool.
    let extra = hook("slow", slow_port, "10m") + &hook("dead", dead_port, "2s");
    let engine = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &followed)
        .client("demo", "secret")
        .engine("sink_queue = 64")
        .sink_file()
        .extra(&extra)
        .start()
        .engine;
    wait_live(&engine, "acme", 1).await;

    sim.workload(json_rate(200.0, &["presence", "routingStatus"]))
        .await;
    wait_until("the slow receiver to hold a request", || async {
        slow_requests.load(Ordering::SeqCst) >= 1
    })
    .await;
    wait_until("the slow sink to spool", || async {
        sent(&engine, "slow").1 > 0
    })
    .await;
    wait_until("600 events in the healthy sink", || async {
        read_sink(&scratch).events.len() >= 600
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;

    // Every event reached the healthy sink, exactly once, with no gap: nothing waited for the other two.
    let verdict = settle(&sim, &scratch, &followed).await;
    assert_complete(&verdict);
    assert_eq!(verdict.gaps, 0, "continuity held: {verdict:?}");
    assert_eq!(verdict.delivered_once, verdict.happened);

    let (slow_sent, slow_spooled) = sent(&engine, "slow");
    let (dead_sent, _) = sent(&engine, "dead");
    assert_eq!(
        (slow_sent, dead_sent),
        (0, 0),
        "neither the slow nor the dead destination accepted anything"
    );
    assert!(
        slow_spooled > 0,
        "the slow sink's records went to its spool while its write hung"
    );
    assert_eq!(
        slow_requests.load(Ordering::SeqCst),
        1,
        "the slow sink still waits on its first write"
    );
    engine.stop();
}
