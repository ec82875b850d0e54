//! The NATS JetStream sink: each envelope published to a subject rendered from a template, every publish
//! acknowledged by JetStream before the batch counts as written.
//!
//! Delivery is at least once: a batch that fails anywhere is published again whole by the worker. The
//! envelope's `id` is sent as `Nats-Msg-Id`, so JetStream drops the re-sent copies within the stream's
//! duplicate window.

use std::io;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};

use super::config::nats_stream_subjects;
use crate::egress::Egress;
use crate::settings::redact_url;
use crate::sink::template::{Envelope, Template, envelope_id};
use crate::sink::{Delivery, Sink, SinkError};

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
    /// Where the sink may connect.
    egress: Egress,
}

impl NatsSink {
    /// A sink for a validated configuration; nothing is connected until the first write.
    pub fn new(
        url: &str,
        subject: &str,
        stream: Option<&str>,
        create_stream: bool,
        egress: &Egress,
    ) -> NatsSink {
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
            egress: egress.clone(),
        }
    }

    /// The servers to connect to, each checked by the outbound address policy: a plain `nats://` server is
    /// connected at the very address checked; a TLS one by its name (its certificate names it), checked just
    /// before. Servers the cluster announces are ignored (see `context`), so none is reached unchecked.
    async fn servers(&self) -> io::Result<Vec<async_nats::ServerAddr>> {
        let mut servers = Vec::new();
        let mut refusal = None;
        for one in self.url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let with_scheme = if one.contains("://") {
                one.to_string()
            } else {
                format!("nats://{one}")
            };
            let mut url =
                reqwest::Url::parse(&with_scheme).map_err(|e| self.error("not a URL", e))?;
            let host = url.host_str().unwrap_or_default().to_string();
            let port = url.port().unwrap_or(4222);
            match self.egress.resolve(&host, port).await {
                Ok(addrs) => {
                    if url.scheme() == "nats"
                        && let Some(addr) = addrs.first()
                    {
                        let _ = url.set_ip_host(addr.ip());
                        let _ = url.set_port(Some(addr.port()));
                    }
                    let server: async_nats::ServerAddr = url
                        .as_str()
                        .parse()
                        .map_err(|e| self.error("not a server address", e))?;
                    servers.push(server);
                }
                Err(e) => {
                    refusal.get_or_insert(e);
                }
            }
        }
        match (servers.is_empty(), refusal) {
            (false, _) => Ok(servers),
            (true, Some(e)) => Err(self.error("cannot connect", e)),
            (true, None) => Err(self.error("cannot connect", "no server")),
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
        io::Error::other(format!("NATS {}: {what}: {e}", redact_url(&self.url)))
    }

    async fn context(&mut self) -> io::Result<jetstream::Context> {
        if let Some(js) = &self.js {
            return Ok(js.clone());
        }
        let servers = self.servers().await?;
        let options = async_nats::ConnectOptions::new()
            .name("switchboard")
            // Servers a cluster announces were never checked by the address policy.
            .ignore_discovered_servers()
            .connection_timeout(self.connect_timeout)
            .request_timeout(Some(self.ack_timeout));
        // The outer bound holds whatever the client does inside (name resolution, TLS, several addresses).
        let client = tokio::time::timeout(
            self.connect_timeout + Duration::from_secs(1),
            options.connect(servers),
        )
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "NATS {}: no connection within {:?}",
                    redact_url(&self.url),
                    self.connect_timeout
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
#[path = "tests.rs"]
mod tests;
