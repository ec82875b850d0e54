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

/// The serve process's resident memory, from `/proc/<pid>/status` (`VmRSS`, in kB), in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status:\n{status}"));
    kb * 1024
}

/// The test, on the real binary: 200 unauthenticated connections each claiming a 16 MiB body and
/// sending 1 KiB of it leave `switchboard serve` under 100 MiB resident, with `/healthz` answering meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_process_stays_small_under_200_slow_unauthenticated_bodies() {
    const LIMIT: u64 = 100 * 1024 * 1024;
    let sim = Sim::start(|_| {});
    let scratch = Scratch::new();
    let port = free_port();
    let text = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &["v2.users.nobody.presence".to_string()])
        .client("demo", "secret")
        .sink_file()
        .admin_listen(&format!("127.0.0.1:{port}"))
        .admin_token("hardening-admin-token-0123456789abcdef")
        .text();
    let config = scratch.0.join("switchboard.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = spawn_serve(&config);
    let pid = child.id().expect("the serve process runs");
    let http = reqwest::Client::new();
    let healthz = format!("http://127.0.0.1:{port}/healthz");
    wait_until("the serve process's /healthz", || async {
        http.get(&healthz)
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200)
    })
    .await;
    let before = resident_bytes(pid);

    // Each claims a 16 MiB body, sends 1 KiB of it and stays open.
    let head = "POST /v1/tenants/acme/topics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16777216\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        // The server may already have answered 401 and closed: the write may then fail.
        let _ = s.write_all(&[b' '; 1024]).await;
        held.push(s);
    }

    // Meanwhile: the probe answers (a new client, so no pooled connection from before), and the process
    // stays small.
    let res = reqwest::Client::new().get(&healthz).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let during = resident_bytes(pid);
    eprintln!("serve VmRSS: {before} bytes before, {during} bytes with 200 slow bodies held");
    assert!(
        during < LIMIT,
        "VmRSS {during} bytes with 200 slow bodies held (before them: {before}), over {LIMIT}"
    );
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "the serve process is still running"
    );

    drop(held);
    child.kill().await.unwrap();
}
