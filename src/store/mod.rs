//! Durable state: the `Store` trait and its implementations.
//!
//! Issue scope today: channel records (so a restarted process re-uses its channels instead of creating new
//! ones that would evict its own) and gap records. The embedded default is SQLite ([`sqlite::SqliteStore`]).

pub mod sqlite;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A live Genesys channel owned by this service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelRecord {
    pub tenant: String,
    pub region: String,
    /// The OAuth client whose token made the channel.
    pub client_id: String,
    pub channel_id: String,
    pub connect_uri: String,
    /// The channel's `expires` as last read from the platform.
    pub expires_at: DateTime<Utc>,
    /// When the token that made the channel expires: the channel dies with it.
    pub token_expires_at: DateTime<Utc>,
    /// Subscription ids as sent to the platform (combined form allowed), in order.
    pub topics: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// A loss of continuity: events on `topics` between `from` and `to` may have been missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GapRecord {
    /// Unique id of the gap (UUID).
    pub id: String,
    pub tenant: String,
    pub region: String,
    pub channel_id: String,
    /// Individual topic names (never the combined form).
    pub topics: Vec<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Why continuity was lost: one of [`GapReason`]'s names.
    pub reason: String,
}

/// Filter for [`Store::gaps`].
#[derive(Debug, Clone, Default)]
pub struct GapFilter {
    pub tenant: Option<String>,
    /// Gaps that end at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Gaps that start at or before this.
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<usize>,
}

/// Errors of a store; callers branch on the kind.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unreachable: {0}")]
    Unavailable(String),
    #[error("the store's data is invalid: {0}")]
    Corrupt(String),
    #[error("a store migration failed: {0}")]
    Migration(String),
}

/// The persistence the engine needs. Implementations are cheap to clone behind an `Arc`.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or replaces the record for `record.channel_id`.
    async fn upsert_channel(&self, record: &ChannelRecord) -> Result<(), StoreError>;
    /// Forgets a channel (it expired, was replaced or is gone).
    async fn remove_channel(&self, channel_id: &str) -> Result<(), StoreError>;
    /// The channels recorded for a tenant, oldest first.
    async fn channels(&self, tenant: &str) -> Result<Vec<ChannelRecord>, StoreError>;
    /// Appends a gap.
    async fn record_gap(&self, gap: &GapRecord) -> Result<(), StoreError>;
    /// Gaps matching the filter, oldest `from` first.
    async fn gaps(&self, filter: &GapFilter) -> Result<Vec<GapRecord>, StoreError>;
    /// Cheap check that the store answers (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}
