//! `switchboard bench` (or `bench all`): the standard set — throughput, scale, latency, detection — in one
//! table, with what each row measures. `--quick` shortens every part to CI size.

use std::time::Instant;

use super::detection::{self, Timers};
use super::engine::{self, GOAL_USERS, Throughput};
use super::latency::{self, Company, Latency};
use super::proc;
use super::scale::{self, Idle};
use super::stats::Summary;

/// Options of `switchboard bench` / `switchboard bench all`. Unset options take the standard value, or the
/// quick one with `--quick`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AllBenchArgs {
    /// CI-sized runs: 3 s throughput and latency, 1,000 idle channels, 3 stalls with the test timers only.
    #[arg(long)]
    pub quick: bool,
    /// Parts to run (comma-separated): throughput, scale, latency, detection. Default: all.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub only: Vec<Part>,
    /// Throughput: one rate asked of the simulator (events per second) instead of the standard ones: 10,000,
    /// 20,000, and 200,000 (saturation: more than the simulator sends on the same cores).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Throughput: the engine's `channel_threads` for every rate (comma-separated; 0 runs the data path on one
    /// thread). [default: 0, and 0 and 1 at saturation]
    #[arg(long, value_delimiter = ',')]
    pub channel_threads: Vec<usize>,
    /// Throughput: the engine's `router_shards` in every run with at least that many channel threads (the
    /// others keep one router). [default: 1]
    #[arg(long, default_value_t = 1)]
    pub router_shards: usize,
    /// Throughput: users whose presence and routing status every run follows (two topics each, 1,000 topics
    /// a channel). [default: 400, 800 topics on one channel: the goals' workload; the standard set adds a run
    /// at 10,000/s with 2,000 users on 4 channels, without a goal]
    #[arg(long, value_parser = engine::parse_users)]
    pub users: Option<usize>,
    /// Throughput: length of the run in seconds. [default: 10; quick: 3]
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Throughput: how many times each run held to an events-per-CPU-second goal is made (1–9); the row gives
    /// the median and every run's figure. [default: 3; quick: 1]
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub repeat: Option<u8>,
    /// Approximate size of each event frame in bytes (throughput and latency). [default: 1024]
    #[arg(long)]
    pub event_size: Option<usize>,
    /// Scale: idle channel counts (comma-separated). [default: 1000,5000,10000; quick: 1000]
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<usize>,
    /// Scale: seconds over which idle CPU is measured. [default: 10; quick: 3]
    #[arg(long)]
    pub idle_seconds: Option<u64>,
    /// Throughput and scale: the sockets over TLS (`wss://`, as the platform serves them; the simulator makes
    /// a certificate the engine trusts) instead of plain WebSocket.
    #[arg(long)]
    pub tls: bool,
    /// Latency: the fixed event rate per second. [default: 20000, the rate of the p99 goal]
    #[arg(long)]
    pub latency_rate: Option<f64>,
    /// Latency: length of the run in seconds. [default: 10; quick: 3]
    #[arg(long)]
    pub latency_seconds: Option<u64>,
    /// Detection: stalls per run (each on its own channel, at most 100). [default: 5 with the default
    /// timers, 10 with the test timers; quick: 3]
    #[arg(long)]
    pub stalls: Option<usize>,
    /// Detection: which engine timers. [default: both; quick: short]
    #[arg(long, value_enum)]
    pub timers: Option<TimersChoice>,
}

/// A part of the standard set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Throughput,
    Scale,
    Latency,
    Detection,
}

/// Which timers the detection runs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimersChoice {
    /// The production defaults (ping 15 s, heartbeat timeout 70 s).
    Default,
    /// The engine tests' short timers (ping 200 ms, heartbeat timeout 1.5 s).
    Short,
    Both,
}

/// One throughput run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// Events per second asked of the simulator.
    pub rate: f64,
    /// The engine's `channel_threads`.
    pub channel_threads: usize,
    /// Users followed, two topics each.
    pub users: usize,
}

/// The standard set's run beside the goals' workload: 10,000/s spread over 4 channels, so that each wake-up
/// reads four sockets instead of one (the workload of the goals' rows on earlier machines).
const SPREAD_USERS: usize = 2000;

/// The options resolved: what will run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub parts: Vec<Part>,
    /// Throughput: one run each.
    pub runs: Vec<Run>,
    pub seconds: u64,
    /// Times each run with an events-per-CPU-second goal is made; its median is held to the goal.
    pub repeat: usize,
    pub event_size: usize,
    pub channels: Vec<usize>,
    pub idle_seconds: u64,
    /// Throughput and scale: the sockets over TLS.
    pub tls: bool,
    pub latency_rate: f64,
    pub latency_seconds: u64,
    /// (timers, stalls) per detection run.
    pub detection: Vec<(Timers, usize)>,
}

