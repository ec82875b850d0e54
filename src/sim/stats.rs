//! Counters served at `GET /sim/v1/stats`, so tests can assert what a client did to the platform.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Counters of the simulator. All methods are cheap and lock-free except the per-endpoint REST table.
#[derive(Debug, Default)]
pub struct Stats {
    pub channels_created: AtomicU64,
    pub channels_evicted: AtomicU64,
    pub channels_expired: AtomicU64,
    pub channels_token_expired: AtomicU64,
    pub sockets_opened: AtomicU64,
    pub sockets_opened_unsubscribed: AtomicU64,
    pub sockets_closed: AtomicU64,
    pub slow_consumer_drops: AtomicU64,
    pub events_generated: AtomicU64,
    pub event_frames_sent: AtomicU64,
    pub heartbeats_sent: AtomicU64,
    pub pongs_sent: AtomicU64,
    pub protocol_pongs_sent: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub rate_limited: AtomicU64,
    pub client_frames_ignored: AtomicU64,
    rest: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
}

/// A snapshot of [`Stats`] as JSON (and, read back, the typed stats tests compare).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    pub channels_created: u64,
    pub channels_evicted: u64,
    pub channels_expired: u64,
    /// Channels removed because the token that made them expired (only with `channels_die_with_token`).
    pub channels_token_expired: u64,
    pub channels_open: u64,
    pub sockets_opened: u64,
    /// Sockets opened on a channel with no subscription (an idle socket the platform would close).
    pub sockets_opened_unsubscribed: u64,
    pub sockets_closed: u64,
    pub sockets_open: u64,
    pub slow_consumer_drops: u64,
    pub events_generated: u64,
    pub event_frames_sent: u64,
    pub heartbeats_sent: u64,
    pub pongs_sent: u64,
    pub protocol_pongs_sent: u64,
    pub tokens_issued: u64,
    /// 429 responses sent.
    pub rate_limited: u64,
    pub client_frames_ignored: u64,
    /// REST calls by `METHOD /path/template` and status code.
    pub rest: BTreeMap<String, BTreeMap<u16, u64>>,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_rest(&self, endpoint: String, status: u16) {
        *self
            .rest
            .lock()
            .entry(endpoint)
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    pub fn snapshot(&self, channels_open: u64) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let opened = get(&self.sockets_opened);
        let closed = get(&self.sockets_closed);
        StatsSnapshot {
            channels_created: get(&self.channels_created),
            channels_evicted: get(&self.channels_evicted),
            channels_expired: get(&self.channels_expired),
            channels_token_expired: get(&self.channels_token_expired),
            channels_open,
            sockets_opened: opened,
            sockets_opened_unsubscribed: get(&self.sockets_opened_unsubscribed),
            sockets_closed: closed,
            sockets_open: opened.saturating_sub(closed),
            slow_consumer_drops: get(&self.slow_consumer_drops),
            events_generated: get(&self.events_generated),
            event_frames_sent: get(&self.event_frames_sent),
            heartbeats_sent: get(&self.heartbeats_sent),
            pongs_sent: get(&self.pongs_sent),
            protocol_pongs_sent: get(&self.protocol_pongs_sent),
            tokens_issued: get(&self.tokens_issued),
            rate_limited: get(&self.rate_limited),
            client_frames_ignored: get(&self.client_frames_ignored),
            rest: self.rest.lock().clone(),
        }
    }
}
