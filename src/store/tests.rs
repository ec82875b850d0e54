//! A test suite any [`Store`] implementation must pass.
//!
//! Each check takes `&dyn Store` so every backend runs the same assertions. Checks use their own tenant
//! names (with a random suffix) and never assert on data they did not write, so they can share one
//! database, run concurrently, and run against a database that already holds data.
//!
//! Times are built at millisecond precision: stores promise millisecond round-trips, no finer.
//!
//! [`rotation`] is the exception: it re-seals every client of the store, so it needs a store of its own.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::config::Secret;
use crate::secrets::{MasterKey, SecretsError, client_aad};
use crate::store::{
    AuditFilter, AuditRecord, ChannelRecord, ClientRecord, DeadLetter, GapFilter, GapRecord,
    RotateError, RouteRecord, SinkRecord, Store, StoreError, TenantRecord, TopicRecord,
    rotate_master_key,
};

/// Runs every check of the suite that can share a store with other checks (all but [`rotation`]).
pub(crate) async fn run_all(store: &dyn Store) {
    ping(store).await;
    upsert_then_read_back(store).await;
    upsert_replaces(store).await;
    remove(store).await;
    channels_isolated_per_tenant_and_oldest_first(store).await;
    touch_moves_proofs_of_life_forward_only(store).await;
    topics_round_trip(store).await;
    gaps_append_and_filter(store).await;
    tenants_round_trip(store).await;
    delete_tenant_cascades(store).await;
    clients_round_trip(store).await;
    unknown_tenant_is_not_found(store).await;
    tenant_topics_case_insensitive(store).await;
    tenant_topics_bulk(store).await;
    sinks_round_trip(store).await;
    routes_round_trip(store).await;
    audit_newest_first_and_filtered(store).await;
    replace_sealed_compares_and_swaps(store).await;
    dead_letters_round_trip(store).await;
    dead_letters_bounded_per_sink(store).await;
}

/// A tenant name no other check (or earlier run) uses.
pub(crate) fn unique_tenant(label: &str) -> String {
    format!("{label}-{}", Uuid::new_v4().simple())
}

/// A fixed instant plus `offset_ms`, at millisecond precision.
pub(crate) fn at(offset_ms: i64) -> DateTime<Utc> {
    // 2025-01-01T00:00:00.123Z: a non-zero millisecond part catches stores that drop it.
    DateTime::from_timestamp_millis(1_735_689_600_123 + offset_ms).expect("time in range")
}

/// A channel of `tenant` last updated at `at(updated_ms)`.
pub(crate) fn channel(tenant: &str, updated_ms: i64) -> ChannelRecord {
    let channel_id = Uuid::new_v4().to_string();
    ChannelRecord {
        tenant: tenant.to_owned(),
        region: "mypurecloud.ie".to_owned(),
        client_id: format!("client-{}", Uuid::new_v4().simple()),
        connect_uri: format!("wss://streaming.mypurecloud.ie/channels/{channel_id}"),
        channel_id,
        expires_at: at(updated_ms) + Duration::hours(24),
        token_expires_at: at(updated_ms) + Duration::hours(23) + Duration::milliseconds(7),
        topics: vec![
            "v2.users.5d0e6b7a-0000-0000-0000-000000000001?presence&routingStatus".to_owned(),
            "v2.routing.queues.9a1b2c3d-0000-0000-0000-000000000002.conversations".to_owned(),
        ],
        updated_at: at(updated_ms),
    }
}

/// A gap of `tenant` from `at(from_ms)` to `at(to_ms)`.
pub(crate) fn gap(tenant: &str, from_ms: i64, to_ms: i64) -> GapRecord {
    GapRecord {
        id: Uuid::new_v4().to_string(),
        tenant: tenant.to_owned(),
        region: "usw2.pure.cloud".to_owned(),
        channel_id: Uuid::new_v4().to_string(),
        topics: vec![
            "v2.users.5d0e6b7a-0000-0000-0000-000000000001.presence".to_owned(),
            "v2.users.5d0e6b7a-0000-0000-0000-000000000001.routingStatus".to_owned(),
        ],
        from: at(from_ms),
        to: at(to_ms),
        reason: "socketClosed".to_owned(),
        backfill: None,
    }
}

/// The store answers.
pub(crate) async fn ping(store: &dyn Store) {
    store.ping().await.expect("ping");
}

/// A channel reads back exactly as written.
pub(crate) async fn upsert_then_read_back(store: &dyn Store) {
    let tenant = unique_tenant("read-back");
    let record = channel(&tenant, 0);
    store.upsert_channel(&record).await.expect("upsert");
    assert_eq!(
        store.channels(&tenant).await.expect("channels"),
        vec![record]
    );
}

/// Upserting an existing channel id replaces every field; it never adds a second record.
pub(crate) async fn upsert_replaces(store: &dyn Store) {
    let tenant = unique_tenant("replace");
    let first = channel(&tenant, 0);
    store.upsert_channel(&first).await.expect("first upsert");

    let mut second = channel(&tenant, 60_000);
    second.channel_id = first.channel_id.clone();
    second.topics = vec!["v2.users.5d0e6b7a-0000-0000-0000-000000000001.presence".to_owned()];
    assert_ne!(
        first, second,
        "the replacement must differ to prove anything"
    );
    store.upsert_channel(&second).await.expect("second upsert");

    assert_eq!(
        store.channels(&tenant).await.expect("channels"),
        vec![second]
    );
}

/// Removing a channel forgets it and only it; removing an unknown channel is not an error.
pub(crate) async fn remove(store: &dyn Store) {
    let tenant = unique_tenant("remove");
    let kept = channel(&tenant, 0);
    let removed = channel(&tenant, 1);
    store.upsert_channel(&kept).await.expect("upsert kept");
    store
        .upsert_channel(&removed)
        .await
        .expect("upsert removed");

    store
        .remove_channel(&removed.channel_id)
        .await
        .expect("remove");
    assert_eq!(store.channels(&tenant).await.expect("channels"), vec![kept]);

    store
        .remove_channel(&removed.channel_id)
        .await
        .expect("removing again");
    store
        .remove_channel(&Uuid::new_v4().to_string())
        .await
        .expect("removing an unknown channel");
}

