//! The webhook sink: each envelope (or each batch, as a JSON array) POSTed to a URL, signed per the Standard
//! Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
//!
//! Before each connection the host is resolved and the address checked by the outbound address policy
//! ([`crate::egress`]): special-purpose addresses are refused unless the deployment's `[egress] allow` or the
//! sink's own `allow` names them (or the host).
//! The connection goes to the very address checked (the client is pinned to it), so a second resolution
//! cannot lead it elsewhere.
//!
//! Timeouts, connection errors, 408, 429 and 5xx are passing failures: the worker retries (after the
//! `Retry-After` the receiver asked for, when it did). Other answers outside 2xx reject the record for good: it
//! goes to the dead-letter store. Delivery is at least once; the `webhook-id` is stable across retries so
//! receivers can drop the copies.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};

use super::config::webhook_key;
use crate::egress::{Egress, EgressError};
use crate::settings::Secret;
use crate::settings::redacted;
use crate::sink::{Delivery, Sink, SinkError};

/// The longest `Retry-After` honoured before the worker's own backoff takes over.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The `webhook-signature` value of a message: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The outcome of one POST.
enum Outcome {
    Delivered,
    Retry(io::Error),
    Reject(String),
}

/// How far a batch got before a passing failure; the worker hands the same batch again.
struct Progress {
    first: Bytes,
    len: usize,
    done: usize,
    rejected: Vec<usize>,
    reason: String,
}

/// POSTs records to one URL, signed.
pub struct WebhookSink {
    url: Url,
    key: Vec<u8>,
    batch: bool,
    timeout: Duration,
    /// The deployment's outbound address policy with the sink's own `allow` added.
    policy: Egress,
    /// The client pinned to the address last checked.
    client: Option<(SocketAddr, reqwest::Client)>,
    progress: Option<Progress>,
}

impl WebhookSink {
    /// A sink for a validated configuration; nothing is connected until the first write.
    pub fn new(
        url: &str,
        secret: &Secret,
        batch: bool,
        timeout: Duration,
        allow: &[String],
        egress: &Egress,
    ) -> Result<WebhookSink, String> {
        let url = Url::parse(url.trim()).map_err(|e| format!("webhook URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("webhook URL: an http:// or https:// URL with a host is required".into());
        }
        let key = webhook_key(secret).map_err(|e| format!("webhook secret: {e}"))?;
        let policy = egress.with(allow).map_err(|e| format!("allow: {e}"))?;
        Ok(WebhookSink {
            url,
            key,
            batch,
            timeout,
            policy,
            client: None,
            progress: None,
        })
    }

    fn host(&self) -> String {
        self.url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    }

    /// Whether `ip` may be connected to whatever host it was reached by.
    #[cfg(test)]
    fn allowed(&self, ip: std::net::IpAddr) -> bool {
        self.policy.check("", ip).is_ok()
    }

    /// Resolves the host and picks the first address the policy permits.
    async fn resolve(&self) -> Result<SocketAddr, Outcome> {
        let host = self.host();
        let port = self.url.port_or_known_default().unwrap_or(80);
        match self.policy.resolve(&host, port).await {
            Ok(addrs) => addrs.first().copied().ok_or_else(|| {
                Outcome::Retry(io::Error::other(format!(
                    "webhook {}: {host} resolves to no address",
                    redacted(&self.url)
                )))
            }),
            Err(e @ EgressError::Refused { .. }) => Err(Outcome::Reject(format!(
                "webhook {}: {e}",
                redacted(&self.url)
            ))),
            Err(e) => Err(Outcome::Retry(io::Error::other(format!(
                "webhook {}: {e}",
                redacted(&self.url)
            )))),
        }
    }

    /// The client pinned to `addr`, built when the address changed.
    fn client(&mut self, addr: SocketAddr) -> Result<reqwest::Client, Outcome> {
        if let Some((pinned, client)) = &self.client
            && *pinned == addr
        {
            return Ok(client.clone());
        }
        // The public roots' settings are made once for the process; reqwest takes its own copy.
        let roots = crate::tls::public_roots().map_err(|e| Outcome::Retry(io::Error::other(e)))?;
        let tls = rustls::ClientConfig::clone(&roots);
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            // A redirect could lead anywhere, past the address check.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(2);
        if self.host().parse::<IpAddr>().is_err() {
            builder = builder.resolve(&self.host(), addr);
        }
        let client = builder.build().map_err(|e| {
            Outcome::Retry(io::Error::other(format!(
                "webhook {}: cannot build the HTTP client: {e}",
                redacted(&self.url)
            )))
        })?;
        self.client = Some((addr, client.clone()));
        Ok(client)
    }

    async fn post(&mut self, id: &str, body: Bytes) -> Outcome {
        let addr = match self.resolve().await {
            Ok(a) => a,
            Err(o) => return o,
        };
        let client = match self.client(addr) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&self.key, id, timestamp, &body);
        let sent = client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                // The next attempt resolves and connects again.
                self.client = None;
                let what = if e.is_timeout() {
                    format!("no answer within {:?}", self.timeout)
                } else {
                    format!("cannot send: {e}")
                };
                return Outcome::Retry(io::Error::other(format!(
                    "webhook {}: {what}",
                    redacted(&self.url)
                )));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Delivered;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        let what = format!(
            "webhook {}: HTTP {status}: {}",
            redacted(&self.url),
            text.trim()
        );
        if status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
        {
            if let Some(wait) = retry_after {
                tokio::time::sleep(wait).await;
            }
            Outcome::Retry(io::Error::other(what))
        } else {
            Outcome::Reject(what)
        }
    }
}

/// The `webhook-id` of a record: the envelope's `id`, or a digest of the record when it has none.
fn record_id(d: &Delivery) -> String {
    match crate::sink::template::envelope_id(d.kind, &d.json) {
        Some(id) if !id.is_empty() => id.into_owned(),
        _ => {
            let digest = Sha256::digest(&d.json);
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("sb_{hex}")
        }
    }
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.batch {
            let mut body =
                Vec::with_capacity(batch.iter().map(|d| d.json.len() + 1).sum::<usize>() + 2);
            body.push(b'[');
            for (i, d) in batch.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&d.json);
            }
            body.push(b']');
            let id = format!("{}+{}", record_id(&batch[0]), batch.len());
            return match self.post(&id, Bytes::from(body)).await {
                Outcome::Delivered => Ok(()),
                Outcome::Retry(e) => Err(SinkError::Retry(e)),
                Outcome::Reject(reason) => Err(SinkError::Reject {
                    records: (0..batch.len()).collect(),
                    reason,
                }),
            };
        }
        let mut p = match self.progress.take() {
            Some(p) if p.len == batch.len() && p.first == batch[0].json => p,
            _ => Progress {
                first: batch[0].json.clone(),
                len: batch.len(),
                done: 0,
                rejected: Vec::new(),
                reason: String::new(),
            },
        };
        while p.done < batch.len() {
            let d = &batch[p.done];
            match self.post(&record_id(d), d.json.clone()).await {
                Outcome::Delivered => {}
                Outcome::Reject(reason) => {
                    p.rejected.push(p.done);
                    p.reason = reason;
                }
                Outcome::Retry(e) => {
                    self.progress = Some(p);
                    return Err(SinkError::Retry(e));
                }
            }
            p.done += 1;
        }
        if p.rejected.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Reject {
                records: p.rejected,
                reason: p.reason,
            })
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        // `write` returns only once the receiver has answered every POST.
        Ok(())
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
