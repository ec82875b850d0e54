use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn ids(v: &Value) -> Vec<String> {
    v["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn post_adds_put_replaces_delete_clears_get_lists() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let (a, b, c) = (
        "v2.users.u-a.presence",
        "v2.users.u-b.presence",
        "v2.routing.queues.q-1.conversations",
    );
    let list = || async {
        sim.subscriptions(&token, &ch.id, Method::GET, &[], false)
            .await
            .json::<Value>()
            .await
            .unwrap()
    };

    let res = sim
        .subscriptions(&token, &ch.id, Method::POST, &[a], false)
        .await;
    assert_eq!(res.status(), 200);
    let res = sim
        .subscriptions(&token, &ch.id, Method::POST, &[b], false)
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(ids(&body), vec![a, b]);
    assert!(
        body["entities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["state"] == "Permitted")
    );
    assert_eq!(ids(&list().await), vec![a, b]);

    let res = sim
        .subscriptions(&token, &ch.id, Method::PUT, &[c], false)
        .await;
    assert_eq!(ids(&res.json().await.unwrap()), vec![c]);
    assert_eq!(ids(&list().await), vec![c]);

    let res = sim
        .http
        .delete(sim.url(&format!(
            "/api/v2/notifications/channels/{}/subscriptions",
            ch.id
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(ids(&list().await).is_empty());

    let res = sim
        .subscriptions(&token, &ch.id, Method::PUT, &[a, b], false)
        .await;
    assert_eq!(res.status(), 200);
    let res = sim
        .subscriptions(&token, &ch.id, Method::PUT, &[], false)
        .await;
    assert_eq!(res.status(), 200);
    assert!(ids(&list().await).is_empty(), "PUT [] clears");
}

#[tokio::test]
async fn combined_topics_deliver_events_under_the_individual_names() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let user = sim.a_user().await;
    let ch = sim.create_channel(&token).await;
    let combined = format!("v2.users.{user}?presence&routingStatus");
    let body = sim.subscribe(&token, &ch.id, &[&combined]).await;
    assert_eq!(ids(&body), vec![combined.clone()]);
    let mut ws = sim.connect(&ch.connect_uri).await;
    sim.emit(&format!("v2.users.{user}.routingStatus"), 1).await;
    sim.emit(&format!("v2.users.{user}.presence"), 1).await;
    let (first, _) = ws.until_json("routingStatus event", is_event).await;
    assert_eq!(first["topicName"], format!("v2.users.{user}.routingStatus"));
    let (second, _) = ws.until_json("presence event", is_event).await;
    assert_eq!(second["topicName"], format!("v2.users.{user}.presence"));
}

#[tokio::test]
async fn topics_the_client_may_not_read_are_rejected_or_fail_the_batch() {
    let sim = TestSim::start(|_| {});
    sim.register_client(json!({"clientId": "limited", "clientSecret": "s", "deniedTopicPatterns": ["v2.analytics.*"]})).await;
    let token = sim.token_for("limited", "s").await;
    let ch = sim.create_channel(&token).await;
    let allowed = "v2.users.u1.presence";
    let denied = "v2.analytics.queues.q1.observations";

    let res = sim
        .subscriptions(&token, &ch.id, Method::PUT, &[allowed, denied], false)
        .await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "notification.unauthorized.topic");
    let now: Value = sim
        .subscriptions(&token, &ch.id, Method::GET, &[], false)
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(&now).is_empty(), "a failed batch changes nothing");

    let res = sim
        .subscriptions(&token, &ch.id, Method::PUT, &[allowed, denied], true)
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let entities = body["entities"].as_array().unwrap();
    let state = |id: &str| entities.iter().find(|e| e["id"] == id).unwrap().clone();
    assert_eq!(state(allowed)["state"], "Permitted");
    assert_eq!(state(denied)["state"], "Rejected");
    assert!(
        state(denied)["rejectionReason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let now: Value = sim
        .subscriptions(&token, &ch.id, Method::GET, &[], false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&now), vec![allowed]);
}

#[tokio::test]
async fn invalid_topics_fail_even_with_ignore_errors() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    for bad in [
        "v2.nonsense.x",
        "v2.users.u1?presence&nope",
        "",
        "v2.users..presence",
    ] {
        let res = sim
            .subscriptions(
                &token,
                &ch.id,
                Method::POST,
                &["v2.users.u1.presence", bad],
                true,
            )
            .await;
        assert_eq!(res.status(), 400, "{bad:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "notification.invalid.topic", "{bad:?}");
    }
    let long = format!("v2.users.{}?presence&routingStatus", "a".repeat(190));
    let res = sim
        .subscriptions(&token, &ch.id, Method::POST, &[&long], true)
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_channel_holds_at_most_1000_topics() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let topics: Vec<String> = (0..1000)
        .map(|i| format!("v2.users.user-{i}.presence"))
        .collect();
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    let res = sim
        .subscriptions(&token, &ch.id, Method::PUT, &refs, true)
        .await;
    assert_eq!(res.status(), 200);
    let res = sim
        .subscriptions(
            &token,
            &ch.id,
            Method::POST,
            &["v2.users.one-more.presence"],
            true,
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["code"],
        "notification.subscription.too.many.subscriptions"
    );
    // A combined id counts each topic it covers (the default reading of an unknown rule).
    let res = sim
        .subscriptions(&token, &ch.id, Method::PUT, &refs[..999], true)
        .await;
    assert_eq!(res.status(), 200);
    let res = sim
        .subscriptions(
            &token,
            &ch.id,
            Method::POST,
            &["v2.users.x?presence&routingStatus"],
            true,
        )
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn combined_counting_single_is_an_option() {
    let sim = TestSim::start(|c| {
        c.combined_topic_counting = switchboard::sim::config::CombinedCounting::Single
    });
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let topics: Vec<String> = (0..999)
        .map(|i| format!("v2.users.user-{i}.presence"))
        .collect();
    let mut refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    refs.push("v2.users.x?presence&routingStatus&activity");
    let res = sim
        .subscriptions(&token, &ch.id, Method::PUT, &refs, true)
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn subscriptions_on_an_unknown_channel_are_404() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let res = sim
        .subscriptions(
            &token,
            "streaming-0-unknown",
            Method::PUT,
            &["v2.users.u.presence"],
            true,
        )
        .await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "not.found");
    // Another OAuth client cannot touch this client's channel either.
    sim.register_client(json!({"clientId": "other", "clientSecret": "s"}))
        .await;
    let ch = sim.create_channel(&token).await;
    let other = sim.token_for("other", "s").await;
    let res = sim
        .subscriptions(&other, &ch.id, Method::PUT, &["v2.users.u.presence"], true)
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn subscription_churn_counts_only_the_topics_a_call_changed() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let other = sim.create_channel(&token).await;
    let churn = |prefix: &'static str| {
        let sim = &sim;
        async move {
            sim.get_json(&format!("/sim/v1/stats/topics?topicPrefix={prefix}"))
                .await
        }
    };
    let totals = || async {
        let s = sim.stats().await;
        (
            s["topicsSubscribed"].as_u64().unwrap(),
            s["topicsUnsubscribed"].as_u64().unwrap(),
        )
    };
    let users: Vec<String> = (0..10)
        .map(|i| format!("v2.users.u-{i}.presence"))
        .collect();
    let topics = |range: std::ops::Range<usize>| -> Vec<&str> {
        users[range].iter().map(String::as_str).collect()
    };
    let put = |channel: &str, list: Vec<&str>| {
        let list: Vec<String> = list.into_iter().map(str::to_string).collect();
        let (sim, token, channel) = (&sim, &token, channel.to_string());
        async move {
            let list: Vec<&str> = list.iter().map(String::as_str).collect();
            let res = sim
                .subscriptions(token, &channel, Method::PUT, &list, false)
                .await;
            assert_eq!(res.status(), 200);
        }
    };

    put(&ch.id, topics(0..8)).await;
    assert_eq!(totals().await, (8, 0));
    // The same list again, then two more: only the two are new.
    put(&ch.id, topics(0..8)).await;
    put(&ch.id, topics(0..10)).await;
    assert_eq!(totals().await, (10, 0));
    // One dropped; a combined id counts each topic it covers, the one already there not again.
    put(&ch.id, topics(1..10)).await;
    assert_eq!(totals().await, (10, 1));
    let res = sim
        .subscriptions(
            &token,
            &ch.id,
            Method::POST,
            &["v2.users.u-1?presence&routingStatus"],
            false,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(totals().await, (11, 1));
    // Another channel's subscriptions count for that channel.
    put(&other.id, topics(0..1)).await;
    assert_eq!(totals().await, (12, 1));

    let per_topic = churn("V2.USERS.U-0.").await;
    assert_eq!(per_topic["complete"], true);
    assert_eq!(
        per_topic["topics"],
        json!([{"topic": "v2.users.u-0.presence", "subscribed": 2, "unsubscribed": 1}])
    );
    let routing = churn("v2.users.u-1.r").await;
    assert_eq!(
        routing["topics"],
        json!([{"topic": "v2.users.u-1.routingstatus", "subscribed": 1, "unsubscribed": 0}])
    );

    // DELETE removes what the channel had; a channel that goes away is not an unsubscription.
    let res = sim
        .http
        .delete(sim.url(&format!(
            "/api/v2/notifications/channels/{}/subscriptions",
            ch.id
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(totals().await, (12, 11));
    sim.fault(json!({"kind": "expire_channel", "channel": other.id}))
        .await;
    wait_until("the channel to expire", || async {
        sim.stats().await["channelsExpired"] == 1
    })
    .await;
    assert_eq!(totals().await, (12, 11));
    let all = churn("").await;
    assert_eq!(all["topicsSubscribed"], 12);
    assert_eq!(all["topics"].as_array().unwrap().len(), 11);
}
