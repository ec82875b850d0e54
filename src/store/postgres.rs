//! The PostgreSQL [`Store`] (`--store postgres://...`).
//!
//! Same semantics as the SQLite store: times are TIMESTAMPTZ truncated to the millisecond before they are
//! written (and before a filter compares them), lists and JSON documents are JSONB, client secrets are kept
//! only as sealed text, and text keys use the "C" collation so they compare and sort byte for byte. See
//! `migrations/postgres/` for the schema.
//!
//! [`PostgresStore::connect_with_schema`] keeps everything (including the migrations table) in a schema of
//! its own, so that several stores, parallel tests for instance, share one database without meeting.
//!
//! Connection URLs may hold a password: no error message, log line or `Debug` output carries it. Errors
//! name the server as `postgres://host:port/database`, without the credentials.

use std::borrow::Cow;
use std::fmt::{self, Display};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection, Postgres, QueryBuilder, Row, SqlSafeStr};

use super::common::{
    DEFAULT_AUDIT_LIMIT, DEFAULT_GAP_LIMIT, MAX_AUDIT_LIMIT, MAX_GAP_LIMIT, corrupt, decode_sealed,
    dedupe_topics, distinct_topic_keys, effective_limit, is_foreign_key_violation, latest_proofs,
    truncate_millis,
};
use super::{
    AuditFilter, AuditRecord, ChannelRecord, ClientRecord, DeadLetter, GapFilter, GapRecord,
    RouteRecord, SinkRecord, Store, StoreError, TenantRecord, TopicRecord,
};
use crate::secrets::Sealed;

