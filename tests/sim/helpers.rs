//! One way to start a simulator and talk to it as a client would: real HTTP, real sockets.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::sim::{self, ClientSpec, SimConfig, SimHandle};
use tokio_tungstenite::tungstenite::Message;

pub const CLIENT: &str = "demo";
pub const SECRET: &str = "secret";
/// Long enough for anything a healthy simulator does on loopback; a test waiting this long has failed.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How often [`wait_until`] looks.
pub const POLL: Duration = Duration::from_millis(20);

pub struct TestSim {
    pub handle: SimHandle,
    pub http: reqwest::Client,
    pub base: String,
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestSim {
    /// A simulator on a free loopback port with the client `demo:secret` and no background workload.
    pub fn start(tune: impl FnOnce(&mut SimConfig)) -> TestSim {
        install_crypto();
        let mut config = SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            workers: 1,
            ..SimConfig::default()
        };
        config
            .clients
            .push(ClientSpec::parse_cli(&format!("{CLIENT}:{SECRET}")).unwrap());
        config.workload.rate_per_second = 0.0;
        tune(&mut config);
        let handle = sim::spawn(config).expect("simulator starts");
        let mut http = reqwest::Client::builder().timeout(PATIENCE);
        if let Some(cert) = &handle.cert_path {
            let pem = std::fs::read(cert).unwrap();
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        let base = handle.base_url.clone();
        TestSim {
            handle,
            http: http.build().unwrap(),
            base,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Client-credentials grant; the raw response.
    pub async fn token_response(&self, id: &str, secret: &str) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    }

    pub async fn token(&self) -> String {
        self.token_for(CLIENT, SECRET).await
    }

    pub async fn token_for(&self, id: &str, secret: &str) -> String {
        let res = self.token_response(id, secret).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn register_client(&self, spec: Value) {
        let res = self
            .http
            .post(self.url("/sim/v1/clients"))
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }

    pub async fn create_channel(&self, token: &str) -> Channel {
        let res = self
            .http
            .post(self.url("/api/v2/notifications/channels"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        Channel {
            id: v["id"].as_str().unwrap().into(),
            connect_uri: v["connectUri"].as_str().unwrap().into(),
            raw: v,
        }
    }

    pub async fn subscriptions(
        &self,
        token: &str,
        channel: &str,
        method: reqwest::Method,
        topics: &[&str],
        ignore_errors: bool,
    ) -> reqwest::Response {
        let body: Vec<Value> = topics.iter().map(|t| json!({ "id": t })).collect();
        let mut url = self.url(&format!(
            "/api/v2/notifications/channels/{channel}/subscriptions"
        ));
        if ignore_errors {
            url.push_str("?ignoreErrors=true");
        }
        self.http
            .request(method, url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn subscribe(&self, token: &str, channel: &str, topics: &[&str]) -> Value {
        let res = self
            .subscriptions(token, channel, reqwest::Method::PUT, topics, true)
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    pub async fn connect(&self, connect_uri: &str) -> Ws {
        let connector = self.handle.cert_path.as_ref().map(|cert| {
            let pem = std::fs::read(cert).unwrap();
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile_certs(&pem) {
                roots.add(c).unwrap();
            }
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            tokio_tungstenite::Connector::Rustls(Arc::new(config))
        });
        let (stream, _) =
            tokio_tungstenite::connect_async_tls_with_config(connect_uri, None, false, connector)
                .await
                .expect("socket connects");
        Ws { stream }
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.http.get(self.url(path)).send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    pub async fn stats(&self) -> Value {
        self.get_json("/sim/v1/stats").await
    }

    /// Every ledger entry, following the pages.
    pub async fn ledger(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0u64;
        loop {
            let page = self
                .get_json(&format!("/sim/v1/ledger?afterSeq={after}&{query}"))
                .await;
            out.extend(page["entries"].as_array().unwrap().iter().cloned());
            match page["nextAfterSeq"].as_u64() {
                Some(n) => after = n,
                None => return out,
            }
        }
    }

    pub async fn fault(&self, body: Value) -> Value {
        let res = self
            .http
            .post(self.url("/sim/v1/faults"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        res.json().await.unwrap()
    }

    pub async fn emit(&self, topic: &str, count: usize) -> Vec<u64> {
        let res = self
            .http
            .post(self.url("/sim/v1/events"))
            .json(&json!({"topic": topic, "count": count}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let v: Value = res.json().await.unwrap();
        v["seqs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect()
    }

    /// A control API call with a JSON body; the status and the JSON answer (`Null` when empty).
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    /// `POST /sim/v1/workload` with some fields, expecting 200.
    pub async fn set_workload(&self, changes: Value) {
        let (status, body) = self
            .control(reqwest::Method::POST, "/sim/v1/workload", changes)
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// A REST GET with a bearer token (`path` may carry a query, as a `nextUri` does).
    pub async fn rest_get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A REST GET expected to answer 200 with JSON.
    pub async fn rest_json(&self, token: &str, path: &str) -> Value {
        let res = self.rest_get(token, path).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Every entity of a listing, following `nextUri` from `path`; also the number of pages read.
    pub async fn all_pages(&self, token: &str, path: &str) -> (Vec<Value>, usize) {
        let mut entities = Vec::new();
        let mut pages = 0;
        let mut next = Some(path.to_string());
        while let Some(path) = next {
            let page = self.rest_json(token, &path).await;
            pages += 1;
            entities.extend(page["entities"].as_array().unwrap().iter().cloned());
            next = page["nextUri"].as_str().map(str::to_string);
            assert!(pages <= 10_000, "nextUri never ends");
        }
        (entities, pages)
    }

    /// The ledger's last seq now.
    pub async fn last_seq(&self) -> u64 {
        self.get_json("/sim/v1/ledger?limit=1").await["lastSeq"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Some user id of the org, for user topics.
    pub async fn a_user(&self) -> String {
        let org = self.get_json("/sim/v1/org").await;
        org["users"][0]["id"].as_str().unwrap().to_string()
    }
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.unwrap())
        .collect()
}

pub struct Channel {
    pub id: String,
    pub connect_uri: String,
    pub raw: Value,
}

/// A client socket.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What a socket read produced (the payloads show in assertion messages).
#[derive(Debug)]
#[allow(dead_code)]
pub enum Read {
    Json(Value),
    Text(String),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    Closed(Option<u16>),
}

impl Ws {
    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_ping(&mut self, payload: &[u8]) {
        self.stream
            .send(Message::Ping(payload.to_vec().into()))
            .await
            .unwrap();
    }

    /// The next frame, or `None` when nothing arrives within `within`.
    pub async fn read(&mut self, within: Duration) -> Option<Read> {
        let msg = tokio::time::timeout(within, self.stream.next())
            .await
            .ok()?;
        Some(match msg {
            None | Some(Err(_)) => Read::Closed(None),
            Some(Ok(Message::Text(t))) => match serde_json::from_str::<Value>(&t) {
                Ok(v) => Read::Json(v),
                Err(_) => Read::Text(t.to_string()),
            },
            Some(Ok(Message::Binary(b))) => Read::Binary(b.to_vec()),
            Some(Ok(Message::Pong(b))) => Read::Pong(b.to_vec()),
            Some(Ok(Message::Close(frame))) => Read::Closed(frame.map(|f| f.code.into())),
            Some(Ok(Message::Ping(_))) | Some(Ok(Message::Frame(_))) => {
                return Box::pin(self.read(within)).await;
            }
        })
    }

    /// Reads until a JSON frame matches, failing after `PATIENCE`. Returns the frames skipped too.
    pub async fn until_json(
        &mut self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> (Value, Vec<Value>) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Some(Read::Json(v)) if pred(&v) => return (v, skipped),
                Some(Read::Json(v)) => skipped.push(v),
                Some(Read::Closed(code)) => {
                    panic!("socket closed ({code:?}) while waiting for {what}")
                }
                Some(_) => {}
                None => panic!("no {what} within {PATIENCE:?}"),
            }
        }
    }

    /// Reads until the socket ends, failing after `PATIENCE`. Returns the JSON frames seen before.
    pub async fn until_closed(&mut self) -> (Option<u16>, Vec<Value>) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Some(Read::Closed(code)) => return (code, seen),
                Some(Read::Json(v)) => seen.push(v),
                Some(_) => {}
                None => panic!("socket still open after {PATIENCE:?}"),
            }
        }
    }
}

pub fn is_event(v: &Value) -> bool {
    v["topicName"]
        .as_str()
        .is_some_and(|t| t.starts_with("v2.") && !t.starts_with("v2.system."))
}

pub fn is_heartbeat(v: &Value) -> bool {
    v["topicName"] == "channel.metadata" && v["eventBody"]["message"] == "WebSocket Heartbeat"
}

/// The engine tests' kit's `wait_until` (one definition, included by path in `main.rs`).
pub use crate::wait::wait_until;
