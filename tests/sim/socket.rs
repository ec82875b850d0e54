use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn heartbeats_arrive_unasked_at_the_configured_interval() {
    let sim = TestSim::start(|c| c.heartbeat_interval = Duration::from_millis(100));
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let mut ws = sim.connect(&ch.connect_uri).await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        ws.until_json("heartbeat", is_heartbeat).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "three heartbeats take three intervals"
    );
    assert!(sim.stats().await["heartbeatsSent"].as_u64().unwrap() >= 3);
}

#[tokio::test]
async fn an_app_level_ping_gets_a_pong_and_a_protocol_ping_gets_a_protocol_pong() {
    let sim = TestSim::start(|c| c.heartbeat_interval = Duration::from_secs(60));
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let mut ws = sim.connect(&ch.connect_uri).await;
    ws.send_text(r#"{"message":"ping"}"#).await;
    let (pong, _) = ws
        .until_json("pong", |v| v["eventBody"]["message"] == "pong")
        .await;
    assert_eq!(pong["topicName"], "channel.metadata");

    ws.send_ping(b"are-you-there").await;
    loop {
        match ws.read(PATIENCE).await {
            Some(Read::Pong(p)) => {
                assert_eq!(p, b"are-you-there");
                break;
            }
            Some(Read::Json(_)) => continue,
            other => panic!("expected a protocol pong, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unknown_client_frames_are_ignored() {
    let sim = TestSim::start(|c| c.heartbeat_interval = Duration::from_secs(60));
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    let mut ws = sim.connect(&ch.connect_uri).await;
    ws.send_text("not json at all").await;
    ws.send_text(r#"{"message":"dance"}"#).await;
    ws.stream
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![1, 2, 3].into(),
        ))
        .await
        .unwrap();
    ws.send_text(r#"{"message":"ping"}"#).await;
    let (_, skipped) = ws
        .until_json("pong", |v| v["eventBody"]["message"] == "pong")
        .await;
    assert!(
        skipped.is_empty(),
        "ignored frames get no answer: {skipped:?}"
    );
    assert_eq!(sim.stats().await["clientFramesIgnored"], 3);
}
use futures_util::SinkExt;

#[tokio::test]
async fn a_second_socket_disconnects_the_first_and_subscriptions_stay_with_the_channel() {
    let sim = TestSim::start(|c| c.heartbeat_interval = Duration::from_secs(60));
    let token = sim.token().await;
    let user = sim.a_user().await;
    let topic = format!("v2.users.{user}.presence");
    let ch = sim.create_channel(&token).await;
    sim.subscribe(&token, &ch.id, &[&topic]).await;
    let mut first = sim.connect(&ch.connect_uri).await;
    let mut second = sim.connect(&ch.connect_uri).await;
    first.until_closed().await;
    sim.emit(&topic, 1).await;
    let (event, _) = second.until_json("event", is_event).await;
    assert_eq!(event["topicName"], topic.as_str());
}

#[tokio::test]
async fn a_socket_on_an_unknown_channel_is_told_404_and_closed() {
    let sim = TestSim::start(|_| {});
    let mut ws = sim
        .connect(&format!(
            "ws://{}/channels/streaming-0-nosuchchannel",
            sim.handle.addr
        ))
        .await;
    let (code, frames) = ws.until_closed().await;
    assert!(code.is_some());
    assert_eq!(frames[0]["result"], "404");
    assert!(
        frames[0]["message"]
            .as_str()
            .unwrap()
            .contains("nosuchchannel")
    );
}

#[tokio::test]
async fn an_unknown_channel_can_be_refused_with_http_404_instead() {
    let sim = TestSim::start(|c| {
        c.unknown_channel_socket = switchboard::sim::config::UnknownChannelSocket::Http404
    });
    let url = format!(
        "ws://{}/channels/streaming-0-nosuchchannel",
        sim.handle.addr
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 404),
        other => panic!("expected an HTTP 404, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn the_socket_level_subscribe_of_third_party_clients_is_accepted() {
    let sim = TestSim::start(|c| c.heartbeat_interval = Duration::from_secs(60));
    let token = sim.token().await;
    let user = sim.a_user().await;
    let topic = format!("v2.users.{user}.presence");
    let ch = sim.create_channel(&token).await;
    let mut ws = sim.connect(&ch.connect_uri).await;
    ws.send_text(
        &json!({"message": "subscribe", "topics": [topic], "correlationId": "abc123"}).to_string(),
    )
    .await;
    let (ok, _) = ws
        .until_json("subscribe reply", |v| v.get("result").is_some())
        .await;
    assert_eq!(
        ok,
        json!({"result": "200", "status": "subscribed", "correlationId": "abc123"})
    );
    sim.emit(&topic, 1).await;
    ws.until_json("event", is_event).await;

    ws.send_text(
        &json!({"message": "subscribe", "topics": ["v2.bogus"], "correlationId": "x"}).to_string(),
    )
    .await;
    let (failed, _) = ws
        .until_json("subscribe failure", |v| v.get("result").is_some())
        .await;
    assert_eq!(failed["result"], "400");
    assert_eq!(failed["status"], "failure");
    assert!(failed["message"].is_string());
}