/// Connections in the pool.
const POOL_SIZE: u32 = 8;
/// How long a caller waits for a pooled connection (including opening one) before the store is reported
/// unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema migrations, in version order: the same versions as SQLite's, each with the same meaning.
/// Embedded by hand as for SQLite (see `sqlite::MIGRATIONS`); a test checks the list against
/// `migrations/postgres/`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "channels and gaps",
        include_str!("../../migrations/postgres/0001_channels_and_gaps.sql"),
    ),
    (
        2,
        "tenants clients topics sinks routes audit",
        include_str!(
            "../../migrations/postgres/0002_tenants_clients_topics_sinks_routes_audit.sql"
        ),
    ),
    (
        3,
        "dead letters",
        include_str!("../../migrations/postgres/0003_dead_letters.sql"),
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

/// A [`Store`] backed by PostgreSQL. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The server and database (and schema), without credentials, for error messages.
    location: Arc<str>,
    /// The dedicated schema, when opened with [`PostgresStore::connect_with_schema`].
    schema: Option<Arc<str>>,
    /// What must never appear in an error message (the URL's password).
    redactor: Arc<Redactor>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its options hold the password.
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database?...`) and brings
    /// its schema up to date, in the connection's default schema (normally `public`).
    ///
    /// Errors name the host and database, never the credentials: [`StoreError::Unavailable`] when the URL
    /// is invalid or the server cannot be reached or refuses the login, [`StoreError::Migration`] when the
    /// schema cannot be brought up to date.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(url, None).await
    }

    /// Like [`PostgresStore::connect`], but creates (if missing) and uses the schema `schema`: every pooled
    /// connection gets `search_path` set to it, so the tables and the migrations table live there.
    ///
    /// `schema` must be 1 to 63 characters of lower-case ASCII letters, digits and `_`, not starting with
    /// a digit nor with `pg_`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(url, Some(schema)).await
    }

    async fn open(url: &str, schema: Option<&str>) -> Result<PostgresStore, StoreError> {
        let redactor = Arc::new(Redactor::for_url(url));
        let location: Arc<str> = match schema {
            Some(schema) => format!("{} (schema {schema})", redactor.location).into(),
            None => redactor.location.clone().into(),
        };
        let opening = format!("while connecting to {location}");
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Unavailable(format!(
                "{opening}: the URL must start with postgres:// or postgresql://"
            )));
        }
        if let Some(schema) = schema {
            check_schema_name(schema)
                .map_err(|e| StoreError::Unavailable(format!("{opening}: {e}")))?;
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::Unavailable(redactor.scrub(&format!(
                    "{opening}: the URL is not a usable PostgreSQL URL: {e}"
                )))
            })?
            .application_name("switchboard");

        // One direct connection first: when the server cannot be reached or refuses the login, the pool
        // retries until its timeout and then reports only that it timed out; this says why.
        let probe = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "{opening}: no answer within {}s",
                    ACQUIRE_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| map_pg(&redactor, &opening, e))?;
        // Closing politely is a courtesy to the server; failing to is no reason to fail opening.
        let _ = probe.close().await;

        let mut pool_options = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if let Some(schema) = schema {
            // Quoting is safe: the name was checked to hold only [a-z0-9_].
            let set_path: Arc<str> = format!("SET search_path TO \"{schema}\"").into();
            pool_options = pool_options.after_connect(move |conn, _meta| {
                let set_path = set_path.clone();
                Box::pin(async move {
                    sqlx::raw_sql(AssertSqlSafe(set_path))
                        .execute(&mut *conn)
                        .await
                        .map(drop)
                })
            });
        }
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| map_pg(&redactor, &opening, e))?;

        let store = PostgresStore {
            pool,
            location,
            schema: schema.map(Arc::from),
            redactor,
        };
        if let Some(schema) = schema {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .execute(&store.pool)
            .await
            .map_err(|e| store.error(&format!("{opening}: cannot create the schema"), e))?;
        }
        store.migrate().await?;
        Ok(store)
    }

    /// Drops the store's dedicated schema with everything in it, then closes the pool. For tests.
    ///
    /// [`StoreError::NotFound`] when the store was opened without a dedicated schema (never drops
    /// `public`).
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        let Some(schema) = &self.schema else {
            return Err(StoreError::NotFound(format!(
                "while dropping the schema of {}: the store was not opened with a dedicated schema",
                self.location
            )));
        };
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(&self.context("dropping the schema"), e))?;
        self.pool.close().await;
        Ok(())
    }

    /// The dedicated schema, if the store was opened with one.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Closes every connection, waiting for those in use to be returned. Afterwards every operation fails
    /// with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies the migrations this build knows and the database lacks. Idempotent; concurrent runs wait
    /// for each other (sqlx takes an advisory lock).
    async fn migrate(&self) -> Result<(), StoreError> {
        let migrating = format!("while migrating {}", self.location);
        migrator().run(&self.pool).await.map_err(|e| match e {
            MigrateError::Execute(inner) => self.error(&migrating, inner),
            other => StoreError::Migration(self.redactor.scrub(&format!("{migrating}: {other}"))),
        })
    }

    /// The context prefix of an error message: what was being done, and where.
    fn context(&self, doing: impl Display) -> String {
        format!("while {doing} in {}", self.location)
    }

    /// Maps a sqlx error, with the context prefix, scrubbed of the URL's password.
    fn error(&self, context: &str, err: sqlx::Error) -> StoreError {
        map_pg(&self.redactor, context, err)
    }

    /// Maps an error of writing a row that belongs to `tenant`: a foreign key violation means the tenant is
    /// not stored.
    fn missing_tenant(&self, context: &str, tenant: &str, err: sqlx::Error) -> StoreError {
        if is_foreign_key_violation(&err) {
            StoreError::NotFound(format!("{context}: tenant {tenant} does not exist"))
        } else {
            self.error(context, err)
        }
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn upsert_channel(&self, record: &ChannelRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO channels (channel_id, tenant, region, client_id, connect_uri, expires_at, \
             token_expires_at, topics, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
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
        .bind(truncate_millis(record.expires_at))
        .bind(truncate_millis(record.token_expires_at))
        .bind(Json(&record.topics))
        .bind(truncate_millis(record.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            self.error(
                &self.context(format_args!("saving channel {}", record.channel_id)),
                e,
            )
        })?;
        Ok(())
    }

    async fn remove_channel(&self, channel_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM channels WHERE channel_id = $1")
            .bind(channel_id)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                self.error(
                    &self.context(format_args!("removing channel {channel_id}")),
                    e,
                )
            })?;
        Ok(())
    }

    async fn channels(&self, tenant: &str) -> Result<Vec<ChannelRecord>, StoreError> {
        let context = || self.context(format_args!("reading the channels of tenant {tenant}"));
        let rows = sqlx::query(
            "SELECT channel_id, tenant, region, client_id, connect_uri, expires_at, token_expires_at, \
             topics, updated_at FROM channels WHERE tenant = $1 ORDER BY updated_at, channel_id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(&context(), e))?;
        rows.iter()
            .map(|row| channel_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn touch_channels(
        &self,
        tenant: &str,
        proofs: &[(String, DateTime<Utc>)],
    ) -> Result<usize, StoreError> {
        let proofs = latest_proofs(proofs);
        if proofs.is_empty() {
            return Ok(0);
        }
        let (ids, ats): (Vec<&str>, Vec<DateTime<Utc>>) = proofs.into_iter().unzip();
        // One statement, whatever the number of channels: the proofs as a table, joined to the tenant's
        // channels.
        let moved = sqlx::query(
            "UPDATE channels AS c SET updated_at = p.at \
             FROM UNNEST($2::text[], $3::timestamptz[]) AS p (channel_id, at) \
             WHERE c.tenant = $1 AND c.channel_id = p.channel_id AND c.updated_at < p.at",
        )
        .bind(tenant)
        .bind(&ids)
        .bind(&ats)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            self.error(
                &self.context(format_args!(
                    "storing the proofs of life of {} channels of tenant {tenant}",
                    ids.len()
                )),
                e,
            )
        })?
        .rows_affected();
        Ok(usize::try_from(moved).unwrap_or(usize::MAX))
    }

    async fn record_gap(&self, gap: &GapRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO gaps (id, tenant, region, channel_id, topics, from_at, to_at, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&gap.id)
        .bind(&gap.tenant)
        .bind(&gap.region)
        .bind(&gap.channel_id)
        .bind(Json(&gap.topics))
        .bind(truncate_millis(gap.from))
        .bind(truncate_millis(gap.to))
        .bind(&gap.reason)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(&self.context(format_args!("recording gap {}", gap.id)), e))?;
        Ok(())
    }

    async fn gaps(&self, filter: &GapFilter) -> Result<Vec<GapRecord>, StoreError> {
        let context = || self.context("reading gaps");
        let limit = effective_limit(filter.limit, DEFAULT_GAP_LIMIT, MAX_GAP_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT id, tenant, region, channel_id, topics, from_at, to_at, reason FROM gaps WHERE 1 = 1",
        );
        if let Some(tenant) = &filter.tenant {
            query.push(" AND tenant = ").push_bind(tenant.as_str());
        }
        if let Some(since) = filter.since {
            query
                .push(" AND to_at >= ")
                .push_bind(truncate_millis(since));
        }
        if let Some(until) = filter.until {
            query
                .push(" AND from_at <= ")
                .push_bind(truncate_millis(until));
        }
        query.push(" ORDER BY from_at, id LIMIT ").push_bind(limit);
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(&context(), e))?;
        rows.iter()
            .map(|row| gap_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Touches the schema, not just the connection, so a database whose tables vanished is not ready.
        sqlx::query("SELECT 1 FROM channels LIMIT 0")
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(&self.context("checking the store answers"), e))?;
        Ok(())
    }

    async fn upsert_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
        // created_at is not in the update list: the first value stays.
        sqlx::query(
            "INSERT INTO tenants (id, region, api_base, login_base, paused, ca_file, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
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
        .bind(truncate_millis(tenant.created_at))
        .bind(truncate_millis(tenant.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            self.error(
                &self.context(format_args!("saving tenant {}", tenant.id)),
                e,
            )
        })?;
        Ok(())
    }

    async fn tenant(&self, id: &str) -> Result<Option<TenantRecord>, StoreError> {
        let context = || self.context(format_args!("reading tenant {id}"));
        let row = sqlx::query(
            "SELECT id, region, api_base, login_base, paused, ca_file, created_at, updated_at \
             FROM tenants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(&context(), e))?;
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
        .map_err(|e| self.error(&context(), e))?;
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
            .map_err(|e| self.error(&context(), e))?;
        // The foreign keys cascade too; channels have none (a channel record may precede its tenant's).
        for statement in [
            "DELETE FROM clients WHERE tenant = $1",
            "DELETE FROM topics WHERE tenant = $1",
            "DELETE FROM channels WHERE tenant = $1",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(&context(), e))?;
        }
        let deleted = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(&context(), e))?
            .rows_affected();
        tx.commit().await.map_err(|e| self.error(&context(), e))?;
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
            "INSERT INTO clients (tenant, id, secret, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant, id) DO UPDATE SET secret = excluded.secret, \
             updated_at = excluded.updated_at",
        )
        .bind(&client.tenant)
        .bind(&client.id)
        .bind(client.secret.to_text())
        .bind(truncate_millis(client.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| self.missing_tenant(&context(), &client.tenant, e))?;
        Ok(())
    }

    async fn clients(&self, tenant: &str) -> Result<Vec<ClientRecord>, StoreError> {
        let context = || self.context(format_args!("reading the clients of tenant {tenant}"));
        let rows = sqlx::query(
            "SELECT tenant, id, secret, updated_at FROM clients WHERE tenant = $1 ORDER BY id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(&context(), e))?;
        rows.iter()
            .map(|row| client_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn delete_client(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM clients WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                self.error(
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
        let mut keys = Vec::with_capacity(rows.len());
        let mut names = Vec::with_capacity(rows.len());
        let mut priorities = Vec::with_capacity(rows.len());
        for (key, name, priority) in rows {
            keys.push(key);
            names.push(name);
            priorities.push(priority);
        }
        // One statement, so one transaction, whatever the number of topics: the rows travel as three
        // arrays. Keys are distinct (deduplicated above), as ON CONFLICT DO UPDATE requires.
        sqlx::query(
            "INSERT INTO topics (tenant, name_key, name, priority) \
             SELECT $1, t.name_key, t.name, t.priority \
             FROM UNNEST($2::text[], $3::text[], $4::int4[]) AS t (name_key, name, priority) \
             ON CONFLICT (tenant, name_key) DO UPDATE SET name = excluded.name, \
             priority = excluded.priority",
        )
        .bind(tenant)
        .bind(&keys)
        .bind(&names)
        .bind(&priorities)
        .execute(&self.pool)
        .await
        .map_err(|e| self.missing_tenant(&context(), tenant, e))?;
        Ok(())
    }

    async fn remove_topics(&self, tenant: &str, names: &[String]) -> Result<usize, StoreError> {
        let keys = distinct_topic_keys(names);
        if keys.is_empty() {
            return Ok(0);
        }
        let removed = sqlx::query("DELETE FROM topics WHERE tenant = $1 AND name_key = ANY($2)")
            .bind(tenant)
            .bind(&keys)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                self.error(
                    &self.context(format_args!(
                        "removing {} topics from tenant {tenant}",
                        names.len()
                    )),
                    e,
                )
            })?
            .rows_affected();
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    async fn topics(&self, tenant: &str) -> Result<Vec<TopicRecord>, StoreError> {
        let context = || self.context(format_args!("reading the topics of tenant {tenant}"));
        let rows = sqlx::query("SELECT name, priority FROM topics WHERE tenant = $1 ORDER BY name")
            .bind(tenant)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(&context(), e))?;
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
            "INSERT INTO sinks (name, kind, settings, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, settings = excluded.settings, \
             updated_at = excluded.updated_at",
        )
        .bind(&sink.name)
        .bind(&sink.kind)
        .bind(&sink.settings)
        .bind(truncate_millis(sink.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(&self.context(format_args!("saving sink {}", sink.name)), e))?;
        Ok(())
    }

    async fn sink(&self, name: &str) -> Result<Option<SinkRecord>, StoreError> {
        let context = || self.context(format_args!("reading sink {name}"));
        let row = sqlx::query("SELECT name, kind, settings, updated_at FROM sinks WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(&context(), e))?;
        row.map(|row| sink_from_row(&row).map_err(|e| corrupt(&context(), e)))
            .transpose()
    }

    async fn sinks(&self) -> Result<Vec<SinkRecord>, StoreError> {
        let context = || self.context("reading the sinks");
        let rows = sqlx::query("SELECT name, kind, settings, updated_at FROM sinks ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(&context(), e))?;
        rows.iter()
            .map(|row| sink_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn delete_sink(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM sinks WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(&self.context(format_args!("deleting sink {name}")), e))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn upsert_route(&self, route: &RouteRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO routes (id, tenants, sinks, topics, changes_only, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET tenants = excluded.tenants, sinks = excluded.sinks, \
             topics = excluded.topics, changes_only = excluded.changes_only, \
             updated_at = excluded.updated_at",
        )
        .bind(&route.id)
        .bind(Json(&route.tenants))
        .bind(Json(&route.sinks))
        .bind(Json(&route.topics))
        .bind(route.changes_only)
        .bind(truncate_millis(route.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(&self.context(format_args!("saving route {}", route.id)), e))?;
        Ok(())
    }

    async fn routes(&self) -> Result<Vec<RouteRecord>, StoreError> {
        let context = || self.context("reading the routes");
        let rows = sqlx::query(
            "SELECT id, tenants, sinks, topics, changes_only, updated_at FROM routes ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(&context(), e))?;
        rows.iter()
            .map(|row| route_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn delete_route(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM routes WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(&self.context(format_args!("deleting route {id}")), e))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn append_audit(&self, entry: &AuditRecord) -> Result<(), StoreError> {
        // An id seen again is a retry: keep the first copy, as for gaps.
        sqlx::query(
            "INSERT INTO audit (id, at, actor, action, target, details) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&entry.id)
        .bind(truncate_millis(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.details)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            self.error(
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
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT id, at, actor, action, target, details FROM audit WHERE 1 = 1",
        );
        if let Some(prefix) = &filter.target_prefix {
            // Exact and case-sensitive, with no wildcard characters (unlike LIKE).
            query
                .push(" AND starts_with(target, ")
                .push_bind(prefix.as_str())
                .push(")");
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(truncate_millis(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND at <= ").push_bind(truncate_millis(until));
        }
        query
            .push(" ORDER BY at DESC, seq DESC LIMIT ")
            .push_bind(limit);
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(&context(), e))?;
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
            .map_err(|e| self.error(&context(), e))?;
        for l in letters {
            sqlx::query(
                "INSERT INTO dead_letters (id, sink, at, reason, json) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&l.id)
            .bind(&l.sink)
            .bind(truncate_millis(l.at))
            .bind(&l.reason)
            .bind(&l.json)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(&context(), e))?;
        }
        tx.commit().await.map_err(|e| self.error(&context(), e))
    }

    async fn dead_letters(&self, sink: &str, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let context = || self.context(format_args!("reading the dead letters of sink {sink}"));
        let rows = sqlx::query(
            "SELECT id, sink, at, reason, json FROM dead_letters WHERE sink = $1 \
             ORDER BY at DESC, seq DESC LIMIT $2",
        )
        .bind(sink)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(&context(), e))?;
        rows.iter()
            .map(|row| dead_letter_from_row(row).map_err(|e| corrupt(&context(), e)))
            .collect()
    }

    async fn remove_dead_letters(&self, sink: &str, ids: &[String]) -> Result<usize, StoreError> {
        let context = || self.context(format_args!("removing dead letters of sink {sink}"));
        let removed = sqlx::query("DELETE FROM dead_letters WHERE sink = $1 AND id = ANY($2)")
            .bind(sink)
            .bind(ids)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(&context(), e))?
            .rows_affected();
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    async fn all_sealed_secrets(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let context = || self.context("reading every client secret");
        let rows =
            sqlx::query("SELECT tenant, id, secret, updated_at FROM clients ORDER BY tenant, id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.error(&context(), e))?;
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
        let replaced = sqlx::query(
            "UPDATE clients SET secret = $1 WHERE tenant = $2 AND id = $3 AND secret = $4",
        )
        .bind(sealed.to_text())
        .bind(tenant)
        .bind(client)
        .bind(previous.to_text())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            self.error(
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

/// Checks a schema name for [`PostgresStore::connect_with_schema`].
fn check_schema_name(schema: &str) -> Result<(), String> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with("pg_")
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "schema name {schema:?} is not usable: give 1 to 63 lower-case ASCII letters, digits and \
             '_', not starting with a digit nor with 'pg_'"
        ))
    }
}

/// What a connection URL may show in messages, and what it must not.
#[derive(Debug)]
struct Redactor {
    /// `postgres://host:port/database`, without credentials or parameters.
    location: String,
    /// The password, as written in the URL and percent-decoded: scrubbed from every message.
    secrets: Vec<String>,
}

