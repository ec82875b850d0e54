//! Tests of the router: de-duplication, routes, changes-only, content filters, gap records, reconfiguration.

use super::*;
use crate::sink::Sink;

/// A sink that keeps the `n` of each record it is given, in order.
struct Collect(Arc<parking_lot::Mutex<Vec<u64>>>);

#[async_trait::async_trait]
impl Sink for Collect {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), crate::sink::SinkError> {
        let mut got = self.0.lock();
        for d in batch {
            let v: serde_json::Value = serde_json::from_slice(&d.json).unwrap();
            // Records without an `n` (gap records) are kept as `u64::MAX`.
            got.push(v["n"].as_u64().unwrap_or(u64::MAX));
        }
        Ok(())
    }
    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn event(n: u64, topic: &str) -> Inbound {
    let json = format!(r#"{{"kind":"event","topic":"{topic}","n":{n}}}"#);
    let start = json.find(topic).unwrap();
    Inbound::Event {
        tenant: Arc::from("acme"),
        key: n,
        topic_hash: crate::envelope::fnv1a(&[topic.as_bytes()]),
        received_ms: 0,
        json: json.into_bytes(),
        topic: start..start + topic.len(),
    }
}

fn route(sinks: &[&str], topics: &[&str]) -> RouteEntry {
    RouteEntry {
        id: format!("r-{}", sinks.join("-")),
        config: RouteConfig {
            tenants: vec!["*".into()],
            sinks: sinks.iter().map(|s| s.to_string()).collect(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            changes_only: false,
            filter: None,
        },
    }
}

#[tokio::test]
async fn a_reconfiguration_splits_the_stream_exactly_where_it_was_sent() {
    let dir = std::env::temp_dir().join(format!("sb-router-{}", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(
        crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
            .await
            .unwrap(),
    );
    let sinks_store: Arc<dyn crate::store::Store> = store.clone();
    let (a_got, b_got) = (Arc::default(), Arc::default());
    let (a, a_task) = crate::sink::spawn(
        "a",
        Box::new(Collect(Arc::clone(&a_got))),
        8,
        sinks_store.clone(),
    );
    let (b, b_task) = crate::sink::spawn(
        "b",
        Box::new(Collect(Arc::clone(&b_got))),
        8,
        sinks_store.clone(),
    );
    let (router, task) = spawn(
        &[route(&["a"], &["*"]), route(&["b"], &["*"])],
        vec![a.clone(), b],
        store,
        16,
        1000,
        Arc::new(Metrics::new().unwrap()),
    );
    let presence = "v2.users.u.presence";
    let routing = "v2.users.u.routingStatus";
    for n in 0..100 {
        router.queue.send(event(n, presence)).await.unwrap();
    }
    // `b` is dropped; a new `c` takes presence only.
    let c_got = Arc::default();
    let (c, c_task) = crate::sink::spawn(
        "c",
        Box::new(Collect(Arc::clone(&c_got))),
        8,
        sinks_store.clone(),
    );
    router
        .queue
        .send(Inbound::Reconfigure {
            routes: vec![route(&["a"], &["*"]), route(&["c"], &["*.presence"])],
            sinks: vec![a, c],
        })
        .await
        .unwrap();
    for n in 100..200 {
        let topic = if n % 2 == 0 { presence } else { routing };
        router.queue.send(event(n, topic)).await.unwrap();
    }
    // Seen before the switch: still a duplicate after it.
    router.queue.send(event(5, presence)).await.unwrap();
    // The router held the last handle on `b`: its worker ends once it has written its queue.
    b_task.await.unwrap();
    assert_eq!(*b_got.lock(), (0..100).collect::<Vec<u64>>());
    drop(router);
    task.join().await.unwrap();
    a_task.await.unwrap();
    c_task.await.unwrap();
    assert_eq!(*a_got.lock(), (0..200).collect::<Vec<u64>>());
    assert_eq!(
        *c_got.lock(),
        (100..200).filter(|n| n % 2 == 0).collect::<Vec<u64>>()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn closing_routes_what_is_queued_stores_its_gaps_and_ends_while_senders_remain() {
    let store: Arc<dyn Store> = Arc::new(
        crate::store::sqlite::SqliteStore::in_memory()
            .await
            .unwrap(),
    );
    let got = Arc::default();
    let (a, a_task) =
        crate::sink::spawn("a", Box::new(Collect(Arc::clone(&got))), 8, store.clone());
    // The gap is on a topic no route wants: stored, never delivered (`Collect` takes events only).
    let (router, task) = spawn(
        &[route(&["a"], &["v2.users.*.presence"])],
        vec![a],
        store.clone(),
        64,
        1000,
        Arc::new(Metrics::new().unwrap()),
    );
    for n in 0..20 {
        router
            .queue
            .send(event(n, "v2.users.u.presence"))
            .await
            .unwrap();
    }
    let gap = GapRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: "acme".into(),
        region: "eu-west-1".into(),
        channel_id: "ch".into(),
        topics: vec!["v2.routing.queues.q.conversations".into()],
        // Stores keep milliseconds.
        from: chrono::DateTime::from_timestamp_millis(1_750_000_000_000).unwrap(),
        to: chrono::DateTime::from_timestamp_millis(1_750_000_001_000).unwrap(),
        reason: "socket_lost".into(),
        backfill: None,
    };
    router.queue.send(Inbound::Gap(gap.clone())).await.unwrap();

    // `router` still holds a sender: the close alone ends the task.
    task.close().await.unwrap();
    assert!(
        router
            .queue
            .send(event(20, "v2.users.u.presence"))
            .await
            .is_err(),
        "a closed queue refuses records"
    );
    // The router let go of the sink's only handle: its worker writes its queue and ends.
    a_task.await.unwrap();
    assert_eq!(*got.lock(), (0..20).collect::<Vec<u64>>());
    let stored = store
        .gaps(&crate::store::GapFilter {
            tenant: Some("acme".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![gap],
        "the gap was stored before the router ended"
    );
}

/// Waits (bounded) until the collecting sink holds `n` records.
async fn sink_holds(got: &parking_lot::Mutex<Vec<u64>>, n: usize) {
    let wait = async {
        while got.lock().len() < n {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .expect("the sink got its records");
}

#[tokio::test]
async fn events_and_duplicates_are_counted_per_tenant_and_family_across_a_removal() {
    let dir = std::env::temp_dir().join(format!("sb-router-{}", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(
        crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
            .await
            .unwrap(),
    );
    let got = Arc::default();
    let (a, a_task) =
        crate::sink::spawn("a", Box::new(Collect(Arc::clone(&got))), 8, store.clone());
    let metrics = Arc::new(Metrics::new().unwrap());
    metrics.tenant("acme", "eu-west-1");
    let (router, task) = spawn(
        &[route(&["a"], &["*"])],
        vec![a],
        store,
        16,
        1000,
        metrics.clone(),
    );
    let event = |n: u64| {
        let topic = "v2.users.u.presence";
        let json = format!(
            r#"{{"kind":"event","topic":"{topic}","topicFamily":"v2.users.{{id}}.presence","n":{n}}}"#
        );
        let start = json.find(topic).unwrap();
        Inbound::Event {
            tenant: Arc::from("acme"),
            key: n,
            topic_hash: crate::envelope::fnv1a(&[topic.as_bytes()]),
            received_ms: 0,
            json: json.into_bytes(),
            topic: start..start + topic.len(),
        }
    };
    for n in [1, 2, 2, 3] {
        router.queue.send(event(n)).await.unwrap();
    }
    let counted = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(r#"tenant="acme""#))
            .and_then(|l| l.rsplit_once(' '))
            .map(|(_, v)| v.parse().unwrap())
    };
    let received = "switchboard_events_received_total{region=\"eu-west-1\",tenant=\"acme\",topic_family=\"v2.users.{id}.presence\"}";
    // The router counts before the sink sees the event: once the sink has all three, the counts are in.
    sink_holds(&got, 3).await;
    let text = metrics
        .render::<crate::metrics::SinkSnapshot>(None, &[])
        .await
        .unwrap();
    assert_eq!(counted(&text, received), Some(4.0), "{text}");
    assert_eq!(
        counted(&text, "switchboard_events_duplicate_total"),
        Some(1.0),
        "{text}"
    );

    // Removed and added again: the router's cached counters follow to the new series.
    metrics.remove_tenant("acme");
    metrics.tenant("acme", "eu-west-1");
    router.queue.send(event(4)).await.unwrap();
    router.queue.send(event(4)).await.unwrap();
    sink_holds(&got, 4).await;
    drop(router);
    task.join().await.unwrap();
    a_task.await.unwrap();
    let text = metrics
        .render::<crate::metrics::SinkSnapshot>(None, &[])
        .await
        .unwrap();
    assert_eq!(counted(&text, received), Some(2.0), "{text}");
    assert_eq!(
        counted(&text, "switchboard_events_duplicate_total"),
        Some(1.0),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A presence event of user `user` with `n` and the system presence `presence`.
fn presence(n: u64, user: &str, presence: &str) -> Inbound {
    let topic = format!("v2.users.{user}.presence");
    let json = format!(
        r#"{{"kind":"event","n":{n},"topic":"{topic}","topicFamily":"v2.users.{{id}}.presence","body":{{"presenceDefinition":{{"id":"p","systemPresence":"{presence}"}},"message":""}}}}"#
    );
    let start = json.find(&topic).unwrap();
    Inbound::Event {
        tenant: Arc::from("acme"),
        key: n,
        topic_hash: crate::envelope::fnv1a(&[topic.as_bytes()]),
        received_ms: 0,
        json: json.into_bytes(),
        topic: start..start + topic.len(),
    }
}

fn filtered(id: &str, sinks: &[&str], expression: &str) -> RouteEntry {
    let mut entry = route(sinks, &["v2.users.*.presence"]);
    entry.id = id.into();
    entry.config.filter = Some(crate::filter::Filter::compile(expression).unwrap());
    entry
}

/// Starts a router over collecting sinks named `names`, returning what each collects and the workers.
async fn collecting(
    routes: &[RouteEntry],
    names: &[&str],
    metrics: Arc<Metrics>,
) -> (
    RouterHandle,
    RouterTask,
    Vec<Arc<parking_lot::Mutex<Vec<u64>>>>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let store: Arc<dyn Store> = Arc::new(
        crate::store::sqlite::SqliteStore::in_memory()
            .await
            .unwrap(),
    );
    let (mut handles, mut got, mut tasks) = (Vec::new(), Vec::new(), Vec::new());
    for name in names {
        let collected = Arc::default();
        let (h, t) = crate::sink::spawn(
            name,
            Box::new(Collect(Arc::clone(&collected))),
            8,
            store.clone(),
        );
        handles.push(h);
        got.push(collected);
        tasks.push(t);
    }
    let (router, task) = spawn(routes, handles, store, 64, 1000, metrics);
    (router, task, got, tasks)
}

#[tokio::test]
async fn a_filter_keeps_its_routes_sinks_to_the_matching_events_and_counts_the_others() {
    let metrics = Arc::new(Metrics::new().unwrap());
    let not_offline = r#"body.presenceDefinition.systemPresence != "Offline""#;
    // `a`: filtered only; `b`: unfiltered only; `c`: filtered, and also reached by an unfiltered route.
    let routes = [
        filtered("online", &["a", "c"], not_offline),
        route(&["b"], &["*"]),
        route(&["c"], &["v2.users.u2.*"]),
        filtered("broken", &["d"], "body.routingStatus.status == 'IDLE'"),
    ];
    let (router, task, got, tasks) =
        collecting(&routes, &["a", "b", "c", "d"], metrics.clone()).await;
    let states = ["Available", "Offline", "Away", "Offline", "Busy", "Offline"];
    for (n, state) in states.iter().enumerate() {
        let user = if n < 3 { "u1" } else { "u2" };
        router
            .queue
            .send(presence(n as u64, user, state))
            .await
            .unwrap();
    }
    // A gap says what was missed: it reaches a filtered route's sinks unfiltered.
    router
        .queue
        .send(Inbound::Gap(GapRecord {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: "acme".into(),
            region: "eu-west-1".into(),
            channel_id: "ch".into(),
            topics: vec!["v2.users.u1.presence".into()],
            from: chrono::DateTime::from_timestamp_millis(1_750_000_000_000).unwrap(),
            to: chrono::DateTime::from_timestamp_millis(1_750_000_001_000).unwrap(),
            reason: "socket_lost".into(),
            backfill: None,
        }))
        .await
        .unwrap();
    let stats = router.stats.clone();
    drop(router);
    task.join().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let gap = u64::MAX;
    assert_eq!(*got[0].lock(), vec![0, 2, 4, gap], "a: the online events");
    assert_eq!(*got[1].lock(), vec![0, 1, 2, 3, 4, 5, gap], "b: everything");
    assert_eq!(
        *got[2].lock(),
        vec![0, 2, 3, 4, 5, gap],
        "c: online of u1, and all of u2 through the unfiltered route"
    );
    assert_eq!(
        *got[3].lock(),
        vec![gap],
        "d: its filter fails on every event"
    );

    // Counted per route: `online` kept back the three offline events (u2's still reached `c` another way).
    assert_eq!(stats.filters.of("online"), Some((3, 0)));
    assert_eq!(stats.filters.of("broken"), Some((6, 6)));
    assert_eq!(stats.filters.of("r-b"), None, "no filter, no count");
    let text = metrics
        .render::<crate::metrics::SinkSnapshot>(None, &[])
        .await
        .unwrap();
    for line in [
        r#"switchboard_route_filtered_total{route="online"} 3"#,
        r#"switchboard_route_filter_errors_total{route="online"} 0"#,
        r#"switchboard_route_filtered_total{route="broken"} 6"#,
        r#"switchboard_route_filter_errors_total{route="broken"} 6"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(!text.contains(r#"route="r-b""#), "{text}");
}

#[tokio::test]
async fn a_changes_only_route_with_a_filter_compares_with_what_it_delivered() {
    let mut entry = filtered(
        "r",
        &["a"],
        r#"body.presenceDefinition.systemPresence != "Offline""#,
    );
    entry.config.changes_only = true;
    let (router, task, got, tasks) =
        collecting(&[entry], &["a"], Arc::new(Metrics::new().unwrap())).await;
    // Away, (Offline: filtered, not recorded), Away again: unchanged since the last one delivered.
    for (n, state) in ["Away", "Offline", "Away", "Busy"].iter().enumerate() {
        router
            .queue
            .send(presence(n as u64, "u1", state))
            .await
            .unwrap();
    }
    let stats = router.stats.clone();
    drop(router);
    task.join().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*got[0].lock(), vec![0, 3]);
    assert_eq!(stats.unchanged_dropped.load(Ordering::Relaxed), 1);
    assert_eq!(stats.filters.of("r"), Some((1, 0)));
}

#[tokio::test]
async fn a_reconfiguration_drops_the_series_of_a_route_that_lost_its_filter() {
    let metrics = Arc::new(Metrics::new().unwrap());
    let (router, task, got, tasks) = collecting(
        &[filtered("r", &["a"], "entity == 'u1'")],
        &["a"],
        metrics.clone(),
    )
    .await;
    router.queue.send(presence(0, "u2", "Away")).await.unwrap();
    let text = metrics
        .render::<crate::metrics::SinkSnapshot>(None, &[])
        .await
        .unwrap();
    assert!(
        text.contains(r#"switchboard_route_filtered_total{route="r"}"#),
        "a filtered route has its series from the start: {text}"
    );
    // The same id without a filter: every event passes, and the series go.
    let mut plain = route(&["a"], &["*"]);
    plain.id = "r".into();
    router
        .queue
        .send(Inbound::Reconfigure {
            routes: vec![plain],
            sinks: Vec::new(),
        })
        .await
        .unwrap();
    let stats = router.stats.clone();
    drop(router);
    task.join().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(got[0].lock().is_empty(), "u2's event was filtered out");
    assert_eq!(stats.filters.of("r"), None);
    let text = metrics
        .render::<crate::metrics::SinkSnapshot>(None, &[])
        .await
        .unwrap();
    assert!(!text.contains(r#"route="r""#), "{text}");
}

/// `event(n, topic)` of another tenant.
fn event_of(tenant: &str, n: u64, topic: &str) -> Inbound {
    match event(n, topic) {
        Inbound::Event {
            key,
            topic_hash,
            received_ms,
            json,
            topic,
            ..
        } => Inbound::Event {
            tenant: Arc::from(tenant),
            key,
            topic_hash,
            received_ms,
            json,
            topic,
        },
        other => other,
    }
}

#[tokio::test]
async fn a_router_has_a_shard_on_each_runtime_it_is_given_and_cannot_be_given_none() {
    let here = tokio::runtime::Handle::current();
    assert!(ShardRuntimes::each(Vec::new()).is_none());
    assert_eq!(ShardRuntimes::one(here.clone()).shards(), 1);
    let two = ShardRuntimes::each(vec![here.clone(), here]).unwrap();
    assert_eq!(two.shards(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_keep_each_tenants_order_and_switch_routes_at_the_same_point_of_each_tenants_stream()
{
    let store: Arc<dyn Store> = Arc::new(
        crate::store::sqlite::SqliteStore::in_memory()
            .await
            .unwrap(),
    );
    let (a_got, b_got) = (Arc::default(), Arc::default());
    let (a, a_task) =
        crate::sink::spawn("a", Box::new(Collect(Arc::clone(&a_got))), 8, store.clone());
    let (b, b_task) =
        crate::sink::spawn("b", Box::new(Collect(Arc::clone(&b_got))), 8, store.clone());
    let here = tokio::runtime::Handle::current();
    let settings = RouterSettings {
        queue: 4,
        dedup_window: 1000,
        runtimes: ShardRuntimes::each(vec![here.clone(), here.clone(), here]).unwrap(),
    };
    let (router, task) = spawn_on(
        &settings,
        &[route(&["a"], &["*"])],
        vec![a.clone()],
        store,
        Arc::new(Metrics::new().unwrap()),
    );
    assert_eq!(router.queue.shards(), 3);
    let tenants: Vec<String> = (0..12).map(|t| format!("tenant-{t}")).collect();
    // Every tenant's records go to one shard, and the tenants are spread over more than one.
    let mut shards_used = std::collections::HashSet::new();
    for t in &tenants {
        assert_eq!(router.queue.of_tenant(t).shards(), 1);
        shards_used.insert(router.queue.shard_of(t));
    }
    assert!(shards_used.len() > 1, "12 tenants all on one shard");
    // `n` is the tenant's index × 1000 + the event's number; every tenant uses the same event ids (0..100),
    // which are duplicates only within a tenant.
    let presence = "v2.users.u.presence";
    let send_round = |range: std::ops::Range<u64>| {
        let router = router.clone();
        let tenants = tenants.clone();
        async move {
            for i in range {
                for (t, tenant) in tenants.iter().enumerate() {
                    let mut e = event_of(tenant, t as u64 * 1000 + i, presence);
                    if let Inbound::Event { key, .. } = &mut e {
                        *key = i;
                    }
                    router.queue.send(e).await.unwrap();
                }
            }
        }
    };
    send_round(0..50).await;
    router
        .queue
        .send(Inbound::Reconfigure {
            routes: vec![route(&["b"], &["*"])],
            sinks: vec![a, b],
        })
        .await
        .unwrap();
    send_round(50..100).await;
    // Seen before (by the same tenant's shard): dropped.
    send_round(10..20).await;
    drop(router);
    task.join().await.unwrap();
    a_task.await.unwrap();
    b_task.await.unwrap();
    let (a_got, b_got) = (a_got.lock().clone(), b_got.lock().clone());
    for t in 0..tenants.len() as u64 {
        let of_tenant =
            |got: &[u64]| -> Vec<u64> { got.iter().copied().filter(|n| n / 1000 == t).collect() };
        assert_eq!(
            of_tenant(&a_got),
            (t * 1000..t * 1000 + 50).collect::<Vec<u64>>(),
            "tenant {t} before the switch"
        );
        assert_eq!(
            of_tenant(&b_got),
            (t * 1000 + 50..t * 1000 + 100).collect::<Vec<u64>>(),
            "tenant {t} after the switch"
        );
    }
}
