//! A test suite any [`Store`] implementation must pass.
//!
//! Each check takes `&dyn Store` so every backend runs the same assertions. Checks use their own tenant
//! names (with a random suffix) and never assert on data they did not write, so they can share one
//! database, run concurrently, and run against a database that already holds data.
//!
//! Times are built at millisecond precision: stores promise millisecond round-trips, no finer.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::store::{ChannelRecord, GapFilter, GapRecord, Store};

/// Runs every check of the suite.
pub(crate) async fn run_all(store: &dyn Store) {
    ping(store).await;
    upsert_then_read_back(store).await;
    upsert_replaces(store).await;
    remove(store).await;
    channels_isolated_per_tenant_and_oldest_first(store).await;
    topics_round_trip(store).await;
    gaps_append_and_filter(store).await;
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