impl AllBenchArgs {
    pub fn plan(&self) -> Plan {
        let q = self.quick;
        let pick = |v: Option<u64>, standard: u64, quick: u64| {
            v.unwrap_or(if q { quick } else { standard })
        };
        let timers = self.timers.unwrap_or(if q {
            TimersChoice::Short
        } else {
            TimersChoice::Both
        });
        let stalls = |standard: usize| {
            self.stalls
                .unwrap_or(if q { 3 } else { standard })
                .clamp(1, 100)
        };
        let mut detection = Vec::new();
        if matches!(timers, TimersChoice::Default | TimersChoice::Both) {
            detection.push((Timers::Default, stalls(5)));
        }
        if matches!(timers, TimersChoice::Short | TimersChoice::Both) {
            detection.push((Timers::Short, stalls(10)));
        }
        Plan {
            parts: if self.only.is_empty() {
                vec![
                    Part::Throughput,
                    Part::Scale,
                    Part::Latency,
                    Part::Detection,
                ]
            } else {
                self.only.clone()
            },
            runs: {
                let rates = self.rate.map_or(STANDARD_RATES.to_vec(), |r| vec![r]);
                let users = self.users.unwrap_or(GOAL_USERS);
                let run = |rate, channel_threads| Run {
                    rate,
                    channel_threads,
                    users,
                };
                let mut runs = Vec::new();
                for rate in rates {
                    match (self.channel_threads.is_empty(), rate >= SATURATION) {
                        (false, _) => {
                            runs.extend(self.channel_threads.iter().map(|&t| run(rate, t)))
                        }
                        // Saturation on one thread and on two: what a second core adds.
                        (true, true) => runs.extend([run(rate, 0), run(rate, 1)]),
                        (true, false) => runs.push(run(rate, 0)),
                    }
                }
                if self.rate.is_none() && self.users.is_none() && self.channel_threads.is_empty() {
                    runs.push(Run {
                        rate: STANDARD_RATES[0],
                        channel_threads: 0,
                        users: SPREAD_USERS,
                    });
                }
                runs
            },
            seconds: pick(self.seconds, 10, 3),
            repeat: usize::from(self.repeat.unwrap_or(if q { 1 } else { 3 })),
            event_size: self.event_size.unwrap_or(1024),
            channels: match (self.channels.is_empty(), q) {
                (false, _) => self.channels.clone(),
                (true, false) => vec![1000, 5000, 10000],
                (true, true) => vec![1000],
            },
            idle_seconds: pick(self.idle_seconds, 10, 3),
            tls: self.tls,
            latency_rate: self.latency_rate.unwrap_or(LATENCY_GOAL_RATE),
            latency_seconds: pick(self.latency_seconds, 10, 3),
            detection,
        }
    }
}

/// The throughput runs' rates: an ordinary busy contact centre, twice that, and saturation.
pub const STANDARD_RATES: [f64; 3] = [10_000.0, 20_000.0, SATURATION];

/// A rate the simulator cannot send on the cores it shares with the engine: the engine takes what comes.
pub const SATURATION: f64 = 200_000.0;

/// The goals of events per engine CPU-second: (rate asked, goal).
const PER_CPU_SECOND_GOALS: [(f64, f64); 3] = [
    (10_000.0, 110_000.0),
    (20_000.0, 150_000.0),
    (SATURATION, 250_000.0),
];
/// The goal of context switches per event, from `SWITCHES_GOAL_FROM` events/s asked.
const SWITCHES_GOAL: f64 = 0.05;
const SWITCHES_GOAL_FROM: f64 = 20_000.0;
/// The goal of heap allocations per event.
const ALLOCS_GOAL: f64 = 2.0;
/// The goal of p99 latency, engine receipt → line in the file sink, in ms, at `LATENCY_GOAL_RATE`.
const LATENCY_GOAL_MS: f64 = 2.0;
const LATENCY_GOAL_RATE: f64 = 20_000.0;
/// The goal of RSS per idle channel, in KiB.
const IDLE_GOAL_KIB: f64 = 24.0;

/// Whether a throughput run measured the goals' workload; another number of users says nothing about them.
fn on_goal_workload(t: &Throughput) -> bool {
    t.users == GOAL_USERS
}

/// Whether a run's CPU figures (events per CPU-second, context switches per event) are held to the goals: the
/// goals' workload, with the simulator on a core of its own. Where the simulator shares the engine's cores (two
/// data-path threads on a 2-core machine), each takes the other's core and wakes it, and the figures measure
/// that contention as much as the engine. Heap allocations are a count, and held to their goal either way.
fn timed_against_goals(t: &Throughput) -> bool {
    on_goal_workload(t) && t.pinned
}

