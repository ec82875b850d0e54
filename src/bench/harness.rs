//! What the engine benchmarks share: a simulator in a child process (so that its CPU time and memory are its
//! own), and an engine in this process configured against it, writing to a file sink.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::config::Config;
use crate::engine::EngineHandle;

/// A simulator child process and a client of its control API.
pub struct SimChild {
    /// Held so that the simulator is killed when the bench drops it (`kill_on_drop`).
    child: tokio::process::Child,
    pub base: String,
    http: reqwest::Client,
}

impl SimChild {
    /// The simulator's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Starts `switchboard sim` with `users` users, no workload, and `extra` arguments.
    pub async fn start(users: usize, extra: &[&str]) -> anyhow::Result<SimChild> {
        SimChild::start_with_ledger(users, 200_000, extra).await
    }

    /// A simulator whose ledger keeps the last `ledger_capacity` entries: a run that reads back every event
    /// it sent needs room for all of them.
    pub async fn start_with_ledger(
        users: usize,
        ledger_capacity: usize,
        extra: &[&str],
    ) -> anyhow::Result<SimChild> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--rate",
                "0",
                "--users",
                &users.to_string(),
            ])
            .args(["--ledger-capacity", &ledger_capacity.to_string()])
            .args(["--rate-limit", "100000"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
        let line = lines
            .next_line()
            .await?
            .context("the simulator printed nothing")?;
        let base = line
            .strip_prefix("sim listening on ")
            .context("unexpected first line")?
            .to_string();
        Ok(SimChild {
            child,
            base,
            http: reqwest::Client::new(),
        })
    }

    /// [`Self::start`] serving TLS (`sim --tls`) with a certificate written to `cert`, which this client
    /// trusts (and an engine trusts through a tenant's `ca_file`).
    pub async fn start_tls(users: usize, cert: &Path, extra: &[&str]) -> anyhow::Result<SimChild> {
        let path = cert.display().to_string();
        let mut args = vec!["--tls", "--tls-cert", &path];
        args.extend_from_slice(extra);
        let mut sim = SimChild::start(users, &args).await?;
        let pem = std::fs::read(cert).context("the simulator's certificate")?;
        sim.http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
            .build()?;
        Ok(sim)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?;
        if !res.status().is_success() {
            bail!(
                "POST {path}: {} {}",
                res.status(),
                res.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Registers OAuth clients `bench-0` … `bench-{clients-1}` (secret `s`).
    pub async fn register(&self, clients: usize) -> anyhow::Result<()> {
        for c in 0..clients {
            self.post(
                "/sim/v1/clients",
                json!({"clientId": format!("bench-{c}"), "clientSecret": "s"}),
            )
            .await?;
        }
        Ok(())
    }

    /// The topics of every user of the org for each of `families` (`presence`, `routingStatus`, …).
    pub async fn user_topics(&self, families: &[&str]) -> anyhow::Result<Vec<String>> {
        let mut topics = Vec::new();
        for family in families {
            let org = self.get(&format!("/sim/v1/org?family={family}")).await?;
            topics.extend(
                org["topics"]
                    .as_array()
                    .context("topics")?
                    .iter()
                    .filter_map(|t| t.as_str().map(String::from)),
            );
        }
        Ok(topics)
    }

    /// Sets the workload: `rate` events per second of the user families, padded to about `event_size`.
    pub async fn workload(&self, rate: f64, event_size: usize) -> anyhow::Result<()> {
        let mut body = json!({"ratePerSecond": rate});
        if rate > 0.0 {
            body["families"] = json!(["presence", "routingStatus"]);
            body["eventSizeBytes"] = json!(event_size);
        }
        self.post("/sim/v1/workload", body).await
    }
}

/// Where one benchmark's engine keeps its store and sink file; removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-bench-{label}-{}",
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    /// The file sink's file.
    pub fn sink(&self) -> PathBuf {
        self.0.join("events.jsonl")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An engine configuration: tenant `bench` following `topics` with clients `bench-0…`, every record routed to
/// a file sink in `dir`. `engine` is the body of the `[engine]` table (empty for the defaults).
pub fn engine_config(
    sim: &SimChild,
    dir: &Path,
    topics: &[String],
    clients: usize,
    engine: &str,
) -> anyhow::Result<Config> {
    engine_config_with(sim, dir, topics, clients, engine, "")
}

/// [`engine_config`] with `extra` TOML appended (more sinks and routes).
pub fn engine_config_with(
    sim: &SimChild,
    dir: &Path,
    topics: &[String],
    clients: usize,
    engine: &str,
    extra: &str,
) -> anyhow::Result<Config> {
    let tenant = BenchTenant {
        id: "bench".into(),
        topics: topics.to_vec(),
        clients: (0..clients).map(|c| format!("bench-{c}")).collect(),
        ca_file: None,
    };
    engine_config_tenants(sim, dir, &[tenant], engine, extra)
}

/// One tenant of a bench configuration: what it follows, with which of the simulator's clients.
pub struct BenchTenant {
    pub id: String,
    pub topics: Vec<String>,
    pub clients: Vec<String>,
    /// The simulator's certificate, when it serves TLS (`sim --tls`).
    pub ca_file: Option<PathBuf>,
}

/// An engine configuration with `tenants` on the simulator, every record routed to a file sink in `dir`, and
/// `extra` TOML appended.
pub fn engine_config_tenants(
    sim: &SimChild,
    dir: &Path,
    tenants: &[BenchTenant],
    engine: &str,
    extra: &str,
) -> anyhow::Result<Config> {
    let mut text = format!(
        "[engine]\n{engine}\n\n[store]\npath = \"{}\"\n\n[egress]\nallow = [\"127.0.0.1\"]\n",
        dir.join("store.db").display(),
    );
    for tenant in tenants {
        text.push_str(&format!(
            "\n[[tenants]]\nid = \"{}\"\napi_base = \"{b}\"\nlogin_base = \"{b}\"\ntopics = {}\n",
            tenant.id,
            serde_json::to_string(&tenant.topics)?,
            b = sim.base
        ));
        if let Some(ca) = &tenant.ca_file {
            text.push_str(&format!("ca_file = {}\n", serde_json::to_string(ca)?));
        }
        for client in &tenant.clients {
            text.push_str(&format!(
                "[[tenants.clients]]\nid = \"{client}\"\nsecret = \"s\"\n"
            ));
        }
    }
    text.push_str(&format!(
        "\n[[sinks]]\nname = \"file\"\nkind = \"file\"\npath = \"{}\"\nmax_bytes = 1073741824\nmax_files = 1\n\n[[routes]]\nsinks = [\"file\"]\n",
        dir.join("events.jsonl").display()
    ));
    text.push_str(extra);
    Config::from_toml_str(&text, dir).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Waits until `n` channels are live; returns how long that took.
pub async fn wait_live(
    engine: &EngineHandle,
    n: usize,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let status = engine.status().await?;
        let live = status
            .tenants
            .iter()
            .flat_map(|t| &t.channels)
            .filter(|c| matches!(c.lifecycle, crate::channel::Lifecycle::Live { .. }))
            .count();
        if live == n {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            bail!("only {live} of {n} channels live after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records delivered by all of the engine's sinks so far.
pub fn delivered(engine: &EngineHandle) -> u64 {
    engine
        .sinks
        .iter()
        .map(|(_, s)| s.sent.load(std::sync::atomic::Ordering::Relaxed))
        .sum()
}
