//! Durable state: the `Store` trait and its implementations.
//!
//! What is kept: tenants, their OAuth clients (secrets sealed by the master key, see [`crate::secrets`]) and
//! topics, sinks, routes, channel records (so a restarted process re-uses its channels instead of creating
//! new ones that would evict its own), gap records and an audit log.
//!
//! Two implementations share one test suite (`store/tests.rs`): SQLite ([`sqlite::SqliteStore`], the
//! embedded default) and PostgreSQL ([`postgres::PostgresStore`]). Both keep times to the millisecond
//! (finer precision is truncated) and compare text byte for byte (names are ordered by their UTF-8 bytes).
//! [`rotate_master_key`] re-seals every client secret under a new master key.
//!
//! Every operation's SQL is written once, in `sql/`, over a `Dialect` (how a backend keeps times, lists and
//! JSON documents, and how it classifies errors); `sqlite.rs` and `postgres.rs` keep opening, migrating and
//! their dialect.

mod common;
pub mod postgres;
mod rotate;
mod rows;
mod sql;
pub mod sqlite;

#[cfg(test)]
pub(crate) mod tests;

pub use rotate::{RotateError, rotate_master_key};

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::gap::backfill::{BackfillSettings, GapBackfill};
use crate::secrets::Sealed;

/// A tenant's lease as its owner holds it (cluster mode): writes fenced by it are refused once another
/// instance took the tenant (the epoch moved on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub epoch: i64,
}

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
    /// Why continuity was lost: one of [`GapReason`](crate::channel::lifecycle::GapReason)'s names.
    pub reason: String,
    /// What a backfill made of the gap; absent when none runs for it (backfill off, or no topic of the
    /// conversation families).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<GapBackfill>,
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

/// A tenant: one Genesys Cloud organisation the service keeps channels open for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantRecord {
    /// The tenant's id (unique).
    pub id: String,
    /// The platform region (for instance `mypurecloud.ie`).
    pub region: String,
    /// Base URL of the platform's REST API for this tenant.
    pub api_base: String,
    /// Base URL of the platform's login (OAuth) service for this tenant.
    pub login_base: String,
    /// Whether the tenant's channels are kept closed.
    pub paused: bool,
    /// A CA certificate file (PEM) to trust for this tenant's HTTPS and WSS connections.
    pub ca_file: Option<String>,
    /// Backfill of gaps and periodic reconciliation; absent when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillSettings>,
    /// Topic templates and their sync interval; absent when the tenant has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub templates: Option<TemplateSettings>,
    /// When the tenant was first stored. [`Store::upsert_tenant`] keeps the first value it was given.
    pub created_at: DateTime<Utc>,
    /// When the tenant was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A tenant's topic templates as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSettings {
    pub sync_interval_secs: u64,
    pub templates: Vec<crate::topics::TopicTemplate>,
}

/// An OAuth client of a tenant, with its secret sealed by the master key.
///
/// Not serializable on purpose: a client's secret, even sealed, has no business in an API response.
/// `Debug` shows the sealed value's key id, never its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The tenant the client belongs to (which must exist).
    pub tenant: String,
    /// The OAuth client id (unique within the tenant).
    pub id: String,
    /// The client secret, sealed with [`crate::secrets::client_aad`]`(tenant, id)` as associated data.
    pub secret: Sealed,
    /// When the client was last changed (re-sealing by [`rotate_master_key`] is not a change).
    pub updated_at: DateTime<Utc>,
}

/// A topic a tenant subscribes to. Names are unique per tenant regardless of case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicRecord {
    /// The topic name as the platform knows it (for instance `v2.users.{id}.presence`).
    pub name: String,
    /// Higher is subscribed first when not every topic fits.
    pub priority: i32,
}

/// A sink events are delivered to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkRecord {
    /// The sink's name (unique).
    pub name: String,
    /// What kind of sink it is (for instance `file` or `webhook`).
    pub kind: String,
    /// The kind-specific settings, as JSON.
    pub settings: serde_json::Value,
    /// When the sink was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A route: which tenants' events on which topics go to which sinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteRecord {
    /// The route's id (unique).
    pub id: String,
    /// Tenant ids, in order.
    pub tenants: Vec<String>,
    /// Sink names, in order.
    pub sinks: Vec<String>,
    /// Topic names or patterns, in order.
    pub topics: Vec<String>,
    /// Deliver only events whose state changed.
    pub changes_only: bool,
    /// A CEL expression only the events it is true for pass (README: "Routes"); absent: every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// When the route was last changed.
    pub updated_at: DateTime<Utc>,
}