/// The goal of events per engine CPU-second for a run, where one is set.
fn per_cpu_second_goal(t: &Throughput) -> Option<f64> {
    PER_CPU_SECOND_GOALS
        .iter()
        .find(|(rate, _)| *rate == t.asked && timed_against_goals(t))
        .map(|&(_, g)| g)
}

/// Whether the context-switch goal applies to a run.
fn switches_goal_applies(t: &Throughput) -> bool {
    t.asked >= SWITCHES_GOAL_FROM && timed_against_goals(t)
}

/// How many times a run is made: `repeat` when it may be held to an events-per-CPU-second goal (the goals'
/// workload at a goal's rate, with the simulator on a core of its own), once otherwise.
fn repeats(run: &Run, repeat: usize) -> usize {
    let goal_rate = PER_CPU_SECOND_GOALS.iter().any(|(r, _)| *r == run.rate);
    if run.users == GOAL_USERS && goal_rate && engine::Pinning::fits(1 + run.channel_threads) {
        repeat
    } else {
        1
    }
}

fn goal(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

pub async fn run(args: AllBenchArgs) -> anyhow::Result<()> {
    proc::raise_fd_limit();
    let plan = args.plan();
    let started = Instant::now();
    let mut throughput = Vec::new();
    let mut idle = Vec::new();
    let mut latency = Vec::new();
    let mut detections = Vec::new();
    for part in &plan.parts {
        match part {
            Part::Throughput => {
                for run in &plan.runs {
                    let (rate, threads) = (run.rate, run.channel_threads);
                    eprintln!(
                        "bench: throughput at {rate} events/s, {} users, channel_threads = {threads} ({} s)",
                        run.users, plan.seconds
                    );
                    // Each shard beyond one runs on a channel thread of its own.
                    let shards = if threads >= args.router_shards {
                        args.router_shards
                    } else {
                        1
                    };
                    let mut runs = Vec::new();
                    for _ in 0..repeats(run, plan.repeat) {
                        runs.push(
                            engine::throughput(
                                rate,
                                run.users,
                                plan.seconds,
                                plan.event_size,
                                threads,
                                shards,
                                plan.tls,
                            )
                            .await?,
                        );
                    }
                    throughput.extend(Throughput::median(runs));
                }
            }
            Part::Scale => {
                for &n in &plan.channels {
                    eprintln!("bench: {n} idle channels (fresh process)");
                    idle.push(scale::measure(n, plan.idle_seconds, plan.tls).await?);
                }
            }
            Part::Latency => {
                eprintln!(
                    "bench: latency at {} events/s for {} s",
                    plan.latency_rate, plan.latency_seconds
                );
                for company in [Company::Alone, Company::SlowAndDeadSinks] {
                    latency.push(
                        latency::latency(
                            plan.latency_rate,
                            plan.latency_seconds,
                            plan.event_size,
                            company,
                        )
                        .await?,
                    );
                }
            }
            Part::Detection => {
                for &(timers, stalls) in &plan.detection {
                    eprintln!("bench: detection, {stalls} stalls, {}", timers.describe());
                    detections.push(detection::detection(timers, stalls).await?);
                }
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "switchboard bench{}: {cores} cores; simulator in a child process on the same machine (it takes CPU \
         too), over loopback; {:.0} s in all",
        if args.quick { " --quick" } else { "" },
        started.elapsed().as_secs_f64()
    );
    println!();
    for row in table(&throughput, &idle, &latency, &detections) {
        println!("{row}");
    }
    println!();
    println!("{}", verdict(&throughput, &idle, &latency));
    Ok(())
}

fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn ms(s: &Summary) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} events)",
        s.p50,
        s.p99,
        s.max,
        thousands(s.n as f64)
    )
}

