use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::helpers::*;

async fn head(sim: &TestSim, token: &str, id: &str) -> u16 {
    sim.http
        .head(sim.url(&format!("/api/v2/notifications/channels/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn expires(v: &Value) -> DateTime<Utc> {
    v["expires"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_new_channel_has_the_platform_shape_and_expires_in_24_hours() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let suffix = ch
        .id
        .strip_prefix("streaming-0-")
        .expect("id starts with streaming-0-");
    assert_eq!(suffix.len(), 26);
    assert!(
        suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(
        ch.connect_uri,
        format!("ws://{}/channels/{}", sim.handle.addr, ch.id)
    );
    let left = expires(&ch.raw) - Utc::now();
    assert!(
        left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24),
        "{left}"
    );
    assert!(ch.raw["expires"].as_str().unwrap().ends_with('Z'));
    assert_eq!(head(&sim, &token, &ch.id).await, 200);
    assert_eq!(head(&sim, &token, "streaming-0-doesnotexist").await, 404);
}

#[tokio::test]
async fn listing_shows_this_tokens_channels_or_the_whole_clients_with_other_ids_hidden() {
    let sim = TestSim::start(|_| {});
    let t1 = sim.token().await;
    let t2 = sim.token().await;
    let a = sim.create_channel(&t1).await;
    let b = sim.create_channel(&t2).await;
    let list = |token: String, q: &'static str| {
        let sim = &sim;
        async move {
            let res = sim
                .http
                .get(sim.url(&format!("/api/v2/notifications/channels{q}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["entities"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let own = list(t1.clone(), "").await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["id"], a.id.as_str());
    let all = list(t1.clone(), "?includechannels=oauthclient").await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|c| c["id"] == a.id.as_str()));
    let other: Vec<_> = all.iter().filter(|c| c["id"] != a.id.as_str()).collect();
    assert!(
        other[0].get("id").is_none(),
        "another token's channel id is hidden"
    );
    assert!(other[0]["expires"].is_string());
    assert!(!all.iter().any(|c| c["id"] == b.id.as_str()));
    let res = sim
        .http
        .get(sim.url("/api/v2/notifications/channels?includechannels=bogus"))
        .bearer_auth(&t1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn the_21st_channel_evicts_one_without_a_socket_first_then_the_least_recently_used() {
    let sim = TestSim::start(|c| c.heartbeat_interval = Duration::from_secs(60));
    let token = sim.token().await;
    let mut channels = Vec::new();
    let mut sockets = Vec::new();
    for i in 0..20 {
        let ch = sim.create_channel(&token).await;
        if i != 5 {
            sockets.push((i, sim.connect(&ch.connect_uri).await));
        }
        channels.push(ch);
    }
    let c21 = sim.create_channel(&token).await;
    assert_eq!(
        head(&sim, &token, &channels[5].id).await,
        404,
        "the channel without a socket goes first"
    );
    for (i, ch) in channels.iter().enumerate().filter(|(i, _)| *i != 5) {
        assert_eq!(
            head(&sim, &token, &ch.id).await,
            200,
            "channel {i} survives"
        );
    }
    let _ws21 = sim.connect(&c21.connect_uri).await;
    // Channel 2 is used again, so channel 1 becomes the least recently used of the connected ones
    // (the HEAD calls above touched channels in index order).
    for ch in [&channels[2], &channels[0]] {
        assert_eq!(head(&sim, &token, &ch.id).await, 200);
    }
    // Every channel now has a socket: the least recently used one is evicted and told so.
    let _c22 = sim.create_channel(&token).await;
    let (_, ws1) = sockets.iter_mut().find(|(i, _)| *i == 1).unwrap();
    let (code, frames) = ws1.until_closed().await;
    assert!(code.is_some());
    let notice = frames.iter().find(|f| {
        f["topicName"]
            .as_str()
            .is_some_and(|t| t.starts_with("v2.system.no_longer_subscribed."))
    });
    let notice = notice.expect("evicted socket gets v2.system.no_longer_subscribed");
    assert_eq!(
        notice["eventBody"]["systemTopicType"],
        "no_longer_subscribed"
    );
    assert_eq!(head(&sim, &token, &channels[1].id).await, 404);
    assert_eq!(head(&sim, &token, &channels[0].id).await, 200);
    let stats = sim.stats().await;
    assert_eq!(stats["channelsCreated"], 22);
    assert_eq!(stats["channelsEvicted"], 2);
    assert_eq!(stats["channelsOpen"], 20);
}

#[tokio::test]
async fn a_subscription_call_pushes_expiry_out_and_an_expired_channel_dies() {
    let sim = TestSim::start(|c| {
        c.channel_ttl = Duration::from_millis(1500);
        c.subscription_extension = Duration::from_secs(3);
        c.heartbeat_interval = Duration::from_secs(60);
    });
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let created_expiry = expires(&ch.raw);
    let user = sim.a_user().await;
    sim.subscribe(&token, &ch.id, &[&format!("v2.users.{user}.presence")])
        .await;
    let res = sim
        .http
        .get(sim.url("/api/v2/notifications/channels"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let listed: Value = res.json().await.unwrap();
    let extended = expires(&listed["entities"][0]);
    assert!(
        extended > created_expiry + chrono::Duration::milliseconds(1000),
        "{created_expiry} -> {extended}"
    );

    let mut ws = sim.connect(&ch.connect_uri).await;
    let (code, _) = ws.until_closed().await;
    assert!(code.is_some());
    assert!(
        Utc::now() >= extended - chrono::Duration::milliseconds(100),
        "closed at expiry, not before"
    );
    assert_eq!(head(&sim, &token, &ch.id).await, 404);
    assert_eq!(sim.stats().await["channelsExpired"], 1);
}