impl Redactor {
    /// Reads a `postgres://` or `postgresql://` URL. Never fails: an unreadable URL is described as such
    /// and, having no recognisable password, is kept out of messages entirely.
    fn for_url(url: &str) -> Redactor {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Redactor {
                location: "a PostgreSQL server (the URL does not start with postgres://)"
                    .to_owned(),
                secrets: vec![url.to_owned()],
            };
        };
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, query),
            None => (rest, ""),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((authority, path)) => (authority, path),
            None => (before_query, ""),
        };
        let mut secrets = Vec::new();
        let host = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                if let Some((_, password)) = userinfo.split_once(':') {
                    secrets.push(password.to_owned());
                }
                host
            }
            None => authority,
        };
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && (key == "password" || key == "sslpassword")
            {
                secrets.push(value.to_owned());
            }
        }
        let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
        secrets.extend(decoded);
        secrets.retain(|s| !s.is_empty());
        secrets.sort();
        secrets.dedup();
        // Longest first, so a password that contains another is scrubbed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let database = path.split('#').next().unwrap_or_default();
        Redactor {
            location: format!("{scheme}://{host}/{database}"),
            secrets,
        }
    }

    /// `message` with every secret replaced by `***`.
    fn scrub(&self, message: &str) -> String {
        let mut message = message.to_owned();
        for secret in &self.secrets {
            message = message.replace(secret.as_str(), "***");
        }
        message
    }
}

