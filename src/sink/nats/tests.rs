//! Tests of the nats sink.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;

use super::*;
use crate::config::tests::{errors, parse};
use crate::sink::RecordKind;
use crate::sink::nats::NatsConfig;
use crate::sink::nats::{check_nats, check_nats_subject};
use crate::sink::{SinkConfig, SinkKind};

fn nats_url() -> String {
    std::env::var("SWITCHBOARD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A JetStream context on the test server; fails the test (never skips it) when there is none.
async fn jetstream_or_fail() -> jetstream::Context {
    let url = nats_url();
    let client = tokio::time::timeout(
        Duration::from_secs(5),
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(4))
            .connect(url.as_str()),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("NATS at {url} did not answer within 5s: the NATS sink tests need `nats-server -js` there")
    })
    .unwrap_or_else(|e| {
        panic!("NATS at {url} is not reachable ({e}): the NATS sink tests need `nats-server -js` there")
    });
    assert!(
        client.server_info().jetstream,
        "NATS at {url} has no JetStream: start the server with -js"
    );
    jetstream::new(client)
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn event(tenant: &str, n: u32, topic: &str, family: &str) -> Delivery {
    Delivery {
        kind: RecordKind::Event,
        received_ms: None,
        tenant: Arc::from(tenant),
        json: Bytes::from(format!(
            r#"{{"kind":"event","id":"{n:016x}","tenant":"{tenant}","region":"eu-west-1","channelId":"streaming-0-x","topic":"{topic}","topicFamily":"{family}","receivedAt":"2026-11-23T10:00:00.123Z","version":"2","body":{{"n":{n},"id":"not-this-one"}}}}"#
        )),
    }
}

/// A gap as `envelope::gap_line` lays it out: `kind` first, then the other keys sorted.
fn gap(tenant: &str) -> Delivery {
    let id = uuid::Uuid::new_v4();
    Delivery {
        kind: RecordKind::Gap,
        received_ms: None,
        tenant: Arc::from(tenant),
        json: Bytes::from(format!(
            r#"{{"kind":"gap","channelId":"streaming-0-x","from":"2026-11-23T10:00:01.000Z","id":"{id}","reason":"socket_lost","region":"eu-west-1","tenant":"{tenant}","to":"2026-11-23T10:00:04.120Z","topics":["v2.users.u1.presence"]}}"#
        )),
    }
}

fn batch() -> Vec<Delivery> {
    vec![
        event("acme", 1, "v2.users.u1.presence", "v2.users.{id}.presence"),
        event("acme", 2, "v2.users.u2.presence", "v2.users.{id}.presence"),
        event(
            "other",
            3,
            "v2.routing.queues.q1.conversations",
            "v2.routing.queues.{id}.conversations",
        ),
        gap("acme"),
        event("acme", 4, "v2.users.u1.presence", "v2.users.{id}.presence"),
    ]
}

/// Every message of `stream`, in stream order, as (subject, payload, Nats-Msg-Id), and the stream's count.
async fn read_back(js: &jetstream::Context, stream: &str) -> (Vec<(String, Bytes, String)>, u64) {
    let mut s = js.get_stream(stream).await.expect("the stream exists");
    let count = s.info().await.expect("stream info").state.messages;
    let consumer = s
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    while (out.len() as u64) < count {
        let m = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("the stream's messages arrive")
            .expect("a message")
            .expect("not an error");
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        out.push((m.subject.to_string(), m.payload.clone(), id));
    }
    (out, count)
}

fn sink_for(prefix: &str, stream: &str) -> NatsSink {
    let config = SinkConfig {
        name: "nats".into(),
        kind: SinkKind::Nats(NatsConfig {
            url: nats_url(),
            subject: format!("{prefix}.{{tenant}}.{{kind}}.{{family}}"),
            stream: Some(stream.to_string()),
            create_stream: true,
        }),
    };
    assert!(
        check_nats(
            &format!("{prefix}.{{tenant}}.{{kind}}.{{family}}"),
            Some(stream),
            true
        )
        .is_empty()
    );
    match config.kind {
        SinkKind::Nats(NatsConfig {
            url,
            subject,
            stream,
            create_stream,
        }) => NatsSink::new(
            &url,
            &subject,
            stream.as_deref(),
            create_stream,
            &crate::egress::Egress::unrestricted(),
        ),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn publishes_each_record_once_in_order_on_its_rendered_subject() {
    let js = jetstream_or_fail().await;
    let id = unique();
    let prefix = format!("sbtest{id}");
    let stream = format!("SBTEST_{id}");
    let mut sink = sink_for(&prefix, &stream);
    let records = batch();
    let wrote = sink.write(&records).await;
    let flushed = sink.flush().await;
    let (got, count) = if wrote.is_ok() {
        read_back(&js, &stream).await
    } else {
        (Vec::new(), 0)
    };
    let _ = js.delete_stream(&stream).await;

    wrote.expect("the batch is published and acknowledged");
    flushed.expect("flush");
    assert_eq!(count, records.len() as u64, "each record stored once");
    let expected_subjects = [
        format!("{prefix}.acme.event.v2.users.id.presence"),
        format!("{prefix}.acme.event.v2.users.id.presence"),
        format!("{prefix}.other.event.v2.routing.queues.id.conversations"),
        format!("{prefix}.acme.gap.gap"),
        format!("{prefix}.acme.event.v2.users.id.presence"),
    ];
    for (i, ((subject, payload, msg_id), record)) in got.iter().zip(&records).enumerate() {
        assert_eq!(subject, &expected_subjects[i], "record {i}");
        assert_eq!(payload, &record.json, "record {i} in order, unchanged");
        let envelope: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(msg_id, envelope["id"].as_str().unwrap(), "record {i}");
    }
}

#[tokio::test]
async fn a_resent_batch_adds_no_duplicates() {
    let js = jetstream_or_fail().await;
    let id = unique();
    let prefix = format!("sbtest{id}");
    let stream = format!("SBTEST_{id}");
    let mut sink = sink_for(&prefix, &stream);
    let records = batch();
    let first = sink.write(&records).await;
    // As the worker does after a failure: the whole batch again, here on a new sink and connection.
    let mut again = sink_for(&prefix, &stream);
    let second = again.write(&records).await;
    let third = again.write(&records[1..3]).await;
    let (got, count) = if first.is_ok() && second.is_ok() {
        read_back(&js, &stream).await
    } else {
        (Vec::new(), 0)
    };
    let _ = js.delete_stream(&stream).await;

    first.expect("first publish");
    second.expect("the re-sent batch is acknowledged");
    third.expect("a re-sent part is acknowledged");
    assert_eq!(
        count,
        records.len() as u64,
        "duplicates dropped by Nats-Msg-Id"
    );
    let payloads: Vec<&Bytes> = got.iter().map(|(_, p, _)| p).collect();
    let expected: Vec<&Bytes> = records.iter().map(|r| &r.json).collect();
    assert_eq!(payloads, expected);
}

#[tokio::test]
async fn a_closed_port_is_an_error_not_a_hang() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut sink = NatsSink::new(
        &format!("nats://127.0.0.1:{port}"),
        "switchboard.{tenant}.{kind}",
        None,
        false,
        &crate::egress::Egress::unrestricted(),
    )
    .with_connect_timeout(Duration::from_secs(2));
    let result = tokio::time::timeout(Duration::from_secs(10), sink.write(&batch()))
        .await
        .expect("the write returns within its connect timeout");
    let e = result.expect_err("nothing listens there");
    assert!(e.to_string().contains(&port.to_string()), "{e}");
    // Retried by the worker: the same error again, still bounded.
    let again = tokio::time::timeout(Duration::from_secs(10), sink.write(&batch()))
        .await
        .expect("bounded");
    assert!(again.is_err());
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut sink = NatsSink::new(
        &format!("nats://127.0.0.1:{port}"),
        "switchboard.{tenant}.{kind}",
        None,
        false,
        &crate::egress::Egress::unrestricted(),
    )
    .with_connect_timeout(Duration::from_millis(500));
    let result = tokio::time::timeout(Duration::from_secs(10), sink.write(&batch()))
        .await
        .expect("the connect is bounded");
    silent.abort();
    assert!(result.is_err());
}

#[test]
fn subject_templates_are_checked() {
    assert_eq!(check_nats_subject("switchboard.{tenant}.{kind}"), Ok(()));
    assert_eq!(check_nats_subject("a.{tenant}-{kind}.{family}.x"), Ok(()));
    assert_eq!(check_nats_subject("plain.subject"), Ok(()));
    for (bad, says) in [
        ("", "empty"),
        ("a.{topic}", "unknown placeholder {topic}"),
        ("a.{tenant", "without its '}'"),
        ("a.tenant}", "without its '{'"),
        ("a b.{kind}", "no spaces"),
        ("a.*.{kind}", "wildcards"),
        ("a.{kind}.>", "wildcards"),
        ("a..{kind}", "empty tokens"),
        (".a.{kind}", "empty tokens"),
        ("a.{kind}.", "empty tokens"),
    ] {
        let e = check_nats_subject(bad).expect_err(bad);
        assert!(e.contains(says), "{bad:?}: {e}");
    }
    let errs = check_nats("{tenant}.events", Some("S"), true);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "subject");
    let errs = check_nats("a.{kind}", None, true);
    assert_eq!(errs[0].0, "stream");
    assert_eq!(
        check_nats("a.{kind}", Some("bad.name"), false)[0].0,
        "stream"
    );
    assert!(check_nats("{tenant}.events", None, false).is_empty());
    assert_eq!(
        nats_stream_subjects("switchboard.{tenant}.{kind}").as_deref(),
        Some("switchboard.>")
    );
    assert_eq!(
        nats_stream_subjects("a.b.x{tenant}.{kind}").as_deref(),
        Some("a.b.>")
    );
    assert_eq!(nats_stream_subjects("a.b").as_deref(), Some("a.b"));
    assert_eq!(nats_stream_subjects("{tenant}.b"), None);
}

#[test]
fn subjects_and_ids_come_from_the_envelope() {
    let sink = NatsSink::new(
        "nats://x",
        "sb.{tenant}.{kind}.{family}",
        None,
        false,
        &crate::egress::Egress::unrestricted(),
    );
    let e = event("acme", 7, "v2.users.u.presence", "v2.users.{id}.presence");
    assert_eq!(sink.subject(&e), "sb.acme.event.v2.users.id.presence");
    assert_eq!(
        envelope_id(e.kind, &e.json).as_deref(),
        Some("0000000000000007")
    );
    let g = gap("acme");
    assert_eq!(sink.subject(&g), "sb.acme.gap.gap");
    let v: serde_json::Value = serde_json::from_slice(&g.json).unwrap();
    assert_eq!(envelope_id(g.kind, &g.json).as_deref(), v["id"].as_str());
    let odd = Delivery {
        kind: RecordKind::Backfill,
        received_ms: None,
        tenant: Arc::from("t"),
        json: Bytes::from_static(br#"{"kind":"backfill","id":"ab","topicFamily":"a..b c.*"}"#),
    };
    assert_eq!(sink.subject(&odd), "sb.t.backfill.a._.b_c._");
    assert_eq!(envelope_id(odd.kind, &odd.json).as_deref(), Some("ab"));
}

// The configuration file's `kind = "nats"` table (moved from `config/tests.rs`).

#[test]
fn nats_sink_defaults_and_settings() {
    // The default server is on loopback, reachable only when allow-listed.
    let c = parse("[egress]\nallow = [\"127.0.0.1\"]\n[[sinks]]\nname = \"n\"\nkind = \"nats\"\n")
        .unwrap();
    assert_eq!(
        c.sinks[0].kind,
        SinkKind::Nats(NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            subject: "switchboard.{tenant}.{kind}".into(),
            stream: None,
            create_stream: false,
        })
    );
    let c = parse(
        r#"
[[sinks]]
name = "n"
kind = "nats"
url = "nats://nats.internal:4222"
subject = "genesys.{tenant}.{family}"
stream = "GENESYS"
create_stream = true
"#,
    )
    .unwrap();
    assert_eq!(
        c.sinks[0].kind,
        SinkKind::Nats(NatsConfig {
            url: "nats://nats.internal:4222".into(),
            subject: "genesys.{tenant}.{family}".into(),
            stream: Some("GENESYS".into()),
            create_stream: true,
        })
    );
}

#[test]
fn nats_sink_errors_name_the_field() {
    let errs = errors(
        r#"
[[sinks]]
name = "n"
kind = "nats"
url = "http://x"
subject = "a.{topic}.>"
create_stream = "yes"
path = "/x"
[[sinks]]
name = "m"
kind = "nats"
subject = "{tenant}.events"
create_stream = true
[[sinks]]
name = "s"
kind = "stdout"
stream = "S"
"#,
    );
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "sinks[0].url",
        "sinks[0].subject",
        "sinks[0].create_stream",
        "sinks[0].path",
        "sinks[1].stream",
        "sinks[1].subject",
        "sinks[2].stream",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {errs:?}"
        );
    }
    let subject = errs.iter().find(|e| e.path == "sinks[0].subject").unwrap();
    assert!(subject.message.contains("{topic}"), "{subject:?}");
}

