use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

struct Connected {
    sim: TestSim,
    token: String,
    channel: Channel,
    ws: Ws,
    topic: String,
}

async fn connected(tune: impl FnOnce(&mut switchboard::sim::SimConfig)) -> Connected {
    let sim = TestSim::start(tune);
    let token = sim.token().await;
    let user = sim.a_user().await;
    let topic = format!("v2.users.{user}.presence");
    let channel = sim.create_channel(&token).await;
    sim.subscribe(&token, &channel.id, &[&topic]).await;
    let ws = sim.connect(&channel.connect_uri).await;
    Connected {
        sim,
        token,
        channel,
        ws,
        topic,
    }
}

async fn head(c: &Connected) -> u16 {
    c.sim
        .http
        .head(
            c.sim
                .url(&format!("/api/v2/notifications/channels/{}", c.channel.id)),
        )
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn drop_closes_tcp_without_a_close_frame_and_the_channel_survives() {
    let mut c = connected(|_| {}).await;
    let res = c
        .sim
        .fault(json!({"kind": "drop", "channel": c.channel.id}))
        .await;
    assert_eq!(res["affectedChannels"], json!([c.channel.id]));
    let (code, _) = c.ws.until_closed().await;
    assert_eq!(code, None, "no close frame");
    assert_eq!(head(&c).await, 200);
    let mut again = c.sim.connect(&c.channel.connect_uri).await;
    c.sim.emit(&c.topic, 1).await;
    again.until_json("event after reconnect", is_event).await;
}

#[tokio::test]
async fn close_sends_a_close_frame_without_socket_closing_and_the_channel_survives() {
    let mut c = connected(|cfg| cfg.heartbeat_interval = Duration::from_secs(60)).await;
    let res = c
        .sim
        .fault(json!({"kind": "close", "channel": c.channel.id}))
        .await;
    assert_eq!(res["affectedChannels"], json!([c.channel.id]));
    let (code, frames) = c.ws.until_closed().await;
    assert_eq!(code, Some(1001), "a close frame with the default code");
    assert!(
        frames
            .iter()
            .all(|f| f["topicName"] != "v2.system.socket_closing"),
        "unannounced: {frames:?}"
    );
    assert_eq!(head(&c).await, 200, "the channel survives");
    let mut again = c.sim.connect(&c.channel.connect_uri).await;
    c.sim.emit(&c.topic, 1).await;
    again.until_json("event after reconnect", is_event).await;
    assert_eq!(c.sim.stats().await["channelsCreated"], 1);

    c.sim
        .fault(json!({"kind": "close", "channel": c.channel.id, "closeCode": 4000}))
        .await;
    let (code, _) = again.until_closed().await;
    assert_eq!(code, Some(4000));
}

#[tokio::test]
async fn client_error_fails_only_matching_requests_and_only_count_times() {
    let c = connected(|_| {}).await;
    let subs = c.sim.url(&format!(
        "/api/v2/notifications/channels/{}/subscriptions",
        c.channel.id
    ));
    c.sim
        .fault(json!({"kind": "client_error", "status": 400, "method": "put", "path": "/SUBSCRIPTIONS", "count": 2}))
        .await;
    // Other calls pass: another method on the same path, another path.
    let res = c
        .sim
        .http
        .get(&subs)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        c.sim
            .http
            .get(c.sim.url("/api/v2/notifications/channels"))
            .bearer_auth(&c.token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..2 {
        let res = c
            .sim
            .subscriptions(
                &c.token,
                &c.channel.id,
                reqwest::Method::PUT,
                &[&c.topic],
                true,
            )
            .await;
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "bad.request");
        assert_eq!(body["status"], 400);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["contextId"].is_string());
    }
    let res = c
        .sim
        .subscriptions(
            &c.token,
            &c.channel.id,
            reqwest::Method::PUT,
            &[&c.topic],
            true,
        )
        .await;
    assert_eq!(res.status(), 200, "the fault was used up after 2");
    let stats = c.sim.stats().await;
    let puts = &stats["rest"]["PUT /api/v2/notifications/channels/{id}/subscriptions"];
    assert_eq!(puts["400"], 2);
    assert_eq!(puts["200"], 2, "the setup's PUT and the last one");

    // A 401 once, on whatever REST call comes next: the platform refusing a token it issued.
    c.sim
        .fault(json!({"kind": "client_error", "status": 401, "count": 1, "client": CLIENT}))
        .await;
    let url = c.sim.url("/api/v2/notifications/channels");
    let res = c
        .sim
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "authentication.required");
    assert_eq!(body["status"], 401);
    let res = c
        .sim
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "only once");
    assert_eq!(
        c.sim.stats().await["tokensIssued"],
        1,
        "the simulator counts the tokens it issued"
    );
    c.sim.token().await;
    assert_eq!(c.sim.stats().await["tokensIssued"], 2);

    // 403 and 404 read as the platform words them; an existing kind takes a count too.
    for (status, code) in [(403, "missing.permissions"), (404, "not.found")] {
        c.sim
            .fault(json!({"kind": "client_error", "status": status, "count": 1, "method": "HEAD"}))
            .await;
        let res = c
            .sim
            .http
            .head(
                c.sim
                    .url(&format!("/api/v2/notifications/channels/{}", c.channel.id)),
            )
            .bearer_auth(&c.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{code}");
    }
    c.sim
        .fault(json!({"kind": "client_error", "status": 403, "count": 1}))
        .await;
    let body: Value = c
        .sim
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["code"], "missing.permissions");
    c.sim
        .fault(json!({"kind": "server_error", "status": 500, "count": 1}))
        .await;
    let res = c
        .sim
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let res = c
        .sim
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_stall_withholds_frames_heartbeats_and_pongs_then_resumes() {
    let mut c = connected(|cfg| cfg.heartbeat_interval = Duration::from_millis(50)).await;
    c.ws.until_json("heartbeat", is_heartbeat).await;
    c.sim
        .fault(json!({"kind": "stall", "channel": c.channel.id, "durationSeconds": 1.0}))
        .await;
    let stalled_at = Instant::now();
    let seqs = c.sim.emit(&c.topic, 3).await;
    c.ws.send_text(r#"{"message":"ping"}"#).await;
    c.ws.send_ping(b"p").await;
    // Frames queued before the stall may still arrive; nothing may arrive later in the stall.
    while let Some(frame) = c.ws.read(Duration::from_millis(300)).await {
        assert!(
            !matches!(frame, Read::Closed(_)),
            "TCP stays open during a stall"
        );
        assert!(
            stalled_at.elapsed() < Duration::from_millis(200),
            "frame {frame:?} during the stall"
        );
    }
    let entries = c.sim.ledger(&format!("topic={}", c.topic)).await;
    for e in entries
        .iter()
        .filter(|e| seqs.contains(&e["seq"].as_u64().unwrap()))
    {
        assert_eq!(
            e["channels"],
            json!([]),
            "events during a stall are not sent"
        );
    }
    // After the stall, heartbeats come back.
    c.ws.until_json("heartbeat after the stall", is_heartbeat)
        .await;
    assert!(stalled_at.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn socket_closing_warns_then_closes_after_the_grace_and_the_channel_lives_on() {
    let mut c = connected(|cfg| cfg.heartbeat_interval = Duration::from_secs(60)).await;
    let warned = Instant::now();
    c.sim
        .fault(json!({"kind": "socket_closing", "channel": c.channel.id, "graceSeconds": 0.5}))
        .await;
    let (notice, _) =
        c.ws.until_json("socket_closing", |v| {
            v["topicName"] == "v2.system.socket_closing"
        })
        .await;
    assert!(notice["eventBody"].is_object());
    // Make-before-break is possible: a new socket on the same channel works during the grace... but one
    // socket per channel means the old one is closed as the new one connects, so here we only wait.
    let (code, _) = c.ws.until_closed().await;
    assert!(code.is_some());
    assert!(
        warned.elapsed() >= Duration::from_millis(450),
        "closed after the grace, not at once"
    );
    assert_eq!(head(&c).await, 200, "the channel survives");
}

#[tokio::test]
async fn expire_channel_and_evict_channel_end_the_channel() {
    let mut c = connected(|cfg| cfg.heartbeat_interval = Duration::from_secs(60)).await;
    c.sim
        .fault(json!({"kind": "expire_channel", "channel": c.channel.id}))
        .await;
    c.ws.until_closed().await;
    assert_eq!(head(&c).await, 404);

    let ch = c.sim.create_channel(&c.token).await;
    let mut ws = c.sim.connect(&ch.connect_uri).await;
    c.sim
        .fault(json!({"kind": "evict_channel", "channel": ch.id}))
        .await;
    let (_, frames) = ws.until_closed().await;
    assert!(
        frames
            .iter()
            .any(|f| f["topicName"] == format!("v2.system.no_longer_subscribed.{}", ch.id))
    );
}

#[tokio::test]
async fn revoke_token_sends_token_revoked_kills_channels_and_refuses_the_token() {
    let mut c = connected(|cfg| cfg.heartbeat_interval = Duration::from_secs(60)).await;
    let res = c
        .sim
        .fault(json!({"kind": "revoke_token", "client": CLIENT}))
        .await;
    assert_eq!(res["revokedTokens"], 1);
    let (_, frames) = c.ws.until_closed().await;
    let notice = frames
        .iter()
        .find(|f| f["topicName"] == format!("v2.system.token_revoked.{}", c.channel.id));
    let notice = notice.expect("token_revoked notice");
    assert_eq!(notice["eventBody"]["systemTopicType"], "token_revoked");
    assert_eq!(notice["eventBody"]["reason"], "user_tokens_revoked");
    let res = c
        .sim
        .http
        .post(c.sim.url("/api/v2/notifications/channels"))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let fresh = c.sim.token().await;
    let res = c
        .sim
        .http
        .post(c.sim.url("/api/v2/notifications/channels"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a new token works");
}

#[tokio::test]
async fn rate_limit_server_error_and_slow_faults_shape_rest_answers() {
    let c = connected(|_| {}).await;
    let url = c.sim.url("/api/v2/notifications/channels");
    c.sim
        .fault(json!({"kind": "rate_limit", "client": CLIENT, "durationSeconds": 30}))
        .await;
    let res = c
        .sim
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29..=30).contains(&retry), "{retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "too.many.requests.retry.after");
    assert_eq!(
        body["message"],
        format!("Rate limit exceeded the maximum. Retry the request in [{retry}] seconds")
    );
    assert_eq!(body["status"], 429);

    let res = c
        .sim
        .http
        .delete(c.sim.url("/sim/v1/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    c.sim
        .fault(json!({"kind": "server_error", "durationSeconds": 30, "status": 503}))
        .await;
    let res = c
        .sim
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "service.unavailable");

    c.sim
        .http
        .delete(c.sim.url("/sim/v1/faults"))
        .send()
        .await
        .unwrap();
    c.sim
        .fault(json!({"kind": "slow", "durationSeconds": 30, "latencyMs": 300}))
        .await;
    let started = Instant::now();
    let res = c
        .sim
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(c.sim.stats().await["rateLimited"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn malformed_frames_arrive_and_the_socket_stays_up() {
    let mut c = connected(|cfg| cfg.heartbeat_interval = Duration::from_secs(60)).await;
    for variant in ["truncated_json", "not_json", "missing_topic", "binary"] {
        c.sim
            .fault(json!({"kind": "malformed_frame", "channel": c.channel.id, "variant": variant}))
            .await;
        let frame = c.ws.read(PATIENCE).await.expect("a frame");
        match (variant, frame) {
            ("binary", Read::Binary(_)) | ("truncated_json" | "not_json", Read::Text(_)) => {}
            ("missing_topic", Read::Json(v)) => assert!(v.get("topicName").is_none()),
            (v, f) => panic!("{v}: unexpected {f:?}"),
        }
    }
    c.ws.send_text(r#"{"message":"ping"}"#).await;
    c.ws.until_json("pong", |v| v["eventBody"]["message"] == "pong")
        .await;
}

#[tokio::test]
async fn the_rest_rate_limit_is_per_token_and_says_when_to_retry() {
    let sim = TestSim::start(|c| c.rate_limit_per_window = 5);
    let t1 = sim.token().await;
    let t2 = sim.token().await;
    let url = sim.url("/api/v2/notifications/channels");
    for _ in 0..5 {
        assert_eq!(
            sim.http
                .get(&url)
                .bearer_auth(&t1)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let res = sim.http.get(&url).bearer_auth(&t1).send().await.unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(
        sim.http
            .get(&url)
            .bearer_auth(&t2)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "another token has its own budget"
    );
    let stats = sim.stats().await;
    assert_eq!(stats["rateLimited"], 1);
    assert_eq!(
        stats["rest"]["GET /api/v2/notifications/channels"]["429"],
        1
    );
    assert_eq!(
        stats["rest"]["GET /api/v2/notifications/channels"]["200"],
        6
    );
}

#[tokio::test]
async fn faults_name_their_errors() {
    let sim = TestSim::start(|_| {});
    for (body, fragment) in [
        (
            json!({"kind": "drop", "channel": "streaming-0-none"}),
            "unknown channel",
        ),
        (
            json!({"kind": "drop", "client": "nobody"}),
            "unknown client",
        ),
        (json!({"kind": "explode"}), "unknown variant"),
        (
            json!({"kind": "stall", "durationSeconds": -1}),
            "durationSeconds",
        ),
        (json!({"kind": "server_error", "status": 404}), "5xx"),
        (
            json!({"kind": "client_error", "status": 500}),
            "400, 401, 403 or 404",
        ),
        (json!({"kind": "client_error", "count": 0}), "count"),
        (json!({"kind": "client_error", "method": "PATCH"}), "method"),
        (json!({"kind": "client_error", "path": ""}), "path"),
        (json!({"kind": "drop", "count": 1}), "REST faults only"),
        (json!({"kind": "close", "closeCode": 1005}), "closeCode"),
        (json!({"kind": "drop", "closeCode": 1000}), "closeCode"),
    ] {
        let res = sim
            .http
            .post(sim.url("/sim/v1/faults"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{body}");
        let err: Value = res.json().await.unwrap();
        assert!(err["message"].as_str().unwrap().contains(fragment), "{err}");
    }
}
