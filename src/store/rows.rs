//! The rows of each table as the shared SQL code reads them (`#[derive(sqlx::FromRow)]`), in the types a
//! [`Dialect`] keeps, and their conversion to the store's records.
//!
//! Columns whose kept form depends on the backend (times, lists, JSON documents) have the dialect's type;
//! they are decoded into the record's type here rather than by sqlx, so that an error names the row it is
//! about (and never repeats the column's content).

use super::common::{decode_sealed, from_json_text};
use super::sql::Dialect;
use super::{
    AuditRecord, ChannelRecord, ClientRecord, DeadLetter, GapRecord, RouteRecord, SinkRecord,
    TenantRecord, TopicRecord,
};

/// A row read by the shared SQL, and the record it stands for.
pub(super) trait Record {
    type Record;
    /// The record; an error names the row (and never repeats a column's content).
    fn record(self) -> Result<Self::Record, String>;
}

/// Prefixes what is wrong with a row by what the row is.
fn about(what: String) -> impl Fn(String) -> String {
    move |e| format!("{what}: {e}")
}

#[derive(sqlx::FromRow)]
pub(super) struct ChannelRow<D: Dialect> {
    channel_id: String,
    tenant: String,
    region: String,
    client_id: String,
    connect_uri: String,
    expires_at: D::Time,
    token_expires_at: D::Time,
    topics: D::List,
    updated_at: D::Time,
}

impl<D: Dialect> Record for ChannelRow<D> {
    type Record = ChannelRecord;

    fn record(self) -> Result<ChannelRecord, String> {
        let describe = about(format!("channel {}", self.channel_id));
        Ok(ChannelRecord {
            expires_at: D::read_time("expires_at", self.expires_at).map_err(&describe)?,
            token_expires_at: D::read_time("token_expires_at", self.token_expires_at)
                .map_err(&describe)?,
            topics: D::read_list("topics", self.topics).map_err(&describe)?,
            updated_at: D::read_time("updated_at", self.updated_at).map_err(&describe)?,
            tenant: self.tenant,
            region: self.region,
            client_id: self.client_id,
            connect_uri: self.connect_uri,
            channel_id: self.channel_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct GapRow<D: Dialect> {
    id: String,
    tenant: String,
    region: String,
    channel_id: String,
    topics: D::List,
    from_at: D::Time,
    to_at: D::Time,
    reason: String,
    backfill: Option<String>,
}

impl<D: Dialect> Record for GapRow<D> {
    type Record = GapRecord;

    fn record(self) -> Result<GapRecord, String> {
        let describe = about(format!("gap {}", self.id));
        Ok(GapRecord {
            topics: D::read_list("topics", self.topics).map_err(&describe)?,
            from: D::read_time("from_at", self.from_at).map_err(&describe)?,
            to: D::read_time("to_at", self.to_at).map_err(&describe)?,
            id: self.id,
            tenant: self.tenant,
            region: self.region,
            channel_id: self.channel_id,
            reason: self.reason,
            backfill: from_json_text("backfill", self.backfill).map_err(&describe)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TenantRow<D: Dialect> {
    id: String,
    region: String,
    api_base: String,
    login_base: String,
    paused: bool,
    ca_file: Option<String>,
    created_at: D::Time,
    updated_at: D::Time,
    backfill: Option<String>,
    templates: Option<String>,
}

impl<D: Dialect> Record for TenantRow<D> {
    type Record = TenantRecord;

    fn record(self) -> Result<TenantRecord, String> {
        let describe = about(format!("tenant {}", self.id));
        Ok(TenantRecord {
            created_at: D::read_time("created_at", self.created_at).map_err(&describe)?,
            updated_at: D::read_time("updated_at", self.updated_at).map_err(&describe)?,
            backfill: from_json_text("backfill", self.backfill).map_err(&describe)?,
            templates: from_json_text("templates", self.templates).map_err(&describe)?,
            id: self.id,
            region: self.region,
            api_base: self.api_base,
            login_base: self.login_base,
            paused: self.paused,
            ca_file: self.ca_file,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ClientRow<D: Dialect> {
    tenant: String,
    id: String,
    secret: String,
    updated_at: D::Time,
}

impl<D: Dialect> Record for ClientRow<D> {
    type Record = ClientRecord;

    fn record(self) -> Result<ClientRecord, String> {
        let describe = about(format!("client {} of tenant {}", self.id, self.tenant));
        Ok(ClientRecord {
            secret: decode_sealed(&self.secret).map_err(&describe)?,
            updated_at: D::read_time("updated_at", self.updated_at).map_err(&describe)?,
            tenant: self.tenant,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SinkRow<D: Dialect> {
    name: String,
    kind: String,
    settings: D::Doc,
    updated_at: D::Time,
}

impl<D: Dialect> Record for SinkRow<D> {
    type Record = SinkRecord;

    fn record(self) -> Result<SinkRecord, String> {
        let describe = about(format!("sink {}", self.name));
        Ok(SinkRecord {
            settings: D::read_doc("settings", self.settings).map_err(&describe)?,
            updated_at: D::read_time("updated_at", self.updated_at).map_err(&describe)?,
            name: self.name,
            kind: self.kind,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RouteRow<D: Dialect> {
    id: String,
    tenants: D::List,
    sinks: D::List,
    topics: D::List,
    changes_only: bool,
    filter: Option<String>,
    updated_at: D::Time,
}

impl<D: Dialect> Record for RouteRow<D> {
    type Record = RouteRecord;

    fn record(self) -> Result<RouteRecord, String> {
        let describe = about(format!("route {}", self.id));
        Ok(RouteRecord {
            tenants: D::read_list("tenants", self.tenants).map_err(&describe)?,
            sinks: D::read_list("sinks", self.sinks).map_err(&describe)?,
            topics: D::read_list("topics", self.topics).map_err(&describe)?,
            updated_at: D::read_time("updated_at", self.updated_at).map_err(&describe)?,
            changes_only: self.changes_only,
            filter: self.filter,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DeadLetterRow<D: Dialect> {
    id: String,
    sink: String,
    at: D::Time,
    reason: String,
    json: String,
}

impl<D: Dialect> Record for DeadLetterRow<D> {
    type Record = DeadLetter;

    fn record(self) -> Result<DeadLetter, String> {
        let describe = about(format!("dead letter {}", self.id));
        Ok(DeadLetter {
            at: D::read_time("at", self.at).map_err(&describe)?,
            id: self.id,
            sink: self.sink,
            reason: self.reason,
            json: self.json,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow<D: Dialect> {
    id: String,
    at: D::Time,
    actor: String,
    action: String,
    target: String,
    details: D::Doc,
}

impl<D: Dialect> Record for AuditRow<D> {
    type Record = AuditRecord;

    fn record(self) -> Result<AuditRecord, String> {
        let describe = about(format!("audit entry {}", self.id));
        Ok(AuditRecord {
            at: D::read_time("at", self.at).map_err(&describe)?,
            details: D::read_doc("details", self.details).map_err(&describe)?,
            id: self.id,
            actor: self.actor,
            action: self.action,
            target: self.target,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TopicRow {
    name: String,
    priority: i32,
}

impl Record for TopicRow {
    type Record = TopicRecord;

    fn record(self) -> Result<TopicRecord, String> {
        Ok(TopicRecord {
            name: self.name,
            priority: self.priority,
        })
    }
}