/// Decodes `%XX` escapes (what a URL password may hold); anything else is kept as is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Maps a sqlx error to the store's kinds, prefixed with what was being done and scrubbed of the URL's
/// password. sqlx's messages carry no bound values, so nothing written to the store leaks into them.
fn map_pg(redactor: &Redactor, context: &str, err: sqlx::Error) -> StoreError {
    let message = redactor.scrub(&format!("{context}: {err}"));
    match &err {
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(message),
        sqlx::Error::Migrate(_) => StoreError::Migration(message),
        // Everything else (unreachable server, refused login, pool exhausted or closed, missing tables,
        // ...) is something a retry or an operator can fix: report the store unavailable.
        _ => StoreError::Unavailable(message),
    }
}

/// Reads one column, describing a failure without the value (which could be anything).
fn column<'r, T>(row: &'r PgRow, name: &str) -> Result<T, String>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name)
        .map_err(|e| format!("cannot read column {name}: {e}"))
}

/// Reads a JSONB list of strings.
fn list_column(row: &PgRow, name: &str) -> Result<Vec<String>, String> {
    column::<Json<Vec<String>>>(row, name)
        .map(|Json(list)| list)
        .map_err(|e| format!("{e} (expected a JSON array of strings)"))
}

fn time_column(row: &PgRow, name: &str) -> Result<DateTime<Utc>, String> {
    column(row, name)
}

