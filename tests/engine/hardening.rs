//! What an unauthenticated neighbour on the network can make the admin API do: nothing that costs memory or
//! holds connections.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_bodies_are_refused_unread_and_their_connections_closed() {
    let sim = Sim::start(|_| {});
    let App { engine, .. } = App::builder(&sim)
        .tenant("acme", &["v2.users.nobody.presence".to_string()])
        .client("demo", "secret")
        .sink_file()
        .admin_token("hardening-admin-token-0123456789abcdef")
        .start();
    let addr = engine.admin_addr.expect("admin API");

    // Each claims a 16 MiB body (the largest route's limit), sends 1 KiB of it and waits.
    let head = "POST /v1/tenants/acme/topics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16777216\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        let _ = s.write_all(&[b' '; 1024]).await;
        held.push(s);
    }
    for (i, mut s) in held.into_iter().enumerate() {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
        let read = read.unwrap_or_else(|_| panic!("connection {i} still held open after 10 s"));
        // Closed by the server: an answer then EOF, or a reset because the body stayed unread.
        if read.is_ok() {
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 401"), "connection {i}: {text}");
        }
    }
    // Refused without a body too, and the probes stay open.
    let http = reqwest::Client::new();
    let res = http
        .post(format!("http://{addr}/v1/tenants/acme/topics"))
        .json(&serde_json::json!({"topics": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    engine.stop();
}