/// A throughput run's row, with the goals it is measured against.
fn throughput_row(t: &Throughput) -> String {
    let channels = engine::channels_for(t.users);
    let mut measure = format!(
        "throughput at {} events/s asked, {} user{} ({} topics on {channels} channel{}), socket{} → file sink ({} B events), data path on {} thread{}{}{}: events per engine CPU-second",
        thousands(t.asked),
        thousands(t.users as f64),
        if t.users == 1 { "" } else { "s" },
        thousands(2.0 * t.users as f64),
        if channels == 1 { "" } else { "s" },
        if t.tls { " over TLS" } else { "" },
        t.event_size,
        t.data_threads(),
        if t.data_threads() == 1 { "" } else { "s" },
        if t.router_shards > 1 {
            format!(" (router in {} shards)", t.router_shards)
        } else {
            String::new()
        },
        if t.pinned {
            ", simulator on a core of its own (one worker thread)"
        } else {
            ", simulator sharing the cores"
        },
    );
    let mut value = thousands(t.per_cpu_second);
    if let Some(g) = per_cpu_second_goal(t) {
        measure.push_str(&format!(" (goal ≥ {})", thousands(g)));
        value.push_str(&format!(" ({})", goal(t.per_cpu_second >= g)));
    }
    let mut details = Vec::new();
    if !t.samples.is_empty() {
        let all: Vec<String> = t.samples.iter().map(|&v| thousands(v)).collect();
        details.push(format!(
            "the median of {} runs: {}; the median run's figures follow",
            t.samples.len(),
            all.join(", ")
        ));
    }
    details.extend([
        format!("{} /s delivered", thousands(t.delivered_per_sec)),
        format!("engine at {:.0} % of a core", t.cpu * 100.0),
    ]);
    let mut switches = format!("{:.3} context switches per event", t.switches_per_event);
    if switches_goal_applies(t) {
        switches.push_str(&format!(
            " (goal ≤ {SWITCHES_GOAL}: {})",
            goal(t.switches_per_event <= SWITCHES_GOAL)
        ));
    }
    details.push(switches);
    if let Some(a) = t.allocs_per_event {
        details.push(if on_goal_workload(t) {
            format!(
                "{a:.2} heap allocations per event (goal ≤ {ALLOCS_GOAL}: {})",
                goal(a <= ALLOCS_GOAL)
            )
        } else {
            format!("{a:.2} heap allocations per event")
        });
    }
    if !on_goal_workload(t) {
        details.push(format!("no goal: the goals are set on {GOAL_USERS} users"));
    } else if !t.pinned {
        details.push("no CPU goal: the simulator shares the engine's cores".to_string());
    }
    format!("| {measure} | {value} ({}) |", details.join(", "))
}

/// The table's rows (Markdown).
pub fn table(
    throughput: &[Throughput],
    idle: &[Idle],
    latency: &[Latency],
    detections: &[detection::Detection],
) -> Vec<String> {
    let mut rows = vec!["| measure | value |".to_string(), "|---|---|".to_string()];
    for t in throughput {
        rows.push(throughput_row(t));
    }
    let mut previous: Option<&Idle> = None;
    for i in idle {
        // Above the previous count, the engine's fixed cost (runtime, store, sinks) drops out.
        let marginal = previous
            .filter(|p| p.channels < i.channels)
            .map(|p| {
                format!(
                    ", {:.1} KiB per channel added above {}",
                    i.rss_bytes.saturating_sub(p.rss_bytes) as f64
                        / 1024.0
                        / (i.channels - p.channels) as f64,
                    thousands(p.channels as f64)
                )
            })
            .unwrap_or_default();
        rows.push(format!(
            "| scale: RSS per idle channel at {} channels{} (goal ≤ {IDLE_GOAL_KIB} KiB) | {:.1} KiB ({}) ({:.0} MiB in all{marginal}; all live in {:.1} s; idle CPU {:.1} % of a core) |",
            thousands(i.channels as f64),
            if i.tls { " over TLS" } else { "" },
            i.kib_per_channel(),
            goal(i.kib_per_channel() <= IDLE_GOAL_KIB),
            i.rss_bytes as f64 / 1048576.0,
            i.time_to_live_secs,
            i.idle_cpu * 100.0
        ));
        previous = Some(i);
    }
    for l in latency {
        let head = format!(
            "latency at {} events/s for {} s, {} ({} B events, {} sent)",
            thousands(l.rate),
            l.seconds,
            l.company.describe(),
            l.event_size,
            thousands(l.sent as f64)
        );
        rows.push(format!(
            "| {head}: simulator send → line in the file sink | {} |",
            l.send_to_sink.as_ref().map_or("no events".into(), ms)
        ));
        let (measure_goal, value_goal) = latency_met(l)
            .map(|met| {
                (
                    format!(" (goal p99 ≤ {LATENCY_GOAL_MS} ms)"),
                    format!(" ({})", goal(met)),
                )
            })
            .unwrap_or_default();
        rows.push(format!(
            "| {head}: engine receipt (`receivedAt`) → line in the file sink{measure_goal} | {}{value_goal} |",
            l.receipt_to_sink.as_ref().map_or("no events".into(), ms)
        ));
    }
    for d in detections {
        rows.push(format!(
            "| detection, {}: silent stall → live on a new socket | p50 {:.2} s, max {:.2} s ({} stalls) |",
            d.timers.describe(),
            d.to_live.p50,
            d.to_live.max,
            d.stalls
        ));
    }
    rows
}

