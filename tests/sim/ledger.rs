use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// Reads event frames until `n` have arrived; returns their correlation ids.
async fn read_events(ws: &mut Ws, n: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    while ids.len() < n {
        let (v, _) = ws.until_json("event", is_event).await;
        ids.insert(v["metadata"]["CorrelationId"].as_str().unwrap().to_string());
    }
    ids
}

#[tokio::test]
async fn the_ledger_lists_exactly_what_each_channel_was_sent() {
    let sim = TestSim::start(|c| c.heartbeat_interval = Duration::from_secs(60));
    let token = sim.token().await;
    let user = sim.a_user().await;
    let topic = format!("v2.users.{user}.presence");

    let subscribed = sim.create_channel(&token).await;
    sim.subscribe(&token, &subscribed.id, &[&topic]).await;
    let mut ws = sim.connect(&subscribed.connect_uri).await;

    let unsubscribed = sim.create_channel(&token).await;
    let _ws_unsubscribed = sim.connect(&unsubscribed.connect_uri).await;

    let disconnected = sim.create_channel(&token).await;
    sim.subscribe(&token, &disconnected.id, &[&topic]).await;
    let mut ws_disconnected = sim.connect(&disconnected.connect_uri).await;

    let before = sim.emit(&topic, 5).await;
    let received = read_events(&mut ws, 5).await;
    let received_by_disconnected = read_events(&mut ws_disconnected, 5).await;
    ws_disconnected.stream.close(None).await.unwrap();
    ws_disconnected.until_closed().await;
    wait_until("the socket to be gone", || async {
        sim.stats().await["socketsOpen"] == 2
    })
    .await;
    let after = sim.emit(&topic, 5).await;
    let received_after = read_events(&mut ws, 5).await;

    let entries = sim.ledger(&format!("topic={topic}")).await;
    assert_eq!(entries.len(), 10);
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        before.iter().chain(&after).copied().collect::<Vec<_>>()
    );
    for e in &entries {
        let channels: Vec<&str> = e["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let seq = e["seq"].as_u64().unwrap();
        assert!(
            channels.contains(&subscribed.id.as_str()),
            "seq {seq}: the subscribed, connected channel"
        );
        assert!(
            !channels.contains(&unsubscribed.id.as_str()),
            "seq {seq}: never to an unsubscribed channel"
        );
        assert_eq!(
            channels.contains(&disconnected.id.as_str()),
            before.contains(&seq),
            "seq {seq}: disconnected"
        );
        assert!(e["topic"] == topic.as_str() && e["at"].as_str().unwrap().ends_with('Z'));
    }
    let ids = |seqs: &[u64]| -> BTreeSet<String> {
        entries
            .iter()
            .filter(|e| seqs.contains(&e["seq"].as_u64().unwrap()))
            .map(|e| e["correlationId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(received, ids(&before));
    assert_eq!(received_by_disconnected, ids(&before));
    assert_eq!(received_after, ids(&after));

    let only_disconnected = sim.ledger(&format!("channel={}", disconnected.id)).await;
    assert_eq!(only_disconnected.len(), 5);
}

#[tokio::test]
async fn events_happen_whether_or_not_anyone_listens_and_pages_are_bounded() {
    let sim = TestSim::start(|_| {});
    let res = sim
        .http
        .post(sim.url("/sim/v1/workload"))
        .json(&json!({"ratePerSecond": 500.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    wait_until("200 events", || async {
        sim.stats().await["eventsGenerated"].as_u64().unwrap() >= 200
    })
    .await;
    sim.http
        .post(sim.url("/sim/v1/workload"))
        .json(&json!({"ratePerSecond": 0.0}))
        .send()
        .await
        .unwrap();
    let page = sim.get_json("/sim/v1/ledger?limit=50").await;
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 50);
    assert_eq!(page["nextAfterSeq"], entries[49]["seq"]);
    assert!(entries.iter().all(|e| e["channels"] == json!([])));
    let ids: BTreeSet<&str> = entries
        .iter()
        .map(|e| e["correlationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 50, "every event has its own CorrelationId");
    let all = sim.ledger("").await;
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "seqs are dense and ordered"
    );
    let workload: Value = sim.get_json("/sim/v1/workload").await;
    assert_eq!(workload["ratePerSecond"], 0.0);
}

#[tokio::test]
async fn the_ledger_filters_by_time() {
    let sim = TestSim::start(|_| {});
    let topic = format!("v2.users.{}.presence", sim.a_user().await);
    sim.emit(&topic, 2).await;
    // Timestamps have millisecond precision: keep a few milliseconds on either side of the boundary.
    let emitted = chrono::Utc::now();
    wait_until("the clock to move", || async {
        chrono::Utc::now() > emitted + chrono::Duration::milliseconds(5)
    })
    .await;
    let middle = chrono::Utc::now();
    wait_until("the clock to move", || async {
        chrono::Utc::now() > middle + chrono::Duration::milliseconds(5)
    })
    .await;
    sim.emit(&topic, 3).await;
    let since = middle.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let later = sim
        .ledger(&format!("since={}", since.replace('+', "%2B")))
        .await;
    assert_eq!(later.len(), 3);
    let earlier = sim
        .ledger(&format!("until={}", since.replace('+', "%2B")))
        .await;
    assert_eq!(earlier.len(), 2);
}
