//! Channels on threads of their own, each running a shard of the router (`[engine] channel_threads` and
//! `router_shards`): several tenants' events still arrive once each, in the ledger's order per topic.

use std::collections::BTreeMap;

use crate::harness::*;
use switchboard::sim::workload::Family;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_channel_threads_each_tenants_events_arrive_once_in_order_per_topic() {
    const TENANTS: usize = 4;
    let sim = Sim::start(|c| {
        c.workload.users = 400;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
        for t in 1..TENANTS {
            c.clients
                .push(switchboard::sim::ClientSpec::parse_cli(&format!("c{t}:secret")).unwrap());
        }
    });
    let topics = sim.topics(&["presence", "routingStatus"]).await;
    // Each tenant follows its own quarter of the users: an event belongs to one tenant.
    let shares: Vec<Vec<String>> = (0..TENANTS)
        .map(|t| topics.iter().skip(t).step_by(TENANTS).cloned().collect())
        .collect();
    let mut extra = String::new();
    for (t, share) in shares.iter().enumerate().skip(1) {
        extra.push_str(&format!(
            "\n[[tenants]]\nid = \"tenant-{t}\"\napi_base = \"{b}\"\nlogin_base = \"{b}\"\ntopics = {}\n\
             [[tenants.clients]]\nid = \"c{t}\"\nsecret = \"secret\"\n",
            serde_json::to_string(share).unwrap(),
            b = sim.base(),
        ));
    }
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .engine("channel_threads = 2\nrouter_shards = 2")
        .tenant("tenant-0", &shares[0])
        .client("demo", "secret")
        .sink_file()
        .extra(&extra)
        .start();
    for t in 0..TENANTS {
        wait_live(&engine, &format!("tenant-{t}"), 1).await;
    }
    produce(&sim, 4000.0, 8000).await;
    let tenants_seen = assert_each_once_in_ledger_order(&sim, &scratch, &topics, 8000).await;
    assert_eq!(tenants_seen.len(), TENANTS, "every tenant delivered");
    engine.stop();
}

/// A router queue of one message: nearly every event finds it full, so the channel holds the rest of its
/// burst and reads nothing more until the router has taken them. Nothing is lost or reordered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_router_queue_of_one_events_wait_their_turn_and_arrive_once_in_order() {
    let sim = Sim::start(|c| {
        c.workload.users = 200;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
    });
    let topics = sim.topics(&["presence", "routingStatus"]).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .engine("channel_threads = 1\nrouter_queue = 1")
        .tenant("tenant-0", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "tenant-0", 1).await;
    produce(&sim, 20000.0, 8000).await;
    assert_each_once_in_ledger_order(&sim, &scratch, &topics, 8000).await;
    engine.stop();
}

/// At least `events` happened, each reached the sink once, with no gap, and per topic in the ledger's order;
/// returns the tenants whose events the sink holds.
async fn assert_each_once_in_ledger_order(
    sim: &Sim,
    scratch: &Scratch,
    topics: &[String],
    events: usize,
) -> std::collections::BTreeSet<String> {
    let v = settle(sim, scratch, topics).await;
    assert_complete(&v);
    assert_eq!(v.gaps, 0, "nothing was missed, so no gap");
    assert_eq!(v.delivered_once, v.happened);
    assert!(v.happened >= events);
    let mut ledger: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in sim.ledger().await {
        ledger
            .entry(e["topic"].as_str().unwrap().to_ascii_lowercase())
            .or_default()
            .push(e["correlationId"].as_str().unwrap().to_string());
    }
    let mut sink: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut tenants_seen = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(scratch.sink()).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "event" {
            tenants_seen.insert(v["tenant"].as_str().unwrap().to_string());
            sink.entry(v["topic"].as_str().unwrap().to_ascii_lowercase())
                .or_default()
                .push(v["correlationId"].as_str().unwrap().to_string());
        }
    }
    for (topic, ids) in &sink {
        assert_eq!(Some(ids), ledger.get(topic), "{topic}: the ledger's order");
    }
    tenants_seen
}
