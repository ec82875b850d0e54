//! What a scrape needs of the engine's state, as plain values: the engine builds a [`StatusSnapshot`] from its
//! status and gives its sinks as [`SinkGauges`], so that metrics imports no engine type.

use chrono::{DateTime, Utc};

/// The tenants of an engine, as the state gauges show them.
#[derive(Debug, Clone, Default)]
pub struct StatusSnapshot {
    pub tenants: Vec<TenantSnapshot>,
}

/// One tenant: its state, its channels, its topics against the platform's limits, its tokens.
#[derive(Debug, Clone, Default)]
pub struct TenantSnapshot {
    pub id: String,
    pub region: String,
    /// `running`, `degraded`, `failed`, `starting` or `paused`.
    pub state: String,
    pub channels: Vec<ChannelSnapshot>,
    pub topics_desired: usize,
    pub topics_subscribed: usize,
    pub topics_rejected: usize,
    pub topics_unplaced: usize,
    pub channel_quota_utilization: f64,
    pub channels_per_client_utilization: f64,
    /// When each OAuth client's current token expires (none before its first token).
    pub token_expires_at: Vec<Option<DateTime<Utc>>>,
}

/// One channel.
#[derive(Debug, Clone)]
pub struct ChannelSnapshot {
    /// One of [`CHANNEL_STATES`](super::labels::CHANNEL_STATES).
    pub state: &'static str,
    /// When its last frame arrived.
    pub last_frame_at: Option<DateTime<Utc>>,
}

/// One sink, as the per-sink gauges show it.
#[derive(Debug, Clone, Default)]
pub struct SinkSnapshot {
    pub name: String,
    /// Records waiting in the worker's queue.
    pub queued: usize,
    /// Bytes waiting in the sink's spool on disk.
    pub spool_bytes: u64,
    pub spool_max_bytes: u64,
    /// Whether the spool is full.
    pub spool_full: bool,
}

/// A sink as a scrape sees it: implemented by the engine's sink entries.
pub trait SinkGauges {
    fn sink_snapshot(&self) -> SinkSnapshot;
}

impl SinkGauges for SinkSnapshot {
    fn sink_snapshot(&self) -> SinkSnapshot {
        self.clone()
    }
}