/// Whether a latency run met the p99 goal; `None` for a run at another rate than the goal's, which says
/// nothing about it. A run whose events never reached the sink missed it.
fn latency_met(l: &Latency) -> Option<bool> {
    (l.rate == LATENCY_GOAL_RATE).then(|| {
        l.receipt_to_sink
            .as_ref()
            .is_some_and(|s| s.p99 <= LATENCY_GOAL_MS)
    })
}

/// The runs' goals, met or missed, each named by its measure.
fn goals(throughput: &[Throughput], idle: &[Idle], latency: &[Latency]) -> Vec<(String, bool)> {
    let mut goals = Vec::new();
    for t in throughput {
        let name = format!(
            "{} events/s{}{}",
            thousands(t.asked),
            if t.tls { " over TLS" } else { "" },
            if t.data_threads() > 1 {
                format!(" on {} threads", t.data_threads())
            } else {
                String::new()
            }
        );
        if let Some(g) = per_cpu_second_goal(t) {
            goals.push((
                format!("{name}: events per engine CPU-second"),
                t.per_cpu_second >= g,
            ));
        }
        if switches_goal_applies(t) {
            goals.push((
                format!("{name}: context switches per event"),
                t.switches_per_event <= SWITCHES_GOAL,
            ));
        }
        if let Some(a) = t.allocs_per_event.filter(|_| on_goal_workload(t)) {
            goals.push((
                format!("{name}: heap allocations per event"),
                a <= ALLOCS_GOAL,
            ));
        }
    }
    for i in idle {
        goals.push((
            format!(
                "RSS per idle channel at {} channels{}",
                thousands(i.channels as f64),
                if i.tls { " over TLS" } else { "" }
            ),
            i.kib_per_channel() <= IDLE_GOAL_KIB,
        ));
    }
    for l in latency {
        if let Some(met) = latency_met(l) {
            goals.push((
                format!(
                    "latency p99 at {} events/s, {}",
                    thousands(l.rate),
                    l.company.describe()
                ),
                met,
            ));
        }
    }
    goals
}

