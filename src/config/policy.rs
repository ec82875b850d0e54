//! `[engine]`: timings, limits and budgets of the channel engine. Every field is optional; the defaults are
//! safe for the real platform (contract §5).

use std::time::Duration;

use serde::Deserialize;
use toml::Table;

use crate::settings::Errors;
use crate::settings::Reader;

/// Channel lifetime on the platform (contract §5): a rollover margin must be shorter.
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Most threads `channel_threads` may ask for: more than the cores only adds hand-offs.
pub const MAX_CHANNEL_THREADS: usize = 64;

/// How the engine runs channels: the `[engine]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct EnginePolicy {
    /// Period of the app-level `{"message":"ping"}` health check. Default 15s.
    pub ping_interval: Duration,
    /// No frame at all for this long means the socket is dead. Default 70s; must exceed `ping_interval`.
    pub heartbeat_timeout: Duration,
    /// Timeout for opening a socket or a TCP connection. Default 10s.
    pub connect_timeout: Duration,
    /// Timeout of one REST request. Default 30s.
    pub request_timeout: Duration,
    /// Refresh a token this long before it expires. Default 30m (the engine caps it at a third of the
    /// token lifetime).
    pub token_refresh_margin: Duration,
    /// Extend or roll a channel over this long before it expires. Default 30m; must be under 24h.
    pub rollover_margin: Duration,
    /// Retry delays after failures: `[engine.backoff]`.
    pub backoff: BackoffPolicy,
    /// When a failing tenant is restarted or given up on: `[engine.restart]`.
    pub restart: RestartPolicy,
    /// Channels the platform allows per OAuth client. Default 20.
    pub channels_per_client: usize,
    /// Channel slots kept free for make-before-break rollovers. Default 1; must be below
    /// `channels_per_client`.
    pub reserved_channel_slots: usize,
    /// Topics the platform allows per channel. Default 1000.
    pub topics_per_channel: usize,
    /// How a combined topic id counts against `topics_per_channel`. Default `expanded`.
    pub combined_topic_counting: CombinedCounting,
    /// Per-token REST budget the engine stays under, requests a minute. Default 300.
    pub rest_requests_per_minute: u32,
    /// Events buffered between the channels and the router (per router shard). Default 65536.
    pub router_queue: usize,
    /// Records buffered per sink before its worker spools them to disk (a slow or failing destination then
    /// never holds the router). Default 65536.
    pub sink_queue: usize,
    /// Recent event ids remembered to remove duplicates, per tenant. Default 200000.
    pub dedup_window: usize,
    /// How often each tenant writes its live channels' last proof of life (last frame) to the store, in one
    /// batch, so that after a crash (no graceful stop) the `restart` gap opens at most this long before the
    /// last frame the process received.
    /// Default 4s (`heartbeat_timeout` when that is shorter), so that with the 2 s lead of every gap a crash gap
    /// starts less than 7 s before the crash; at most `heartbeat_timeout`.
    pub proof_of_life_interval: Duration,
    /// Threads that read the channels' sockets. Default 0: none of their own, the channels run on the
    /// engine's thread beside the router and the sink workers, so that an event is read, routed and written
    /// without a hand-off between threads (the cheapest per event: see the README's throughput figures).
    /// N spreads the channels over N threads of their own, for more events than one core carries.
    pub channel_threads: usize,
    /// Shards of the router. Default 1: one router, on the engine's thread beside the sink workers, routes
    /// every tenant. N > 1 splits the tenants over N routers (by a hash of the tenant's id, so a tenant's
    /// records stay in one, in order), each on one of the channel threads: routing then grows with the
    /// threads. At most `channel_threads`.
    pub router_shards: usize,
}

impl Default for EnginePolicy {
    fn default() -> EnginePolicy {
        EnginePolicy {
            ping_interval: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(70),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            token_refresh_margin: Duration::from_secs(30 * 60),
            rollover_margin: Duration::from_secs(30 * 60),
            backoff: BackoffPolicy::default(),
            restart: RestartPolicy::default(),
            channels_per_client: 20,
            reserved_channel_slots: 1,
            topics_per_channel: 1000,
            combined_topic_counting: CombinedCounting::Expanded,
            rest_requests_per_minute: 300,
            router_queue: 65536,
            sink_queue: 65536,
            dedup_window: 200_000,
            proof_of_life_interval: Duration::from_secs(4),
            channel_threads: 0,
            router_shards: 1,
        }
    }
}

