//! `switchboard bench engine`: the engine's cost, measured against a simulator in a child process.
//!
//! - throughput: events per CPU-second of this process (the engine) from simulator socket to file sink, for
//!   events of about `--event-size` bytes, and context switches per event; with the `alloc-count` feature,
//!   heap allocations per event too;
//! - scale: resident memory per idle channel, and CPU while idle, at each `--channels` count (see `scale`).

use std::time::{Duration, Instant};

use super::harness::{BenchTenant, Scratch, SimChild, delivered, engine_config_tenants, wait_live};
use super::{proc, scale};
use crate::config::EnginePolicy;

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
    /// The engine's `channel_threads` in the throughput run (0: the whole data path on one thread).
    #[arg(long, default_value_t = 0)]
    pub channel_threads: usize,
    /// The engine's `router_shards` in the throughput run (at most `channel_threads` when above 1).
    #[arg(long, default_value_t = 1)]
    pub router_shards: usize,
    /// Users whose presence and routing status the throughput run follows (two topics each, 1,000 topics
    /// a channel).
    #[arg(long, default_value_t = GOAL_USERS, value_parser = parse_users)]
    pub users: usize,
    /// Channel counts for the idle-memory runs (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000usize, 10000])]
    pub channels: Vec<usize>,
}

/// The throughput goals' workload: 400 users' presence and routing status, 800 topics on one channel, as the
/// goals were set against a Python client following the same topics on one channel.
pub const GOAL_USERS: usize = 400;
/// The most users one OAuth client's channels follow with the engine's default limits, two topics a user:
/// 19 channels of 1,000 topics (the client's twentieth channel is kept free for hand-overs).
pub fn max_users() -> usize {
    let p = EnginePolicy::default();
    p.channels_per_client
        .saturating_sub(p.reserved_channel_slots)
        * p.topics_per_channel
        / 2
}

/// `--users`: a count from 1 to [`max_users`].
pub fn parse_users(s: &str) -> Result<usize, String> {
    let most = max_users();
    match s.parse::<usize>() {
        Ok(n) if (1..=most).contains(&n) => Ok(n),
        _ => Err(format!("expected a number of users from 1 to {most}")),
    }
}

/// Channels the engine opens for `users`' two topics each, at its default topics per channel.
pub fn channels_for(users: usize) -> usize {
    (2 * users).div_ceil(EnginePolicy::default().topics_per_channel)
}

/// What a throughput run measured.
#[derive(Debug, Clone)]
pub struct Throughput {
    pub event_size: usize,
    /// Users followed (two topics each): the goals' workload is [`GOAL_USERS`].
    pub users: usize,
    /// Events per second asked of the simulator.
    pub asked: f64,
    /// The engine's `channel_threads`: 0 runs the whole data path (sockets, router, sinks) on one thread.
    pub channel_threads: usize,
    /// The engine's `router_shards`: 1 routes every tenant on the engine's thread.
    pub router_shards: usize,
    /// Whether the simulator ran on a core of its own, apart from the engine.
    pub pinned: bool,
    /// Whether the sockets were TLS (`wss://`).
    pub tls: bool,
    /// Events per second written to the file sink.
    pub delivered_per_sec: f64,
    /// CPU of this process while delivering, as a share of one core.
    pub cpu: f64,
    /// Events per CPU-second of this process: events per second one core sustains.
    pub per_cpu_second: f64,
    /// Context switches of this process's threads per event delivered.
    pub switches_per_event: f64,
    /// Heap allocations per event, with the `alloc-count` feature.
    pub allocs_per_event: Option<f64>,
    /// When this is the median of several runs ([`Throughput::median`]): every run's events per CPU-second,
    /// in the order they were measured. Empty for a single run.
    pub samples: Vec<f64>,
}

impl Throughput {
    /// Threads the data path runs on: the engine's own, and the channels' when they have their own.
    pub fn data_threads(&self) -> usize {
        1 + self.channel_threads
    }

    /// The run with the median events per CPU-second (of an even count, the lower of the two middle ones), with
    /// every run's figure in `samples`. One 10 s window at 10,000/s counts about one CPU-second, which a
    /// passing stall of the machine moves by a third or more; the median of three is held to the goal, and
    /// all three are printed.
    pub fn median(runs: Vec<Throughput>) -> Option<Throughput> {
        let samples: Vec<f64> = runs.iter().map(|t| t.per_cpu_second).collect();
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by(|&a, &b| samples[a].total_cmp(&samples[b]));
        let middle = *order.get(runs.len().checked_sub(1)? / 2)?;
        let mut median = runs.into_iter().nth(middle)?;
        if samples.len() > 1 {
            median.samples = samples;
        }
        Some(median)
    }
}

/// Pins the simulator to the last CPU this process may use and this process to the others, when the engine's
/// data path fits on them; restores this process's CPUs when dropped.
pub(super) struct Pinning {
    ours: Vec<usize>,
}

impl Pinning {
    /// Whether the engine's data path fits on this process's CPUs less one, left to the simulator.
    pub(super) fn fits(data_threads: usize) -> bool {
        proc::affinity(std::process::id()).is_some_and(|ours| ours.len() > data_threads)
    }

    fn apart(sim_pid: Option<u32>, data_threads: usize) -> Option<Pinning> {
        let ours = proc::affinity(std::process::id())?;
        let sim_pid = sim_pid?;
        let (&last, rest) = ours.split_last()?;
        if rest.len() < data_threads {
            return None;
        }
        let pinned = proc::pin(sim_pid, &[last]) && proc::pin(std::process::id(), rest);
        // Dropped when not pinned too: that puts this process back on all of its CPUs.
        let pinning = Pinning { ours };
        pinned.then_some(pinning)
    }
}

