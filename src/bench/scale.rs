//! Scale: resident memory per idle channel, and CPU while idle, at a given channel count.
//!
//! Each count is measured in a fresh child process (`switchboard bench idle-probe`): memory freed by an
//! earlier run in the same process would be reused by the next one and make it look cheaper than it is.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::harness::{BenchTenant, Scratch, SimChild, engine_config_tenants, wait_live};
use super::proc;

/// Options of the hidden `switchboard bench idle-probe` (the child process of a scale run).
#[derive(Debug, Clone, clap::Args)]
pub struct IdleProbeArgs {
    /// Idle channels to open (one topic each).
    #[arg(long)]
    pub channels: usize,
    /// How long idle CPU is measured.
    #[arg(long, default_value_t = 10)]
    pub cpu_seconds: u64,
    /// Sockets over TLS (`wss://`, as the platform serves them) instead of plain WebSocket.
    #[arg(long)]
    pub tls: bool,
}

/// What one idle run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Idle {
    pub channels: usize,
    /// Whether the sockets were TLS.
    #[serde(default)]
    pub tls: bool,
    /// From engine start until every channel was live.
    pub time_to_live_secs: f64,
    /// Resident memory the engine added (after a heap trim, as the engine does every minute).
    pub rss_bytes: u64,
    /// CPU of the process while the channels sat idle, as a share of one core.
    pub idle_cpu: f64,
}

impl Idle {
    pub fn kib_per_channel(&self) -> f64 {
        self.rss_bytes as f64 / 1024.0 / self.channels.max(1) as f64
    }
}

/// Topics per OAuth client: the platform's 20 channels, less the slot the engine keeps for rollovers.
const CHANNELS_PER_CLIENT: usize = 19;

/// Channels per tenant. The engine opens at most `SOCKET_OPENS_PER_WINDOW` sockets per tenant per window (a
/// bound against hammering one org), so the channels are spread over tenants, as a shared service has them:
/// each tenant's 250 open in about 50 s, all tenants at once.
const CHANNELS_PER_TENANT: usize = 250;

/// Runs in the child: opens the channels, lets them settle, measures, prints one JSON line.
pub async fn probe(args: IdleProbeArgs) -> anyhow::Result<()> {
    proc::raise_fd_limit();
    let n = args.channels;
    let pid = std::process::id();
    let scratch = Scratch::new(&format!("idle-{n}"))?;
    let cert = scratch.0.join("sim.pem");
    let sim = if args.tls {
        SimChild::start_tls(n, &cert, &[]).await?
    } else {
        SimChild::start(n, &[]).await?
    };
    let topics: Vec<String> = sim
        .user_topics(&["presence"])
        .await?
        .into_iter()
        .take(n)
        .collect();
    // One topic per channel, so that n topics make n channels; each tenant its own clients.
    let mut tenants = Vec::new();
    let mut clients = 0;
    for (t, share) in topics.chunks(CHANNELS_PER_TENANT).enumerate() {
        let first = clients;
        clients += share.len().div_ceil(CHANNELS_PER_CLIENT);
        tenants.push(BenchTenant {
            id: format!("bench-{t}"),
            topics: share.to_vec(),
            clients: (first..clients).map(|c| format!("bench-{c}")).collect(),
            ca_file: args.tls.then(|| cert.clone()),
        });
    }
    sim.register(clients).await?;
    let config = engine_config_tenants(&sim, &scratch.0, &tenants, "topics_per_channel = 1", "")?;
    // The baseline after a trim too, as the measure below: memory the bench itself freed (the simulator's
    // answers) must not count as memory the engine gave back.
    crate::heap::trim();
    let rss0 = proc::rss_bytes(pid).unwrap_or(0);
    let started = Instant::now();
    let engine = crate::engine::start(config)?;
    // A tenant opens at most SOCKET_OPENS_PER_WINDOW sockets per window; the tenants open theirs at once.
    let per_tenant = n.min(CHANNELS_PER_TENANT);
    let opening = crate::channel::SOCKET_OPEN_WINDOW
        * u32::try_from(per_tenant / crate::channel::SOCKET_OPENS_PER_WINDOW + 1)
            .unwrap_or(u32::MAX);
    let took = wait_live(&engine, n, Duration::from_secs(120) + opening).await?;
    // Let the setup's last replies and the engine's first heap trim (10 s after start) pass.
    tokio::time::sleep(
        Duration::from_secs(12)
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(2)),
    )
    .await;
    crate::heap::trim();
    let rss = proc::rss_bytes(pid).unwrap_or(0).saturating_sub(rss0);
    let cpu0 = proc::cpu_time(pid).unwrap_or_default();
    let window = Duration::from_secs(args.cpu_seconds.max(1));
    tokio::time::sleep(window).await;
    let idle_cpu = proc::cpu_time(pid)
        .unwrap_or_default()
        .saturating_sub(cpu0)
        .as_secs_f64()
        / window.as_secs_f64();
    engine.stop();
    let idle = Idle {
        channels: n,
        tls: args.tls,
        time_to_live_secs: took.as_secs_f64(),
        rss_bytes: rss,
        idle_cpu,
    };
    println!("{}", serde_json::to_string(&idle)?);
    Ok(())
}

/// Measures `channels` idle channels in a fresh child process.
pub async fn measure(channels: usize, cpu_seconds: u64, tls: bool) -> anyhow::Result<Idle> {
    let out = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "bench",
            "idle-probe",
            "--channels",
            &channels.to_string(),
            "--cpu-seconds",
            &cpu_seconds.to_string(),
        ])
        .args(tls.then_some("--tls"))
        .stdin(Stdio::null())
        // Thousands of "channel ready" lines would bury the table; RUST_LOG still wins when set.
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .context("while starting the idle probe")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "the idle probe for {channels} channels failed ({})",
            out.status
        );
    }
    let line = stdout
        .lines()
        .last()
        .context("the idle probe printed nothing")?;
    serde_json::from_str(line).context("the idle probe's answer")
}
