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

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};

use super::StoreError;
use super::common::{classify, migrator, truncate_millis};
use super::sql::{Dialect, sql_store};

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
    (
        4,
        "backfill",
        include_str!("../../migrations/postgres/0004_backfill.sql"),
    ),
    (
        5,
        "cluster",
        include_str!("../../migrations/postgres/0005_cluster.sql"),
    ),
    (
        6,
        "handover",
        include_str!("../../migrations/postgres/0006_handover.sql"),
    ),
    (
        7,
        "topic templates",
        include_str!("../../migrations/postgres/0007_topic_templates.sql"),
    ),
    (
        8,
        "route filters",
        include_str!("../../migrations/postgres/0008_route_filters.sql"),
    ),
];

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
        migrator(MIGRATIONS)
            .run(&self.pool)
            .await
            .map_err(|e| match e {
                MigrateError::Execute(inner) => self.error(&migrating, inner),
                other => {
                    StoreError::Migration(self.redactor.scrub(&format!("{migrating}: {other}")))
                }
            })
    }
}

impl Dialect for PostgresStore {
    /// TIMESTAMPTZ, truncated to the millisecond before it is written.
    type Time = DateTime<Utc>;
    /// JSONB.
    type List = serde_json::Value;
    /// JSONB.
    type Doc = serde_json::Value;

    fn time(at: DateTime<Utc>) -> DateTime<Utc> {
        truncate_millis(at)
    }

    fn read_time(_column: &str, kept: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        Ok(kept)
    }

    fn list(what: &str, list: &[String]) -> Result<serde_json::Value, String> {
        serde_json::to_value(list).map_err(|e| format!("cannot encode {what}: {e}"))
    }

    fn read_list(column: &str, kept: serde_json::Value) -> Result<Vec<String>, String> {
        serde_json::from_value(kept).map_err(|e| {
            format!("cannot read column {column}: {e} (expected a JSON array of strings)")
        })
    }

    fn doc(doc: &serde_json::Value) -> serde_json::Value {
        doc.clone()
    }

    fn read_doc(_column: &str, kept: serde_json::Value) -> Result<serde_json::Value, String> {
        Ok(kept)
    }

    fn location(&self) -> &str {
        &self.location
    }

    /// Maps a sqlx error, with the context prefix, scrubbed of the URL's password.
    fn error(&self, context: &str, err: sqlx::Error) -> StoreError {
        map_pg(&self.redactor, context, err)
    }
}

sql_store!(PostgresStore, sqlx::Postgres);

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
    // Beyond undecodable data and failed migrations, everything (unreachable server, refused login, pool
    // exhausted or closed, missing tables, ...) is something a retry or an operator can fix.
    classify(&err, redactor.scrub(&format!("{context}: {err}")), false)
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod postgres_tests;
