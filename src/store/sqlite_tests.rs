//! SQLite-specific tests: the shared suite against both flavours, plus what only SQLite has (files,
//! re-opening, migrations, error kinds).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MIGRATIONS, SqliteStore};
use crate::store::common::MAX_GAP_LIMIT;
use crate::store::tests::{self as suite, at, channel, gap, unique_tenant};
use crate::store::{GapFilter, Store, StoreError};

/// A directory under the system temp dir, removed (with its contents) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(format!("switchboard-store-{}", Uuid::new_v4().simple())))
    }

    /// A database path below a directory that does not exist yet, so `open` has to create it.
    fn db_path(&self) -> PathBuf {
        self.0.join("nested").join("switchboard.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir must not turn a passing test into a panic.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path)
        .await
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

async fn applied_migrations(store: &SqliteStore) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&store.pool)
        .await
        .expect("read applied migrations")
}

fn expected_versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|&(version, _, _)| version).collect()
}

#[tokio::test]
async fn suite_in_memory() {
    let store = SqliteStore::in_memory().await.expect("in-memory store");
    suite::run_all(&store).await;
}

#[tokio::test]
async fn in_memory_stores_are_private() {
    let first = SqliteStore::in_memory().await.expect("first store");
    let second = SqliteStore::in_memory().await.expect("second store");
    let tenant = unique_tenant("private");
    first
        .upsert_channel(&channel(&tenant, 0))
        .await
        .expect("upsert");
    assert_eq!(first.channels(&tenant).await.expect("first").len(), 1);
    assert!(second.channels(&tenant).await.expect("second").is_empty());
}

#[tokio::test]
async fn suite_on_file_then_reopen() {
    let dir = TempDir::new();
    let path = dir.db_path();
    let tenant = unique_tenant("durable");
    let record = channel(&tenant, 0);
    let gap_record = gap(&tenant, 0, 1_000);
    let only_mine = GapFilter {
        tenant: Some(tenant.clone()),
        ..GapFilter::default()
    };

    let store = open(&path).await;
    assert!(path.is_file(), "open creates the file and its directory");
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .expect("journal mode");
    assert_eq!(journal_mode, "wal");
    suite::run_all(&store).await;
    store.upsert_channel(&record).await.expect("upsert");
    store.record_gap(&gap_record).await.expect("record gap");
    assert_eq!(applied_migrations(&store).await, expected_versions());
    store.close().await;

    // Data survives and migrations are not applied twice.
    let reopened = open(&path).await;
    assert_eq!(
        reopened.channels(&tenant).await.expect("channels"),
        vec![record.clone()]
    );
    assert_eq!(
        reopened.gaps(&only_mine).await.expect("gaps"),
        vec![gap_record.clone()]
    );
    assert_eq!(applied_migrations(&reopened).await, expected_versions());
    // The suite still passes on a database holding earlier data.
    suite::run_all(&reopened).await;

    // A second store on the same file (another process, say) sees the same data and writes.
    let beside = open(&path).await;
    assert_eq!(
        beside.channels(&tenant).await.expect("channels beside"),
        vec![record.clone()]
    );
    beside
        .remove_channel(&record.channel_id)
        .await
        .expect("remove beside");
    assert!(
        reopened
            .channels(&tenant)
            .await
            .expect("channels after removal")
            .is_empty()
    );
    beside.close().await;
    reopened.close().await;
}

