//! The bounds a shared instance keeps against one team's requests (topics per request and per tenant, and
//! lists answered a page at a time) and toward the platform (REST calls in flight per OAuth client).

use serde_json::{Value, json};

use crate::harness::*;

const ADMIN: &str = "bounds-admin-token-0123456789abcdef";

fn users(from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| format!("v2.users.00000000-0000-4000-8000-{i:012}.presence"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_bounded_per_request_and_per_tenant_and_listed_by_page() {
    let sim = Sim::start(|_| {});
    // The scratch dir holds the store: it must outlive the engine (a dropped `Scratch` deletes it).
    let App {
        engine,
        admin,
        scratch: _scratch,
    } = App::builder(&sim)
        .tenant("acme", &["v2.users.nobody.presence".to_string()])
        .client("demo", "secret")
        .sink_file()
        .master_key()
        .admin_token(ADMIN)
        .start();
    let admin = admin.unwrap();
    let http = reqwest::Client::new();
    // A paused tenant places nothing: only the bounds are at work.
    let res = http
        .post(format!("{}/v1/tenants", admin.base))
        .bearer_auth(ADMIN)
        .json(
            &json!({"id": "big", "apiBase": sim.base(), "loginBase": sim.base(), "paused": true,
            "clients": [{"id": "demo", "secret": "secret"}]}),
        )
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(status, 201, "{}", res.text().await.unwrap());
    let add = |topics: Vec<String>| {
        let topics: Vec<Value> = topics.into_iter().map(Value::String).collect();
        http.post(format!("{}/v1/tenants/big/topics", admin.base))
            .bearer_auth(ADMIN)
            .json(&json!({ "topics": topics }))
            .send()
    };

    // 250,000 at once: refused as a whole, nothing added.
    let res = add(users(0, 250_000)).await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body.to_string().contains("at most 10000"), "{body}");

    // Up to 50,000 per tenant, 10,000 per request.
    for chunk in 0..5 {
        let res = add(users(chunk * 10_000, 10_000)).await.unwrap();
        assert_eq!(res.status(), 200, "chunk {chunk}");
    }
    let res = add(users(50_000, 1)).await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body.to_string().contains("at most 50000"), "{body}");

    // Listed a page at a time.
    let res = http
        .get(format!("{}/v1/tenants/big/topics?limit=1000", admin.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-total-count"], "50000");
    let link = res.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains("offset=1000&limit=1000") && link.contains("rel=\"next\""),
        "{link}"
    );
    let page: Vec<Value> = res.json().await.unwrap();
    assert_eq!(page.len(), 1000);
    let last = http
        .get(format!(
            "{}/v1/tenants/big/topics?offset=49990&limit=1000",
            admin.base
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(
        last.headers().get("link").is_none(),
        "no next page after the last"
    );
    let page: Vec<Value> = last.json().await.unwrap();
    assert_eq!(page.len(), 10);
    for bad in ["limit=0", "limit=10001", "limit=-1", "offset=-5"] {
        let res = http
            .get(format!("{}/v1/tenants/big/topics?{bad}", admin.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    engine.stop();
}

/// Twelve channels of one OAuth client set up at once, against a platform answering slowly: at most
/// `REST_CALLS_IN_FLIGHT` of the client's calls are in flight at any time, and every channel goes live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_keeps_a_bounded_number_of_rest_calls_in_flight() {
    let sim = Sim::start(|_| {});
    let topics: Vec<String> = sim
        .topics(&["presence"])
        .await
        .into_iter()
        .take(12)
        .collect();
    assert_eq!(topics.len(), 12);
    sim.inject(FaultRequest {
        latency_ms: Some(150),
        duration_seconds: Some(120.0),
        ..fault(FaultKind::Slow)
    })
    .await;
    let App {
        engine,
        scratch: _scratch,
        ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .engine("topics_per_channel = 1")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 12).await;
    let stats = sim.stats().await;
    let bound = switchboard::upstream::REST_CALLS_IN_FLIGHT as u64;
    assert!(
        stats.rest_in_flight_max <= bound,
        "{} REST calls were in flight at once (bound {bound})",
        stats.rest_in_flight_max
    );
    // The setups did overlap: the bound was reached, not merely never approached.
    assert_eq!(stats.rest_in_flight_max, bound, "{stats:?}");
    engine.stop();
}