fn channel_from_row(row: &PgRow) -> Result<ChannelRecord, String> {
    let channel_id: String = column(row, "channel_id")?;
    let describe = |e: String| format!("channel {channel_id}: {e}");
    Ok(ChannelRecord {
        tenant: column(row, "tenant").map_err(describe)?,
        region: column(row, "region").map_err(describe)?,
        client_id: column(row, "client_id").map_err(describe)?,
        connect_uri: column(row, "connect_uri").map_err(describe)?,
        expires_at: time_column(row, "expires_at").map_err(describe)?,
        token_expires_at: time_column(row, "token_expires_at").map_err(describe)?,
        topics: list_column(row, "topics").map_err(describe)?,
        updated_at: time_column(row, "updated_at").map_err(describe)?,
        channel_id,
    })
}

fn gap_from_row(row: &PgRow) -> Result<GapRecord, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("gap {id}: {e}");
    Ok(GapRecord {
        tenant: column(row, "tenant").map_err(describe)?,
        region: column(row, "region").map_err(describe)?,
        channel_id: column(row, "channel_id").map_err(describe)?,
        topics: list_column(row, "topics").map_err(describe)?,
        from: time_column(row, "from_at").map_err(describe)?,
        to: time_column(row, "to_at").map_err(describe)?,
        reason: column(row, "reason").map_err(describe)?,
        id,
    })
}

