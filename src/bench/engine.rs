//! `switchboard bench engine`: the engine's cost, measured against a simulator in a child process.
//!
//! - throughput: events per CPU-second of this process (the engine) from simulator socket to file sink, for
//!   events of about `--event-size` bytes; with the `alloc-count` feature, heap allocations per event too;
//! - scale: resident memory per idle channel, and CPU while idle, at each `--channels` count.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use super::proc;
use crate::config::Config;

/// Options of `switchboard bench engine`.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineBenchArgs {
    /// Events per second asked of the simulator in the throughput run.
    #[arg(long, default_value_t = 40_000.0)]
    pub rate: f64,
    /// Length of the throughput run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Approximate size of each event frame.
    #[arg(long, default_value_t = 1024)]
    pub event_size: usize,
    /// Channel counts for the idle-memory runs (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000usize, 10000])]
    pub channels: Vec<usize>,
}

struct SimChild {
    /// Held so that the simulator is killed when the bench drops it (`kill_on_drop`).
    _child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

impl SimChild {
    async fn start(users: usize) -> anyhow::Result<SimChild> {
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
            .args(["--ledger-capacity", "100000", "--rate-limit", "100000"])
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
            _child: child,
            base,
            http: reqwest::Client::new(),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        self.http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

fn engine_config(
    sim: &SimChild,
    dir: &std::path::Path,
    topics: &[String],
    clients: usize,
) -> anyhow::Result<Config> {
    let mut text = format!(
        "[store]\npath = \"{}\"\n\n[[tenants]]\nid = \"bench\"\napi_base = \"{b}\"\nlogin_base = \"{b}\"\ntopics = {}\n",
        dir.join("store.db").display(),
        serde_json::to_string(topics)?,
        b = sim.base
    );
    for c in 0..clients {
        text.push_str(&format!(
            "[[tenants.clients]]\nid = \"bench-{c}\"\nsecret = \"s\"\n"
        ));
    }
    text.push_str(&format!(
        "\n[[sinks]]\nname = \"file\"\nkind = \"file\"\npath = \"{}\"\nmax_bytes = 1073741824\nmax_files = 1\n\n[[routes]]\nsinks = [\"file\"]\n",
        dir.join("events.jsonl").display()
    ));
    Config::from_toml_str(&text, dir).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn register(sim: &SimChild, clients: usize) -> anyhow::Result<()> {
    for c in 0..clients {
        sim.post(
            "/sim/v1/clients",
            json!({"clientId": format!("bench-{c}"), "clientSecret": "s"}),
        )
        .await?;
    }
    Ok(())
}

async fn wait_live(
    engine: &crate::engine::EngineHandle,
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
            .filter(|c| c.lifecycle.name() == "live")
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

pub async fn run(args: EngineBenchArgs) -> anyhow::Result<()> {
    proc::raise_fd_limit();
    let pid = std::process::id();
    let scratch = std::env::temp_dir().join(format!("switchboard-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch)?;
    println!("| measure | value |");
    println!("|---|---|");

    // Throughput: one channel per 500 users' presence + routing status.
    {
        let users = 2000;
        let sim = SimChild::start(users).await?;
        register(&sim, 1).await?;
        let org = sim.get("/sim/v1/org?family=presence").await?;
        let mut topics: Vec<String> = org["topics"]
            .as_array()
            .context("topics")?
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        let org = sim.get("/sim/v1/org?family=routingStatus").await?;
        topics.extend(
            org["topics"]
                .as_array()
                .context("topics")?
                .iter()
                .filter_map(|t| t.as_str().map(String::from)),
        );
        let dir = scratch.join("throughput");
        std::fs::create_dir_all(&dir)?;
        let engine = crate::engine::start(engine_config(&sim, &dir, &topics, 1)?)?;
        wait_live(&engine, 4, Duration::from_secs(60)).await?;
        let sent0: u64 = engine
            .sinks
            .iter()
            .map(|(_, s)| s.sent.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        let cpu0 = proc::cpu_time(pid).unwrap_or_default();
        let allocs0 = crate::bench::alloc::count();
        sim.post("/sim/v1/workload", json!({"ratePerSecond": args.rate, "families": ["presence", "routingStatus"], "eventSizeBytes": args.event_size})).await?;
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        sim.post("/sim/v1/workload", json!({"ratePerSecond": 0.0}))
            .await?;
        // Let what is in flight reach the file.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = proc::cpu_time(pid)
            .unwrap_or_default()
            .saturating_sub(cpu0)
            .as_secs_f64();
        let allocs = crate::bench::alloc::count().saturating_sub(allocs0);
        let sent: u64 = engine
            .sinks
            .iter()
            .map(|(_, s)| s.sent.load(std::sync::atomic::Ordering::Relaxed))
            .sum::<u64>()
            - sent0;
        println!(
            "| events delivered to the file sink ({} B frames) | {:.0} /s |",
            args.event_size,
            sent as f64 / elapsed
        );
        println!(
            "| engine CPU while delivering | {:.0} % of a core |",
            cpu / elapsed * 100.0
        );
        println!(
            "| events per engine CPU-second | {:.0} |",
            sent as f64 / cpu.max(1e-9)
        );
        if crate::bench::alloc::enabled() {
            println!(
                "| heap allocations per event (whole process) | {:.2} |",
                allocs as f64 / sent.max(1) as f64
            );
        }
        engine.stop();
    }

    for &n in &args.channels {
        let sim = SimChild::start(n).await?;
        let per_client = 19;
        let clients = n.div_ceil(per_client);
        register(&sim, clients).await?;
        let org = sim.get("/sim/v1/org?family=presence").await?;
        let topics: Vec<String> = org["topics"]
            .as_array()
            .context("topics")?
            .iter()
            .take(n * 1000)
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        // One topic per channel: a config with a tiny quota spreads them one per channel.
        let dir = scratch.join(format!("idle-{n}"));
        std::fs::create_dir_all(&dir)?;
        let mut config = engine_config(&sim, &dir, &topics, clients)?;
        config.engine.topics_per_channel = 1;
        let rss0 = proc::rss_bytes(pid).unwrap_or(0);
        let started = Instant::now();
        let engine = crate::engine::start(config)?;
        let took = wait_live(&engine, n, Duration::from_secs(600)).await?;
        // The engine trims its heap 10 s after it starts (see `heap`): measure after that.
        tokio::time::sleep(
            Duration::from_secs(12)
                .saturating_sub(started.elapsed())
                .max(Duration::from_secs(2)),
        )
        .await;
        let rss = proc::rss_bytes(pid).unwrap_or(0).saturating_sub(rss0);
        let cpu0 = proc::cpu_time(pid).unwrap_or_default();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let idle_cpu = proc::cpu_time(pid)
            .unwrap_or_default()
            .saturating_sub(cpu0)
            .as_secs_f64()
            / 10.0;
        println!(
            "| {n} idle channels: time to all live | {:.1} s |",
            took.as_secs_f64()
        );
        println!(
            "| {n} idle channels: engine RSS added | {:.0} MiB ({:.1} KiB per channel) |",
            rss as f64 / 1048576.0,
            rss as f64 / 1024.0 / n as f64
        );
        println!(
            "| {n} idle channels: engine CPU (15 s pings, 30 s heartbeats) | {:.1} % of a core |",
            idle_cpu * 100.0
        );
        engine.stop();
        drop(sim);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
