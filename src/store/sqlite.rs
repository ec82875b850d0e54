//! The embedded SQLite [`Store`].
//!
//! One database file per process, opened in WAL mode so readers (readiness pings, the gaps API) never wait
//! for the writer. Timestamps are stored as integer epoch milliseconds, lists and JSON documents as JSON
//! text, client secrets only as sealed text; see `migrations/sqlite/` for the schema.

use std::borrow::Cow;
use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, SqlSafeStr, Sqlite};

use super::common::{
    DEFAULT_AUDIT_LIMIT, DEFAULT_GAP_LIMIT, MAX_AUDIT_LIMIT, MAX_GAP_LIMIT, corrupt, decode_json,
    decode_list, decode_sealed, dedupe_topics, distinct_topic_keys, effective_limit, encode_list,
    from_millis, is_foreign_key_violation, latest_proofs, to_millis,
};
use super::{
    AuditFilter, AuditRecord, ChannelRecord, ClientRecord, DeadLetter, GapFilter, GapRecord,
    RouteRecord, SinkRecord, Store, StoreError, TenantRecord, TopicRecord,
};
use crate::secrets::Sealed;

/// Topic rows written by one statement: 4 bound values each, well below SQLite's limit of 32,766 bound
/// values per statement, and few statements for tens of thousands of topics.
const TOPIC_BATCH: usize = 1000;
/// Channels whose proof of life one statement moves: 2 bound values each, well below SQLite's limit; a
/// tenant has at most a few hundred channels, so this is nearly always one statement.
const PROOF_BATCH: usize = 1000;
/// Connections of a file store. SQLite has one writer at a time anyway; a few connections let reads run
/// beside it in WAL mode.
const POOL_SIZE: u32 = 4;
/// How long a statement waits for another connection's write lock before failing with "database is
/// locked". Writes here are single short statements, so a wait this long means something is wrong.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a free pooled connection before the store is reported unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema migrations, in version order.
///
/// Embedded by hand rather than with `sqlx::migrate!`, which needs sqlx's `macros` feature (not enabled in
/// this crate). Versions and checksums are computed the same way as `migrate!` does (version = file name
/// prefix, checksum = SHA-384 of the file), so switching to the macro later keeps existing databases valid.
/// A test checks that this list matches the files in `migrations/sqlite/`.
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "channels and gaps",
        include_str!("../../migrations/sqlite/0001_channels_and_gaps.sql"),
    ),
    (
        2,
        "tenants clients topics sinks routes audit",
        include_str!("../../migrations/sqlite/0002_tenants_clients_topics_sinks_routes_audit.sql"),
    ),
    (
        3,
        "dead letters",
        include_str!("../../migrations/sqlite/0003_dead_letters.sql"),
    ),
];

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// A [`Store`] backed by SQLite. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Where the data lives (a path, or `:memory:`), for error messages.
    location: Arc<str>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if missing) the database file at `path` and brings its
    /// schema up to date.
    ///
    /// Errors name the path: [`StoreError::Unavailable`] when the file or directory cannot be created or
    /// opened, [`StoreError::Corrupt`] when the file is not a usable SQLite database,
    /// [`StoreError::Migration`] when the schema cannot be brought up to date (for instance the file was
    /// written by a newer version of this service).
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let location: Arc<str> = path.display().to_string().into();
        let opening = format!("while opening {location}");

        // SQLite creates the file but not the directories above it.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StoreError::Unavailable(format!(
                    "{opening}: cannot create directory {}: {e}",
                    parent.display()
                ))
            })?;
        }

        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL lets readers proceed while a write is in progress. With WAL, NORMAL synchronous survives
            // a process crash and can lose only the last commits on power loss (never the database), for
            // far fewer fsyncs than FULL.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        // `connect_with` opens a first connection, so an unreadable or non-SQLite file fails here rather
        // than on first use.
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| map_sqlx(&opening, e))?;

        let store = SqliteStore { pool, location };
        store.migrate().await?;
        Ok(store)
    }

    /// A fresh, private in-memory database with the schema applied, for tests.
    ///
    /// Each call gets its own database. It lives as long as the store's single connection, which is never
    /// recycled; the data is lost when the last clone of the store is dropped.
    pub async fn in_memory() -> Result<SqliteStore, StoreError> {
        let location: Arc<str> = ":memory:".into();
        let opening = "while opening an in-memory database";
        // sqlx turns `sqlite::memory:` into a uniquely named shared-cache in-memory database, so
        // concurrent tests never see each other's data.
        let options =
            SqliteConnectOptions::from_str("sqlite::memory:").map_err(|e| map_sqlx(opening, e))?;
        let pool = SqlitePoolOptions::new()
            // An in-memory database disappears with its last connection: keep exactly one, forever.
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| map_sqlx(opening, e))?;

        let store = SqliteStore { pool, location };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes every connection, waiting for those in use to be returned. Afterwards every operation fails
    /// with [`StoreError::Unavailable`]. Closing checkpoints the WAL into the main file, so call it on
    /// shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies the migrations this build knows and the database lacks. Idempotent.
    async fn migrate(&self) -> Result<(), StoreError> {
        migrator().run(&self.pool).await.map_err(|e| {
            // Failing to reach the database while migrating is an availability problem, not a schema one.
            match e {
                MigrateError::Execute(inner) if is_unavailable(&inner) => {
                    map_sqlx(&format!("while migrating {}", self.location), inner)
                }
                other => {
                    StoreError::Migration(format!("while migrating {}: {other}", self.location))
                }
            }
        })
    }

    /// The context prefix of an error message: what was being done, and where.
    fn context(&self, doing: impl Display) -> String {
        format!("while {doing} in {}", self.location)
    }

    /// Maps an error of writing a row that belongs to `tenant`: a foreign key violation means the tenant is
    /// not stored.
    fn map_missing_tenant(&self, context: &str, tenant: &str, err: sqlx::Error) -> StoreError {
        if is_foreign_key_violation(&err) {
            StoreError::NotFound(format!("{context}: tenant {tenant} does not exist"))
        } else {
            map_sqlx(context, err)
        }
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn upsert_channel(&self, record: &ChannelRecord) -> Result<(), StoreError> {
        let context = || self.context(format_args!("saving channel {}", record.channel_id));
        let topics = encode_topics(&record.topics).map_err(|e| {
            StoreError::Corrupt(format!("{}: cannot encode topics: {e}", context()))
        })?;
        sqlx::query(
            "INSERT INTO channels (channel_id, tenant, region, client_id, connect_uri, expires_at, \
             token_expires_at, topics, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (channel_id) DO UPDATE SET tenant = excluded.tenant, region = excluded.region, \
             client_id = excluded.client_id, connect_uri = excluded.connect_uri, \
             expires_at = excluded.expires_at, token_expires_at = excluded.token_expires_at, \
             topics = excluded.topics, updated_at = excluded.updated_at",
        )
        .bind(&record.channel_id)
        .bind(&record.tenant)
        .bind(&record.region)
        .bind(&record.client_id)
        .bind(&record.connect_uri)
        .bind(to_millis(record.expires_at))
        .bind(to_millis(record.token_expires_at))
        .bind(topics)
        .bind(to_millis(record.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        Ok(())
    }

    async fn remove_channel(&self, channel_id: &str) -> Result<(), StoreError> {
        // Removing an unknown channel is not an error: the caller wants it gone, and it is.
        sqlx::query("DELETE FROM channels WHERE channel_id = ?")
            .bind(channel_id)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                map_sqlx(
                    &self.context(format_args!("removing channel {channel_id}")),
                    e,
                )
            })?;
        Ok(())
    }

    async fn channels(&self, tenant: &str) -> Result<Vec<ChannelRecord>, StoreError> {
        let context = || self.context(format_args!("reading the channels of tenant {tenant}"));
        // channel_id breaks ties so the order is stable from one call to the next.
        let rows = sqlx::query(
            "SELECT channel_id, tenant, region, client_id, connect_uri, expires_at, token_expires_at, \
             topics, updated_at FROM channels WHERE tenant = ? ORDER BY updated_at, channel_id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| channel_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn touch_channels(
        &self,
        tenant: &str,
        proofs: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> Result<usize, StoreError> {
        let context = || {
            self.context(format_args!(
                "storing the proofs of life of {} channels of tenant {tenant}",
                proofs.len()
            ))
        };
        let proofs = latest_proofs(proofs);
        if proofs.is_empty() {
            return Ok(0);
        }
        let mut moved: u64 = 0;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        for chunk in proofs.chunks(PROOF_BATCH) {
            // One UPDATE for the whole chunk: the proofs as a table, joined to the tenant's channels.
            let mut query = QueryBuilder::<Sqlite>::new("WITH proof (channel_id, at) AS (");
            query.push_values(chunk, |mut row, (id, at)| {
                row.push_bind(*id).push_bind(to_millis(*at));
            });
            query.push(
                ") UPDATE channels SET updated_at = proof.at FROM proof \
                 WHERE channels.channel_id = proof.channel_id AND channels.updated_at < proof.at \
                 AND channels.tenant = ",
            );
            query.push_bind(tenant);
            moved += query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(|e| map_sqlx(&context(), e))?
                .rows_affected();
        }
        tx.commit().await.map_err(|e| map_sqlx(&context(), e))?;
        Ok(usize::try_from(moved).unwrap_or(usize::MAX))
    }

    async fn record_gap(&self, gap: &GapRecord) -> Result<(), StoreError> {
        let context = || self.context(format_args!("recording gap {}", gap.id));
        let topics = encode_topics(&gap.topics).map_err(|e| {
            StoreError::Corrupt(format!("{}: cannot encode topics: {e}", context()))
        })?;
        // A gap id seen again is a retry of a write whose outcome the caller did not learn: keep the first
        // copy rather than fail or duplicate.
        sqlx::query(
            "INSERT INTO gaps (id, tenant, region, channel_id, topics, from_at, to_at, reason) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&gap.id)
        .bind(&gap.tenant)
        .bind(&gap.region)
        .bind(&gap.channel_id)
        .bind(topics)
        .bind(to_millis(gap.from))
        .bind(to_millis(gap.to))
        .bind(&gap.reason)
        .execute(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        Ok(())
    }

    async fn gaps(&self, filter: &GapFilter) -> Result<Vec<GapRecord>, StoreError> {
        let context = || self.context("reading gaps");
        let limit = filter.limit.unwrap_or(DEFAULT_GAP_LIMIT).min(MAX_GAP_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }

        // Conditions are added only when the filter sets them (rather than `? IS NULL OR ...`) so SQLite
        // can use the (tenant, from_at) index. Only fixed fragments are pushed; values are bound.
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT id, tenant, region, channel_id, topics, from_at, to_at, reason FROM gaps WHERE 1 = 1",
        );
        if let Some(tenant) = &filter.tenant {
            query.push(" AND tenant = ").push_bind(tenant.as_str());
        }
        if let Some(since) = filter.since {
            query.push(" AND to_at >= ").push_bind(to_millis(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND from_at <= ").push_bind(to_millis(until));
        }
        // id breaks ties so the order (and what a limit cuts off) is stable from one call to the next.
        query
            .push(" ORDER BY from_at, id LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));

        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| gap_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Touches the schema, not just the connection, so a database whose tables vanished is not ready.
        sqlx::query("SELECT 1 FROM channels LIMIT 0")
            .execute(&self.pool)
            .await
            .map_err(|e| map_sqlx(&self.context("checking the store answers"), e))?;
        Ok(())
    }

    async fn upsert_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
        // created_at is not in the update list: the first value stays.
        sqlx::query(
            "INSERT INTO tenants (id, region, api_base, login_base, paused, ca_file, created_at, \
             updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET region = excluded.region, api_base = excluded.api_base, \
             login_base = excluded.login_base, paused = excluded.paused, ca_file = excluded.ca_file, \
             updated_at = excluded.updated_at",
        )
        .bind(&tenant.id)
        .bind(&tenant.region)
        .bind(&tenant.api_base)
        .bind(&tenant.login_base)
        .bind(tenant.paused)
        .bind(tenant.ca_file.as_deref())
        .bind(to_millis(tenant.created_at))
        .bind(to_millis(tenant.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| map_sqlx(&self.context(format_args!("saving tenant {}", tenant.id)), e))?;
        Ok(())
    }

    async fn tenant(&self, id: &str) -> Result<Option<TenantRecord>, StoreError> {
        let context = || self.context(format_args!("reading tenant {id}"));
        let row = sqlx::query(
            "SELECT id, region, api_base, login_base, paused, ca_file, created_at, updated_at \
             FROM tenants WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        row.map(|row| tenant_from_row(&row).map_err(|e| corrupt(&context(), e)))
            .transpose()
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        let context = || self.context("reading the tenants");
        let rows = sqlx::query(
            "SELECT id, region, api_base, login_base, paused, ca_file, created_at, updated_at \
             FROM tenants ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| tenant_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn delete_tenant(&self, id: &str) -> Result<bool, StoreError> {
        let context = || self.context(format_args!("deleting tenant {id}"));
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        // The foreign keys cascade too; deleting explicitly does not depend on the connection enforcing
        // them, and channels have no foreign key (a channel record may precede its tenant's).
        for statement in [
            "DELETE FROM clients WHERE tenant = ?",
            "DELETE FROM topics WHERE tenant = ?",
            "DELETE FROM channels WHERE tenant = ?",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_sqlx(&context(), e))?;
        }
        let deleted = sqlx::query("DELETE FROM tenants WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_sqlx(&context(), e))?
            .rows_affected();
        tx.commit().await.map_err(|e| map_sqlx(&context(), e))?;
        Ok(deleted > 0)
    }

    async fn upsert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let context = || {
            self.context(format_args!(
                "saving client {} of tenant {}",
                client.id, client.tenant
            ))
        };
        sqlx::query(
            "INSERT INTO clients (tenant, id, secret, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (tenant, id) DO UPDATE SET secret = excluded.secret, \
             updated_at = excluded.updated_at",
        )
        .bind(&client.tenant)
        .bind(&client.id)
        .bind(client.secret.to_text())
        .bind(to_millis(client.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| self.map_missing_tenant(&context(), &client.tenant, e))?;
        Ok(())
    }

    async fn clients(&self, tenant: &str) -> Result<Vec<ClientRecord>, StoreError> {
        let context = || self.context(format_args!("reading the clients of tenant {tenant}"));
        let rows = sqlx::query(
            "SELECT tenant, id, secret, updated_at FROM clients WHERE tenant = ? ORDER BY id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| client_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn delete_client(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM clients WHERE tenant = ? AND id = ?")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                map_sqlx(
                    &self.context(format_args!("deleting client {id} of tenant {tenant}")),
                    e,
                )
            })?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn add_topics(&self, tenant: &str, topics: &[TopicRecord]) -> Result<(), StoreError> {
        let context = || {
            self.context(format_args!(
                "adding {} topics to tenant {tenant}",
                topics.len()
            ))
        };
        let rows = dedupe_topics(topics);
        if rows.is_empty() {
            // Nothing to write, but adding to an unknown tenant is still an error.
            return match self.tenant(tenant).await? {
                Some(_) => Ok(()),
                None => Err(StoreError::NotFound(format!(
                    "{}: tenant {tenant} does not exist",
                    context()
                ))),
            };
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        for chunk in rows.chunks(TOPIC_BATCH) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO topics (tenant, name_key, name, priority) ",
            );
            query.push_values(chunk, |mut row, (key, name, priority)| {
                row.push_bind(tenant)
                    .push_bind(key.as_str())
                    .push_bind(*name)
                    .push_bind(*priority);
            });
            query.push(
                " ON CONFLICT (tenant, name_key) DO UPDATE SET name = excluded.name, \
                 priority = excluded.priority",
            );
            query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(|e| self.map_missing_tenant(&context(), tenant, e))?;
        }
        tx.commit().await.map_err(|e| map_sqlx(&context(), e))?;
        Ok(())
    }

    async fn remove_topics(&self, tenant: &str, names: &[String]) -> Result<usize, StoreError> {
        let context = || {
            self.context(format_args!(
                "removing {} topics from tenant {tenant}",
                names.len()
            ))
        };
        let keys = distinct_topic_keys(names);
        if keys.is_empty() {
            return Ok(0);
        }
        let mut removed: u64 = 0;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        for chunk in keys.chunks(TOPIC_BATCH) {
            let mut query = QueryBuilder::<Sqlite>::new("DELETE FROM topics WHERE tenant = ");
            query.push_bind(tenant).push(" AND name_key IN (");
            let mut list = query.separated(", ");
            for key in chunk {
                list.push_bind(key.as_str());
            }
            query.push(")");
            removed += query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(|e| map_sqlx(&context(), e))?
                .rows_affected();
        }
        tx.commit().await.map_err(|e| map_sqlx(&context(), e))?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    async fn topics(&self, tenant: &str) -> Result<Vec<TopicRecord>, StoreError> {
        let context = || self.context(format_args!("reading the topics of tenant {tenant}"));
        let rows = sqlx::query("SELECT name, priority FROM topics WHERE tenant = ? ORDER BY name")
            .bind(tenant)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| {
                Ok(TopicRecord {
                    name: column(row, "name")?,
                    priority: column(row, "priority")?,
                })
            })
            .collect::<Result<_, String>>()
            .map_err(|e| corrupt(&context(), e))
    }

    async fn upsert_sink(&self, sink: &SinkRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sinks (name, kind, settings, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, settings = excluded.settings, \
             updated_at = excluded.updated_at",
        )
        .bind(&sink.name)
        .bind(&sink.kind)
        .bind(sink.settings.to_string())
        .bind(to_millis(sink.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| map_sqlx(&self.context(format_args!("saving sink {}", sink.name)), e))?;
        Ok(())
    }

    async fn sink(&self, name: &str) -> Result<Option<SinkRecord>, StoreError> {
        let context = || self.context(format_args!("reading sink {name}"));
        let row = sqlx::query("SELECT name, kind, settings, updated_at FROM sinks WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        row.map(|row| sink_from_row(&row).map_err(|e| corrupt(&context(), e)))
            .transpose()
    }

    async fn sinks(&self) -> Result<Vec<SinkRecord>, StoreError> {
        let context = || self.context("reading the sinks");
        let rows = sqlx::query("SELECT name, kind, settings, updated_at FROM sinks ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| sink_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn delete_sink(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM sinks WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| map_sqlx(&self.context(format_args!("deleting sink {name}")), e))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn upsert_route(&self, route: &RouteRecord) -> Result<(), StoreError> {
        let context = || self.context(format_args!("saving route {}", route.id));
        let encode = |what: &str, list: &[String]| {
            encode_list(what, list).map_err(|e| corrupt(&context(), e))
        };
        sqlx::query(
            "INSERT INTO routes (id, tenants, sinks, topics, changes_only, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET tenants = excluded.tenants, sinks = excluded.sinks, \
             topics = excluded.topics, changes_only = excluded.changes_only, \
             updated_at = excluded.updated_at",
        )
        .bind(&route.id)
        .bind(encode("tenants", &route.tenants)?)
        .bind(encode("sinks", &route.sinks)?)
        .bind(encode("topics", &route.topics)?)
        .bind(route.changes_only)
        .bind(to_millis(route.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        Ok(())
    }

    async fn routes(&self) -> Result<Vec<RouteRecord>, StoreError> {
        let context = || self.context("reading the routes");
        let rows = sqlx::query(
            "SELECT id, tenants, sinks, topics, changes_only, updated_at FROM routes ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| route_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn delete_route(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM routes WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| map_sqlx(&self.context(format_args!("deleting route {id}")), e))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn append_audit(&self, entry: &AuditRecord) -> Result<(), StoreError> {
        // An id seen again is a retry: keep the first copy, as for gaps.
        sqlx::query(
            "INSERT INTO audit (id, at, actor, action, target, details) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&entry.id)
        .bind(to_millis(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.details.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            map_sqlx(
                &self.context(format_args!("appending audit entry {}", entry.id)),
                e,
            )
        })?;
        Ok(())
    }

    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let context = || self.context("reading the audit log");
        let limit = effective_limit(filter.limit, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT id, at, actor, action, target, details FROM audit WHERE 1 = 1",
        );
        if let Some(prefix) = &filter.target_prefix {
            // substr counts characters, as chars() does; comparing (rather than LIKE) keeps the match
            // exact and case-sensitive, with no wildcard characters.
            let length = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
            query
                .push(" AND substr(target, 1, ")
                .push_bind(length)
                .push(") = ")
                .push_bind(prefix.as_str());
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(to_millis(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND at <= ").push_bind(to_millis(until));
        }
        query
            .push(" ORDER BY at DESC, seq DESC LIMIT ")
            .push_bind(limit);
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| audit_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn add_dead_letters(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        let context = || self.context("saving dead letters");
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        for l in letters {
            sqlx::query(
                "INSERT INTO dead_letters (id, sink, at, reason, json) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&l.id)
            .bind(&l.sink)
            .bind(to_millis(l.at))
            .bind(&l.reason)
            .bind(&l.json)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        }
        tx.commit().await.map_err(|e| map_sqlx(&context(), e))
    }

    async fn dead_letters(&self, sink: &str, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let context = || self.context(format_args!("reading the dead letters of sink {sink}"));
        let rows = sqlx::query(
            "SELECT id, sink, at, reason, json FROM dead_letters WHERE sink = ? \
             ORDER BY at DESC, seq DESC LIMIT ?",
        )
        .bind(sink)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| dead_letter_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn remove_dead_letters(&self, sink: &str, ids: &[String]) -> Result<usize, StoreError> {
        let context = || self.context(format_args!("removing dead letters of sink {sink}"));
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| map_sqlx(&context(), e))?;
        let mut removed = 0;
        for id in ids {
            removed += sqlx::query("DELETE FROM dead_letters WHERE sink = ? AND id = ?")
                .bind(sink)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_sqlx(&context(), e))?
                .rows_affected();
        }
        tx.commit().await.map_err(|e| map_sqlx(&context(), e))?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    async fn all_sealed_secrets(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let context = || self.context("reading every client secret");
        let rows =
            sqlx::query("SELECT tenant, id, secret, updated_at FROM clients ORDER BY tenant, id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| map_sqlx(&context(), e))?;
        rows.iter()
            .map(|row| client_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn replace_sealed(
        &self,
        tenant: &str,
        client: &str,
        previous: &Sealed,
        sealed: &Sealed,
    ) -> Result<bool, StoreError> {
        let replaced =
            sqlx::query("UPDATE clients SET secret = ? WHERE tenant = ? AND id = ? AND secret = ?")
                .bind(sealed.to_text())
                .bind(tenant)
                .bind(client)
                .bind(previous.to_text())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    map_sqlx(
                        &self.context(format_args!(
                            "replacing the sealed secret of client {client} of tenant {tenant}"
                        )),
                        e,
                    )
                })?
                .rows_affected();
        Ok(replaced > 0)
    }
}

fn encode_topics(topics: &[String]) -> Result<String, serde_json::Error> {
    serde_json::to_string(topics)
}

fn decode_topics(text: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("column topics is not a JSON array of strings: {e}"))
}

/// Reads one column, describing a failure without the value (which could be anything).
fn column<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, String>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| format!("cannot read column {name}: {e}"))
}

fn channel_from_row(row: &SqliteRow) -> Result<ChannelRecord, String> {
    let channel_id: String = column(row, "channel_id")?;
    let describe = |e: String| format!("channel {channel_id}: {e}");
    Ok(ChannelRecord {
        tenant: column(row, "tenant").map_err(describe)?,
        region: column(row, "region").map_err(describe)?,
        client_id: column(row, "client_id").map_err(describe)?,
        connect_uri: column(row, "connect_uri").map_err(describe)?,
        expires_at: from_millis("expires_at", column(row, "expires_at").map_err(describe)?)
            .map_err(describe)?,
        token_expires_at: from_millis(
            "token_expires_at",
            column(row, "token_expires_at").map_err(describe)?,
        )
        .map_err(describe)?,
        topics: decode_topics(&column::<String>(row, "topics").map_err(describe)?)
            .map_err(describe)?,
        updated_at: from_millis("updated_at", column(row, "updated_at").map_err(describe)?)
            .map_err(describe)?,
        channel_id,
    })
}

fn gap_from_row(row: &SqliteRow) -> Result<GapRecord, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("gap {id}: {e}");
    Ok(GapRecord {
        tenant: column(row, "tenant").map_err(describe)?,
        region: column(row, "region").map_err(describe)?,
        channel_id: column(row, "channel_id").map_err(describe)?,
        topics: decode_topics(&column::<String>(row, "topics").map_err(describe)?)
            .map_err(describe)?,
        from: from_millis("from_at", column(row, "from_at").map_err(describe)?)
            .map_err(describe)?,
        to: from_millis("to_at", column(row, "to_at").map_err(describe)?).map_err(describe)?,
        reason: column(row, "reason").map_err(describe)?,
        id,
    })
}

fn tenant_from_row(row: &SqliteRow) -> Result<TenantRecord, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("tenant {id}: {e}");
    Ok(TenantRecord {
        region: column(row, "region").map_err(describe)?,
        api_base: column(row, "api_base").map_err(describe)?,
        login_base: column(row, "login_base").map_err(describe)?,
        paused: column(row, "paused").map_err(describe)?,
        ca_file: column(row, "ca_file").map_err(describe)?,
        created_at: from_millis("created_at", column(row, "created_at").map_err(describe)?)
            .map_err(describe)?,
        updated_at: from_millis("updated_at", column(row, "updated_at").map_err(describe)?)
            .map_err(describe)?,
        id,
    })
}

fn client_from_row(row: &SqliteRow) -> Result<ClientRecord, String> {
    let tenant: String = column(row, "tenant")?;
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("client {id} of tenant {tenant}: {e}");
    Ok(ClientRecord {
        secret: decode_sealed(&column::<String>(row, "secret").map_err(describe)?)
            .map_err(describe)?,
        updated_at: from_millis("updated_at", column(row, "updated_at").map_err(describe)?)
            .map_err(describe)?,
        tenant,
        id,
    })
}

fn sink_from_row(row: &SqliteRow) -> Result<SinkRecord, String> {
    let name: String = column(row, "name")?;
    let describe = |e: String| format!("sink {name}: {e}");
    Ok(SinkRecord {
        kind: column(row, "kind").map_err(describe)?,
        settings: decode_json(
            "settings",
            &column::<String>(row, "settings").map_err(describe)?,
        )
        .map_err(describe)?,
        updated_at: from_millis("updated_at", column(row, "updated_at").map_err(describe)?)
            .map_err(describe)?,
        name,
    })
}

fn route_from_row(row: &SqliteRow) -> Result<RouteRecord, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("route {id}: {e}");
    let list = |name: &str| -> Result<Vec<String>, String> {
        decode_list(name, &column::<String>(row, name)?)
    };
    Ok(RouteRecord {
        tenants: list("tenants").map_err(describe)?,
        sinks: list("sinks").map_err(describe)?,
        topics: list("topics").map_err(describe)?,
        changes_only: column(row, "changes_only").map_err(describe)?,
        updated_at: from_millis("updated_at", column(row, "updated_at").map_err(describe)?)
            .map_err(describe)?,
        id,
    })
}

fn dead_letter_from_row(row: &SqliteRow) -> Result<DeadLetter, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("dead letter {id}: {e}");
    Ok(DeadLetter {
        sink: column(row, "sink").map_err(describe)?,
        at: from_millis("at", column(row, "at").map_err(describe)?).map_err(describe)?,
        reason: column(row, "reason").map_err(describe)?,
        json: column(row, "json").map_err(describe)?,
        id,
    })
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditRecord, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("audit entry {id}: {e}");
    Ok(AuditRecord {
        at: from_millis("at", column(row, "at").map_err(describe)?).map_err(describe)?,
        actor: column(row, "actor").map_err(describe)?,
        action: column(row, "action").map_err(describe)?,
        target: column(row, "target").map_err(describe)?,
        details: decode_json(
            "details",
            &column::<String>(row, "details").map_err(describe)?,
        )
        .map_err(describe)?,
        id,
    })
}

/// SQLite primary result codes that mean the file itself is damaged or not a database.
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_NOTADB: i64 = 26;

/// The primary SQLite result code of a database error (extended codes carry it in the low byte).
fn sqlite_primary_code(err: &sqlx::Error) -> Option<i64> {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .map(|code| code & 0xff),
        _ => None,
    }
}

/// Whether an error means the database could not be reached or used right now (as opposed to holding
/// bad data).
fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    ) || matches!(
        sqlite_primary_code(err),
        Some(code) if code != SQLITE_CORRUPT && code != SQLITE_NOTADB
    )
}

/// Maps a sqlx error to the store's kinds, prefixed with what was being done. sqlx's messages carry no
/// bound values, so nothing written to the store leaks into them.
fn map_sqlx(context: &str, err: sqlx::Error) -> StoreError {
    let message = format!("{context}: {err}");
    match &err {
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(message),
        sqlx::Error::Migrate(_) => StoreError::Migration(message),
        _ if matches!(
            sqlite_primary_code(&err),
            Some(SQLITE_CORRUPT | SQLITE_NOTADB)
        ) =>
        {
            StoreError::Corrupt(message)
        }
        // Everything else (I/O, pool exhaustion or closure, busy or locked database, full disk, ...) is
        // something a retry or an operator can fix: report the store unavailable.
        _ => StoreError::Unavailable(message),
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod sqlite_tests;