fn tenant_from_row(row: &PgRow) -> Result<TenantRecord, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("tenant {id}: {e}");
    Ok(TenantRecord {
        region: column(row, "region").map_err(describe)?,
        api_base: column(row, "api_base").map_err(describe)?,
        login_base: column(row, "login_base").map_err(describe)?,
        paused: column(row, "paused").map_err(describe)?,
        ca_file: column(row, "ca_file").map_err(describe)?,
        created_at: time_column(row, "created_at").map_err(describe)?,
        updated_at: time_column(row, "updated_at").map_err(describe)?,
        id,
    })
}

fn client_from_row(row: &PgRow) -> Result<ClientRecord, String> {
    let tenant: String = column(row, "tenant")?;
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("client {id} of tenant {tenant}: {e}");
    Ok(ClientRecord {
        secret: decode_sealed(&column::<String>(row, "secret").map_err(describe)?)
            .map_err(describe)?,
        updated_at: time_column(row, "updated_at").map_err(describe)?,
        tenant,
        id,
    })
}

fn sink_from_row(row: &PgRow) -> Result<SinkRecord, String> {
    let name: String = column(row, "name")?;
    let describe = |e: String| format!("sink {name}: {e}");
    Ok(SinkRecord {
        kind: column(row, "kind").map_err(describe)?,
        settings: column(row, "settings").map_err(describe)?,
        updated_at: time_column(row, "updated_at").map_err(describe)?,
        name,
    })
}