/// A tenant sees only its channels, oldest `updated_at` first whatever the write order.
pub(crate) async fn channels_isolated_per_tenant_and_oldest_first(store: &dyn Store) {
    let tenant_a = unique_tenant("tenant-a");
    let tenant_b = unique_tenant("tenant-b");
    let middle = channel(&tenant_a, 5_000);
    let newest = channel(&tenant_a, 9_000);
    let oldest = channel(&tenant_a, -3_000);
    let other = channel(&tenant_b, 0);
    for record in [&middle, &other, &newest, &oldest] {
        store.upsert_channel(record).await.expect("upsert");
    }

    assert_eq!(
        store.channels(&tenant_a).await.expect("channels of a"),
        vec![oldest.clone(), middle, newest.clone()]
    );
    assert_eq!(
        store.channels(&tenant_b).await.expect("channels of b"),
        vec![other]
    );
    assert!(
        store
            .channels(&unique_tenant("nobody"))
            .await
            .expect("channels of an unknown tenant")
            .is_empty()
    );

    // A refresh moves a channel to the end.
    let mut refreshed = oldest;
    refreshed.updated_at = at(10_000);
    store.upsert_channel(&refreshed).await.expect("refresh");
    let order: Vec<_> = store
        .channels(&tenant_a)
        .await
        .expect("channels after refresh")
        .into_iter()
        .map(|c| c.channel_id)
        .collect();
    assert_eq!(order.last(), Some(&refreshed.channel_id));
    assert_eq!(order.len(), 3);
    assert_eq!(order[1], newest.channel_id);
}

/// Touching channels moves their `updated_at` forward, never back, and nothing else: not another tenant's
/// channel, not a channel that is not stored, not the record's other fields.
pub(crate) async fn touch_moves_proofs_of_life_forward_only(store: &dyn Store) {
    let tenant = unique_tenant("touch");
    let other = unique_tenant("touch-other");
    let behind = channel(&tenant, 0);
    let ahead = channel(&tenant, 10_000);
    let untouched = channel(&tenant, 1_000);
    let foreign = channel(&other, 0);
    for record in [&behind, &ahead, &untouched, &foreign] {
        store.upsert_channel(record).await.expect("upsert");
    }
    let unknown = Uuid::new_v4().to_string();
    let proofs = vec![
        (behind.channel_id.clone(), at(4_000)),
        // Of equal ids the latest counts, in whatever order they come.
        (behind.channel_id.clone(), at(5_000)),
        (behind.channel_id.clone(), at(3_000)),
        // Older than what is stored: left alone.
        (ahead.channel_id.clone(), at(9_000)),
        (foreign.channel_id.clone(), at(5_000)),
        (unknown.clone(), at(5_000)),
    ];
    let moved = store.touch_channels(&tenant, &proofs).await.expect("touch");
    assert_eq!(moved, 1, "only `behind` moves");

    let mut expected_behind = behind.clone();
    expected_behind.updated_at = at(5_000);
    assert_eq!(
        store.channels(&tenant).await.expect("channels"),
        vec![untouched, expected_behind, ahead],
        "oldest first, by the new times"
    );
    assert_eq!(
        store.channels(&other).await.expect("other's channels"),
        vec![foreign]
    );
    assert!(
        !store
            .channels(&tenant)
            .await
            .expect("channels")
            .iter()
            .any(|c| c.channel_id == unknown),
        "a channel that is not stored is not made by a touch"
    );
    assert_eq!(
        store.touch_channels(&tenant, &[]).await.expect("nothing"),
        0
    );
}

/// Topic lists keep their order and content, including an empty list and characters that need escaping.
pub(crate) async fn topics_round_trip(store: &dyn Store) {
    let tenant = unique_tenant("topics");
    let mut empty = channel(&tenant, 0);
    empty.topics = Vec::new();
    let mut odd = channel(&tenant, 1);
    odd.topics = vec![
        "z.last.but.first".to_owned(),
        "quote \" backslash \\ newline \n tab \t".to_owned(),
        "ünïcødé ✓".to_owned(),
        "a".to_owned(),
    ];
    store.upsert_channel(&empty).await.expect("upsert empty");
    store.upsert_channel(&odd).await.expect("upsert odd");
    assert_eq!(
        store.channels(&tenant).await.expect("channels"),
        vec![empty, odd.clone()]
    );

    let mut gap_record = gap(&tenant, 0, 1);
    gap_record.topics = odd.topics;
    store.record_gap(&gap_record).await.expect("record gap");
    let filter = GapFilter {
        tenant: Some(tenant),
        ..GapFilter::default()
    };
    assert_eq!(store.gaps(&filter).await.expect("gaps"), vec![gap_record]);
}

