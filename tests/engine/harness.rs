//! A simulator, an engine configured against it, and the oracle: the sink's output compared with the ledger.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard::channel::Lifecycle;
use switchboard::config::Config;
use switchboard::engine::{self, EngineHandle};
pub use switchboard::sim::state::{FaultKind, FaultRequest, FaultResult, MalformedVariant};
pub use switchboard::sim::stats::StatsSnapshot as SimStats;
use switchboard::sim::{self, ClientSpec, SimConfig, SimHandle};
use switchboard::supervisor::EngineStatus;

pub use crate::kit::*;

pub const PATIENCE: Duration = Duration::from_secs(30);
/// How often [`wait_until`] looks.
pub const POLL: Duration = Duration::from_millis(50);

/// A fault of `kind` with nothing else set: scope and parameters are filled in with struct update syntax,
/// `FaultRequest { channel: Some(id), ..fault(FaultKind::Stall) }`.
pub fn fault(kind: FaultKind) -> FaultRequest {
    FaultRequest {
        kind,
        channel: None,
        client: None,
        duration_seconds: None,
        grace_seconds: None,
        latency_ms: None,
        status: None,
        variant: None,
        path: None,
        method: None,
        count: None,
        close_code: None,
    }
}

pub struct Sim {
    pub handle: SimHandle,
    pub http: reqwest::Client,
}

impl Sim {
    pub fn start(tune: impl FnOnce(&mut SimConfig)) -> Sim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "off".into()),
            )
            .with_test_writer()
            .try_init();
        let mut config = SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            workers: 1,
            ..SimConfig::default()
        };
        config
            .clients
            .push(ClientSpec::parse_cli("demo:secret").unwrap());
        config.workload.rate_per_second = 0.0;
        config.workload.seed = Some(7);
        tune(&mut config);
        let handle = sim::spawn(config).unwrap();
        let mut http = reqwest::Client::builder();
        if let Some(cert) = &handle.cert_path {
            let pem = std::fs::read(cert).unwrap();
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        Sim {
            handle,
            http: http.build().unwrap(),
        }
    }

    pub fn base(&self) -> &str {
        &self.handle.base_url
    }

    pub async fn get(&self, path: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.base()))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "{path}: {} {}",
            res.status(),
            res.text().await.unwrap()
        );
        res.json().await.unwrap_or(Value::Null)
    }

    /// The simulator's counters, typed.
    pub async fn stats(&self) -> SimStats {
        serde_json::from_value(self.stats_json().await).unwrap()
    }

    /// The simulator's counters as served, for a test that reads a counter by name or prints them.
    pub async fn stats_json(&self) -> Value {
        self.get("/sim/v1/stats").await
    }

    /// Topics of the org for the families (exact names).
    pub async fn topics(&self, families: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for f in families {
            let org = self.get(&format!("/sim/v1/org?family={f}")).await;
            out.extend(
                org["topics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string()),
            );
        }
        out
    }

    pub async fn workload(&self, body: Value) {
        self.post("/sim/v1/workload", body).await;
    }

    /// Injects a fault, built with the simulator's own request type.
    pub async fn inject(&self, fault: FaultRequest) -> FaultResult {
        let body = serde_json::to_value(&fault).unwrap();
        serde_json::from_value(self.post("/sim/v1/faults", body).await).unwrap()
    }

    /// Every ledger entry.
    pub async fn ledger(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(&format!("/sim/v1/ledger?afterSeq={after}&limit=10000"))
                .await;
            out.extend(page["entries"].as_array().unwrap().iter().cloned());
            match page["nextAfterSeq"].as_u64() {
                Some(n) => after = n,
                None => return out,
            }
        }
    }
}

/// A temp dir for a test's store and sink files, removed when the last clone is dropped.
#[derive(Clone)]
pub struct Scratch(pub Arc<ScratchDir>);

pub struct ScratchDir(PathBuf);

impl std::ops::Deref for ScratchDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("sb-engine-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(Arc::new(ScratchDir(dir)))
    }
    pub fn sink(&self) -> PathBuf {
        self.0.join("events.jsonl")
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn start(config: Config) -> EngineHandle {
    engine::start(config).expect("engine starts")
}

pub fn live_channels(status: &EngineStatus, tenant: &str) -> usize {
    status
        .tenants
        .iter()
        .filter(|t| t.id == tenant)
        .flat_map(|t| &t.channels)
        .filter(|c| matches!(c.lifecycle, Lifecycle::Live { .. }))
        .count()
}

pub async fn wait_live(engine: &EngineHandle, tenant: &str, n: usize) {
    wait_until(&format!("{n} live channels"), || async {
        live_channels(&engine.status().await.unwrap(), tenant) == n
    })
    .await;
}

/// What the file sink holds.
#[derive(Debug, Default)]
pub struct SinkOutput {
    /// Events by correlation id (with how many times each was delivered).
    pub events: BTreeMap<String, usize>,
    pub gaps: Vec<Gap>,
    /// `backfill` records, whole.
    pub backfills: Vec<Value>,
    pub lines: usize,
}

#[derive(Debug, Clone)]
pub struct Gap {
    pub topics: BTreeSet<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
}

pub fn read_sink(scratch: &Scratch) -> SinkOutput {
    let mut out = SinkOutput::default();
    let Ok(text) = std::fs::read_to_string(scratch.sink()) else {
        return out;
    };
    // Read while the sink writes: a last line without its newline is still being written, not corrupt.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    for line in complete.lines() {
        out.lines += 1;
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("sink line is not JSON ({e}): {line}"));
        match v["kind"].as_str() {
            Some("event") => {
                *out.events
                    .entry(v["correlationId"].as_str().unwrap().to_string())
                    .or_default() += 1
            }
            Some("gap") => out.gaps.push(Gap {
                topics: v["topics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_ascii_lowercase())
                    .collect(),
                from: v["from"].as_str().unwrap().parse().unwrap(),
                to: v["to"].as_str().unwrap().parse().unwrap(),
                reason: v["reason"].as_str().unwrap().to_string(),
            }),
            Some("backfill") => out.backfills.push(v),
            other => panic!("unexpected kind {other:?}"),
        }
    }
    out
}