/// Exponential backoff with jitter: `[engine.backoff]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// First delay. Default 500ms.
    pub min: Duration,
    /// Largest delay. Default 60s; must be at least `min`.
    pub max: Duration,
    /// Each delay is the previous one times this. Default 2.0; must be at least 1.
    pub multiplier: f64,
    /// Fraction of each delay drawn at random, 0 to 1. Default 0.5.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> BackoffPolicy {
        BackoffPolicy {
            min: Duration::from_millis(500),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

/// Restart intensity of a tenant's supervisor: `[engine.restart]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    /// Restarts allowed within `within` before the tenant is marked failed. Default 5; at least 1.
    pub max_restarts: u32,
    /// The window restarts are counted in. Default 60s.
    pub within: Duration,
    /// Running this long without failing resets the restart count. Default 120s.
    pub healthy_after: Duration,
    /// A failed tenant is tried again after this long. Default 5m.
    pub failed_retry: Duration,
}

impl Default for RestartPolicy {
    fn default() -> RestartPolicy {
        RestartPolicy {
            max_restarts: 5,
            within: Duration::from_secs(60),
            healthy_after: Duration::from_secs(120),
            failed_retry: Duration::from_secs(5 * 60),
        }
    }
}

/// How a combined topic id (`v2.users.X?presence&routingStatus`) counts against the per-channel quota,
/// which the platform does not document (contract §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CombinedCounting {
    /// As many topics as it expands to: the safe assumption.
    #[default]
    Expanded,
    /// As one topic.
    Single,
}

const ENGINE_KEYS: &[&str] = &[
    "ping_interval",
    "heartbeat_timeout",
    "connect_timeout",
    "request_timeout",
    "token_refresh_margin",
    "rollover_margin",
    "backoff",
    "restart",
    "channels_per_client",
    "reserved_channel_slots",
    "topics_per_channel",
    "combined_topic_counting",
    "rest_requests_per_minute",
    "router_queue",
    "sink_queue",
    "dedup_window",
    "proof_of_life_interval",
    "channel_threads",
    "router_shards",
];