/// Gaps read back as written, ordered by start, filtered by tenant, `since` (inclusive, against `to`),
/// `until` (inclusive, against `from`) and limit.
pub(crate) async fn gaps_append_and_filter(store: &dyn Store) {
    let tenant = unique_tenant("gaps");
    let other_tenant = unique_tenant("gaps-other");
    // Written out of order; `early` and `late` do not overlap, `middle` overlaps both.
    let late = gap(&tenant, 20_000, 30_000);
    let early = gap(&tenant, 0, 10_000);
    let middle = gap(&tenant, 5_000, 25_000);
    let foreign = gap(&other_tenant, 5_000, 6_000);
    for record in [&late, &early, &foreign, &middle] {
        store.record_gap(record).await.expect("record gap");
    }

    let gaps =
        |tenant: Option<&str>, since: Option<i64>, until: Option<i64>, limit: Option<usize>| {
            let filter = GapFilter {
                tenant: tenant.map(str::to_owned),
                since: since.map(at),
                until: until.map(at),
                limit,
            };
            async move { store.gaps(&filter).await.expect("gaps") }
        };
    let mine = Some(tenant.as_str());

    // Tenant only: all of them, oldest `from` first.
    assert_eq!(
        gaps(mine, None, None, None).await,
        vec![early.clone(), middle.clone(), late.clone()]
    );
    assert_eq!(
        gaps(Some(&other_tenant), None, None, None).await,
        vec![foreign.clone()]
    );
    assert!(
        gaps(Some(&unique_tenant("nobody")), None, None, None)
            .await
            .is_empty()
    );

    // `since` keeps gaps that end at or after it: the boundary is inclusive.
    assert_eq!(
        gaps(mine, Some(10_000), None, None).await,
        vec![early.clone(), middle.clone(), late.clone()]
    );
    assert_eq!(
        gaps(mine, Some(10_001), None, None).await,
        vec![middle.clone(), late.clone()]
    );
    assert!(gaps(mine, Some(30_001), None, None).await.is_empty());

    // `until` keeps gaps that start at or before it: the boundary is inclusive.
    assert_eq!(
        gaps(mine, None, Some(20_000), None).await,
        vec![early.clone(), middle.clone(), late.clone()]
    );
    assert_eq!(
        gaps(mine, None, Some(19_999), None).await,
        vec![early.clone(), middle.clone()]
    );
    assert!(gaps(mine, None, Some(-1), None).await.is_empty());

    // Both: the gaps overlapping the window.
    assert_eq!(
        gaps(mine, Some(12_000), Some(18_000), None).await,
        vec![middle.clone()]
    );

    // Limit keeps the oldest.
    assert_eq!(
        gaps(mine, None, None, Some(2)).await,
        vec![early.clone(), middle.clone()]
    );
    assert_eq!(
        gaps(mine, Some(10_001), None, Some(1)).await,
        vec![middle.clone()]
    );

    // No tenant: every tenant's gaps, still ordered. Other checks' gaps may be there too, so look only at
    // ours.
    let all = gaps(None, Some(0), Some(30_000), Some(10_000)).await;
    assert!(
        all.windows(2).all(|w| w[0].from <= w[1].from),
        "gaps without a tenant filter must be ordered by start"
    );
    let ours: Vec<_> = all
        .into_iter()
        .filter(|g| g.tenant == tenant || g.tenant == other_tenant)
        .collect();
    // `early` and `foreign` are ordered by start; `foreign` (5_000) ties with `middle` (5_000), so compare
    // as sets for that pair.
    assert_eq!(ours.len(), 4);
    assert_eq!(ours[0], early);
    assert!(ours[1..3].contains(&middle) && ours[1..3].contains(&foreign));
    assert_eq!(ours[3], late);
}

/// A tenant record with the given id, created and updated at `at(updated_ms)`.
pub(crate) fn tenant_record(id: &str, updated_ms: i64) -> TenantRecord {
    TenantRecord {
        id: id.to_owned(),
        region: "mypurecloud.ie".to_owned(),
        api_base: "https://api.mypurecloud.ie".to_owned(),
        login_base: "https://login.mypurecloud.ie".to_owned(),
        paused: false,
        ca_file: None,
        backfill: None,
        templates: None,
        created_at: at(updated_ms),
        updated_at: at(updated_ms),
    }
}

/// Stores a new tenant (unique id) and returns its id.
pub(crate) async fn new_tenant(store: &dyn Store, label: &str) -> String {
    let id = unique_tenant(label);
    store
        .upsert_tenant(&tenant_record(&id, 0))
        .await
        .expect("upsert tenant");
    id
}

/// A client of `tenant` whose secret `plaintext` is sealed by `key`.
pub(crate) fn client_record(
    key: &MasterKey,
    tenant: &str,
    id: &str,
    plaintext: &str,
    updated_ms: i64,
) -> ClientRecord {
    ClientRecord {
        tenant: tenant.to_owned(),
        id: id.to_owned(),
        secret: key.seal(&Secret::new(plaintext), &client_aad(tenant, id)),
        updated_at: at(updated_ms),
    }
}

/// A recognisable secret: a test that finds it in raw storage has found a leak.
pub(crate) fn plaintext_secret() -> String {
    format!("PLAINTEXT-secret-{}", Uuid::new_v4().simple())
}

fn topic(name: &str, priority: i32) -> TopicRecord {
    TopicRecord {
        name: name.to_owned(),
        priority,
    }
}

/// Tenants read back as written; an upsert replaces every field but `created_at`; the list is ordered by
/// id; deleting answers whether there was something to delete.
pub(crate) async fn tenants_round_trip(store: &dyn Store) {
    // Ids that sort differently by bytes and by a case-insensitive or locale collation.
    let base = unique_tenant("tenants");
    let upper = format!("B-{base}");
    let lower = format!("a-{base}");
    let mut first = tenant_record(&upper, 0);
    first.ca_file = Some("/etc/switchboard/ca ünïcødé.pem".to_owned());
    first.paused = true;
    store.upsert_tenant(&first).await.expect("upsert");
    assert_eq!(
        store.tenant(&upper).await.expect("tenant"),
        Some(first.clone())
    );

    let replacement = TenantRecord {
        region: "usw2.pure.cloud".to_owned(),
        api_base: "https://api.usw2.pure.cloud".to_owned(),
        login_base: "https://login.usw2.pure.cloud".to_owned(),
        paused: false,
        ca_file: None,
        // Templates are kept as written.
        templates: Some(super::TemplateSettings {
            sync_interval_secs: 60,
            templates: vec![
                serde_json::from_value(serde_json::json!({
                    "template": "v2.users.{id}?presence&routingStatus",
                    "users": {"division": ["d1", "d2"]},
                    "priority": 2,
                }))
                .expect("a template"),
            ],
        }),
        // A later created_at is ignored: the first one stays.
        created_at: at(50_000),
        updated_at: at(60_000),
        ..first.clone()
    };
    store.upsert_tenant(&replacement).await.expect("replace");
    let read = store
        .tenant(&upper)
        .await
        .expect("tenant")
        .expect("still there");
    assert_eq!(
        read,
        TenantRecord {
            created_at: first.created_at,
            ..replacement
        }
    );

    let other = tenant_record(&lower, 1);
    store.upsert_tenant(&other).await.expect("upsert other");
    let all = store.tenants().await.expect("tenants");
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "tenants must be ordered by id"
    );
    let ours: Vec<_> = all.iter().filter(|t| t.id.ends_with(&base)).collect();
    assert_eq!(ours.len(), 2);
    // Byte order: 'B' (0x42) sorts before 'a' (0x61).
    assert_eq!(ours[0].id, upper);
    assert_eq!(ours[1], &other);

    assert!(
        store
            .tenant(&unique_tenant("nobody"))
            .await
            .expect("unknown")
            .is_none()
    );
    assert!(store.delete_tenant(&lower).await.expect("delete"));
    assert!(store.tenant(&lower).await.expect("deleted").is_none());
    assert!(!store.delete_tenant(&lower).await.expect("delete again"));
}