/// One entry of the audit log: who did what to what, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Unique id of the entry (UUID). Appending an id already present keeps the first entry.
    pub id: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who acted (a user, a token name, or the service itself).
    pub actor: String,
    /// What was done (for instance `tenant.upsert`).
    pub action: String,
    /// What it was done to (for instance `tenant/acme/client/abc`): [`AuditFilter::target_prefix`] selects
    /// on it.
    pub target: String,
    /// Anything else worth keeping, as JSON. Never a secret.
    pub details: serde_json::Value,
}

/// Filter for [`Store::audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries whose target starts with this (case-sensitive, no wildcards).
    pub target_prefix: Option<String>,
    /// Entries at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Entries at or before this.
    pub until: Option<DateTime<Utc>>,
    /// At most this many entries (the newest); 1000 when unset, never more than 10,000.
    pub limit: Option<usize>,
}

/// A record a sink's destination rejected for good, kept until it is replayed or dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Unique id of the dead letter (UUID). Adding an id already present keeps the first copy.
    pub id: String,
    /// The sink whose destination rejected the record.
    pub sink: String,
    /// When it was rejected.
    pub at: DateTime<Utc>,
    /// What the destination answered.
    pub reason: String,
    /// The record (the envelope's JSON).
    pub json: String,
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
    /// What the operation refers to does not exist (for instance a client or topics added to a tenant
    /// the store does not hold).
    #[error("not found: {0}")]
    NotFound(String),
}

