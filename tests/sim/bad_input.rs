use serde_json::Value;

use crate::helpers::*;

async fn error_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("an error body in JSON");
    (status, body)
}

#[tokio::test]
async fn bad_bodies_get_the_platforms_errors_never_a_hang_or_a_crash() {
    let sim = TestSim::start(|c| c.max_body_bytes = 64 * 1024);
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let url = sim.url(&format!(
        "/api/v2/notifications/channels/{}/subscriptions",
        ch.id
    ));
    let send = |body: Vec<u8>, content_type: &'static str| {
        let req = sim
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("Content-Type", content_type)
            .body(body);
        async move { error_of(req.send().await.unwrap()).await }
    };

    let (status, body) = send(b"[{\"id\":".to_vec(), "application/json").await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "bad.request")
    );
    let (status, body) = send(
        b"{\"id\":\"v2.users.u.presence\"}".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "bad.request"),
        "not an array"
    );
    let (status, body) = send(b"[{\"topic\":\"x\"}]".to_vec(), "application/json").await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "bad.request"),
        "no id"
    );
    let (status, body) = send(Vec::new(), "application/json").await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "bad.request"),
        "empty"
    );
    let (status, body) = send(b"[]".to_vec(), "text/plain").await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (415, "unsupported.media.type")
    );
    let huge = format!(
        "[{}]",
        vec!["{\"id\":\"v2.users.u.presence\"}"; 5000].join(",")
    );
    let (status, body) = send(huge.into_bytes(), "application/json").await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (413, "request.entity.too.large")
    );
    let (status, body) = send(vec![0xff, 0xfe, 0x00], "application/json").await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "bad.request"),
        "not UTF-8"
    );

    let res = sim
        .http
        .post(format!("{url}?ignoreErrors=maybe"))
        .bearer_auth(&token)
        .json(&Vec::<Value>::new())
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(res).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "invalid.value")
    );

    for path in [
        "/api/v2/nothing",
        "/api/v2/notifications/channels/x/y/z",
        "/favicon.ico",
    ] {
        let (status, body) = error_of(
            sim.http
                .get(sim.url(path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (404, "not.found"),
            "{path}"
        );
        assert!(body["contextId"].is_string());
    }
    let res = sim
        .http
        .delete(sim.url("/api/v2/notifications/channels"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "an undocumented method is not found");

    // After all that, the simulator still serves.
    let res = sim
        .http
        .get(sim.url("/api/v2/notifications/channels"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_plain_get_on_a_socket_path_is_refused_cleanly() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let res = sim
        .http
        .get(sim.url(&format!("/channels/{}", ch.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "not a WebSocket upgrade");
}

#[tokio::test]
async fn an_oversized_client_frame_closes_that_socket_only() {
    let sim = TestSim::start(|c| c.max_client_frame_bytes = 1024);
    let token = sim.token().await;
    let a = sim.create_channel(&token).await;
    let b = sim.create_channel(&token).await;
    let mut wa = sim.connect(&a.connect_uri).await;
    let mut wb = sim.connect(&b.connect_uri).await;
    wa.send_text(&"x".repeat(4096)).await;
    let (code, _) = wa.until_closed().await;
    assert_eq!(code, Some(1009));
    wb.send_text(r#"{"message":"ping"}"#).await;
    wb.until_json("pong", |v| v["eventBody"]["message"] == "pong")
        .await;
}