/// Deleting a tenant removes its clients, topics and channel records, and nothing of another tenant; its
/// gaps are history and stay.
pub(crate) async fn delete_tenant_cascades(store: &dyn Store) {
    let key = MasterKey::generate();
    let doomed = new_tenant(store, "doomed").await;
    let kept = new_tenant(store, "kept").await;
    for tenant in [&doomed, &kept] {
        for (i, client) in ["client-a", "client-b"].into_iter().enumerate() {
            store
                .upsert_client(&client_record(&key, tenant, client, "s", i as i64))
                .await
                .expect("upsert client");
        }
        store
            .add_topics(
                tenant,
                &[topic("v2.a", 1), topic("v2.b", 2), topic("v2.c", 3)],
            )
            .await
            .expect("add topics");
        for i in 0..2 {
            store
                .upsert_channel(&channel(tenant, i))
                .await
                .expect("upsert channel");
        }
        store
            .record_gap(&gap(tenant, 0, 1))
            .await
            .expect("record gap");
    }

    assert!(store.delete_tenant(&doomed).await.expect("delete"));
    assert!(store.tenant(&doomed).await.expect("tenant").is_none());
    assert!(store.clients(&doomed).await.expect("clients").is_empty());
    assert!(store.topics(&doomed).await.expect("topics").is_empty());
    assert!(store.channels(&doomed).await.expect("channels").is_empty());
    let doomed_gaps = GapFilter {
        tenant: Some(doomed.clone()),
        ..GapFilter::default()
    };
    assert_eq!(store.gaps(&doomed_gaps).await.expect("gaps").len(), 1);
    assert!(
        store
            .all_sealed_secrets()
            .await
            .expect("all secrets")
            .iter()
            .all(|c| c.tenant != doomed)
    );

    assert!(store.tenant(&kept).await.expect("kept tenant").is_some());
    assert_eq!(store.clients(&kept).await.expect("kept clients").len(), 2);
    assert_eq!(store.topics(&kept).await.expect("kept topics").len(), 3);
    assert_eq!(store.channels(&kept).await.expect("kept channels").len(), 2);

    // A tenant created again under the same id starts empty.
    store
        .upsert_tenant(&tenant_record(&doomed, 1))
        .await
        .expect("recreate");
    assert!(store.clients(&doomed).await.expect("clients").is_empty());
    assert!(store.topics(&doomed).await.expect("topics").is_empty());
    assert!(
        !store
            .delete_tenant(&unique_tenant("nobody"))
            .await
            .expect("unknown")
    );
}

/// Clients read back as written (the sealed secret opens to the plaintext), ordered by id, replaced by an
/// upsert, deleted; `Debug` shows no secret.
pub(crate) async fn clients_round_trip(store: &dyn Store) {
    let key = MasterKey::generate();
    let tenant = new_tenant(store, "clients").await;
    let other_tenant = new_tenant(store, "clients-other").await;
    let plaintext = plaintext_secret();
    let second = client_record(&key, &tenant, "z-client", &plaintext, 0);
    let first = client_record(&key, &tenant, "A-client", "another secret", 1);
    let foreign = client_record(&key, &other_tenant, "z-client", "foreign", 2);
    for client in [&second, &first, &foreign] {
        store.upsert_client(client).await.expect("upsert client");
    }

    let read = store.clients(&tenant).await.expect("clients");
    assert_eq!(read, vec![first.clone(), second.clone()]);
    let opened = key
        .open(&read[1].secret, &client_aad(&tenant, "z-client"))
        .expect("open");
    assert_eq!(opened.expose(), plaintext);
    assert!(!format!("{read:?}").contains(&plaintext));
    assert_eq!(
        store.clients(&other_tenant).await.expect("other"),
        vec![foreign]
    );
    // A sealed value read back for one client does not open as another's.
    assert!(matches!(
        key.open(&read[1].secret, &client_aad(&other_tenant, "z-client")),
        Err(SecretsError::Tampered { .. })
    ));

    let replaced = client_record(&key, &tenant, "z-client", "rotated by hand", 5_000);
    store.upsert_client(&replaced).await.expect("replace");
    assert_eq!(
        store.clients(&tenant).await.expect("clients"),
        vec![first.clone(), replaced]
    );

    assert!(
        store
            .delete_client(&tenant, "z-client")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_client(&tenant, "z-client")
            .await
            .expect("delete again")
    );
    assert!(
        !store
            .delete_client(&other_tenant, "A-client")
            .await
            .expect("not that tenant's")
    );
    assert_eq!(store.clients(&tenant).await.expect("clients"), vec![first]);
    assert!(
        store
            .clients(&unique_tenant("nobody"))
            .await
            .expect("unknown tenant")
            .is_empty()
    );
}

