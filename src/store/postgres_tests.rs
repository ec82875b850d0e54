//! PostgreSQL tests: the shared suite, one check per test, each in a schema of its own (dropped at the
//! end, also when the check fails), plus what only PostgreSQL has (URLs with credentials, schemas).
//!
//! They need a server: `SWITCHBOARD_TEST_POSTGRES_URL`, by default the machine's server at
//! `postgres://postgres@127.0.0.1:5432/test`. When it cannot be reached they FAIL, saying so: they are
//! never skipped.

use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};

use chrono::{DateTime, Utc};
use futures_util::FutureExt as _;
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::{MIGRATIONS, PostgresStore, Redactor, check_schema_name, percent_decode};
use crate::store::tests::{self as suite, channel, unique_tenant};
use crate::store::{Lease, Store, StoreError};

/// The variable that points the tests at another server.
const URL_ENV: &str = "SWITCHBOARD_TEST_POSTGRES_URL";
/// The server CI and the development machines run.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A schema name no other test uses.
fn unique_schema() -> String {
    format!("switchboard_test_{}", Uuid::new_v4().simple())
}

/// A store in a new schema of its own. Panics, saying what is needed, when PostgreSQL is not usable.
async fn fresh_store() -> PostgresStore {
    let url = url();
    PostgresStore::connect_with_schema(&url, &unique_schema())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL store tests need a PostgreSQL server and could not use {}: {e}. Start \
                 PostgreSQL (CI and the development machines run one at {DEFAULT_URL}) or set {URL_ENV} \
                 to the URL of one.",
                Redactor::for_url(&url).location
            )
        })
}

/// Runs `check` on a store in a fresh schema, then drops the schema, whether the check passed or not.
async fn in_fresh_schema<F, Fut>(check: F)
where
    F: FnOnce(PostgresStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = fresh_store().await;
    let outcome = AssertUnwindSafe(check(store.clone())).catch_unwind().await;
    let dropped = store.drop_schema().await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
    dropped.expect("dropping the test schema");
}

/// A plain connection (no store), to look at the database from outside.
async fn raw_connection() -> PgConnection {
    PgConnection::connect(&url())
        .await
        .expect("a plain connection to PostgreSQL")
}

async fn schema_exists(schema: &str) -> bool {
    let mut conn = raw_connection().await;
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(&mut conn)
        .await
        .expect("look the schema up")
}

async fn applied_migrations(store: &PostgresStore) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&store.pool)
        .await
        .expect("read applied migrations")
}

fn expected_versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|&(version, _, _)| version).collect()
}

/// One test per check of the shared suite, each in its own schema.
macro_rules! suite_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                in_fresh_schema(|store| async move { suite::$check(&store).await }).await;
            }
        )*
    };
}

suite_tests!(
    ping,
    upsert_then_read_back,
    upsert_replaces,
    remove,
    channels_isolated_per_tenant_and_oldest_first,
    touch_moves_proofs_of_life_forward_only,
    topics_round_trip,
    gaps_append_and_filter,
    tenants_round_trip,
    delete_tenant_cascades,
    clients_round_trip,
    unknown_tenant_is_not_found,
    tenant_topics_case_insensitive,
    tenant_topics_bulk,
    sinks_round_trip,
    routes_round_trip,
    audit_newest_first_and_filtered,
    replace_sealed_compares_and_swaps,
    dead_letters_round_trip,
    dead_letters_bounded_per_sink,
    rotation,
);

/// The whole suite, in sequence, on one schema: checks sharing a database do not disturb each other.
#[tokio::test]
async fn run_all_in_one_schema() {
    in_fresh_schema(|store| async move { suite::run_all(&store).await }).await;
}

#[tokio::test]
async fn secrets_are_sealed_in_the_database() {
    in_fresh_schema(|store| async move {
        let key = crate::secrets::MasterKey::generate();
        let tenant = suite::new_tenant(&store, "sealed").await;
        let plaintext = suite::plaintext_secret();
        store
            .upsert_client(&suite::client_record(
                &key, &tenant, "client", &plaintext, 0,
            ))
            .await
            .expect("upsert client");

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
        // Every column of every row, as text.
        let whole: String = sqlx::query_scalar("SELECT string_agg(c::text, ' ') FROM clients c")
            .fetch_one(&store.pool)
            .await
            .expect("read the raw rows");
        assert!(whole.contains(&tenant));
        assert!(!whole.contains(&plaintext));
        assert!(!whole.contains(plaintext.trim_start_matches("PLAINTEXT-secret-")));
    })
    .await;
}