#[tokio::test]
async fn concurrent_writes_on_file_all_succeed() {
    let dir = TempDir::new();
    let store = open(&dir.db_path()).await;
    let tenant = unique_tenant("concurrent");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let store = store.clone();
        let record = channel(&tenant, i);
        let gap_record = gap(&tenant, i, i + 1);
        tasks.spawn(async move {
            store.upsert_channel(&record).await?;
            store.record_gap(&gap_record).await?;
            store.channels(&record.tenant).await.map(drop)
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("concurrent write");
    }
    let channels = store.channels(&tenant).await.expect("channels");
    assert_eq!(channels.len(), 64);
    assert!(
        channels
            .windows(2)
            .all(|w| w[0].updated_at < w[1].updated_at)
    );
    store.close().await;
}

#[tokio::test]
async fn times_are_truncated_to_milliseconds() {
    let store = SqliteStore::in_memory().await.expect("store");
    let tenant = unique_tenant("precision");
    let precise = DateTime::<Utc>::from_timestamp(1_735_689_600, 123_456_789).expect("time");
    let mut record = channel(&tenant, 0);
    record.updated_at = precise;
    store.upsert_channel(&record).await.expect("upsert");

    let read = store.channels(&tenant).await.expect("channels");
    let expected = DateTime::<Utc>::from_timestamp(1_735_689_600, 123_000_000).expect("time");
    assert_eq!(read[0].updated_at, expected);
}

#[tokio::test]
async fn recording_a_gap_twice_keeps_one() {
    let store = SqliteStore::in_memory().await.expect("store");
    let tenant = unique_tenant("retry");
    let first = gap(&tenant, 0, 1);
    let mut retry = first.clone();
    retry.reason = "changed on retry".to_owned();
    store.record_gap(&first).await.expect("record");
    store.record_gap(&retry).await.expect("record again");
    let filter = GapFilter {
        tenant: Some(tenant),
        ..GapFilter::default()
    };
    assert_eq!(store.gaps(&filter).await.expect("gaps"), vec![first]);
}

#[tokio::test]
async fn gap_limit_defaults_and_is_capped() {
    let store = SqliteStore::in_memory().await.expect("store");
    // More gaps than the cap, written in one statement to keep the test fast.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 10050) \
         INSERT INTO gaps (id, tenant, region, channel_id, topics, from_at, to_at, reason) \
         SELECT 'gap-' || i, 'bulk', 'r', 'c', '[]', i, i + 1, 'bulk' FROM n",
    )
    .execute(&store.pool)
    .await
    .expect("bulk insert");

    let count = |limit: Option<usize>| {
        let store = &store;
        async move {
            store
                .gaps(&GapFilter {
                    limit,
                    ..GapFilter::default()
                })
                .await
                .expect("gaps")
                .len()
        }
    };
    assert_eq!(count(None).await, 1000);
    assert_eq!(count(Some(10)).await, 10);
    assert_eq!(count(Some(0)).await, 0);
    assert_eq!(count(Some(MAX_GAP_LIMIT + 1)).await, MAX_GAP_LIMIT);
    assert_eq!(count(Some(usize::MAX)).await, MAX_GAP_LIMIT);
}