/// Clients and topics need their tenant: adding them to an unknown one is `NotFound`, naming it.
pub(crate) async fn unknown_tenant_is_not_found(store: &dyn Store) {
    let key = MasterKey::generate();
    let nobody = unique_tenant("nobody");
    let plaintext = plaintext_secret();
    match store
        .upsert_client(&client_record(&key, &nobody, "c", &plaintext, 0))
        .await
    {
        Err(StoreError::NotFound(message)) => {
            assert!(message.contains(&nobody), "{message}");
            assert!(!message.contains(&plaintext), "{message}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    for topics in [vec![topic("v2.x", 1)], Vec::new()] {
        match store.add_topics(&nobody, &topics).await {
            Err(StoreError::NotFound(message)) => assert!(message.contains(&nobody), "{message}"),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
    assert!(store.topics(&nobody).await.expect("topics").is_empty());
    assert_eq!(
        store
            .remove_topics(&nobody, &["v2.x".to_owned()])
            .await
            .expect("remove"),
        0
    );
}

/// Topic names are unique per tenant regardless of case (the latest spelling and priority win), listed in
/// byte order, removed regardless of case; tenants do not see each other's topics.
pub(crate) async fn tenant_topics_case_insensitive(store: &dyn Store) {
    let tenant = new_tenant(store, "topics-ci").await;
    let other = new_tenant(store, "topics-ci-other").await;
    store
        .add_topics(
            &tenant,
            &[
                topic("v2.Users.ABC.presence", 1),
                topic("b", 2),
                // Same name as the first, other case, same call: the last one wins.
                topic("v2.users.abc.presence", 3),
                topic("Ärger", 4),
                topic("a", 5),
                topic("B2", 6),
            ],
        )
        .await
        .expect("add");
    store
        .add_topics(&other, &[topic("b", 100)])
        .await
        .expect("add other");
    assert_eq!(
        store.topics(&tenant).await.expect("topics"),
        vec![
            topic("B2", 6),
            topic("a", 5),
            topic("b", 2),
            topic("v2.users.abc.presence", 3),
            topic("Ärger", 4),
        ]
    );

    // A later call replaces by name, whatever the case, Unicode included.
    store
        .add_topics(
            &tenant,
            &[topic("V2.USERS.ABC.PRESENCE", 7), topic("äRGER", 8)],
        )
        .await
        .expect("replace");
    let topics = store.topics(&tenant).await.expect("topics");
    assert_eq!(topics.len(), 5);
    assert!(topics.contains(&topic("V2.USERS.ABC.PRESENCE", 7)));
    assert!(topics.contains(&topic("äRGER", 8)));

    let removed = store
        .remove_topics(
            &tenant,
            &[
                "v2.users.abc.PRESENCE".to_owned(),
                "V2.users.abc.presence".to_owned(),
                "ärger".to_owned(),
                "not-there".to_owned(),
            ],
        )
        .await
        .expect("remove");
    assert_eq!(removed, 2);
    assert_eq!(
        store.topics(&tenant).await.expect("topics"),
        vec![topic("B2", 6), topic("a", 5), topic("b", 2)]
    );
    assert_eq!(
        store.topics(&other).await.expect("other"),
        vec![topic("b", 100)]
    );
    assert_eq!(store.remove_topics(&tenant, &[]).await.expect("nothing"), 0);
    store.add_topics(&tenant, &[]).await.expect("add nothing");
}

/// How many topics [`tenant_topics_bulk`] adds in one call.
pub(crate) const BULK_TOPICS: usize = 25_000;

/// 25,000 topics are added in one call, listed, replaced in one call and removed in one call.
pub(crate) async fn tenant_topics_bulk(store: &dyn Store) {
    let tenant = new_tenant(store, "topics-bulk").await;
    let mut topics: Vec<TopicRecord> = (0..BULK_TOPICS)
        .map(|i| {
            topic(
                &format!("v2.users.{}.presence", Uuid::new_v4()),
                (i % 7) as i32,
            )
        })
        .collect();

    let started = std::time::Instant::now();
    store.add_topics(&tenant, &topics).await.expect("add bulk");
    let added = started.elapsed();
    let started = std::time::Instant::now();
    let listed = store.topics(&tenant).await.expect("list bulk");
    let read = started.elapsed();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(listed.len(), BULK_TOPICS);
    assert!(
        listed == topics,
        "the listed topics differ from those added"
    );

    for topic in &mut topics {
        topic.priority += 100;
    }
    let started = std::time::Instant::now();
    store
        .add_topics(&tenant, &topics)
        .await
        .expect("replace bulk");
    let replaced = started.elapsed();
    assert!(
        store.topics(&tenant).await.expect("list again") == topics,
        "the replaced topics differ"
    );

    let names: Vec<String> = topics.iter().map(|t| t.name.to_uppercase()).collect();
    let started = std::time::Instant::now();
    assert_eq!(
        store
            .remove_topics(&tenant, &names)
            .await
            .expect("remove bulk"),
        BULK_TOPICS
    );
    let removed = started.elapsed();
    assert!(store.topics(&tenant).await.expect("empty").is_empty());
    eprintln!(
        "{BULK_TOPICS} topics: added in {added:?}, listed in {read:?}, replaced in {replaced:?}, \
         removed in {removed:?}"
    );
}

/// Sinks read back as written (settings JSON included), ordered by name, replaced, deleted.
pub(crate) async fn sinks_round_trip(store: &dyn Store) {
    let base = Uuid::new_v4().simple().to_string();
    let name = format!("sink-{base}");
    let sink = SinkRecord {
        name: name.clone(),
        kind: "webhook".to_owned(),
        settings: serde_json::json!({
            "url": "https://example.com/hook?q=\"x\"",
            "headers": {"X-Ünïcødé": "✓"},
            "retries": [1, 2.5, -3, 18446744073709551615u64],
            "enabled": true,
            "nothing": null,
        }),
        updated_at: at(0),
    };
    let other = SinkRecord {
        name: format!("file-{base}"),
        kind: "file".to_owned(),
        settings: serde_json::json!({}),
        updated_at: at(1),
    };
    store.upsert_sink(&sink).await.expect("upsert");
    store.upsert_sink(&other).await.expect("upsert other");
    assert_eq!(store.sink(&name).await.expect("sink"), Some(sink.clone()));

    let all = store.sinks().await.expect("sinks");
    assert!(all.windows(2).all(|w| w[0].name < w[1].name));
    let ours: Vec<_> = all
        .into_iter()
        .filter(|s| s.name.ends_with(&base))
        .collect();
    assert_eq!(ours, vec![other.clone(), sink.clone()]);

    let replaced = SinkRecord {
        kind: "file".to_owned(),
        settings: serde_json::json!(["a", "list", "this", "time"]),
        updated_at: at(9),
        ..sink
    };
    store.upsert_sink(&replaced).await.expect("replace");
    assert_eq!(store.sink(&name).await.expect("sink"), Some(replaced));
    assert!(store.delete_sink(&name).await.expect("delete"));
    assert!(!store.delete_sink(&name).await.expect("delete again"));
    assert!(store.sink(&name).await.expect("gone").is_none());
    assert!(store.delete_sink(&other.name).await.expect("delete other"));
}

/// Routes read back as written (lists in order, empty lists too), ordered by id, replaced, deleted.
pub(crate) async fn routes_round_trip(store: &dyn Store) {
    let base = Uuid::new_v4().simple().to_string();
    let route = RouteRecord {
        id: format!("route-{base}"),
        tenants: vec!["z-tenant".to_owned(), "a-tenant".to_owned()],
        sinks: vec!["file".to_owned()],
        topics: vec![
            "v2.users.*.presence".to_owned(),
            "quote \" and ünïcødé".to_owned(),
        ],
        changes_only: true,
        filter: Some(r#"body.presenceDefinition.systemPresence != "Offline""#.to_owned()),
        updated_at: at(0),
    };
    let empty = RouteRecord {
        id: format!("empty-{base}"),
        tenants: Vec::new(),
        sinks: Vec::new(),
        topics: Vec::new(),
        changes_only: false,
        filter: None,
        updated_at: at(1),
    };
    store.upsert_route(&route).await.expect("upsert");
    store.upsert_route(&empty).await.expect("upsert empty");
    let all = store.routes().await.expect("routes");
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let ours: Vec<_> = all.into_iter().filter(|r| r.id.ends_with(&base)).collect();
    assert_eq!(ours, vec![empty.clone(), route.clone()]);

    let replaced = RouteRecord {
        tenants: vec!["only".to_owned()],
        changes_only: false,
        // A filter taken away is gone from the stored route too.
        filter: None,
        updated_at: at(5),
        ..route.clone()
    };
    store.upsert_route(&replaced).await.expect("replace");
    let ours: Vec<_> = store
        .routes()
        .await
        .expect("routes")
        .into_iter()
        .filter(|r| r.id.ends_with(&base))
        .collect();
    assert_eq!(ours, vec![empty.clone(), replaced]);
    assert!(store.delete_route(&route.id).await.expect("delete"));
    assert!(!store.delete_route(&route.id).await.expect("delete again"));
    assert!(store.delete_route(&empty.id).await.expect("delete empty"));
}

/// The audit log reads newest first (same millisecond: last appended first), filtered by exact target
/// prefix, `since` and `until` (both inclusive) and limit; an id appended twice is kept once.
pub(crate) async fn audit_newest_first_and_filtered(store: &dyn Store) {
    // LIKE wildcards in the prefix must match only themselves.
    let prefix = format!("audit-{}/100%_", Uuid::new_v4().simple());
    let entry = |target: &str, at_ms: i64, action: &str| AuditRecord {
        id: Uuid::new_v4().to_string(),
        at: at(at_ms),
        actor: "admin token \"ops\"".to_owned(),
        action: action.to_owned(),
        target: format!("{prefix}{target}"),
        details: serde_json::json!({"changed": ["region"], "n": 1}),
    };
    let oldest = entry("tenant/a", -5_000, "tenant.upsert");
    let middle = entry("tenant/b", 0, "tenant.delete");
    let same_ms_first = entry("client/a", 10_000, "client.upsert");
    let same_ms_second = entry("client/b", 10_000, "client.delete");
    for record in [&middle, &same_ms_first, &oldest, &same_ms_second] {
        store.append_audit(record).await.expect("append");
    }
    let mut retry = middle.clone();
    retry.action = "changed on retry".to_owned();
    store.append_audit(&retry).await.expect("append again");

    // Look-alikes that a LIKE or case-insensitive match would take.
    let lookalike_wildcard = AuditRecord {
        target: prefix.replace("100%_", "100xy") + "tenant/a",
        ..entry("", 1, "x")
    };
    let lookalike_case = AuditRecord {
        target: prefix.to_uppercase() + "tenant/a",
        ..entry("", 2, "x")
    };
    store
        .append_audit(&lookalike_wildcard)
        .await
        .expect("append look-alike");
    store
        .append_audit(&lookalike_case)
        .await
        .expect("append look-alike");

    let audit = |target: &str, since: Option<i64>, until: Option<i64>, limit: Option<usize>| {
        let filter = AuditFilter {
            target_prefix: Some(format!("{prefix}{target}")),
            since: since.map(at),
            until: until.map(at),
            limit,
        };
        async move { store.audit(&filter).await.expect("audit") }
    };

    let all = vec![
        same_ms_second.clone(),
        same_ms_first.clone(),
        middle.clone(),
        oldest.clone(),
    ];
    assert_eq!(audit("", None, None, None).await, all);
    assert_eq!(
        audit("tenant/", None, None, None).await,
        vec![middle.clone(), oldest.clone()]
    );
    assert_eq!(
        audit("client/b", None, None, None).await,
        vec![same_ms_second.clone()]
    );
    assert!(audit("client/c", None, None, None).await.is_empty());

    // Inclusive bounds.
    assert_eq!(
        audit("", Some(0), None, None).await,
        vec![
            same_ms_second.clone(),
            same_ms_first.clone(),
            middle.clone()
        ]
    );
    assert_eq!(
        audit("", Some(1), None, None).await,
        vec![same_ms_second.clone(), same_ms_first.clone()]
    );
    assert_eq!(
        audit("", None, Some(0), None).await,
        vec![middle.clone(), oldest.clone()]
    );
    assert_eq!(audit("", None, Some(-1), None).await, vec![oldest.clone()]);
    assert_eq!(
        audit("", Some(0), Some(0), None).await,
        vec![middle.clone()]
    );
    assert!(audit("", Some(1), Some(9_999), None).await.is_empty());

    // Limit keeps the newest.
    assert_eq!(
        audit("", None, None, Some(2)).await,
        vec![same_ms_second.clone(), same_ms_first.clone()]
    );
    assert!(audit("", None, None, Some(0)).await.is_empty());

    // Without a prefix: every entry, still newest first.
    let everything = store
        .audit(&AuditFilter {
            limit: Some(10_000),
            ..AuditFilter::default()
        })
        .await
        .expect("audit without filter");
    assert!(everything.windows(2).all(|w| w[0].at >= w[1].at));
    assert!(everything.iter().any(|e| e.id == lookalike_case.id));
}

/// `replace_sealed` replaces a secret only if it still is the one given as previous.
pub(crate) async fn replace_sealed_compares_and_swaps(store: &dyn Store) {
    let key = MasterKey::generate();
    let tenant = new_tenant(store, "cas").await;
    let client = client_record(&key, &tenant, "client", "first", 0);
    store.upsert_client(&client).await.expect("upsert");
    let aad = client_aad(&tenant, "client");
    let resealed = key.seal(&Secret::new("first"), &aad);
    let stale = key.seal(&Secret::new("first"), &aad);

    assert!(
        !store
            .replace_sealed(&tenant, "client", &stale, &resealed)
            .await
            .expect("stale previous")
    );
    assert_eq!(
        store.clients(&tenant).await.expect("clients"),
        vec![client.clone()]
    );
    assert!(
        store
            .replace_sealed(&tenant, "client", &client.secret, &resealed)
            .await
            .expect("replace")
    );
    assert_eq!(
        store.clients(&tenant).await.expect("clients"),
        vec![ClientRecord {
            secret: resealed.clone(),
            ..client.clone()
        }]
    );
    assert!(
        !store
            .replace_sealed(&tenant, "nobody", &resealed, &stale)
            .await
            .expect("unknown client")
    );
}

/// Master key rotation. Needs a store holding no clients but its own: it re-seals every client.
///
/// A rotation that meets a secret the old key cannot open (wrong old key, a third key) fails, names the
/// client and changes nothing; a successful one re-seals every secret not already sealed by the new key,
/// after which the old key opens none and the new key opens each to its plaintext; running it again
/// re-seals nothing.
pub(crate) async fn rotation(store: &dyn Store) {
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    let wrong = MasterKey::generate();
    let mut plaintexts = std::collections::HashMap::new();
    let mut sealed_by_old = 0;
    for label in ["rot-a", "rot-b"] {
        let tenant = new_tenant(store, label).await;
        for client in ["client-1", "client-2"] {
            let plaintext = plaintext_secret();
            store
                .upsert_client(&client_record(&old, &tenant, client, &plaintext, 0))
                .await
                .expect("upsert client");
            plaintexts.insert((tenant.clone(), client.to_owned()), plaintext);
            sealed_by_old += 1;
        }
    }
    // As if an earlier rotation had been interrupted after this one.
    let done_tenant = new_tenant(store, "rot-done").await;
    let plaintext = plaintext_secret();
    store
        .upsert_client(&client_record(&new, &done_tenant, "done", &plaintext, 0))
        .await
        .expect("upsert client sealed by the new key");
    plaintexts.insert((done_tenant, "done".to_owned()), plaintext);
    let before = store.all_sealed_secrets().await.expect("all secrets");
    assert_eq!(before.len(), plaintexts.len());

    // The wrong old key: fails on the first client, changes nothing.
    match rotate_master_key(store, &wrong, &new).await {
        Err(error @ RotateError::Open { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&before[0].id), "{message}");
            assert!(message.contains(&before[0].tenant), "{message}");
            assert!(message.contains(&wrong.id()), "{message}");
            for plaintext in plaintexts.values() {
                assert!(!message.contains(plaintext.as_str()), "{message}");
            }
        }
        other => panic!("expected Open, got {other:?}"),
    }
    assert_eq!(
        store.all_sealed_secrets().await.expect("after failure"),
        before
    );

    // A secret sealed by a third key: fails naming it, changes nothing.
    let stray_tenant = new_tenant(store, "rot-stray").await;
    store
        .upsert_client(&client_record(&wrong, &stray_tenant, "stray", "x", 0))
        .await
        .expect("upsert stray");
    let with_stray = store.all_sealed_secrets().await.expect("with stray");
    match rotate_master_key(store, &old, &new).await {
        Err(error @ RotateError::Open { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&stray_tenant), "{message}");
            assert!(message.contains("stray"), "{message}");
        }
        other => panic!("expected Open, got {other:?}"),
    }
    assert_eq!(
        store.all_sealed_secrets().await.expect("after stray"),
        with_stray
    );
    assert!(
        store
            .delete_tenant(&stray_tenant)
            .await
            .expect("delete stray")
    );

    // The right keys: every secret sealed by the old key is re-sealed, the others are skipped.
    assert_eq!(
        rotate_master_key(store, &old, &new).await.expect("rotate"),
        sealed_by_old
    );
    let after = store.all_sealed_secrets().await.expect("after rotation");
    assert_eq!(after.len(), plaintexts.len());
    for client in &after {
        let aad = client_aad(&client.tenant, &client.id);
        assert_eq!(client.secret.key_id, new.id());
        let opened = new.open(&client.secret, &aad).expect("open with new key");
        assert_eq!(
            opened.expose(),
            plaintexts[&(client.tenant.clone(), client.id.clone())]
        );
        assert!(matches!(
            old.open(&client.secret, &aad),
            Err(SecretsError::WrongKey { .. })
        ));
        // Rotation leaves updated_at alone.
        assert_eq!(client.updated_at, at(0));
    }

    // Idempotent.
    assert_eq!(
        rotate_master_key(store, &old, &new)
            .await
            .expect("rotate again"),
        0
    );
    assert_eq!(
        store.all_sealed_secrets().await.expect("after second run"),
        after
    );
}

/// Dead letters read back per sink, newest first (same millisecond: last added first), limited; adding an id
/// again keeps the first copy; removing counts only the sink's own.
pub(crate) async fn dead_letters_round_trip(store: &dyn Store) {
    let sink = format!("hook-{}", Uuid::new_v4().simple());
    let other = format!("other-{}", Uuid::new_v4().simple());
    let letter = |sink: &str, ms: i64, n: u32| DeadLetter {
        id: Uuid::new_v4().to_string(),
        sink: sink.to_owned(),
        at: at(ms),
        reason: format!("HTTP 400 Bad Request #{n}"),
        json: format!(r#"{{"kind":"event","id":"e{n}","body":{{"ü":"✓"}}}}"#),
    };
    assert!(
        store
            .dead_letters(&sink, 10)
            .await
            .expect("none")
            .is_empty()
    );
    let a = letter(&sink, 0, 1);
    let b = letter(&sink, 5, 2);
    let c = letter(&sink, 5, 3);
    let d = letter(&other, 9, 4);
    store
        .add_dead_letters(&[a.clone(), b.clone(), c.clone(), d.clone()], 10)
        .await
        .expect("add");
    assert_eq!(
        store.add_dead_letters(&[], 10).await.expect("add nothing"),
        0
    );
    // A retry keeps the first copy.
    let mut again = a.clone();
    again.reason = "changed".into();
    assert_eq!(
        store
            .add_dead_letters(&[again], 10)
            .await
            .expect("add again"),
        0
    );
    assert_eq!(
        store.dead_letters(&sink, 10).await.expect("read"),
        vec![c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(
        store.dead_letters(&sink, 2).await.expect("limited"),
        vec![c.clone(), b.clone()]
    );
    assert_eq!(
        store.dead_letters(&other, 10).await.expect("other"),
        vec![d.clone()]
    );
    // Another sink's id is not removed through this sink; unknown ids are not an error.
    let removed = store
        .remove_dead_letters(&sink, &[a.id.clone(), d.id.clone(), "nope".into()])
        .await
        .expect("remove");
    assert_eq!(removed, 1);
    assert_eq!(
        store.dead_letters(&sink, 10).await.expect("after"),
        vec![c.clone(), b.clone()]
    );
    assert_eq!(
        store
            .remove_dead_letters(&sink, &[b.id, c.id])
            .await
            .expect("remove rest"),
        2
    );
    assert_eq!(
        store
            .remove_dead_letters(&other, &[d.id])
            .await
            .expect("other"),
        1
    );
    assert!(
        store
            .dead_letters(&sink, 10)
            .await
            .expect("empty")
            .is_empty()
    );
}

/// The migration files of `migrations/<backend>/`: (version, content), in version order. What each
/// backend's `embedded_migrations_match_the_directory` compares its embedded list with.
pub(crate) fn migration_files(backend: &str) -> Vec<(i64, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut on_disk: Vec<(i64, String)> = std::fs::read_dir(&dir)
        .expect("migrations dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let version = name
                .split_once('_')
                .and_then(|(version, _)| version.parse().ok())
                .unwrap_or_else(|| panic!("{name}: expected <version>_<description>.sql"));
            (
                version,
                std::fs::read_to_string(&path).expect("read migration"),
            )
        })
        .collect();
    on_disk.sort();
    on_disk
}

/// A sink keeps at most `keep` dead letters: writing N + k keeps the newest N (by time, then by the order
/// added) and reports k dropped, whether they come one call at a time or all at once; other sinks' are
/// left alone, and a retried id drops nothing.
pub(crate) async fn dead_letters_bounded_per_sink(store: &dyn Store) {
    const KEEP: usize = 5;
    let sink = format!("bounded-{}", Uuid::new_v4().simple());
    let other = format!("other-{}", Uuid::new_v4().simple());
    let letter = |sink: &str, ms: i64| DeadLetter {
        id: Uuid::new_v4().to_string(),
        sink: sink.to_owned(),
        at: at(ms),
        reason: "HTTP 400 Bad Request".into(),
        json: format!(r#"{{"kind":"event","id":"e{ms}"}}"#),
    };
    // The other sink is over the bound, but it is not written with this one: it is left alone.
    let others: Vec<DeadLetter> = (0..KEEP as i64 + 2).map(|n| letter(&other, n)).collect();
    assert_eq!(
        store
            .add_dead_letters(&others, usize::MAX)
            .await
            .expect("other"),
        0
    );
    // 8 letters (N = 5, k = 3): three calls under the bound, then over it; the last two share a millisecond.
    let letters: Vec<DeadLetter> = [0, 1, 2, 3, 4, 5, 6, 6]
        .into_iter()
        .map(|ms| letter(&sink, ms))
        .collect();
    let mut dropped = 0;
    for (i, one) in letters.iter().enumerate() {
        let now = store
            .add_dead_letters(std::slice::from_ref(one), KEEP)
            .await
            .expect("add");
        assert_eq!(now, usize::from(i >= KEEP), "letter {i}");
        dropped += now;
    }
    assert_eq!(dropped, 3);
    let kept = store.dead_letters(&sink, 100).await.expect("read");
    let newest: Vec<DeadLetter> = letters[3..].iter().rev().cloned().collect();
    assert_eq!(kept, newest, "the newest five, newest first");
    assert_eq!(
        store.dead_letters(&other, 100).await.expect("other").len(),
        KEEP + 2
    );
    // A retry of a kept id adds nothing and drops nothing.
    assert_eq!(
        store
            .add_dead_letters(&[letters[7].clone()], KEEP)
            .await
            .expect("retry"),
        0
    );
    // A letter older than every kept one is itself the one dropped.
    let late = letter(&sink, -1);
    assert_eq!(
        store.add_dead_letters(&[late], KEEP).await.expect("late"),
        1
    );
    assert_eq!(store.dead_letters(&sink, 100).await.expect("read"), newest);
    // All at once, in one call of more than the bound: the last five written stay.
    let burst = format!("burst-{}", Uuid::new_v4().simple());
    let letters: Vec<DeadLetter> = (0..KEEP as i64 + 3).map(|_| letter(&burst, 7)).collect();
    assert_eq!(
        store.add_dead_letters(&letters, KEEP).await.expect("burst"),
        3
    );
    let newest: Vec<DeadLetter> = letters[3..].iter().rev().cloned().collect();
    assert_eq!(store.dead_letters(&burst, 100).await.expect("read"), newest);
    // Letters of two sinks in one call: each is bounded on its own, and the drops add up.
    let mixed = vec![letter(&sink, 8), letter(&burst, 8), letter(&burst, 9)];
    assert_eq!(
        store.add_dead_letters(&mixed, KEEP).await.expect("mixed"),
        3
    );
    assert_eq!(
        store.dead_letters(&sink, 100).await.expect("read").len(),
        KEEP
    );
    assert_eq!(
        store.dead_letters(&burst, 100).await.expect("read").len(),
        KEEP
    );
    // Cleaned up, so the suite can run again on the same store.
    for name in [&sink, &other, &burst] {
        let ids: Vec<String> = store
            .dead_letters(name, 100)
            .await
            .expect("read")
            .into_iter()
            .map(|l| l.id)
            .collect();
        store.remove_dead_letters(name, &ids).await.expect("clean");
    }
}
