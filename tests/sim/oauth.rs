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
}