#[tokio::test]
async fn migrations_are_applied_once_per_schema() {
    let url = url();
    let schema = unique_schema();
    let store = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .expect("connect");
    assert_eq!(store.schema(), Some(schema.as_str()));
    assert_eq!(applied_migrations(&store).await, expected_versions());
    let tenant = unique_tenant("again");
    let record = channel(&tenant, 0);
    store.upsert_channel(&record).await.expect("upsert");

    // The tables and the migrations table are in the schema, not in public.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
         ORDER BY table_name",
    )
    .bind(&schema)
    .fetch_all(&store.pool)
    .await
    .expect("list tables");
    assert_eq!(
        tables,
        [
            "_sqlx_migrations",
            "audit",
            "channels",
            "clients",
            "cluster_instances",
            "dead_letters",
            "gaps",
            "routes",
            "sinks",
            "tenant_leases",
            "tenants",
            "topics"
        ]
    );

    // Connecting again to the same schema keeps the data and applies nothing twice.
    let again = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .expect("connect again");
    assert_eq!(applied_migrations(&again).await, expected_versions());
    assert_eq!(
        again.channels(&tenant).await.expect("channels"),
        vec![record]
    );
    again.close().await;

    store.drop_schema().await.expect("drop");
    assert!(!schema_exists(&schema).await);
    // A dropped store is closed.
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
}

