//! The embedded SQLite [`Store`].
//!
//! One database file per process, opened in WAL mode so readers (readiness pings, the gaps API) never wait
//! for the writer. Timestamps are stored as integer epoch milliseconds, lists and JSON documents as JSON
//! text, client secrets only as sealed text; see `migrations/sqlite/` for the schema.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::MigrateError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;
use super::common::{
    classify, decode_json, decode_list, encode_list, from_millis, migrator, to_millis,
};
use super::sql::{Dialect, sql_store};

/// Connections of a file store. SQLite has one writer at a time anyway; a few connections let reads run
/// beside it in WAL mode.
const POOL_SIZE: u32 = 4;
/// The page cache of each connection, in KiB (SQLite's default is 2 MiB).
const SQLITE_CACHE_KIB: u32 = 256;
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
    (
        4,
        "backfill",
        include_str!("../../migrations/sqlite/0004_backfill.sql"),
    ),
    (
        5,
        "cluster",
        include_str!("../../migrations/sqlite/0005_cluster.sql"),
    ),
    (
        6,
        "handover",
        include_str!("../../migrations/sqlite/0006_handover.sql"),
    ),
    (
        7,
        "topic templates",
        include_str!("../../migrations/sqlite/0007_topic_templates.sql"),
    ),
    (
        8,
        "route filters",
        include_str!("../../migrations/sqlite/0008_route_filters.sql"),
    ),
];

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
            // Each connection's page cache may grow to 2 MiB by default and stays at its peak: it held
            // more memory than the idle channels' sockets. The store's hot rows (channels, proofs) fit in
            // far less, and a page that fell out is read again from the OS's cache.
            .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
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
        migrator(MIGRATIONS).run(&self.pool).await.map_err(|e| {
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
}

impl Dialect for SqliteStore {
    /// Integer epoch milliseconds.
    type Time = i64;
    /// JSON text.
    type List = String;
    /// JSON text.
    type Doc = String;

    fn time(at: DateTime<Utc>) -> i64 {
        to_millis(at)
    }

    fn read_time(column: &str, kept: i64) -> Result<DateTime<Utc>, String> {
        from_millis(column, kept)
    }

    fn list(what: &str, list: &[String]) -> Result<String, String> {
        encode_list(what, list)
    }

    fn read_list(column: &str, kept: String) -> Result<Vec<String>, String> {
        decode_list(column, &kept)
    }

    fn doc(doc: &serde_json::Value) -> String {
        doc.to_string()
    }

    fn read_doc(column: &str, kept: String) -> Result<serde_json::Value, String> {
        decode_json(column, &kept)
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn error(&self, context: &str, err: sqlx::Error) -> StoreError {
        map_sqlx(context, err)
    }
}

sql_store!(SqliteStore, sqlx::Sqlite);

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
    // A damaged file or one that is not a database is corrupt; anything else (I/O, pool exhaustion or
    // closure, busy or locked database, full disk, ...) is something a retry or an operator can fix.
    let damaged = matches!(
        sqlite_primary_code(&err),
        Some(SQLITE_CORRUPT | SQLITE_NOTADB)
    );
    classify(&err, format!("{context}: {err}"), damaged)
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod sqlite_tests;
