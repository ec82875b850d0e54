//! Latency at a fixed rate: from the simulator handing an event to the socket to its line appearing in the
//! file sink's file, for every event of the run.
//!
//! The send time is the simulator's ledger entry (recorded as the frame is queued on the socket); the line's
//! time is when [`super::tail`] read it from the file. The engine's own `receivedAt` in each line gives the
//! part spent inside the engine (receipt → file). Both clocks are this machine's wall clock. The ledger and
//! `receivedAt` carry whole milliseconds (truncated), so each figure is at most 1 ms above the true value.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::harness::{Scratch, SimChild, engine_config_with, wait_live};
use super::stats::Summary;
use super::tail::Tail;

/// The sinks beside the measured file sink, all routed every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Company {
    Alone,
    /// A webhook whose receiver takes each request and never answers, and one whose port refuses
    /// connections: the file sink's figures should not move.
    SlowAndDeadSinks,
}

impl Company {
    pub fn describe(self) -> &'static str {
        match self {
            Company::Alone => "file sink alone",
            Company::SlowAndDeadSinks => {
                "file sink beside a never-answering and a connection-refusing webhook sink"
            }
        }
    }
}

/// What a latency run measured (milliseconds).
#[derive(Debug, Clone)]
pub struct Latency {
    pub company: Company,
    pub rate: f64,
    pub seconds: u64,
    pub event_size: usize,
    /// Events the simulator sent during the run.
    pub sent: usize,
    /// Simulator send → line in the file.
    pub send_to_sink: Option<Summary>,
    /// The engine's receipt (`receivedAt`) → line in the file.
    pub receipt_to_sink: Option<Summary>,
}

/// The fields of a sink line the measurement needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    kind: String,
    correlation_id: Option<String>,
    received_at: Option<DateTime<Utc>>,
}

fn parse(line: &[u8]) -> Option<Line> {
    serde_json::from_slice::<Line>(line)
        .ok()
        .filter(|l| l.kind == "event")
}

fn millis(d: chrono::TimeDelta) -> f64 {
    d.num_microseconds()
        .map_or(f64::NAN, |us| us as f64 / 1000.0)
}

async fn ledger_last_seq(sim: &SimChild) -> anyhow::Result<u64> {
    sim.get("/sim/v1/ledger?limit=1").await?["lastSeq"]
        .as_u64()
        .context("the ledger's lastSeq")
}

/// Send times of the events recorded after `after_seq` that went to a socket, by correlation id.
async fn sent_since(
    sim: &SimChild,
    after_seq: u64,
) -> anyhow::Result<HashMap<String, DateTime<Utc>>> {
    let mut sent = HashMap::new();
    let mut after = after_seq;
    loop {
        let page = sim
            .get(&format!("/sim/v1/ledger?afterSeq={after}&limit=10000"))
            .await?;
        if page["oldestSeq"]
            .as_u64()
            .is_some_and(|o| o > after_seq + 1)
        {
            anyhow::bail!("the simulator's ledger dropped events of the run: raise its capacity");
        }
        for e in page["entries"].as_array().context("ledger entries")? {
            if e["channels"].as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            let (Some(id), Some(at)) = (e["correlationId"].as_str(), e["at"].as_str()) else {
                continue;
            };
            sent.insert(id.to_string(), at.parse::<DateTime<Utc>>()?);
        }
        match page["nextAfterSeq"].as_u64() {
            Some(next) => after = next,
            None => return Ok(sent),
        }
    }
}

/// Sends `rate` events per second of 1,000 users' presence and routing status (2 channels) for `seconds`.
pub async fn latency(
    rate: f64,
    seconds: u64,
    event_size: usize,
    company: Company,
) -> anyhow::Result<Latency> {
    // Every event of the run is read back from the ledger: room for them all, and for the seconds around it.
    let ledger = ((rate.max(0.0) * (seconds as f64 + 5.0)) as usize).max(200_000);
    let sim = SimChild::start_with_ledger(1000, ledger, &[]).await?;
    sim.register(1).await?;
    let topics = sim.user_topics(&["presence", "routingStatus"]).await?;
    let scratch = Scratch::new("latency")?;
    std::fs::File::create(scratch.sink())?;
    let extra = match company {
        Company::Alone => String::new(),
        Company::SlowAndDeadSinks => troubled_sinks().await?,
    };
    let engine = crate::engine::start(engine_config_with(
        &sim, &scratch.0, &topics, 1, "", &extra,
    )?)?;
    wait_live(&engine, 2, Duration::from_secs(60)).await?;
    let first = ledger_last_seq(&sim).await?;
    let tail = Tail::start(&scratch.sink(), parse)?;
    sim.workload(rate, event_size).await?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    sim.workload(0.0, event_size).await?;
    let sent = sent_since(&sim, first).await?;
    // Wait for the last events to reach the file (they are all expected; give up after 10 s).
    let waited = Instant::now();
    while tail.lines() < sent.len() && waited.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = tail.stop()?;
    engine.stop();
    let mut send_to_sink = Vec::with_capacity(seen.len());
    let mut receipt_to_sink = Vec::with_capacity(seen.len());
    for s in &seen {
        if let Some(sent_at) = s.line.correlation_id.as_ref().and_then(|c| sent.get(c)) {
            send_to_sink.push(millis(s.at - *sent_at));
        }
        if let Some(received) = s.line.received_at {
            receipt_to_sink.push(millis(s.at - received));
        }
    }
    Ok(Latency {
        company,
        rate,
        seconds,
        event_size,
        sent: sent.len(),
        send_to_sink: Summary::of(send_to_sink),
        receipt_to_sink: Summary::of(receipt_to_sink),
    })
}

/// Starts a receiver that never answers, finds a port that refuses connections, and returns the TOML of two
/// webhook sinks pointed at them, routed every record.
async fn troubled_sinks() -> anyhow::Result<String> {
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let slow_port = slow.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = slow.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let hook = |name: &str, port: u16| {
        format!(
            "\n[[sinks]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"bench-secret\"\ntimeout = \"1h\"\nallow = [\"127.0.0.1\"]\n\n[[routes]]\nsinks = [\"{name}\"]\n"
        )
    };
    Ok(hook("slow", slow_port) + &hook("dead", dead_port))
}
