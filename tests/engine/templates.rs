//! Topic templates: the engine follows the org's users and queues through the simulator's listings, and
//! keeps following them as the org changes while it runs.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::config::TopicTemplate;
use switchboard::sim::workload::Family;

use crate::harness::*;

fn template(written: Value) -> TopicTemplate {
    TopicTemplate::from_json(&written).expect("a template")
}

/// The tenant's status as the API shows it.
async fn tenant_status(engine: &switchboard::engine::EngineHandle) -> Value {
    let status = engine.status().await.unwrap();
    serde_json::to_value(&status.tenants[0]).unwrap()
}

/// The simulator's totals of topics added to and removed from channels by subscription calls.
async fn churn(sim: &Sim) -> (u64, u64) {
    let stats = sim.stats_json().await;
    (
        stats["topicsSubscribed"]
            .as_u64()
            .expect("topicsSubscribed"),
        stats["topicsUnsubscribed"]
            .as_u64()
            .expect("topicsUnsubscribed"),
    )
}

/// Active users' ids, in the simulator's order.
async fn active_users(sim: &Sim) -> Vec<String> {
    sim.get("/sim/v1/org").await["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["state"] == "active")
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

fn user_topics(ids: &[String]) -> Vec<String> {
    ids.iter()
        .flat_map(|id| {
            [
                format!("v2.users.{id}.presence"),
                format!("v2.users.{id}.routingStatus"),
            ]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_over_all_users_follows_users_who_join_and_leave_moving_nothing_else() {
    let sim = Sim::start(|c| {
        c.workload.users = 500;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
    });
    let first = active_users(&sim).await;
    assert_eq!(first.len(), 500);
    let scratch = Scratch::new();
    let mut config = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &[])
        .client("demo", "secret")
        .sink_file()
        .config();
    let interval = Duration::from_secs(5);
    config.tenants[0].templates = vec![template(
        json!({"template": "v2.users.{id}?presence&routingStatus", "users": "all"}),
    )];
    config.tenants[0].template_sync_interval = interval;
    let store_location = config.store.location();
    let engine = start(config);
    // 500 users × 2 topics: one full channel.
    wait_live(&engine, "acme", 1).await;
    let status = tenant_status(&engine).await;
    let t = &status["templates"][0];
    assert_eq!(
        (
            t["entities"].as_u64(),
            t["topics"].as_u64(),
            t["placed"].as_u64()
        ),
        (Some(500), Some(1000), Some(1000)),
        "{t}"
    );
    assert!(t["lastSync"].is_string() && t["error"].is_null(), "{t}");
    assert_eq!(status["channels"][0]["topics"], 1000);
    let channel = status["channels"][0]["channelId"].clone();
    let (subscribed, unsubscribed) = churn(&sim).await;

    // 20 join, 10 leave, while it runs.
    let added: Vec<String> = sim.post("/sim/v1/org/users", json!({"count": 20})).await["users"]
        .as_array()
        .expect("the users added")
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(added.len(), 20);
    let removed: Vec<String> = first[..10].to_vec();
    let http = reqwest::Client::new();
    for id in &removed {
        let res = http
            .delete(format!("{}/sim/v1/org/users/{id}", sim.base()))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }
    let changed_at = tokio::time::Instant::now();
    wait_until("the next sync to take the new org", || async {
        let status = tenant_status(&engine).await;
        status["templates"][0]["entities"] == 510
            && status["channels"].as_array().is_some_and(|c| {
                c.iter()
                    .map(|c| c["topics"].as_u64().unwrap_or(0))
                    .sum::<u64>()
                    == 1020
                    && c.iter().all(|c| c["state"] == "live")
            })
    })
    .await;
    assert!(
        changed_at.elapsed() < interval * 2 + Duration::from_secs(5),
        "the change took {:?}, more than a sync interval",
        changed_at.elapsed()
    );
    let status = tenant_status(&engine).await;
    assert_eq!(
        status["channels"][0]["channelId"], channel,
        "the first channel is kept"
    );
    // Only the newcomers' topics were subscribed and only the leavers' unsubscribed.
    let (subscribed_now, unsubscribed_now) = churn(&sim).await;
    assert_eq!(
        subscribed_now - subscribed,
        40,
        "topics subscribed by the change"
    );
    assert_eq!(
        unsubscribed_now - unsubscribed,
        20,
        "topics unsubscribed by the change"
    );

    // The audit log names the change.
    let store = switchboard::store::open(&store_location).await.unwrap();
    let audit = store.audit(&Default::default()).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "templates.sync" && e.details["added"] == 20)
        .expect("an audit entry of the change");
    assert_eq!(entry.details["removed"], 10);
    assert_eq!(entry.target, "tenants/acme/templates");

    // Every event of a followed user arrives (or is inside a gap); none of a user who left does.
    let followed: Vec<String> = active_users(&sim).await;
    assert_eq!(followed.len(), 510);
    produce(&sim, 2000.0, 3000).await;
    let verdict = settle(&sim, &scratch, &user_topics(&followed)).await;
    assert_complete(&verdict);
    assert!(verdict.delivered_once > 0);
    let newcomers = user_topics(&added);
    let of_newcomers = sim
        .ledger()
        .await
        .iter()
        .filter(|e| {
            let topic = e["topic"].as_str().unwrap();
            newcomers.iter().any(|t| t.eq_ignore_ascii_case(topic))
        })
        .count();
    assert!(
        of_newcomers > 0,
        "the newcomers made events, delivered above"
    );
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_topics_of_the_api_and_a_bad_one_is_named() {
    const ADMIN: &str = "admin-token-templates-0123";
    let sim = Sim::start(|c| {
        c.workload.users = 30;
        c.workload.queues = 4;
    });
    let App { engine, admin, .. } = App::builder(&sim)
        .tenant("acme", &[])
        .client("demo", "secret")
        .sink_file()
        .master_key()
        .admin_token(ADMIN)
        .start();
    let admin = admin.expect("admin API");
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{}{path}", admin.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };

    let res = send(
        reqwest::Method::POST,
        "/v1/tenants/acme/topics",
        json!({"topics": [{"template": "v2.users.{id}.nothing", "users": "all"}]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body.to_string()
            .contains("template: \\\"v2.users.{id}.nothing\\\" is not a valid topic"),
        "{body}"
    );

    let presence = json!({"template": "v2.users.{id}.presence", "users": "all"});
    let queues = json!({"template": "v2.routing.queues.{id}.conversations", "queues": "all"});
    let res = send(
        reqwest::Method::POST,
        "/v1/tenants/acme/topics",
        json!({"topics": [presence, queues]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    wait_until("both templates expanded and placed", || async {
        let status = tenant_status(&engine).await;
        let t = &status["templates"];
        t[0]["entities"] == 30
            && t[0]["placed"] == 30
            && t[1]["entities"] == 4
            && t[1]["placed"] == 4
    })
    .await;
    let view: Value = http
        .get(format!("{}/v1/tenants/acme", admin.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["templates"], json!([presence, queues]), "{view}");
    assert_eq!(view["templateSyncInterval"], "5m");

    // Removing a template unsubscribes its topics; the other stays.
    let res = send(
        reqwest::Method::DELETE,
        "/v1/tenants/acme/topics",
        json!({"topics": [presence]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    wait_until("only the queue template's topics left", || async {
        let status = tenant_status(&engine).await;
        status["templates"].as_array().is_some_and(|t| t.len() == 1)
            && status["channels"].as_array().is_some_and(|c| {
                c.iter()
                    .map(|c| c["topics"].as_u64().unwrap_or(0))
                    .sum::<u64>()
                    == 4
            })
    })
    .await;
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_five_thousand_users_on_two_clients_are_placed_within_the_limits_and_the_rest_reported()
 {
    let sim = Sim::start(|c| {
        c.workload.users = 25_000;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
    });
    sim.post(
        "/sim/v1/clients",
        json!({"clientId": "second", "clientSecret": "s"}),
    )
    .await;
    let mut config = App::builder(&sim)
        .tenant("acme", &[])
        .client("demo", "secret")
        .client("second", "s")
        .sink_file()
        .config();
    config.tenants[0].templates = vec![template(
        json!({"template": "v2.users.{id}?presence&routingStatus", "users": "all"}),
    )];
    let engine = start(config);
    // 19 channels per client (one slot kept for rollovers), 1,000 topics each.
    // Listing 25,000 users is 50 pages; a debug build under a loaded CI takes a while: wait for the
    // channels themselves, with a bound of its own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while live_channels(&engine.status().await.unwrap(), "acme") < 38 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "38 channels not live within 120 s"
        );
        tokio::time::sleep(POLL).await;
    }
    let status = tenant_status(&engine).await;
    let t = &status["templates"][0];
    assert_eq!(t["entities"], 25_000, "{t}");
    assert_eq!(t["topics"], 50_000);
    assert_eq!(t["placed"], 38_000);
    let channels = status["channels"].as_array().unwrap();
    assert!(
        channels
            .iter()
            .all(|c| c["topics"].as_u64().unwrap() <= 1000)
    );
    assert_eq!(
        channels
            .iter()
            .map(|c| c["topics"].as_u64().unwrap())
            .sum::<u64>(),
        38_000
    );
    assert_eq!(
        status["quota"]["topicsUnplaced"], 12_000,
        "the rest is reported, not dropped"
    );
    assert_eq!(status["unplaced"].as_array().unwrap().len(), 12_000);
    assert!(status["unplacedReason"].is_string());
    let stats = sim.stats().await;
    assert_eq!(stats.channels_evicted, 0);
    engine.stop();
}
