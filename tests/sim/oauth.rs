use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn client_credentials_grant_returns_a_bearer_token_with_its_lifetime() {
    let sim = TestSim::start(|_| {});
    let res = sim.token_response(CLIENT, SECRET).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 86400);
    assert!(body["access_token"].as_str().unwrap().len() >= 32);

    sim.register_client(
        json!({"clientId": "short", "clientSecret": "s3cret", "tokenTtlSeconds": 300}),
    )
    .await;
    let body: Value = sim
        .token_response("short", "s3cret")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["expires_in"], 300);
}

async fn oauth_error(res: reqwest::Response, status: u16, error: &str) {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["description"].is_string());
    assert_eq!(body["description"], body["error_description"]);
}

#[tokio::test]
async fn bad_credentials_and_malformed_requests_get_oauth_errors() {
    let sim = TestSim::start(|_| {});
    oauth_error(
        sim.token_response(CLIENT, "wrong").await,
        401,
        "invalid_client",
    )
    .await;
    oauth_error(
        sim.token_response("nobody", SECRET).await,
        401,
        "invalid_client",
    )
    .await;

    let url = sim.url("/oauth/token");
    let no_auth = sim
        .http
        .post(&url)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    oauth_error(no_auth, 401, "invalid_client").await;
    let garbage = sim
        .http
        .post(&url)
        .header("Authorization", "Basic !!!not-base64!!!")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    oauth_error(garbage, 401, "invalid_client").await;
    let grant = sim
        .http
        .post(&url)
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    oauth_error(grant, 400, "unsupported_grant_type").await;
    let no_grant = sim
        .http
        .post(&url)
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("scope", "x")])
        .send()
        .await
        .unwrap();
    oauth_error(no_grant, 400, "invalid_request").await;
    let json_body = sim
        .http
        .post(&url)
        .basic_auth(CLIENT, Some(SECRET))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(json_body, 400, "invalid_request").await;
}

#[tokio::test]
async fn rest_calls_need_a_valid_bearer_token() {
    let sim = TestSim::start(|_| {});
    let url = sim.url("/api/v2/notifications/channels");
    let res = sim.http.post(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "authentication.required");
    assert_eq!(body["status"], 401);

    let res = sim
        .http
        .post(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "bad.credentials");
}

#[tokio::test]
async fn an_expired_token_is_refused_and_its_channels_die() {
    let sim = TestSim::start(|c| c.heartbeat_interval = std::time::Duration::from_secs(60));
    sim.register_client(json!({"clientId": "brief", "clientSecret": "s", "tokenTtlSeconds": 1}))
        .await;
    let token = sim.token_for("brief", "s").await;
    let channel = sim.create_channel(&token).await;
    let mut ws = sim.connect(&channel.connect_uri).await;
    let (code, _) = ws.until_closed().await;
    assert!(
        code.is_some(),
        "the platform closes the socket of a dead token's channel with a close frame"
    );
    let res = sim
        .http
        .post(sim.url("/api/v2/notifications/channels"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let fresh = sim.token_for("brief", "s").await;
    let res = sim
        .http
        .head(sim.url(&format!("/api/v2/notifications/channels/{}", channel.id)))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the channel died with its token");
    assert_eq!(sim.stats().await["channelsTokenExpired"], 1);
}

#[tokio::test]
async fn with_channels_outliving_tokens_an_expired_tokens_channel_lives_on_until_revoked() {
    let sim = TestSim::start(|c| {
        c.channels_die_with_token = false;
        c.heartbeat_interval = std::time::Duration::from_secs(60);
        // A short channel lifetime gives a sentinel whose expiry proves the clock ran past the token's.
        c.channel_ttl = std::time::Duration::from_secs(2);
        c.subscription_extension = std::time::Duration::from_secs(3600);
    });
    sim.register_client(json!({"clientId": "brief", "clientSecret": "s", "tokenTtlSeconds": 1}))
        .await;
    let token = sim.token_for("brief", "s").await;
    let topic = format!("v2.users.{}.presence", sim.a_user().await);
    let sentinel = sim.create_channel(&token).await;
    let kept = sim.create_channel(&token).await;
    // The subscription pushes the kept channel's own expiry an hour out; the sentinel keeps its 2 s.
    sim.subscribe(&token, &kept.id, &[&topic]).await;
    let mut ws = sim.connect(&kept.connect_uri).await;
    wait_until("the sentinel channel to expire", || async {
        sim.stats().await["channelsExpired"] == 1
    })
    .await;
    let res = sim
        .http
        .get(sim.url("/api/v2/notifications/channels"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the token itself is expired");
    let stats = sim.stats().await;
    assert_eq!(stats["channelsTokenExpired"], 0);
    assert_eq!(stats["channelsOpen"], 1);

    // The channel lives on: a fresh token of the same client sees it, and its socket still gets events.
    let fresh = sim.token_for("brief", "s").await;
    let res = sim
        .http
        .head(sim.url(&format!("/api/v2/notifications/channels/{}", kept.id)))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the channel outlived its token");
    let res = sim
        .http
        .head(sim.url(&format!("/api/v2/notifications/channels/{}", sentinel.id)))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the sentinel died of its own expiry");
    sim.emit(&topic, 1).await;
    ws.until_json("an event after the token expired", is_event)
        .await;

    // Revocation still kills it, with the notice.
    let res = sim
        .fault(json!({"kind": "revoke_token", "client": "brief"}))
        .await;
    assert!(
        res["affectedChannels"]
            .as_array()
            .unwrap()
            .contains(&json!(kept.id))
    );
    let (_, frames) = ws.until_closed().await;
    assert!(
        frames
            .iter()
            .any(|f| f["topicName"] == format!("v2.system.token_revoked.{}", kept.id)),
        "{frames:?}"
    );
}
