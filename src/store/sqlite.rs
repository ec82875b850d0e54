//! The embedded SQLite [`Store`].
//!
//! One database file per process, opened in WAL mode so readers (readiness pings, the gaps API) never wait
//! for the writer. Timestamps are stored as integer epoch milliseconds and topic lists as JSON text; see
//! `migrations/sqlite/` for the schema.

use std::borrow::Cow;
use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, SqlSafeStr, Sqlite};

use super::{ChannelRecord, GapFilter, GapRecord, Store, StoreError};

/// Gaps returned when the filter names no limit.
const DEFAULT_GAP_LIMIT: usize = 1000;
/// Upper bound on gaps returned by one call, whatever the filter asks: keeps one request from loading an
/// unbounded history into memory.
const MAX_GAP_LIMIT: usize = 10_000;
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
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "channels and gaps",
    include_str!("../../migrations/sqlite/0001_channels_and_gaps.sql"),
)];

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
}

/// A timestamp as stored: milliseconds since the epoch. Finer precision is dropped (truncated towards the
/// past), which is what the store promises to keep.
fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(column: &str, millis: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| format!("column {column} holds {millis}, which is not a representable time"))
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

fn corrupt(context: &str, detail: String) -> StoreError {
    StoreError::Corrupt(format!("{context}: {detail}"))
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

/// The reusable store test suite, run here against SQLite. Lives in `store/tests.rs`; declared from this
/// file because this change may only touch the SQLite files.
#[cfg(test)]
#[path = "tests.rs"]
pub(crate) mod suite;

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod sqlite_tests;
