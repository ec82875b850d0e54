//! `switchboard bench sim`: how many sockets the simulator holds and how many events per second it sends.
//!
//! The simulator runs as a child process (so its CPU time and memory are its own); this process is the client:
//! it creates the channels through the REST API, connects every socket, checks each one answers a ping, then
//! turns the workload up and counts the event frames that arrive.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::proc;

/// Options of `switchboard bench sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimBenchArgs {
    /// Open sockets (one channel each).
    #[arg(long, default_value_t = 10_000)]
    pub sockets: usize,
    /// Events per second asked of the simulator.
    #[arg(long, default_value_t = 100_000.0)]
    pub rate: f64,
    /// How long the throughput phase runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Pad event frames to about this many bytes.
    #[arg(long)]
    pub event_size: Option<usize>,
}

const CHANNELS_PER_CLIENT: usize = 20;

struct Counters {
    events: AtomicU64,
    pongs: AtomicU64,
    closed: AtomicU64,
}

pub async fn run(args: SimBenchArgs) -> anyhow::Result<()> {
    let fd_limit = proc::raise_fd_limit();
    if args.sockets as u64 + 256 > fd_limit {
        bail!(
            "{} sockets need more open files than the limit of {fd_limit}",
            args.sockets
        );
    }
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "0",
            "--heartbeat-interval",
            "30s",
        ])
        .args([
            "--users",
            &args.sockets.to_string(),
            "--ledger-capacity",
            "4000000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("while starting the simulator")?;
    let pid = child.id().context("simulator pid")?;
    let mut lines =
        tokio::io::BufReader::new(child.stdout.take().context("simulator stdout")?).lines();
    let line = lines
        .next_line()
        .await?
        .context("the simulator printed nothing")?;
    let base = line
        .strip_prefix("sim listening on ")
        .context("unexpected first line")?
        .to_string();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

    println!(
        "simulator pid {pid} at {base}; {} sockets, {} events/s asked for {} s",
        args.sockets, args.rate, args.seconds
    );
    let setup = Instant::now();
    let uris = create_channels(&http, &base, args.sockets).await?;
    println!(
        "created and subscribed {} channels in {:.1} s",
        uris.len(),
        setup.elapsed().as_secs_f64()
    );

    let counters = Arc::new(Counters {
        events: AtomicU64::new(0),
        pongs: AtomicU64::new(0),
        closed: AtomicU64::new(0),
    });
    let connect_started = Instant::now();
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let sinks: Vec<_> = stream::iter(uris)
        .map(|uri| {
            let counters = counters.clone();
            async move {
                let (ws, _) =
                    tokio_tungstenite::connect_async_with_config(uri, Some(config), false).await?;
                let (sink, mut read) = ws.split();
                tokio::spawn(async move {
                    while let Some(Ok(msg)) = read.next().await {
                        if let Message::Text(t) = msg {
                            if t.as_str().starts_with(r#"{"topicName":"v2.users."#) {
                                counters.events.fetch_add(1, Ordering::Relaxed);
                            } else if t.as_str().contains(r#""message":"pong""#) {
                                counters.pongs.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    counters.closed.fetch_add(1, Ordering::Relaxed);
                });
                anyhow::Ok(sink)
            }
        })
        .buffer_unordered(128)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let connect_secs = connect_started.elapsed().as_secs_f64();

    // Every socket must be alive: each answers an app-level ping.
    let mut sinks = sinks;
    for sink in sinks.iter_mut() {
        sink.send(Message::text(r#"{"message":"ping"}"#)).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.pongs.load(Ordering::Relaxed) < sinks.len() as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pongs = counters.pongs.load(Ordering::Relaxed);
    let idle_cpu_start = proc::cpu_time(pid).unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_cpu = proc::cpu_time(pid)
        .unwrap_or_default()
        .saturating_sub(idle_cpu_start);
    let rss_idle = proc::rss_bytes(pid).unwrap_or(0);

    let stats0 = get(&http, &base, "/sim/v1/stats").await?;
    let mut workload =
        json!({"ratePerSecond": args.rate, "families": ["presence", "routingStatus"]});
    if let Some(size) = args.event_size {
        workload["eventSizeBytes"] = json!(size);
    }
    post(&http, &base, "/sim/v1/workload", &workload).await?;
    let events0 = counters.events.load(Ordering::Relaxed);
    let cpu0 = proc::cpu_time(pid).unwrap_or_default();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = proc::cpu_time(pid).unwrap_or_default().saturating_sub(cpu0);
    let received = counters.events.load(Ordering::Relaxed) - events0;
    post(
        &http,
        &base,
        "/sim/v1/workload",
        &json!({"ratePerSecond": 0.0}),
    )
    .await?;
    let stats1 = get(&http, &base, "/sim/v1/stats").await?;
    let rss_busy = proc::rss_bytes(pid).unwrap_or(0);
    let generated = stats1["eventsGenerated"].as_u64().unwrap_or(0)
        - stats0["eventsGenerated"].as_u64().unwrap_or(0);
    let sent = stats1["eventFramesSent"].as_u64().unwrap_or(0)
        - stats0["eventFramesSent"].as_u64().unwrap_or(0);
    let drops = stats1["slowConsumerDrops"].as_u64().unwrap_or(0);

    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| sockets open (answered a ping) | {pongs} of {} |",
        sinks.len()
    );
    println!("| time to connect them | {connect_secs:.1} s |");
    println!(
        "| simulator RSS with the sockets idle | {:.0} MiB ({:.1} KiB per socket) |",
        mib(rss_idle),
        rss_idle as f64 / 1024.0 / sinks.len().max(1) as f64
    );
    println!(
        "| simulator CPU while idle | {:.1} % of a core |",
        idle_cpu.as_secs_f64() / 3.0 * 100.0
    );
    println!(
        "| events generated | {:.0} /s |",
        generated as f64 / elapsed
    );
    println!("| event frames sent | {:.0} /s |", sent as f64 / elapsed);
    println!(
        "| event frames received by the client | {:.0} /s |",
        received as f64 / elapsed
    );
    println!(
        "| simulator CPU while sending | {:.0} % of a core ({:.0} events per CPU-second) |",
        cpu.as_secs_f64() / elapsed * 100.0,
        generated as f64 / cpu.as_secs_f64().max(1e-9)
    );
    println!(
        "| simulator RSS after the run (ledger included) | {:.0} MiB |",
        mib(rss_busy)
    );
    println!("| slow-consumer disconnects | {drops} |");
    println!(
        "| sockets closed during the run | {} |",
        counters.closed.load(Ordering::Relaxed)
    );
    let _ = child.kill().await;
    Ok(())
}

fn mib(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
}

async fn get(http: &reqwest::Client, base: &str, path: &str) -> anyhow::Result<Value> {
    let res = http.get(format!("{base}{path}")).send().await?;
    if !res.status().is_success() {
        bail!("GET {path}: {}", res.status());
    }
    Ok(res.json().await?)
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let res = http.post(format!("{base}{path}")).json(body).send().await?;
    if !res.status().is_success() {
        bail!(
            "POST {path}: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    Ok(res.json().await.unwrap_or(Value::Null))
}

/// Registers enough OAuth clients, creates one channel per socket and subscribes each to one user.
async fn create_channels(
    http: &reqwest::Client,
    base: &str,
    sockets: usize,
) -> anyhow::Result<Vec<String>> {
    let org = get(http, base, "/sim/v1/org").await?;
    let users: Vec<String> = org["users"]
        .as_array()
        .context("org users")?
        .iter()
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect();
    if users.len() < sockets {
        bail!("the org has {} users, {sockets} needed", users.len());
    }
    let clients = sockets.div_ceil(CHANNELS_PER_CLIENT);
    let users = Arc::new(users);
    let per_client: Vec<Vec<String>> = stream::iter(0..clients)
        .map(|c| {
            let users = users.clone();
            async move {
                let id = format!("bench-{c}");
                post(
                    http,
                    base,
                    "/sim/v1/clients",
                    &json!({"clientId": id, "clientSecret": "s"}),
                )
                .await?;
                let res = http
                    .post(format!("{base}/oauth/token"))
                    .basic_auth(&id, Some("s"))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await?;
                let token = res.json::<Value>().await?["access_token"]
                    .as_str()
                    .context("token")?
                    .to_string();
                let mut uris = Vec::new();
                for i in (c * CHANNELS_PER_CLIENT)..((c + 1) * CHANNELS_PER_CLIENT).min(sockets) {
                    let res = http
                        .post(format!("{base}/api/v2/notifications/channels"))
                        .bearer_auth(&token)
                        .send()
                        .await?;
                    let ch: Value = res.json().await?;
                    let id = ch["id"].as_str().context("channel id")?;
                    let topic = format!("v2.users.{}?presence&routingStatus", users[i]);
                    let res = http
                        .put(format!(
                            "{base}/api/v2/notifications/channels/{id}/subscriptions"
                        ))
                        .bearer_auth(&token)
                        .json(&json!([{ "id": topic }]))
                        .send()
                        .await?;
                    if !res.status().is_success() {
                        bail!("subscribe: {}", res.status());
                    }
                    uris.push(ch["connectUri"].as_str().context("connectUri")?.to_string());
                }
                anyhow::Ok(uris)
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(per_client.into_iter().flatten().collect())
}
