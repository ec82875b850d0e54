use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn conversation_details_query_pages_and_orders_the_workloads_conversations() {
    let sim = TestSim::start(|_| {});
    let rate = json!({"ratePerSecond": 2000.0});
    assert_eq!(
        sim.http
            .post(sim.url("/sim/v1/workload"))
            .json(&rate)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    wait_until("30 conversations", || async {
        sim.get_json("/sim/v1/org").await["conversations"]
            .as_u64()
            .unwrap()
            >= 30
    })
    .await;
    sim.http
        .post(sim.url("/sim/v1/workload"))
        .json(&json!({"ratePerSecond": 0.0}))
        .send()
        .await
        .unwrap();
    let total = sim.get_json("/sim/v1/org").await["conversations"]
        .as_u64()
        .unwrap();

    let token = sim.token().await;
    let now = Utc::now();
    let interval = format!(
        "{}/{}",
        (now - Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        (now + Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let query = |page: u64, order: &str| {
        let body = json!({"interval": interval, "order": order, "orderBy": "conversationStart", "paging": {"pageSize": 10, "pageNumber": page}});
        let req = sim
            .http
            .post(sim.url("/api/v2/analytics/conversations/details/query"))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let first = query(1, "asc").await;
    assert_eq!(first["totalHits"].as_u64().unwrap(), total);
    let convs = first["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 10);
    let starts: Vec<&str> = convs
        .iter()
        .map(|c| c["conversationStart"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "ascending by conversationStart"
    );
    assert!(
        convs
            .iter()
            .all(|c| c["participants"].as_array().is_some_and(|p| !p.is_empty()))
    );
    let second = query(2, "asc").await;
    let ids = |v: &Value| -> BTreeSet<String> {
        v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["conversationId"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        ids(&first).is_disjoint(&ids(&second)),
        "pages do not overlap"
    );
    let desc = query(1, "desc").await;
    let starts: Vec<&str> = desc["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversationStart"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] >= w[1]),
        "descending by conversationStart"
    );
    let beyond = query(1000, "asc").await;
    assert!(
        beyond.get("conversations").is_none(),
        "an empty page has no conversations field"
    );

    for bad in [
        json!({"interval": "yesterday"}),
        json!({"interval": interval, "paging": {"pageSize": 0}}),
        json!({"interval": interval, "orderBy": "nonsense"}),
    ] {
        let res = sim
            .http
            .post(sim.url("/api/v2/analytics/conversations/details/query"))
            .bearer_auth(&token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}