/// One line under the table: how many goals the runs met, and which they missed.
pub fn verdict(throughput: &[Throughput], idle: &[Idle], latency: &[Latency]) -> String {
    let goals = goals(throughput, idle, latency);
    let missed: Vec<&str> = goals
        .iter()
        .filter(|(_, met)| !met)
        .map(|(name, _)| name.as_str())
        .collect();
    match (goals.len(), missed.len()) {
        (0, _) => "Goals: none apply to these runs.".to_string(),
        (n, 0) => format!("Goals: all {n} met."),
        (n, m) => format!(
            "Goals: {} of {n} met; missed: {}.",
            n - m,
            missed.join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: AllBenchArgs,
    }

    fn run(rate: f64, channel_threads: usize, users: usize) -> Run {
        Run {
            rate,
            channel_threads,
            users,
        }
    }

    fn plan(args: &[&str]) -> Plan {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .unwrap()
            .args
            .plan()
    }

    #[test]
    fn the_standard_set() {
        let p = plan(&[]);
        assert_eq!(p.parts.len(), 4);
        assert_eq!(
            p.runs,
            [
                run(10_000.0, 0, 400),
                run(20_000.0, 0, 400),
                run(SATURATION, 0, 400),
                run(SATURATION, 1, 400),
                // Beside the goals' workload: the same rate over 4 channels.
                run(10_000.0, 0, 2000),
            ]
        );
        assert_eq!((p.seconds, p.event_size), (10, 1024));
        assert_eq!(p.repeat, 3, "a goal's median of three");
        assert_eq!(p.channels, [1000, 5000, 10000]);
        assert!(!p.tls, "plain WebSocket unless asked");
        assert_eq!((p.latency_rate, p.latency_seconds), (20_000.0, 10));
        assert_eq!(p.detection, [(Timers::Default, 5), (Timers::Short, 10)]);
    }

    #[test]
    fn quick_shortens_everything_but_explicit_options_win() {
        let p = plan(&["--quick"]);
        assert_eq!((p.seconds, p.latency_seconds, p.idle_seconds), (3, 3, 3));
        assert_eq!(p.repeat, 1);
        assert_eq!(p.channels, [1000]);
        assert_eq!(p.detection, [(Timers::Short, 3)]);
        assert_eq!(plan(&["--quick", "--repeat", "5"]).repeat, 5);
        for bad in ["0", "10", "-1", "three"] {
            assert!(
                Cli::try_parse_from(["bench", "--repeat", bad]).is_err(),
                "--repeat {bad}"
            );
        }

        let p = plan(&[
            "--quick",
            "--channels",
            "200,400",
            "--latency-rate",
            "500",
            "--timers",
            "both",
            "--stalls",
            "2",
            "--tls",
        ]);
        assert_eq!(p.channels, [200, 400]);
        assert!(p.tls);
        assert_eq!(p.latency_rate, 500.0);
        assert_eq!(p.detection, [(Timers::Default, 2), (Timers::Short, 2)]);
    }

    #[test]
    fn only_some_parts() {
        let p = plan(&["--only", "latency,detection"]);
        assert_eq!(p.parts, [Part::Latency, Part::Detection]);
        assert!(Cli::try_parse_from(["bench", "--only", "speed"]).is_err());
        assert_eq!(plan(&["--rate", "5000"]).runs, [run(5000.0, 0, 400)]);
        assert_eq!(
            plan(&["--rate", "5000", "--channel-threads", "0,2"]).runs,
            [run(5000.0, 0, 400), run(5000.0, 2, 400)]
        );
        // Users chosen: every standard rate with them, and no extra run.
        assert_eq!(plan(&["--users", "9500"]).runs[0].users, 9500);
        assert_eq!(
            plan(&["--users", "2000"]).runs,
            [
                run(10_000.0, 0, 2000),
                run(20_000.0, 0, 2000),
                run(SATURATION, 0, 2000),
                run(SATURATION, 1, 2000),
            ]
        );
        for bad in ["0", "9501", "many"] {
            assert!(
                Cli::try_parse_from(["bench", "--users", bad]).is_err(),
                "--users {bad}"
            );
        }
    }

    #[test]
    fn a_throughput_row_names_its_threads_and_goals() {
        let shared = Throughput {
            users: 400,
            event_size: 1024,
            asked: SATURATION,
            channel_threads: 1,
            router_shards: 1,
            pinned: false,
            tls: false,
            delivered_per_sec: 160_000.0,
            cpu: 0.6,
            per_cpu_second: 266_667.0,
            switches_per_event: 0.06,
            allocs_per_event: Some(2.5),
            samples: Vec::new(),
        };
        let row = throughput_row(&shared);
        assert_eq!(
            row,
            "| throughput at 200,000 events/s asked, 400 users (800 topics on 1 channel), socket → file sink (1024 B events), data path on 2 threads, simulator sharing the cores: events per engine CPU-second | 266,667 (160,000 /s delivered, engine at 60 % of a core, 0.060 context switches per event, 2.50 heap allocations per event (goal ≤ 2: missed), no CPU goal: the simulator shares the engine's cores) |"
        );
        // The same with the simulator on a core of its own is held to every goal of its rate.
        let row = throughput_row(&Throughput {
            channel_threads: 0,
            pinned: true,
            ..shared
        });
        assert_eq!(
            row,
            "| throughput at 200,000 events/s asked, 400 users (800 topics on 1 channel), socket → file sink (1024 B events), data path on 1 thread, simulator on a core of its own (one worker thread): events per engine CPU-second (goal ≥ 250,000) | 266,667 (met) (160,000 /s delivered, engine at 60 % of a core, 0.060 context switches per event (goal ≤ 0.05: missed), 2.50 heap allocations per event (goal ≤ 2: missed)) |"
        );
        // A rate without a goal says none.
        let row = throughput_row(&Throughput {
            users: 400,
            event_size: 512,
            asked: 5_000.0,
            channel_threads: 0,
            router_shards: 1,
            pinned: true,
            tls: false,
            delivered_per_sec: 5_000.0,
            cpu: 0.05,
            per_cpu_second: 100_000.0,
            switches_per_event: 0.1,
            allocs_per_event: None,
            samples: Vec::new(),
        });
        assert!(!row.contains("goal"), "{row}");
        // A sharded router says so.
        let row = throughput_row(&Throughput {
            users: 400,
            event_size: 1024,
            asked: SATURATION,
            channel_threads: 2,
            router_shards: 2,
            pinned: false,
            tls: false,
            delivered_per_sec: 100_000.0,
            cpu: 0.5,
            per_cpu_second: 200_000.0,
            switches_per_event: 0.1,
            allocs_per_event: None,
            samples: Vec::new(),
        });
        assert!(
            row.contains(
                "data path on 3 threads (router in 2 shards), simulator sharing the cores"
            ),
            "{row}"
        );
        // So do TLS sockets.
        let row = throughput_row(&Throughput {
            users: 400,
            event_size: 1024,
            asked: 10_000.0,
            channel_threads: 0,
            router_shards: 1,
            pinned: true,
            tls: true,
            delivered_per_sec: 9_500.0,
            cpu: 0.1,
            per_cpu_second: 95_000.0,
            switches_per_event: 0.09,
            allocs_per_event: None,
            samples: Vec::new(),
        });
        assert!(
            row.starts_with(
                "| throughput at 10,000 events/s asked, 400 users (800 topics on 1 channel), socket over TLS → file sink (1024 B events)"
            ),
            "{row}"
        );
        // Another workload than the goals' is measured against none of them, and says so.
        let spread = Throughput {
            users: 2000,
            cpu: 0.1,
            allocs_per_event: Some(2.5),
            ..measured(90_000.0)
        };
        let row = throughput_row(&spread);
        assert!(
            row.starts_with(
                "| throughput at 10,000 events/s asked, 2,000 users (4,000 topics on 4 channels), socket → file sink"
            ),
            "{row}"
        );
        assert!(!row.contains("goal ≥") && !row.contains("missed"), "{row}");
        assert!(
            row.contains("no goal: the goals are set on 400 users"),
            "{row}"
        );
        assert_eq!(
            verdict(&[spread], &[], &[]),
            "Goals: none apply to these runs."
        );
    }

    #[test]
    fn latency_at_the_goals_rate_is_measured_against_it_and_the_verdict_counts_every_goal() {
        let latency = |p99: f64| Latency {
            company: Company::Alone,
            rate: 20_000.0,
            seconds: 10,
            event_size: 1024,
            sent: 200_000,
            send_to_sink: None,
            receipt_to_sink: Some(Summary {
                n: 200_000,
                p50: 0.6,
                p99,
                max: 4.0,
            }),
        };
        let rows = table(&[], &[], &[latency(1.1)], &[]);
        assert!(
            rows[3].ends_with(
                "engine receipt (`receivedAt`) → line in the file sink (goal p99 ≤ 2 ms) | p50 0.6 ms, p99 1.1 ms, max 4.0 ms (200,000 events) (met) |"
            ),
            "{}",
            rows[3]
        );
        let rows = table(&[], &[], &[latency(2.4)], &[]);
        assert!(rows[3].ends_with("(missed) |"), "{}", rows[3]);

        let run = |asked: f64, per_cpu_second: f64, allocs: f64| Throughput {
            users: 400,
            event_size: 1024,
            asked,
            channel_threads: 0,
            router_shards: 1,
            pinned: true,
            tls: false,
            delivered_per_sec: asked,
            cpu: 0.1,
            per_cpu_second,
            switches_per_event: 0.04,
            allocs_per_event: Some(allocs),
            samples: Vec::new(),
        };
        let idle = Idle {
            channels: 10_000,
            tls: true,
            time_to_live_secs: 40.0,
            rss_bytes: 140 * 1024 * 1024,
            idle_cpu: 0.04,
        };
        // 10,000/s: per CPU-second and allocations (no switches goal below 20,000/s); 20,000/s: all three;
        // the idle channels; the latency.
        assert_eq!(
            verdict(
                &[run(10_000.0, 150_000.0, 1.5), run(20_000.0, 200_000.0, 1.3)],
                std::slice::from_ref(&idle),
                &[latency(1.1)]
            ),
            "Goals: all 7 met."
        );
        assert_eq!(
            verdict(&[run(10_000.0, 100_000.0, 2.5)], &[idle], &[latency(2.4)]),
            "Goals: 1 of 4 met; missed: 10,000 events/s: events per engine CPU-second; 10,000 events/s: heap \
             allocations per event; latency p99 at 20,000 events/s, file sink alone."
        );
        assert_eq!(verdict(&[], &[], &[]), "Goals: none apply to these runs.");
        // Two data-path threads beside the simulator on 2 cores: only the allocation count is held to its goal.
        let shared = Throughput {
            channel_threads: 1,
            pinned: false,
            switches_per_event: 0.1,
            ..run(SATURATION, 200_000.0, 1.2)
        };
        assert_eq!(verdict(&[shared], &[], &[]), "Goals: all 1 met.");
    }

    #[test]
    fn the_table_says_what_each_row_measures() {
        let s = Summary {
            n: 10_000,
            p50: 0.8,
            p99: 2.26,
            max: 7.0,
        };
        let mut rows = table(
            &[Throughput {
                users: 400,
                event_size: 1024,
                asked: 20_000.0,
                channel_threads: 0,
                router_shards: 1,
                pinned: true,
                tls: false,
                delivered_per_sec: 19_950.0,
                cpu: 0.2,
                per_cpu_second: 99_750.0,
                switches_per_event: 0.0412,
                allocs_per_event: None,
                samples: Vec::new(),
            }],
            &[
                Idle {
                    channels: 1000,
                    tls: false,
                    time_to_live_secs: 1.24,
                    rss_bytes: 19 * 1024 * 1024,
                    idle_cpu: 0.003,
                },
                Idle {
                    channels: 5000,
                    tls: true,
                    time_to_live_secs: 3.0,
                    rss_bytes: 99 * 1024 * 1024,
                    idle_cpu: 0.01,
                },
            ],
            &[Latency {
                company: Company::SlowAndDeadSinks,
                rate: 1000.0,
                seconds: 10,
                event_size: 1024,
                sent: 10_000,
                send_to_sink: Some(s),
                receipt_to_sink: None,
            }],
            &[],
        );
        assert_eq!(rows.len(), 7);
        assert_eq!(
            rows.remove(2),
            "| throughput at 20,000 events/s asked, 400 users (800 topics on 1 channel), socket → file sink (1024 B events), data path on 1 thread, simulator on a core of its own (one worker thread): events per engine CPU-second (goal ≥ 150,000) | 99,750 (missed) (19,950 /s delivered, engine at 20 % of a core, 0.041 context switches per event (goal ≤ 0.05: met)) |"
        );
        assert_eq!(
            rows[2],
            "| scale: RSS per idle channel at 1,000 channels (goal ≤ 24 KiB) | 19.5 KiB (met) (19 MiB in all; all live in 1.2 s; idle CPU 0.3 % of a core) |"
        );
        assert_eq!(
            rows[3],
            "| scale: RSS per idle channel at 5,000 channels over TLS (goal ≤ 24 KiB) | 20.3 KiB (met) (99 MiB in all, 20.5 KiB per channel added above 1,000; all live in 3.0 s; idle CPU 1.0 % of a core) |"
        );
        assert!(
            rows[4].contains("beside a never-answering and a connection-refusing webhook sink")
        );
        assert!(rows[4].contains("simulator send → line in the file sink | p50 0.8 ms, p99 2.3 ms, max 7.0 ms (10,000 events)"));
        assert!(rows[5].ends_with("| no events |"));
        // At 1,000 events/s the latency goal (set at 20,000) is not claimed either way.
        assert!(!rows[5].contains("goal"), "{}", rows[5]);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }

    fn measured(per_cpu_second: f64) -> Throughput {
        Throughput {
            users: GOAL_USERS,
            event_size: 1024,
            asked: 10_000.0,
            channel_threads: 0,
            router_shards: 1,
            pinned: true,
            tls: false,
            delivered_per_sec: 10_000.0,
            cpu: 10_000.0 / per_cpu_second,
            per_cpu_second,
            switches_per_event: 0.09,
            allocs_per_event: Some(1.2),
            samples: Vec::new(),
        }
    }

    #[test]
    fn repeated_runs_are_held_to_their_goal_by_the_median_and_all_are_printed() {
        // Measured in this order; a passing stall of the machine made the last one cheap-looking or dear.
        let median = Throughput::median(vec![
            measured(128_222.0),
            measured(142_849.0),
            measured(104_900.0),
        ])
        .unwrap();
        assert_eq!(median.per_cpu_second, 128_222.0);
        assert_eq!(median.samples, [128_222.0, 142_849.0, 104_900.0]);
        let row = throughput_row(&median);
        assert!(row.contains("(goal ≥ 110,000) | 128,222 (met) (the median of 3 runs: 128,222, 142,849, 104,900; the median run's figures follow, 10,000 /s delivered"), "{row}");
        // The median's own figures, not another run's.
        assert!(row.contains("engine at 8 % of a core"), "{row}");

        // Of two, the lower: a goal is not met by the better half of a pair.
        let pair = Throughput::median(vec![measured(120_000.0), measured(100_000.0)]).unwrap();
        assert_eq!(pair.per_cpu_second, 100_000.0);
        assert!(throughput_row(&pair).contains("100,000 (missed)"));

        // One run is printed as it is.
        let one = Throughput::median(vec![measured(150_000.0)]).unwrap();
        assert!(one.samples.is_empty());
        assert!(!throughput_row(&one).contains("median"));
        assert!(Throughput::median(Vec::new()).is_none());
    }

    #[test]
    fn only_runs_held_to_a_cpu_goal_are_repeated() {
        let repeat = 3;
        assert_eq!(repeats(&run(10_000.0, 0, GOAL_USERS), repeat), 3);
        assert_eq!(repeats(&run(SATURATION, 0, GOAL_USERS), repeat), 3);
        // No goal at this rate, nor for another workload.
        assert_eq!(repeats(&run(5_000.0, 0, GOAL_USERS), repeat), 1);
        assert_eq!(repeats(&run(10_000.0, 0, 2000), repeat), 1);
        // Two data-path threads on this machine's cores leave none to the simulator: no CPU goal, one run.
        let cores = proc::affinity(std::process::id()).map_or(0, |c| c.len());
        assert_eq!(repeats(&run(SATURATION, cores, GOAL_USERS), repeat), 1);
    }
}