fn route_from_row(row: &PgRow) -> Result<RouteRecord, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("route {id}: {e}");
    Ok(RouteRecord {
        tenants: list_column(row, "tenants").map_err(describe)?,
        sinks: list_column(row, "sinks").map_err(describe)?,
        topics: list_column(row, "topics").map_err(describe)?,
        changes_only: column(row, "changes_only").map_err(describe)?,
        updated_at: time_column(row, "updated_at").map_err(describe)?,
        id,
    })
}

fn dead_letter_from_row(row: &PgRow) -> Result<DeadLetter, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("dead letter {id}: {e}");
    Ok(DeadLetter {
        sink: column(row, "sink").map_err(describe)?,
        at: time_column(row, "at").map_err(describe)?,
        reason: column(row, "reason").map_err(describe)?,
        json: column(row, "json").map_err(describe)?,
        id,
    })
}

fn audit_from_row(row: &PgRow) -> Result<AuditRecord, String> {
    let id: String = column(row, "id")?;
    let describe = |e: String| format!("audit entry {id}: {e}");
    Ok(AuditRecord {
        at: time_column(row, "at").map_err(describe)?,
        actor: column(row, "actor").map_err(describe)?,
        action: column(row, "action").map_err(describe)?,
        target: column(row, "target").map_err(describe)?,
        details: column(row, "details").map_err(describe)?,
        id,
    })
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod postgres_tests;
