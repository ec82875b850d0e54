//! Tests of the webhook sink.

use super::*;
use crate::config::tests::{errors, parse};
use crate::egress::special_purpose;
use crate::sink::RecordKind;
use crate::sink::SinkKind;
use crate::sink::webhook::WebhookConfig;

fn sink(url: &str, allow: &[&str]) -> WebhookSink {
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    WebhookSink::new(
        url,
        &Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        false,
        Duration::from_secs(1),
        &allow,
        &crate::egress::Egress::default(),
    )
    .unwrap()
}

#[test]
fn the_signature_is_hmac_sha256_of_id_timestamp_and_body() {
    // The Standard Webhooks example: its secret, id, timestamp and body give its signature.
    let key = webhook_key(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).unwrap();
    let body = br#"{"test": 2432232314}"#;
    let signature = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
    assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    // The same computed independently.
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.");
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(signature, expected);
    // A plain secret is its own bytes.
    assert_eq!(webhook_key(&Secret::new("plain")).unwrap(), b"plain");
    assert!(webhook_key(&Secret::new("whsec_!!!")).is_err());
}

#[test]
fn private_loopback_link_local_and_metadata_addresses_are_refused() {
    for ip in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "0.0.0.0",
        "::1",
        "::",
        "fc00::1",
        "fd12::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(special_purpose(ip).is_some(), "{ip} should be refused");
    }
    for ip in ["8.8.8.8", "172.32.0.1", "2001:4860:4860::8888", "1.1.1.1"] {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(special_purpose(ip).is_none(), "{ip} should be allowed");
    }
    assert_eq!(
        special_purpose("169.254.169.254".parse().unwrap()),
        Some("a cloud metadata address")
    );
}

#[test]
fn the_allow_list_takes_networks_addresses_and_host_names() {
    let s = sink(
        "http://hooks.internal:8080/x",
        &["10.0.0.0/8", "::1", "hooks.internal"],
    );
    assert!(s.allowed("10.200.0.1".parse().unwrap()));
    assert!(s.allowed("::1".parse().unwrap()));
    assert!(!s.allowed("127.0.0.1".parse().unwrap()));
    assert!(!s.allowed("192.168.0.1".parse().unwrap()));
    assert!(
        s.policy
            .check("hooks.internal", "192.168.0.1".parse().unwrap())
            .is_ok(),
        "the host entry allows whatever the host resolves to"
    );
}

fn record() -> Delivery {
    Delivery {
        kind: RecordKind::Event,
        received_ms: None,
        tenant: "acme".into(),
        json: Bytes::from_static(br#"{"kind":"event","id":"e-1","tenant":"acme"}"#),
    }
}

#[tokio::test]
async fn loopback_is_refused_for_good_unless_allowed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let mut refused = sink(&url, &[]);
    match refused.write(&[record()]).await {
        Err(SinkError::Reject { records, reason }) => {
            assert_eq!(records, vec![0]);
            assert!(reason.contains("loopback"), "{reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let mut metadata = sink("http://169.254.169.254/latest/meta-data/", &[]);
    match metadata.write(&[record()]).await {
        Err(SinkError::Reject { reason, .. }) => {
            assert!(reason.contains("metadata"), "{reason}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    // Host names are checked by what they resolve to.
    let mut by_name = sink(&format!("http://localhost:{port}/hook"), &[]);
    assert!(matches!(
        by_name.write(&[record()]).await,
        Err(SinkError::Reject { .. })
    ));

    // Allowed: the POST reaches the listener, which answers 204.
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if got.len() >= head_end + 4 + len {
                    break;
                }
            }
        }
        conn.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8(got).unwrap()
    });
    let mut allowed = sink(&url, &["127.0.0.0/8"]);
    allowed.write(&[record()]).await.unwrap();
    let request = server.await.unwrap().to_ascii_lowercase();
    assert!(request.contains("webhook-id: e-1"), "{request}");
    assert!(request.contains("webhook-signature: v1,"), "{request}");
}

// The configuration file's `kind = "webhook"` table (moved from `config/tests.rs`).

#[test]
fn webhook_sink_defaults_settings_and_errors() {
    let c = parse(
        "[[sinks]]\nname = \"w\"\nkind = \"webhook\"\nurl = \"https://h.example.com/x\"\nsecret = \"whsec_c2VjcmV0\"\n",
    )
    .unwrap();
    assert_eq!(
        c.sinks[0].kind,
        SinkKind::Webhook(WebhookConfig {
            url: "https://h.example.com/x".into(),
            secret: Secret::new("whsec_c2VjcmV0"),
            batch: false,
            timeout: std::time::Duration::from_secs(10),
            allow: vec![],
        })
    );
    let c = parse(
        r#"
[[sinks]]
name = "w"
kind = "webhook"
url = "http://10.0.0.5:8080/hook"
secret = "plain-secret"
batch = true
timeout = "2s"
allow = ["10.0.0.0/8", "hooks.internal"]
"#,
    )
    .unwrap();
    assert_eq!(
        c.sinks[0].kind,
        SinkKind::Webhook(WebhookConfig {
            url: "http://10.0.0.5:8080/hook".into(),
            secret: Secret::new("plain-secret"),
            batch: true,
            timeout: std::time::Duration::from_secs(2),
            allow: vec!["10.0.0.0/8".into(), "hooks.internal".into()],
        })
    );
    let errs = errors(
        r#"
[[sinks]]
name = "a"
kind = "webhook"
url = "ftp://x"
secret = "whsec_!!!"
allow = ["10.0.0.0/33"]
subject = "x"
[[sinks]]
name = "b"
kind = "webhook"
url = "https://x.example.com"
[[sinks]]
name = "c"
kind = "stdout"
batch = true
"#,
    );
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "sinks[0].url",
        "sinks[0].secret",
        "sinks[0].allow[0]",
        "sinks[0].subject",
        "sinks[1].secret",
        "sinks[2].batch",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {errs:?}"
        );
    }
    // The secret never appears in an error.
    assert!(!format!("{errs:?}").contains("!!!"), "{errs:?}");
}
