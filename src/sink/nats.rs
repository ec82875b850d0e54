//! The NATS JetStream sink: each envelope published to a subject rendered from a template, every publish
//! acknowledged by JetStream before the batch counts as written.
//!
//! Delivery is at least once: a batch that fails anywhere is published again whole by the worker. The
//! envelope's `id` is sent as `Nats-Msg-Id`, so JetStream drops the re-sent copies within the stream's
//! duplicate window.

use std::io;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};

use super::template::{Envelope, Template, envelope_id};
use super::{Delivery, Sink, SinkError};
use crate::config::nats_stream_subjects;

/// How long connecting (TCP, TLS and the NATS handshake) may take before the write fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long JetStream API requests and publish acknowledgements may take.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes a placeholder's value fit a subject: characters a token cannot hold (spaces, control characters,
/// wildcards) become `_`, and so do empty tokens.
fn subject_safe(value: &str, out: &mut String) {
    for (i, token) in value.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if token.is_empty() {
            out.push('_');
            continue;
        }
        out.extend(token.chars().map(|c| {
            if c.is_whitespace() || c.is_control() || c == '*' || c == '>' {
                '_'
            } else {
                c
            }
        }));
    }
}

/// Publishes every record to JetStream and waits for every acknowledgement. Connects on first use and again
/// after a failure.
pub struct NatsSink {
    url: String,
    template: Template,
    stream: Option<String>,
    /// The subjects of the stream to create when it is missing; `None` when it is not to be created.
    create_subjects: Option<String>,
    connect_timeout: Duration,
    ack_timeout: Duration,
    js: Option<jetstream::Context>,
}

impl NatsSink {
    /// A sink for a validated configuration; nothing is connected until the first write.
    pub fn new(url: &str, subject: &str, stream: Option<&str>, create_stream: bool) -> NatsSink {
        let create_subjects = create_stream
            .then(|| nats_stream_subjects(subject))
            .flatten()
            .or_else(|| create_stream.then(|| "switchboard.>".to_string()));
        NatsSink {
            url: url.to_string(),
            template: Template::parse(subject),
            stream: stream.map(str::to_string),
            create_subjects,
            connect_timeout: CONNECT_TIMEOUT,
            ack_timeout: ACK_TIMEOUT,
            js: None,
        }
    }

    /// Changes how long connecting may take (tests use a short one).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> NatsSink {
        self.connect_timeout = timeout;
        self
    }

    /// The subject `d` is published to.
    fn subject(&self, d: &Delivery) -> String {
        let envelope = if self.template.reads_envelope() {
            Envelope::read(&d.json)
        } else {
            Envelope::default()
        };
        self.template.render(d, &envelope, subject_safe)
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("NATS {}: {what}: {e}", self.url))
    }

    async fn context(&mut self) -> io::Result<jetstream::Context> {
        if let Some(js) = &self.js {
            return Ok(js.clone());
        }
        let options = async_nats::ConnectOptions::new()
            .name("switchboard")
            .connection_timeout(self.connect_timeout)
            .request_timeout(Some(self.ack_timeout));
        // The outer bound holds whatever the client does inside (name resolution, TLS, several addresses).
        let client = tokio::time::timeout(
            self.connect_timeout + Duration::from_secs(1),
            options.connect(self.url.as_str()),
        )
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "NATS {}: no connection within {:?}",
                    self.url, self.connect_timeout
                ),
            )
        })?
        .map_err(|e| self.error("cannot connect", e))?;
        let mut js = jetstream::new(client);
        js.set_timeout(self.ack_timeout);
        if let (Some(stream), Some(subjects)) = (&self.stream, &self.create_subjects) {
            js.get_or_create_stream(jetstream::stream::Config {
                name: stream.clone(),
                subjects: vec![subjects.clone()],
                ..Default::default()
            })
            .await
            .map_err(|e| self.error(&format!("cannot create stream {stream:?}"), e))?;
        }
        self.js = Some(js.clone());
        Ok(js)
    }

    async fn publish(&mut self, batch: &[Delivery]) -> io::Result<()> {
        let js = self.context().await?;
        // Every message is handed to the connection first (in order, without waiting), then the
        // acknowledgements are awaited in the same order.
        let mut acks = Vec::with_capacity(batch.len());
        for d in batch {
            let subject = self.subject(d);
            let mut message = PublishMessage::build().payload(d.json.clone());
            if let Some(id) = envelope_id(d.kind, &d.json) {
                message = message.message_id(id);
            }
            if let Some(stream) = &self.stream {
                message = message.expected_stream(stream);
            }
            let ack = js
                .send_publish(subject.clone(), message)
                .await
                .map_err(|e| self.error(&format!("publish to {subject}"), e))?;
            acks.push((subject, ack));
        }
        for (subject, ack) in acks {
            ack.await
                .map_err(|e| self.error(&format!("no acknowledgement for {subject}"), e))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Sink for NatsSink {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), SinkError> {
        let result = self.publish(batch).await;
        if result.is_err() {
            // The worker retries the whole batch; it does so on a new connection, made within the timeout.
            self.js = None;
        }
        Ok(result?)
    }

    async fn flush(&mut self) -> io::Result<()> {
        // `write` returns only once JetStream has acknowledged (stored) every record.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use futures_util::StreamExt;

    use super::*;
    use crate::config::{SinkConfig, SinkKind, check_nats, check_nats_subject};
    use crate::sink::RecordKind;

    fn nats_url() -> String {
        std::env::var("SWITCHBOARD_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
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
    async fn read_back(
        js: &jetstream::Context,
        stream: &str,
    ) -> (Vec<(String, Bytes, String)>, u64) {
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
            kind: SinkKind::Nats {
                url: nats_url(),
                subject: format!("{prefix}.{{tenant}}.{{kind}}.{{family}}"),
                stream: Some(stream.to_string()),
                create_stream: true,
            },
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
            SinkKind::Nats {
                url,
                subject,
                stream,
                create_stream,
            } => NatsSink::new(&url, &subject, stream.as_deref(), create_stream),
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
        let sink = NatsSink::new("nats://x", "sb.{tenant}.{kind}.{family}", None, false);
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
            tenant: Arc::from("t"),
            json: Bytes::from_static(br#"{"kind":"backfill","id":"ab","topicFamily":"a..b c.*"}"#),
        };
        assert_eq!(sink.subject(&odd), "sb.t.backfill.a._.b_c._");
        assert_eq!(envelope_id(odd.kind, &odd.json).as_deref(), Some("ab"));
    }
}