/// The verdict of the oracle over the followed topics.
#[derive(Debug, Default)]
pub struct Verdict {
    pub happened: usize,
    pub delivered_once: usize,
    pub duplicated: Vec<String>,
    pub in_gap: usize,
    /// Events neither delivered nor inside a gap: silent losses.
    pub lost: Vec<Value>,
    pub gaps: usize,
}

/// Compares the sink with the ledger: every event on a followed topic is in the sink exactly once or inside
/// a gap for that topic.
pub async fn oracle(sim: &Sim, scratch: &Scratch, followed: &[String]) -> Verdict {
    let followed: BTreeSet<String> = followed.iter().map(|t| t.to_ascii_lowercase()).collect();
    let out = read_sink(scratch);
    let mut v = Verdict {
        gaps: out.gaps.len(),
        ..Default::default()
    };
    for e in sim.ledger().await {
        let topic = e["topic"].as_str().unwrap().to_ascii_lowercase();
        if !followed.contains(&topic) {
            continue;
        }
        v.happened += 1;
        let id = e["correlationId"].as_str().unwrap();
        match out.events.get(id) {
            Some(1) => v.delivered_once += 1,
            Some(_) => v.duplicated.push(id.to_string()),
            None => {
                let at: DateTime<Utc> = e["at"].as_str().unwrap().parse().unwrap();
                if out
                    .gaps
                    .iter()
                    .any(|g| g.topics.contains(&topic) && g.from <= at && at <= g.to)
                {
                    v.in_gap += 1;
                } else {
                    v.lost.push(e.clone());
                }
            }
        }
    }
    v
}

/// Waits until the sink holds every followed event the ledger has (or it is covered by a gap).
pub async fn settle(sim: &Sim, scratch: &Scratch, followed: &[String]) -> Verdict {
    let mut last = Verdict::default();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        last = oracle(sim, scratch, followed).await;
        if last.lost.is_empty() {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last
}

pub fn assert_complete(v: &Verdict) {
    assert!(
        v.lost.is_empty(),
        "{} of {} events silently lost, e.g. {:?}",
        v.lost.len(),
        v.happened,
        v.lost.first()
    );
    assert!(
        v.duplicated.is_empty(),
        "{} events delivered more than once",
        v.duplicated.len()
    );
}

pub fn json_rate(rate: f64, families: &[&str]) -> Value {
    json!({"ratePerSecond": rate, "families": families})
}

/// Per key, the ids in the order they were first seen (a re-sent batch's later copies are left out): how the
/// keyed sinks' order is compared with the file sink's routing order.
pub fn first_copies_by_key<'a>(
    records: impl IntoIterator<Item = &'a (String, String)>,
) -> BTreeMap<String, Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, id) in records {
        if seen.insert(id.clone()) {
            out.entry(key.clone()).or_default().push(id.clone());
        }
    }
    out
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The families of the simulated users' topics that most scenarios follow.
pub const USER_FAMILIES: [&str; 2] = ["presence", "routingStatus"];

/// With the user families' events flowing at 300/s, the platform announces `socket_closing` (1 s of grace);
/// returns once the channel has opened its second socket.
pub async fn socket_closing_mid_flow(sim: &Sim, scratch: &Scratch) {
    sim.workload(json_rate(300.0, &USER_FAMILIES)).await;
    wait_until("events flowing", || async {
        read_sink(scratch).events.len() > 50
    })
    .await;
    sim.inject(FaultRequest {
        grace_seconds: Some(1.0),
        ..fault(FaultKind::SocketClosing)
    })
    .await;
    wait_until("a second socket", || async {
        sim.stats().await.sockets_opened == 2
    })
    .await;
}

/// Lets the org produce `n` more events at `rate` (of the user families), then pauses it.
pub async fn produce(sim: &Sim, rate: f64, n: u64) {
    let before = sim.stats().await.events_generated;
    sim.workload(json_rate(rate, &USER_FAMILIES)).await;
    wait_until(&format!("{n} events"), || async {
        sim.stats().await.events_generated >= before + n
    })
    .await;
    sim.workload(serde_json::json!({"ratePerSecond": 0.0}))
        .await;
}