/// `connect` (no dedicated schema) uses the connection's own search path; here one given in the URL, so
/// the test stays out of `public`.
#[tokio::test]
async fn connect_uses_the_default_schema() {
    let schema = unique_schema();
    let mut conn = raw_connection().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let base = url();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");

    let outcome = AssertUnwindSafe(async {
        let store = PostgresStore::connect(&url).await.expect("connect");
        assert_eq!(store.schema(), None);
        suite::upsert_then_read_back(&store).await;
        let in_schema: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
        )
        .bind(&schema)
        .fetch_one(&store.pool)
        .await
        .expect("count tables");
        assert_eq!(in_schema, 12);
        match store.drop_schema().await {
            Err(StoreError::NotFound(message)) => {
                assert!(message.contains("dedicated schema"), "{message}")
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        store.close().await;
    })
    .catch_unwind()
    .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await
    .expect("drop schema");
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

#[tokio::test]
async fn times_are_truncated_to_milliseconds() {
    in_fresh_schema(|store| async move {
        let tenant = unique_tenant("precision");
        let precise = DateTime::<Utc>::from_timestamp(1_735_689_600, 123_456_789).expect("time");
        let mut record = channel(&tenant, 0);
        record.updated_at = precise;
        store.upsert_channel(&record).await.expect("upsert");
        let read = store.channels(&tenant).await.expect("channels");
        let expected = DateTime::<Utc>::from_timestamp(1_735_689_600, 123_000_000).expect("time");
        assert_eq!(read[0].updated_at, expected);

        // A filter compares at the same precision: a gap ending at .123456 ends "at or after" .123999.
        let mut gap_record = suite::gap(&tenant, 0, 0);
        gap_record.to = precise;
        store.record_gap(&gap_record).await.expect("record gap");
        let since = DateTime::<Utc>::from_timestamp(1_735_689_600, 123_999_999).expect("time");
        let gaps = store
            .gaps(&crate::store::GapFilter {
                tenant: Some(tenant.clone()),
                since: Some(since),
                ..Default::default()
            })
            .await
            .expect("gaps");
        assert_eq!(gaps.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn undecodable_row_is_corrupt_and_named() {
    in_fresh_schema(|store| async move {
        let tenant = unique_tenant("corrupt");
        sqlx::query(
            "INSERT INTO channels (channel_id, tenant, region, client_id, connect_uri, expires_at, \
             token_expires_at, topics, updated_at) \
             VALUES ('bad-channel', $1, 'r', 'c', 'u', now(), now(), '{\"not\": \"a list\"}', now())",
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

        let client_tenant = suite::new_tenant(&store, "bad-secret").await;
        sqlx::query(
            "INSERT INTO clients (tenant, id, secret, updated_at) \
             VALUES ($1, 'bad-client', 'plaintext-by-mistake', now())",
        )
        .bind(&client_tenant)
        .execute(&store.pool)
        .await
        .expect("insert raw client");
        match store.all_sealed_secrets().await {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("bad-client"), "{message}");
                assert!(!message.contains("plaintext-by-mistake"), "{message}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn concurrent_writes_all_succeed() {
    in_fresh_schema(|store| async move {
        let tenant = suite::new_tenant(&store, "concurrent").await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64 {
            let store = store.clone();
            let record = channel(&tenant, i);
            let tenant = tenant.clone();
            tasks.spawn(async move {
                store.upsert_channel(&record).await?;
                store
                    .add_topics(
                        &tenant,
                        &[crate::store::TopicRecord {
                            name: format!("v2.topic.{i}"),
                            priority: 0,
                        }],
                    )
                    .await?;
                store.channels(&record.tenant).await.map(drop)
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.expect("task").expect("concurrent write");
        }
        assert_eq!(store.channels(&tenant).await.expect("channels").len(), 64);
        assert_eq!(store.topics(&tenant).await.expect("topics").len(), 64);
    })
    .await;
}

#[tokio::test]
async fn unreachable_server_is_unavailable_without_the_password() {
    // Port 1 on the loopback interface: nothing listens there.
    let url =
        "postgres://alice:hunter2-p%40ss@127.0.0.1:1/somedb?password=other-secret&sslmode=disable";
    let error = PostgresStore::connect_with_schema(url, "switchboard_test_unreachable")
        .await
        .expect_err("nothing listens on port 1");
    let message = error.to_string();
    assert!(matches!(error, StoreError::Unavailable(_)), "{message}");
    assert!(message.contains("127.0.0.1:1/somedb"), "{message}");
    for secret in ["hunter2", "p%40ss", "p@ss", "other-secret", "alice"] {
        assert!(!message.contains(secret), "{message}");
    }
    assert!(!format!("{error:?}").contains("hunter2"));
}

#[tokio::test]
async fn bad_urls_and_schema_names_are_rejected_by_name() {
    for url in [
        "postgres://bob:s3cr3t-value@127.0.0.1:notaport/db",
        "mysql://bob:s3cr3t-value@localhost/db",
    ] {
        let message = PostgresStore::connect(url)
            .await
            .expect_err("unusable URL")
            .to_string();
        assert!(!message.contains("s3cr3t-value"), "{message}");
    }
    for schema in [
        "",
        "Upper",
        "has-dash",
        "1digit",
        "pg_catalog",
        &"x".repeat(64),
    ] {
        match PostgresStore::connect_with_schema(&url(), schema).await {
            Err(StoreError::Unavailable(message)) => {
                assert!(message.contains("schema name"), "{message}")
            }
            other => panic!("expected a refusal of schema {schema:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn debug_output_holds_no_password() {
    let schema = unique_schema();
    // Trust authentication accepts any password, so one can be put in the URL.
    let base = url();
    let with_password = base.replacen("://postgres@", "://postgres:debug-s3cret@", 1);
    let store = PostgresStore::connect_with_schema(&with_password, &schema)
        .await
        .expect("connect");
    let debug = format!("{store:?}");
    store.drop_schema().await.expect("drop");
    if with_password != base {
        assert!(!debug.contains("debug-s3cret"), "{debug}");
    }
    assert!(debug.contains(&schema), "{debug}");
}

#[test]
fn redactor_strips_credentials() {
    let redactor =
        Redactor::for_url("postgresql://user:pa%3Ass@db.example:5433/prod?password=q&x=1#frag");
    assert_eq!(redactor.location, "postgresql://db.example:5433/prod");
    let scrubbed = redactor.scrub("user:pa%3Ass pa:ss q");
    assert_eq!(scrubbed, "user:*** *** ***");

    let plain = Redactor::for_url("postgres://localhost/test");
    assert_eq!(plain.location, "postgres://localhost/test");
    assert!(plain.secrets.is_empty());

    let at_in_password = Redactor::for_url("postgres://u:a@b@host/db");
    assert_eq!(at_in_password.location, "postgres://host/db");
    assert!(at_in_password.secrets.contains(&"a@b".to_owned()));

    let not_a_url = Redactor::for_url("host=localhost password=zzz");
    assert!(!not_a_url.location.contains("zzz"));
    assert_eq!(not_a_url.scrub("host=localhost password=zzz"), "***");

    assert_eq!(percent_decode("a%40b%zz%4"), "a@b%zz%4");
    assert!(check_schema_name("switchboard_test_0").is_ok());
}

/// The hand-maintained migration list must match `migrations/postgres/`, file for file, byte for byte, and
/// carry the same versions and descriptions as SQLite's.
#[test]
fn embedded_migrations_match_the_directory() {
    let on_disk = suite::migration_files("postgres");
    let embedded: Vec<(i64, String)> = MIGRATIONS
        .iter()
        .map(|&(version, _, sql)| (version, sql.to_owned()))
        .collect();
    assert_eq!(embedded, on_disk);

    let describe = |list: &[(i64, &str, &str)]| -> Vec<(i64, String)> {
        list.iter()
            .map(|&(version, description, _)| (version, description.to_owned()))
            .collect()
    };
    assert_eq!(
        describe(MIGRATIONS),
        describe(crate::store::sqlite::MIGRATIONS)
    );
}

#[tokio::test]
async fn a_fenced_channel_write_is_applied_only_under_the_current_lease() {
    let store = fresh_store().await;
    let tenant = unique_tenant("fenced");
    sqlx::query(
        "INSERT INTO tenant_leases (tenant, owner, epoch, expires_at) VALUES ($1, 'sb-1', 2, now() + interval '15 seconds')",
    )
    .bind(&tenant)
    .execute(&store.pool)
    .await
    .expect("a lease row");
    let mut record = channel(&tenant, 0);
    let current = Lease {
        owner: "sb-1".into(),
        epoch: 2,
    };
    assert!(
        store
            .upsert_channel_fenced(&record, &current)
            .await
            .unwrap()
    );
    // An older epoch (the owner before a takeover) or another owner: refused, nothing written.
    let kept = record.clone();
    record.connect_uri = "wss://zombie.example/".into();
    let stale = Lease {
        owner: "sb-1".into(),
        epoch: 1,
    };
    let other = Lease {
        owner: "sb-2".into(),
        epoch: 2,
    };
    assert!(!store.upsert_channel_fenced(&record, &stale).await.unwrap());
    assert!(!store.upsert_channel_fenced(&record, &other).await.unwrap());
    assert_eq!(store.channels(&tenant).await.unwrap(), vec![kept]);
    let _ = store.drop_schema().await;
}

#[tokio::test]
async fn a_fenced_proof_of_life_moves_a_record_only_under_the_current_lease() {
    let store = fresh_store().await;
    let tenant = unique_tenant("proofs");
    sqlx::query(
        "INSERT INTO tenant_leases (tenant, owner, epoch, expires_at) VALUES ($1, 'sb-1', 2, now() + interval '15 seconds')",
    )
    .bind(&tenant)
    .execute(&store.pool)
    .await
    .expect("a lease row");
    let record = channel(&tenant, 0);
    store.upsert_channel(&record).await.unwrap();
    let later = record.updated_at + chrono::Duration::seconds(5);
    let proof = vec![(record.channel_id.clone(), later)];
    // A stale owner (the epoch before a takeover) moves nothing.
    let stale = Lease {
        owner: "sb-1".into(),
        epoch: 1,
    };
    assert_eq!(
        store
            .touch_channels_fenced(&tenant, &proof, &stale)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.channels(&tenant).await.unwrap()[0].updated_at,
        record.updated_at
    );
    // The current owner moves it.
    let current = Lease {
        owner: "sb-1".into(),
        epoch: 2,
    };
    assert_eq!(
        store
            .touch_channels_fenced(&tenant, &proof, &current)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.channels(&tenant).await.unwrap()[0].updated_at, later);
    let _ = store.drop_schema().await;
}