/// Reads and validates the `[engine]` table at `path`.
pub(crate) fn read_engine(table: &Table, path: &str, errs: &mut Errors) -> EnginePolicy {
    let r = Reader::new(table, path, ENGINE_KEYS, errs);
    let d = EnginePolicy::default();
    let heartbeat_timeout = r.duration("heartbeat_timeout", d.heartbeat_timeout, errs);
    let p = EnginePolicy {
        ping_interval: r.duration("ping_interval", d.ping_interval, errs),
        heartbeat_timeout,
        connect_timeout: r.duration("connect_timeout", d.connect_timeout, errs),
        request_timeout: r.duration("request_timeout", d.request_timeout, errs),
        token_refresh_margin: r.duration("token_refresh_margin", d.token_refresh_margin, errs),
        rollover_margin: r.duration("rollover_margin", d.rollover_margin, errs),
        backoff: r
            .table("backoff", errs)
            .map_or(d.backoff, |t| read_backoff(t, &r.path("backoff"), errs)),
        restart: r
            .table("restart", errs)
            .map_or(d.restart, |t| read_restart(t, &r.path("restart"), errs)),
        channels_per_client: r.uint("channels_per_client", d.channels_per_client, errs),
        reserved_channel_slots: r.uint("reserved_channel_slots", d.reserved_channel_slots, errs),
        topics_per_channel: r.uint("topics_per_channel", d.topics_per_channel, errs),
        combined_topic_counting: match r.string("combined_topic_counting", errs).as_deref() {
            None => d.combined_topic_counting,
            Some("expanded") => CombinedCounting::Expanded,
            Some("single") => CombinedCounting::Single,
            Some(other) => {
                errs.push(
                    r.path("combined_topic_counting"),
                    format!("{other:?} is not one of \"expanded\", \"single\""),
                );
                d.combined_topic_counting
            }
        },
        rest_requests_per_minute: r.uint(
            "rest_requests_per_minute",
            d.rest_requests_per_minute,
            errs,
        ),
        router_queue: r.uint("router_queue", d.router_queue, errs),
        sink_queue: r.uint("sink_queue", d.sink_queue, errs),
        dedup_window: r.uint("dedup_window", d.dedup_window, errs),
        // A short heartbeat timeout (a simulator, a test) shortens the default rather than refusing it.
        proof_of_life_interval: r.duration(
            "proof_of_life_interval",
            d.proof_of_life_interval.min(heartbeat_timeout),
            errs,
        ),
        channel_threads: r.uint("channel_threads", d.channel_threads, errs),
        router_shards: r.uint("router_shards", d.router_shards, errs),
    };
    let ok = |errs: &Errors, keys: &[&str]| keys.iter().all(|k| !errs.has(&r.path(k)));
    if p.heartbeat_timeout <= p.ping_interval && ok(errs, &["heartbeat_timeout", "ping_interval"]) {
        errs.push(
            r.path("heartbeat_timeout"),
            format!(
                "must be longer than ping_interval ({})",
                humantime::format_duration(p.ping_interval)
            ),
        );
    }
    // A proof older than the heartbeat timeout says less than the timeout itself: the socket may be dead.
    if p.proof_of_life_interval > p.heartbeat_timeout
        && ok(errs, &["proof_of_life_interval", "heartbeat_timeout"])
    {
        errs.push(
            r.path("proof_of_life_interval"),
            format!(
                "must not exceed heartbeat_timeout ({})",
                humantime::format_duration(p.heartbeat_timeout)
            ),
        );
    }
    if p.channel_threads > MAX_CHANNEL_THREADS {
        errs.push(
            r.path("channel_threads"),
            format!("must be at most {MAX_CHANNEL_THREADS}"),
        );
    }
    // Each shard beyond the first runs on a channel thread of its own (see `router_shards`).
    if p.router_shards > 1
        && p.router_shards > p.channel_threads
        && ok(errs, &["router_shards", "channel_threads"])
    {
        errs.push(
            r.path("router_shards"),
            format!(
                "must be 1 or at most channel_threads ({}): each shard runs on a channel thread",
                p.channel_threads
            ),
        );
    }
    if p.rollover_margin >= CHANNEL_LIFETIME {
        errs.push(
            r.path("rollover_margin"),
            "must be shorter than the 24h channel lifetime",
        );
    }
    if p.reserved_channel_slots >= p.channels_per_client
        && ok(errs, &["reserved_channel_slots", "channels_per_client"])
    {
        errs.push(
            r.path("reserved_channel_slots"),
            format!(
                "must be less than channels_per_client ({})",
                p.channels_per_client
            ),
        );
    }
    for (key, value) in [
        ("channels_per_client", p.channels_per_client),
        ("topics_per_channel", p.topics_per_channel),
        (
            "rest_requests_per_minute",
            p.rest_requests_per_minute as usize,
        ),
        ("router_queue", p.router_queue),
        ("sink_queue", p.sink_queue),
        ("dedup_window", p.dedup_window),
        ("router_shards", p.router_shards),
    ] {
        if value == 0 {
            errs.push(r.path(key), "must be at least 1");
        }
    }
    p
}

fn read_backoff(table: &Table, path: &str, errs: &mut Errors) -> BackoffPolicy {
    let r = Reader::new(table, path, &["min", "max", "multiplier", "jitter"], errs);
    let d = BackoffPolicy::default();
    let b = BackoffPolicy {
        min: r.duration("min", d.min, errs),
        max: r.duration("max", d.max, errs),
        multiplier: r.float("multiplier", d.multiplier, errs),
        jitter: r.float("jitter", d.jitter, errs),
    };
    if b.min > b.max && !errs.has(&r.path("min")) && !errs.has(&r.path("max")) {
        errs.push(
            r.path("min"),
            format!(
                "must not exceed max ({})",
                humantime::format_duration(b.max)
            ),
        );
    }
    if b.multiplier < 1.0 {
        errs.push(r.path("multiplier"), "must be at least 1");
    }
    if !(0.0..=1.0).contains(&b.jitter) {
        errs.push(r.path("jitter"), "must be between 0 and 1");
    }
    b
}

fn read_restart(table: &Table, path: &str, errs: &mut Errors) -> RestartPolicy {
    let keys = ["max_restarts", "within", "healthy_after", "failed_retry"];
    let r = Reader::new(table, path, &keys, errs);
    let d = RestartPolicy::default();
    let p = RestartPolicy {
        max_restarts: r.uint("max_restarts", d.max_restarts, errs),
        within: r.duration("within", d.within, errs),
        healthy_after: r.duration("healthy_after", d.healthy_after, errs),
        failed_retry: r.duration("failed_retry", d.failed_retry, errs),
    };
    if p.max_restarts == 0 {
        errs.push(r.path("max_restarts"), "must be at least 1");
    }
    p
}
