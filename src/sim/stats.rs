//! Counters served at `GET /sim/v1/stats`, so tests can assert what a client did to the platform.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Distinct topics whose subscription churn is counted one by one; past this, only the totals grow
/// (a long benchmark subscribes to a new detail-event topic per conversation).
const MAX_TRACKED_TOPICS: usize = 200_000;

/// Counters of the simulator. All methods are cheap and lock-free except the per-endpoint REST table
/// and the per-topic churn table.
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
    /// (channel, topic) pairs a subscription call added; see [`StatsSnapshot::topics_subscribed`].
    pub topics_subscribed: AtomicU64,
    /// (channel, topic) pairs a subscription call removed.
    pub topics_unsubscribed: AtomicU64,
    /// REST calls being answered now, and the most at any one time.
    rest_in_flight: AtomicU64,
    rest_in_flight_max: AtomicU64,
    rest: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    churn: Mutex<TopicChurn>,
}

/// Per-topic subscription churn: how often each topic was added to and removed from a channel.
#[derive(Debug, Default)]
struct TopicChurn {
    /// Lower-case topic → [subscribed, unsubscribed].
    by_topic: HashMap<String, [u64; 2]>,
    /// Some topic went uncounted because the table was full.
    overflowed: bool,
}

/// The churn of each topic, served at `GET /sim/v1/stats/topics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicChurnSnapshot {
    /// The totals, as in [`StatsSnapshot`].
    pub topics_subscribed: u64,
    pub topics_unsubscribed: u64,
    /// `false` once more than 200,000 distinct topics were seen: later ones count in the totals only.
    pub complete: bool,
    /// Topics (lower case) sorted by name, with the times each was subscribed and unsubscribed.
    pub topics: Vec<TopicCount>,
}

/// One topic's churn.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicCount {
    pub topic: String,
    pub subscribed: u64,
    pub unsubscribed: u64,
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
    /// Individual topics added to a channel by subscription calls (POST, PUT, the socket-level subscribe),
    /// counted once per channel and topic; a PUT that repeats a topic the channel has adds nothing, and a
    /// combined id counts each topic it covers. So a client that resubscribes nothing it already had
    /// leaves this unchanged.
    pub topics_subscribed: u64,
    /// Individual topics removed from a channel by subscription calls (PUT, DELETE). Topics that go with a
    /// channel (expiry, eviction, revocation) are not counted.
    pub topics_unsubscribed: u64,
    /// The most REST calls (`/api/...` and the token endpoint) the simulator was answering at one time,
    /// from any client: how many connections a client kept busy at once.
    pub rest_in_flight_max: u64,
    /// REST calls by `METHOD /path/template` and status code.
    pub rest: BTreeMap<String, BTreeMap<u16, u64>>,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A REST call is being answered until the returned guard drops.
    pub fn rest_call_started(&self) -> RestInFlight<'_> {
        let now = self.rest_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.rest_in_flight_max.fetch_max(now, Ordering::Relaxed);
        RestInFlight(self)
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

    /// Counts the topics one subscription call added to and removed from one channel.
    pub fn record_churn(&self, added: &[String], removed: &[String]) {
        self.topics_subscribed
            .fetch_add(added.len() as u64, Ordering::Relaxed);
        self.topics_unsubscribed
            .fetch_add(removed.len() as u64, Ordering::Relaxed);
        let mut churn = self.churn.lock();
        let churn = &mut *churn;
        for (topics, side) in [(added, 0), (removed, 1)] {
            for topic in topics {
                if let Some(counts) = churn.by_topic.get_mut(topic) {
                    counts[side] += 1;
                } else if churn.by_topic.len() < MAX_TRACKED_TOPICS {
                    let mut counts = [0, 0];
                    counts[side] = 1;
                    churn.by_topic.insert(topic.clone(), counts);
                } else {
                    churn.overflowed = true;
                }
            }
        }
    }

    /// The churn of every topic starting with `prefix` (case ignored), sorted by topic.
    pub fn topic_churn(&self, prefix: Option<&str>) -> TopicChurnSnapshot {
        let prefix = prefix.unwrap_or_default().to_ascii_lowercase();
        let churn = self.churn.lock();
        let mut topics: Vec<TopicCount> = churn
            .by_topic
            .iter()
            .filter(|(t, _)| t.starts_with(&prefix))
            .map(|(t, [s, u])| TopicCount {
                topic: t.clone(),
                subscribed: *s,
                unsubscribed: *u,
            })
            .collect();
        topics.sort_by(|a, b| a.topic.cmp(&b.topic));
        TopicChurnSnapshot {
            topics_subscribed: self.topics_subscribed.load(Ordering::Relaxed),
            topics_unsubscribed: self.topics_unsubscribed.load(Ordering::Relaxed),
            complete: !churn.overflowed,
            topics,
        }
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
            topics_subscribed: get(&self.topics_subscribed),
            topics_unsubscribed: get(&self.topics_unsubscribed),
            rest_in_flight_max: get(&self.rest_in_flight_max),
            rest: self.rest.lock().clone(),
        }
    }
}

/// One REST call being answered (see [`Stats::rest_call_started`]).
#[must_use]
pub struct RestInFlight<'s>(&'s Stats);

impl Drop for RestInFlight<'_> {
    fn drop(&mut self) {
        self.0.rest_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