#[test]
fn servers_on_refused_addresses_are_field_errors_unless_allow_listed() {
    let errs =
        errors("[[sinks]]\nname = \"n\"\nkind = \"nats\"\nurl = \"nats://169.254.169.254:4222\"\n");
    assert!(
        errs.iter()
            .any(|e| e.path == "sinks[0].url" && e.message.contains("metadata")),
        "{errs:?}"
    );
    let errs = errors("[[sinks]]\nname = \"n\"\nkind = \"nats\"\n");
    assert!(
        errs.iter()
            .any(|e| e.path == "sinks[0].url" && e.message.contains("[egress] allow")),
        "the loopback default needs the allow-list: {errs:?}"
    );
}

#[tokio::test]
async fn a_server_the_policy_refuses_is_never_connected() {
    // A listener that would accept: the sink must not even try.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut sink = NatsSink::new(
        &format!("nats://localhost:{port}"),
        "switchboard.{tenant}.{kind}",
        None,
        false,
        &crate::egress::Egress::default(),
    );
    let e = sink
        .publish(&[event(
            "acme",
            1,
            "v2.users.u.presence",
            "v2.users.{id}.presence",
        )])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("[egress] allow"), "{e}");
    // A connection made before the error would be waiting in the listener's queue.
    use futures_util::FutureExt as _;
    assert!(
        listener.accept().now_or_never().is_none(),
        "no connection was made"
    );
}