impl Drop for Pinning {
    fn drop(&mut self) {
        proc::pin(std::process::id(), &self.ours);
    }
}

/// Events flow this long before a throughput run's window opens.
const WARM_UP: Duration = Duration::from_secs(1);

/// Delivers `rate` events per second of `users`' presence and routing status (two topics each, on channels
/// of 1,000 topics of one client) for `seconds`, and counts what reached the file sink and the CPU it took.
/// The engine runs with `channel_threads`; the simulator is pinned to a core of its own, with one worker
/// thread, when the engine's threads fit on the others. With `tls` the sockets are `wss://` (the simulator's
/// certificate, trusted through the tenant's `ca_file`).
pub async fn throughput(
    rate: f64,
    users: usize,
    seconds: u64,
    event_size: usize,
    channel_threads: usize,
    router_shards: usize,
    tls: bool,
) -> anyhow::Result<Throughput> {
    let pid = std::process::id();
    let scratch = Scratch::new("throughput")?;
    let cert = scratch.0.join("sim.pem");
    // A simulator on one core of its own gets one worker thread: two would only take turns on that core,
    // and write the sockets at two moments of each millisecond instead of one.
    let apart = Pinning::fits(1 + channel_threads);
    let workers: &[&str] = if apart { &["--workers", "1"] } else { &[] };
    let sim = if tls {
        SimChild::start_tls(users, &cert, workers).await?
    } else {
        SimChild::start(users, workers).await?
    };
    // Before the engine starts: its threads inherit the pinning of the thread that starts them.
    let pinning = apart
        .then(|| Pinning::apart(sim.pid(), 1 + channel_threads))
        .flatten();
    sim.register(1).await?;
    let topics = sim.user_topics(&["presence", "routingStatus"]).await?;
    let tenant = BenchTenant {
        id: "bench".into(),
        topics,
        clients: vec!["bench-0".into()],
        ca_file: tls.then(|| cert.clone()),
    };
    let engine = crate::engine::start(engine_config_tenants(
        &sim,
        &scratch.0,
        &[tenant],
        &format!("channel_threads = {channel_threads}\nrouter_shards = {router_shards}"),
        "",
    )?)?;
    wait_live(&engine, channels_for(users), Duration::from_secs(60)).await?;
    sim.workload(rate, event_size).await?;
    // Measure the steady state: the first second grows what then stays (read and write buffers, the sink's
    // file, the de-duplication table's first pages), which would weigh on a short run's figures per event.
    // Both ends of the window are taken while events flow, so what is in flight at either end cancels out.
    tokio::time::sleep(WARM_UP).await;
    let sent0 = delivered(&engine);
    let cpu0 = proc::cpu_time(pid).unwrap_or_default();
    let allocs0 = super::alloc::count();
    let switches0 = proc::context_switches().unwrap_or_default();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = proc::cpu_time(pid)
        .unwrap_or_default()
        .saturating_sub(cpu0)
        .as_secs_f64();
    let allocs = super::alloc::count().saturating_sub(allocs0);
    let switches = proc::context_switches()
        .unwrap_or_default()
        .saturating_sub(switches0);
    let sent = delivered(&engine).saturating_sub(sent0);
    sim.workload(0.0, event_size).await?;
    engine.stop();
    Ok(Throughput {
        event_size,
        users,
        asked: rate,
        channel_threads,
        router_shards,
        pinned: pinning.is_some(),
        tls,
        delivered_per_sec: sent as f64 / elapsed,
        cpu: cpu / elapsed,
        per_cpu_second: sent as f64 / cpu.max(1e-9),
        switches_per_event: switches as f64 / sent.max(1) as f64,
        allocs_per_event: super::alloc::enabled().then(|| allocs as f64 / sent.max(1) as f64),
        samples: Vec::new(),
    })
}

pub async fn run(args: EngineBenchArgs) -> anyhow::Result<()> {
    proc::raise_fd_limit();
    println!("| measure | value |");
    println!("|---|---|");
    let t = throughput(
        args.rate,
        args.users,
        args.seconds,
        args.event_size,
        args.channel_threads,
        args.router_shards,
        false,
    )
    .await?;
    println!(
        "| events delivered to the file sink ({} B frames) | {:.0} /s |",
        t.event_size, t.delivered_per_sec
    );
    println!(
        "| engine CPU while delivering | {:.0} % of a core |",
        t.cpu * 100.0
    );
    println!("| events per engine CPU-second | {:.0} |", t.per_cpu_second);
    println!(
        "| context switches per event (whole process) | {:.3} |",
        t.switches_per_event
    );
    if let Some(a) = t.allocs_per_event {
        println!("| heap allocations per event (whole process) | {a:.2} |");
    }
    for &n in &args.channels {
        let idle = scale::measure(n, 10, false).await?;
        println!(
            "| {n} idle channels: time to all live | {:.1} s |",
            idle.time_to_live_secs
        );
        println!(
            "| {n} idle channels: engine RSS added | {:.0} MiB ({:.1} KiB per channel) |",
            idle.rss_bytes as f64 / 1048576.0,
            idle.kib_per_channel()
        );
        println!(
            "| {n} idle channels: engine CPU (15 s pings, 30 s heartbeats) | {:.1} % of a core |",
            idle.idle_cpu * 100.0
        );
    }
    Ok(())
}