/// The persistence the engine needs. Implementations are cheap to clone behind an `Arc`.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or replaces the record for `record.channel_id`.
    async fn upsert_channel(&self, record: &ChannelRecord) -> Result<(), StoreError>;
    /// [`Store::upsert_channel`], applied only while `lease` is the tenant's current lease (cluster mode:
    /// an owner that lost the tenant writes nothing). `false`: refused, nothing written.
    async fn upsert_channel_fenced(
        &self,
        record: &ChannelRecord,
        lease: &Lease,
    ) -> Result<bool, StoreError>;
    /// Forgets a channel (it expired, was replaced or is gone).
    async fn remove_channel(&self, channel_id: &str) -> Result<(), StoreError>;
    /// The channels recorded for a tenant, oldest first.
    async fn channels(&self, tenant: &str) -> Result<Vec<ChannelRecord>, StoreError>;
    /// Moves the `updated_at` (the last proof of life) of the tenant's channels forward, in one transaction:
    /// each `(channel id, at)` sets the channel's `updated_at` to `at` if that is later than what is stored
    /// (never back). A channel that is not stored, or belongs to another tenant, is left alone, as are the
    /// record's other fields. Of equal channel ids the latest time counts. Returns how many records moved.
    async fn touch_channels(
        &self,
        tenant: &str,
        proofs: &[(String, DateTime<Utc>)],
    ) -> Result<usize, StoreError>;
    /// [`Store::touch_channels`], applied only while `lease` is the tenant's current lease (cluster mode: an
    /// owner that lost the tenant moves nothing). Returns how many records moved (0 when refused).
    async fn touch_channels_fenced(
        &self,
        tenant: &str,
        proofs: &[(String, DateTime<Utc>)],
        lease: &Lease,
    ) -> Result<usize, StoreError>;
    /// Appends a gap.
    async fn record_gap(&self, gap: &GapRecord) -> Result<(), StoreError>;
    /// Writes what a backfill made of a gap; `false` when no gap has that id.
    async fn set_gap_backfill(&self, id: &str, backfill: &GapBackfill) -> Result<bool, StoreError>;
    /// Gaps matching the filter, oldest `from` first.
    async fn gaps(&self, filter: &GapFilter) -> Result<Vec<GapRecord>, StoreError>;
    /// Cheap check that the store answers (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates the tenant `tenant.id` or replaces its fields, keeping the `created_at` it was first
    /// stored with.
    async fn upsert_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError>;
    /// The tenant `id`, if stored.
    async fn tenant(&self, id: &str) -> Result<Option<TenantRecord>, StoreError>;
    /// Every tenant, ordered by id.
    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError>;
    /// Deletes the tenant with its clients, topics and channel records, in one transaction (its gaps and
    /// audit entries are history, and are kept). `false` when no such tenant was stored.
    async fn delete_tenant(&self, id: &str) -> Result<bool, StoreError>;

    /// Creates or replaces the OAuth client `(client.tenant, client.id)`. [`StoreError::NotFound`] when the
    /// tenant is not stored.
    async fn upsert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// The OAuth clients of a tenant, ordered by id.
    async fn clients(&self, tenant: &str) -> Result<Vec<ClientRecord>, StoreError>;
    /// Deletes an OAuth client. `false` when it was not stored.
    async fn delete_client(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;

    /// Adds topics to a tenant in one transaction, replacing any topic of the same name compared without
    /// regard to case (the new spelling and priority win; within `topics`, the last of equal names wins).
    /// Meant for large batches (tens of thousands of topics in one call). [`StoreError::NotFound`] when
    /// the tenant is not stored.
    async fn add_topics(&self, tenant: &str, topics: &[TopicRecord]) -> Result<(), StoreError>;
    /// Removes the named topics (compared without regard to case) in one transaction; returns how many
    /// were stored. Unknown names are not an error.
    async fn remove_topics(&self, tenant: &str, names: &[String]) -> Result<usize, StoreError>;
    /// The topics of a tenant, ordered by name.
    async fn topics(&self, tenant: &str) -> Result<Vec<TopicRecord>, StoreError>;

    /// Creates or replaces the sink `sink.name`.
    async fn upsert_sink(&self, sink: &SinkRecord) -> Result<(), StoreError>;
    /// The sink `name`, if stored.
    async fn sink(&self, name: &str) -> Result<Option<SinkRecord>, StoreError>;
    /// Every sink, ordered by name.
    async fn sinks(&self) -> Result<Vec<SinkRecord>, StoreError>;
    /// Deletes a sink. `false` when it was not stored. Routes naming it are left as they are.
    async fn delete_sink(&self, name: &str) -> Result<bool, StoreError>;

    /// Creates or replaces the route `route.id`.
    async fn upsert_route(&self, route: &RouteRecord) -> Result<(), StoreError>;
    /// Every route, ordered by id.
    async fn routes(&self) -> Result<Vec<RouteRecord>, StoreError>;
    /// Deletes a route. `false` when it was not stored.
    async fn delete_route(&self, id: &str) -> Result<bool, StoreError>;

    /// Appends an entry to the audit log. An entry whose id is already there is a retry: the first copy
    /// is kept.
    async fn append_audit(&self, entry: &AuditRecord) -> Result<(), StoreError>;
    /// Audit entries matching the filter, newest first (entries of the same millisecond: last appended
    /// first).
    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

    /// Keeps dead letters, in one transaction. An id already stored is a retry: the first copy is kept.
    /// Each sink written keeps at most `keep` dead letters: in the same transaction, its oldest (in the
    /// order of [`Store::dead_letters`], read from the other end) beyond the newest `keep` are dropped.
    /// Returns how many were dropped (letters of this call included, when more than `keep` came at once).
    async fn add_dead_letters(
        &self,
        letters: &[DeadLetter],
        keep: usize,
    ) -> Result<usize, StoreError>;
    /// The dead letters of a sink, newest first (same millisecond: last added first), at most `limit`.
    async fn dead_letters(&self, sink: &str, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// Removes the named dead letters of a sink; returns how many were stored.
    async fn remove_dead_letters(&self, sink: &str, ids: &[String]) -> Result<usize, StoreError>;

    /// Every OAuth client of every tenant, ordered by tenant then id: what [`rotate_master_key`] re-seals.
    async fn all_sealed_secrets(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// Replaces the sealed secret of a client if it still is `previous` (compare-and-swap, so a secret
    /// changed meanwhile is not overwritten with a re-sealed old one). Leaves `updated_at` alone. Returns
    /// whether the secret was replaced: `false` when the client is gone or its secret changed.
    async fn replace_sealed(
        &self,
        tenant: &str,
        client: &str,
        previous: &Sealed,
        sealed: &Sealed,
    ) -> Result<bool, StoreError>;
}

/// Opens the store `location` names: PostgreSQL for a `postgres://` or `postgresql://` URL (see
/// [`postgres::PostgresStore::connect`]), otherwise the SQLite database file at that path (see
/// [`sqlite::SqliteStore::open`]). Either way the schema is brought up to date.
pub async fn open(location: &str) -> Result<Arc<dyn Store>, StoreError> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::connect(location).await?))
    } else {
        Ok(Arc::new(
            sqlite::SqliteStore::open(Path::new(location)).await?,
        ))
    }
}