#[tokio::test]
async fn undecodable_row_is_corrupt_and_named() {
    let store = SqliteStore::in_memory().await.expect("store");
    let tenant = unique_tenant("corrupt");
    sqlx::query(
        "INSERT INTO channels (channel_id, tenant, region, client_id, connect_uri, expires_at, \
         token_expires_at, topics, updated_at) VALUES ('bad-channel', ?, 'r', 'c', 'u', 0, 0, 'not json', 0)",
    )
    .bind(&tenant)
    .execute(&store.pool)
    .await
    .expect("insert raw row");

    match store.channels(&tenant).await {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains("bad-channel"), "{message}");
            assert!(message.contains("topics"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_path_is_unavailable_and_named() {
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    // A regular file where a directory should be: neither the directory nor the database can be created.
    let blocker = dir.0.join("not-a-dir");
    std::fs::write(&blocker, b"").expect("blocker");
    let path = blocker.join("switchboard.db");

    match SqliteStore::open(&path).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(
                message.contains(&format!("while opening {}", path.display())),
                "{message}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn not_a_database_is_corrupt_and_named() {
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let path = dir.0.join("garbage.db");
    std::fs::write(
        &path,
        "this is not a SQLite database, just some text. ".repeat(100),
    )
    .expect("write");

    match SqliteStore::open(&path).await {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn schema_from_a_newer_build_is_a_migration_error() {
    let dir = TempDir::new();
    let path = dir.db_path();
    let store = open(&path).await;
    // What a newer build that added migration 999 would leave behind.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from the future', TRUE, X'00', 0)",
    )
    .execute(&store.pool)
    .await
    .expect("insert future migration");
    store.close().await;

    match SqliteStore::open(&path).await {
        Err(StoreError::Migration(message)) => {
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("999"), "{message}");
        }
        other => panic!("expected Migration, got {other:?}"),
    }
}

#[tokio::test]
async fn closed_store_is_unavailable() {
    let store = SqliteStore::in_memory().await.expect("store");
    store.close().await;
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.channels("any").await,
        Err(StoreError::Unavailable(_))
    ));
}

/// The hand-maintained migration list must match `migrations/sqlite/`, file for file, byte for byte: a new
/// file that is not listed would silently never run.
#[test]
fn embedded_migrations_match_the_directory() {
    let on_disk = suite::migration_files("sqlite");
    let embedded: Vec<(i64, String)> = MIGRATIONS
        .iter()
        .map(|&(version, _, sql)| (version, sql.to_owned()))
        .collect();
    assert_eq!(embedded, on_disk);
}

#[test]
fn suite_times_are_millisecond_precise() {
    // Guards the suite's own helper: `at` must be millisecond-precise, or round-trip checks would be
    // comparing truncated values with untruncated ones.
    assert_eq!(at(0).timestamp_subsec_nanos() % 1_000_000, 0);
    assert_eq!(at(1) - at(0), chrono::Duration::milliseconds(1));
}

#[tokio::test]
async fn rotation_in_memory() {
    let store = SqliteStore::in_memory().await.expect("store");
    suite::rotation(&store).await;
}

#[tokio::test]
async fn rotation_on_file() {
    let dir = TempDir::new();
    let store = open(&dir.db_path()).await;
    suite::rotation(&store).await;
    store.close().await;
}

/// Every file SQLite may have written for the database at `path`, concatenated.
fn database_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("read the database file");
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        if let Ok(more) = std::fs::read(PathBuf::from(side)) {
            bytes.extend(more);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn secrets_are_sealed_in_the_database_file() {
    let dir = TempDir::new();
    let path = dir.db_path();
    let store = open(&path).await;
    let key = crate::secrets::MasterKey::generate();
    let tenant = suite::new_tenant(&store, "sealed").await;
    let plaintext = suite::plaintext_secret();
    store
        .upsert_client(&suite::client_record(
            &key, &tenant, "client", &plaintext, 0,
        ))
        .await
        .expect("upsert client");

    // The column, read with plain SQL, holds opaque sealed text.
    let raw: Vec<String> = sqlx::query_scalar("SELECT secret FROM clients")
        .fetch_all(&store.pool)
        .await
        .expect("read the raw column");
    assert_eq!(raw.len(), 1);
    assert!(
        raw[0].starts_with(&format!("v1:{}:", key.id())),
        "{}",
        raw[0]
    );
    assert!(!raw[0].contains(&plaintext));
    // Not even the secret's distinctive part.
    assert!(!raw[0].contains(plaintext.trim_start_matches("PLAINTEXT-secret-")));

    // Nor is it anywhere in the files (the WAL included, before and after the checkpoint on close).
    assert!(!contains(&database_bytes(&path), plaintext.as_bytes()));
    store.close().await;
    let bytes = database_bytes(&path);
    assert!(
        contains(&bytes, tenant.as_bytes()),
        "the tenant is in the file"
    );
    assert!(!contains(&bytes, plaintext.as_bytes()));
}

#[tokio::test]
async fn undecodable_sealed_secret_is_corrupt_and_named() {
    let store = SqliteStore::in_memory().await.expect("store");
    let tenant = suite::new_tenant(&store, "bad-secret").await;
    sqlx::query(
        "INSERT INTO clients (tenant, id, secret, updated_at) \
         VALUES (?, 'bad-client', 'plaintext-by-mistake', 0)",
    )
    .bind(&tenant)
    .execute(&store.pool)
    .await
    .expect("insert raw row");

    for result in [
        store.clients(&tenant).await,
        store.all_sealed_secrets().await,
    ] {
        match result {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("bad-client"), "{message}");
                assert!(message.contains(&tenant), "{message}");
                assert!(message.contains("secret"), "{message}");
                assert!(!message.contains("plaintext-by-mistake"), "{message}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn database_from_before_migration_2_is_upgraded() {
    let dir = TempDir::new();
    let path = dir.db_path();
    let store = open(&path).await;
    let tenant = unique_tenant("upgrade");
    let record = channel(&tenant, 0);
    store.upsert_channel(&record).await.expect("upsert");
    // What a build that knew only migration 1 left behind.
    sqlx::raw_sql(
        "DROP TABLE clients; DROP TABLE topics; DROP TABLE tenants; DROP TABLE sinks; \
         DROP TABLE routes; DROP TABLE audit; DROP TABLE dead_letters; \
         DROP TABLE cluster_instances; DROP TABLE tenant_leases; \
         ALTER TABLE gaps DROP COLUMN backfill; \
         DELETE FROM _sqlx_migrations WHERE version >= 2",
    )
    .execute(&store.pool)
    .await
    .expect("downgrade");
    assert_eq!(applied_migrations(&store).await, vec![1]);
    store.close().await;

    let upgraded = open(&path).await;
    assert_eq!(applied_migrations(&upgraded).await, expected_versions());
    assert_eq!(
        upgraded.channels(&tenant).await.expect("channels"),
        vec![record]
    );
    upgraded
        .upsert_tenant(&suite::tenant_record(&tenant, 0))
        .await
        .expect("the new tables exist");
    upgraded.close().await;
}

#[tokio::test]
async fn open_picks_the_backend_from_the_location() {
    let dir = TempDir::new();
    let path = dir.db_path();
    let store = crate::store::open(&path.display().to_string())
        .await
        .expect("a path opens SQLite");
    store.ping().await.expect("ping");
    assert!(path.is_file());

    // A PostgreSQL URL is not taken for a file name.
    match crate::store::open("postgres://user:s3cr3t@127.0.0.1:1/db").await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("postgres://127.0.0.1:1/db"), "{message}");
            assert!(!message.contains("s3cr3t"), "{message}");
        }
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("nothing listens on port 1"),
    }
}
