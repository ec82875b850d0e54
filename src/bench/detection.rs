//! Detection: how long from a silent stall (the socket stays open; no event, heartbeat or pong arrives) until
//! the channel is live again on a new socket.
//!
//! Each stall is injected through the simulator's fault API on its own channel, one after another, spread over
//! one watchdog period so that they fall at different points of the engine's timer. The time runs from just
//! before the fault request to the first engine status (polled every 10 ms) showing that channel `live` with
//! one more connect than before. The stall lasts an hour: only the engine's watchdog can end it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use super::harness::{Scratch, SimChild, engine_config, wait_live};
use super::stats::Summary;

/// The engine timers a detection run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timers {
    /// The production defaults: ping every 15 s, dead after 70 s without a frame, backoff from 500 ms.
    Default,
    /// The engine tests' settings: ping every 200 ms, dead after 1.5 s, backoff 100 ms – 1 s.
    Short,
}

impl Timers {
    fn engine_toml(self) -> &'static str {
        match self {
            Timers::Default => "",
            Timers::Short => {
                "ping_interval = \"200ms\"\nheartbeat_timeout = \"1500ms\"\n\n[engine.backoff]\nmin = \"100ms\"\nmax = \"1s\""
            }
        }
    }

    /// The engine's watchdog period (its one timer: `min(ping_interval, heartbeat_timeout / 4)`).
    fn watchdog_period(self) -> Duration {
        match self {
            Timers::Default => Duration::from_secs(15),
            Timers::Short => Duration::from_millis(200),
        }
    }

    /// How the timers are described in the table.
    pub fn describe(self) -> &'static str {
        match self {
            Timers::Default => {
                "default timers: ping 15 s, heartbeat timeout 70 s, backoff from 500 ms"
            }
            Timers::Short => {
                "test timers: ping 200 ms, heartbeat timeout 1.5 s, backoff 100 ms–1 s"
            }
        }
    }
}

/// What a detection run measured (seconds).
#[derive(Debug, Clone)]
pub struct Detection {
    pub timers: Timers,
    pub stalls: usize,
    pub to_live: Summary,
}

/// Channels of one OAuth client the engine uses (the platform's 20, less one kept for rollovers).
const CHANNELS_PER_CLIENT: usize = 19;

/// A channel's place in the engine's status: its client and slot.
type Key = (String, usize);

/// Stalls `stalls` channels, one each, and times each one's return to `live` on a new socket.
pub async fn detection(timers: Timers, stalls: usize) -> anyhow::Result<Detection> {
    let stalls = stalls.max(1);
    // The simulator's default heartbeat interval (30 s) applies: heartbeats stop with the stall too.
    let sim = SimChild::start(stalls, &[]).await?;
    let clients = stalls.div_ceil(CHANNELS_PER_CLIENT);
    sim.register(clients).await?;
    let topics: Vec<String> = sim
        .user_topics(&["presence"])
        .await?
        .into_iter()
        .take(stalls)
        .collect();
    let scratch = Scratch::new("detection")?;
    let engine_toml = format!("topics_per_channel = 1\n{}", timers.engine_toml());
    let engine = crate::engine::start(engine_config(
        &sim,
        &scratch.0,
        &topics,
        clients,
        &engine_toml,
    )?)?;
    wait_live(&engine, stalls, Duration::from_secs(60)).await?;

    // (key, channel id, connects before the stall)
    let mut targets: Vec<(Key, String, u64)> = Vec::new();
    for t in engine.status().await?.tenants {
        for c in t.channels {
            let id = c
                .channel_id
                .clone()
                .context("a live channel without an id")?;
            targets.push(((c.client_id.clone(), c.slot), id, c.connects));
        }
    }
    let spacing = timers.watchdog_period() / stalls as u32;
    let started = Instant::now();
    let deadline = Duration::from_secs(600);
    let mut injected: HashMap<Key, Instant> = HashMap::new();
    let mut recovered: Vec<f64> = Vec::new();
    let mut done: HashSet<Key> = HashSet::new();
    while done.len() < targets.len() {
        if started.elapsed() > deadline {
            bail!(
                "{} of {} stalled channels were not live again after {deadline:?}",
                targets.len() - done.len(),
                targets.len()
            );
        }
        let next = injected.len();
        if next < targets.len() && started.elapsed() >= spacing * next as u32 {
            let (key, channel, _) = &targets[next];
            let at = Instant::now();
            sim.post(
                "/sim/v1/faults",
                json!({"kind": "stall", "channel": channel, "durationSeconds": 3600}),
            )
            .await?;
            injected.insert(key.clone(), at);
        }
        let status = engine.status().await?;
        let now = Instant::now();
        for c in status.tenants.iter().flat_map(|t| &t.channels) {
            let key = (c.client_id.clone(), c.slot);
            let Some(at) = injected.get(&key) else {
                continue;
            };
            let before = targets
                .iter()
                .find(|(k, _, _)| *k == key)
                .map_or(0, |t| t.2);
            if matches!(c.lifecycle, crate::channel::Lifecycle::Live { .. })
                && c.connects > before
                && !done.contains(&key)
            {
                let took = now.duration_since(*at).as_secs_f64();
                eprintln!(
                    "detection ({:?} timers): stall {} live again on a new socket after {took:.2} s",
                    timers,
                    done.len() + 1
                );
                recovered.push(took);
                done.insert(key);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    engine.stop();
    Ok(Detection {
        timers,
        stalls: recovered.len(),
        to_live: Summary::of(recovered).context("no stall measured")?,
    })
}
