//! Tests of the registry: sinks and routes stored, seeded, changed and applied while records flow.

use super::*;
use crate::router::tests::event;
use crate::settings::Secret;
use crate::sink::SinkKind;
use crate::sink::file::FileConfig;
use crate::sink::kafka::{KAFKA_SUPPORTED, KafkaConfig, NO_KAFKA, Properties};
use crate::sink::nats::NatsConfig;
use crate::sink::webhook::WebhookConfig;

fn file_sink(name: &str, path: &std::path::Path, max_bytes: u64) -> SinkConfig {
    SinkConfig {
        name: name.into(),
        kind: SinkKind::File(FileConfig {
            path: path.to_path_buf(),
            max_bytes,
            max_files: 2,
        }),
    }
}

fn numbers(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

async fn wait_for_lines(path: &std::path::Path, n: usize) -> Vec<u64> {
    for _ in 0..600 {
        let got = numbers(path);
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{} never held {n} lines", path.display());
}

#[test]
fn a_webhook_sink_is_stored_with_its_secret_sealed_or_taken_from_the_file() {
    let config = SinkConfig {
        name: "hook".into(),
        kind: SinkKind::Webhook(WebhookConfig {
            url: "https://hooks.example.com/x".into(),
            secret: crate::config::Secret::new("whsec_c2VjcmV0LWtleQ=="),
            batch: true,
            timeout: std::time::Duration::from_millis(2500),
            allow: vec!["10.0.0.0/8".into()],
        }),
    };
    let key = MasterKey::generate();
    let record = sink_record(&config, now_millis(), Some(&key));
    assert_eq!(record.kind, "webhook");
    assert_eq!(record.settings["timeoutMs"], 2500);
    let stored = record.settings.to_string();
    assert!(!stored.contains("c2VjcmV0LWtleQ"), "{stored}");
    assert_eq!(sink_from_record(&record, Some(&key), &[]).unwrap(), config);
    // Sealed for this sink only, and only the key opens it.
    let e = sink_from_record(&record, None, &[]).unwrap_err();
    assert!(e.starts_with("settings.secret:"), "{e}");
    let mut moved = record.clone();
    moved.name = "other".into();
    assert!(sink_from_record(&moved, Some(&key), &[]).is_err());
    // Without a key the secret is not stored: the file's sink of the same name gives it.
    let plain = sink_record(&config, now_millis(), None);
    assert!(plain.settings["secret"].is_null());
    assert_eq!(
        sink_from_record(&plain, None, std::slice::from_ref(&config)).unwrap(),
        config
    );
    assert!(sink_from_record(&plain, None, &[]).is_err());
}

#[test]
fn credentials_in_a_url_are_stored_sealed_and_shown_as_stars() {
    let config = SinkConfig {
        name: "hook".into(),
        kind: SinkKind::Webhook(WebhookConfig {
            url: "https://bob:hunter2@hooks.example.com/x?token=canary-token".into(),
            secret: crate::config::Secret::new("plain-signing-secret"),
            batch: false,
            timeout: std::time::Duration::from_secs(10),
            allow: vec![],
        }),
    };
    let key = MasterKey::generate();
    let record = sink_record(&config, now_millis(), Some(&key));
    let stored = record.settings.to_string();
    assert!(
        !stored.contains("hunter2") && !stored.contains("canary-token"),
        "{stored}"
    );
    assert_eq!(
        record.settings["url"],
        "https://***:***@hooks.example.com/x?token=***"
    );
    assert_eq!(sink_from_record(&record, Some(&key), &[]).unwrap(), config);
    // Without a key nothing secret is stored; the configuration file's sink gives the URL back.
    let plain = sink_record(&config, now_millis(), None);
    assert!(!plain.settings.to_string().contains("hunter2"));
    assert_eq!(
        sink_from_record(&plain, None, std::slice::from_ref(&config)).unwrap(),
        config
    );
    assert!(sink_from_record(&plain, None, &[]).is_err());
}

#[test]
fn a_nats_sink_is_stored_and_read_back() {
    let config = SinkConfig {
        name: "n".into(),
        kind: SinkKind::Nats(NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            subject: "sb.{tenant}.{family}".into(),
            stream: Some("SB".into()),
            create_stream: true,
        }),
    };
    let record = sink_record(&config, now_millis(), None);
    assert_eq!(record.kind, "nats");
    assert_eq!(record.settings["createStream"], true);
    assert_eq!(sink_from_record(&record, None, &[]).unwrap(), config);
    let mut bad = record.clone();
    bad.settings["subject"] = "sb.{topic}".into();
    let e = sink_from_record(&bad, None, &[]).unwrap_err();
    assert!(e.starts_with("settings.subject:"), "{e}");
    bad.settings["subject"] = "sb.x".into();
    bad.settings["stream"] = serde_json::Value::Null;
    let e = sink_from_record(&bad, None, &[]).unwrap_err();
    assert!(e.starts_with("settings.stream:"), "{e}");
}

fn kafka_config() -> SinkConfig {
    let mut properties = std::collections::BTreeMap::new();
    properties.insert("security.protocol".to_string(), "SASL_SSL".to_string());
    properties.insert("sasl.password".to_string(), "kafka-pass-123".to_string());
    SinkConfig {
        name: "k".into(),
        kind: SinkKind::Kafka(KafkaConfig {
            brokers: vec!["k1:9092".into(), "k2:9092".into()],
            topic: "sb.{tenant}".into(),
            key: Some("{tenant}/{entity}".into()),
            create_topic: true,
            partitions: Some(6),
            replication: None,
            timeout: std::time::Duration::from_secs(7),
            properties: Properties::new(properties),
        }),
    }
}

#[test]
fn a_kafka_sink_is_stored_with_its_secret_properties_sealed_or_taken_from_the_file() {
    let config = kafka_config();
    let key = MasterKey::generate();
    let record = sink_record(&config, now_millis(), Some(&key));
    assert_eq!(record.kind, "kafka");
    assert_eq!(record.settings["timeoutMs"], 7000);
    // The secret property is named, its value sealed beside.
    assert_eq!(record.settings["properties"]["sasl.password"], "set");
    assert!(record.settings["replication"].is_null());
    let stored = record.settings.to_string();
    assert!(!stored.contains("kafka-pass-123"), "{stored}");
    let audited = config.kind.settings().to_string();
    assert!(!audited.contains("kafka-pass-123"), "{audited}");
    if !KAFKA_SUPPORTED {
        assert_eq!(
            sink_from_record(&record, Some(&key), &[]).unwrap_err(),
            NO_KAFKA
        );
        return;
    }
    assert_eq!(sink_from_record(&record, Some(&key), &[]).unwrap(), config);
    let e = sink_from_record(&record, None, &[]).unwrap_err();
    assert!(e.starts_with("settings.secret:"), "{e}");
    let mut moved = record.clone();
    moved.name = "other".into();
    assert!(sink_from_record(&moved, Some(&key), &[]).is_err());
    // Without a key the secret properties are not stored: the file's sink of the same name gives them.
    let plain = sink_record(&config, now_millis(), None);
    assert!(plain.settings["secret"].is_null());
    assert_eq!(
        sink_from_record(&plain, None, std::slice::from_ref(&config)).unwrap(),
        config
    );
    assert!(sink_from_record(&plain, None, &[]).is_err());
    // No secret property: nothing sealed, nothing needed.
    let mut open = config.clone();
    if let SinkKind::Kafka(k) = &mut open.kind {
        k.properties.secret.clear();
    }
    assert!(open.kind.secret().is_none());
    let r = sink_record(&open, now_millis(), None);
    assert_eq!(sink_from_record(&r, None, &[]).unwrap(), open);
    let mut bad = r.clone();
    bad.settings["properties"]["acks"] = "1".into();
    let e = sink_from_record(&bad, None, &[]).unwrap_err();
    assert!(e.starts_with("settings.properties.acks:"), "{e}");
    // As versions before this one stored it: the secret properties' names listed apart.
    let mut earlier = record.clone();
    earlier.settings["properties"] = serde_json::json!({"security.protocol": "SASL_SSL"});
    earlier.settings["secretProperties"] = serde_json::json!(["sasl.password"]);
    assert_eq!(sink_from_record(&earlier, Some(&key), &[]).unwrap(), config);
}

/// Starts the sinks and routes of `sinks` (each routed everything) with small queues, in `dir`.
async fn start_flow(
    dir: &std::path::Path,
    sinks: &[SinkConfig],
) -> (Arc<EngineSinks>, RouterHandle) {
    let store: Arc<dyn Store> = Arc::new(
        crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
            .await
            .unwrap(),
    );
    let route = RouteConfig {
        tenants: vec!["*".into()],
        sinks: sinks.iter().map(|s| s.name.clone()).collect(),
        topics: vec!["*".into()],
        changes_only: false,
        filter: None,
    };
    let (sinks, router, _) = EngineSinks::start(
        store,
        sinks,
        &[route],
        None,
        WorkerSettings {
            queue: 4,
            spool_dir: None,
            spool_max_bytes: sink::spool::DEFAULT_MAX_BYTES,
            egress: crate::egress::Egress::unrestricted(),
            dead_letters_max: sink::DEFAULT_DEAD_LETTERS_MAX,
            instance: None,
        },
        crate::router::RouterSettings::here(4, 100_000),
        Arc::new(Metrics::new().unwrap()),
    )
    .await
    .unwrap();
    (sinks, router)
}

#[tokio::test]
async fn a_drain_delivers_everything_queued_then_refuses_changes() {
    let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
    let path = dir.join("out.jsonl");
    let (sinks, router) = start_flow(&dir, &[file_sink("f", &path, 1 << 30)]).await;
    for n in 0..500 {
        router
            .queue
            .send(event(n, "v2.users.u.presence"))
            .await
            .unwrap();
    }
    // `router` still holds a sender of the queue: the drain does not need the senders gone.
    sinks
        .drain(std::time::Duration::from_secs(30))
        .await
        .expect("drained");
    assert_eq!(
        numbers(&path),
        (0..500).collect::<Vec<u64>>(),
        "all written when the drain returns"
    );
    assert!(
        router
            .queue
            .send(event(500, "v2.users.u.presence"))
            .await
            .is_err()
    );
    let err = sinks
        .put_sink(file_sink("g", &dir.join("g.jsonl"), 10))
        .await
        .unwrap_err();
    assert!(matches!(err, ManageError::Stopped), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_drain_gives_up_on_a_destination_that_never_answers_and_names_it() {
    let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
    // Connections are accepted by the kernel, never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = SinkConfig {
        name: "hook".into(),
        kind: SinkKind::Webhook(WebhookConfig {
            url: format!("http://{}/", silent.local_addr().unwrap()),
            secret: Secret::new("s"),
            batch: false,
            timeout: std::time::Duration::from_secs(3600),
            allow: vec!["127.0.0.1/32".into()],
        }),
    };
    let path = dir.join("out.jsonl");
    let (sinks, router) = start_flow(&dir, &[file_sink("f", &path, 1 << 30), hook]).await;
    router
        .queue
        .send(event(0, "v2.users.u.presence"))
        .await
        .unwrap();
    let late = sinks
        .drain(std::time::Duration::from_millis(500))
        .await
        .expect_err("the webhook never answers");
    assert_eq!(late, vec!["hook".to_string()]);
    assert_eq!(numbers(&path), vec![0], "the other sink drained");
    drop(silent);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_file_sink_replaced_mid_stream_keeps_every_line_in_order_and_changes_are_stored() {
    let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(
        crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
            .await
            .unwrap(),
    );
    let path = dir.join("out.jsonl");
    let file_route = RouteConfig {
        tenants: vec!["*".into()],
        sinks: vec!["f".into()],
        topics: vec!["*".into()],
        changes_only: false,
        filter: None,
    };
    let metrics = Arc::new(Metrics::new().unwrap());
    let (sinks, router, stats) = EngineSinks::start(
        store.clone(),
        &[file_sink("f", &path, 1 << 30)],
        std::slice::from_ref(&file_route),
        None,
        // Small queues keep records in flight in the old worker while the new one starts.
        WorkerSettings {
            queue: 4,
            spool_dir: Some(dir.join("spool")),
            spool_max_bytes: sink::spool::DEFAULT_MAX_BYTES,
            egress: crate::egress::Egress::unrestricted(),
            dead_letters_max: sink::DEFAULT_DEAD_LETTERS_MAX,
            instance: None,
        },
        crate::router::RouterSettings::here(4, 100_000),
        metrics.clone(),
    )
    .await
    .unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(store.sink("f").await.unwrap().unwrap().kind, "file");
    assert_eq!(store.routes().await.unwrap()[0].id, "config-1");

    let topic = "v2.users.u.presence";
    for n in 0..2000 {
        router.queue.send(event(n, topic)).await.unwrap();
    }
    // Same name, same file, other limits: the new worker waits for the old one to finish.
    let (entry, created) = sinks
        .put_sink(file_sink("f", &path, 1 << 31))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(entry.config, file_sink("f", &path, 1 << 31));
    for n in 2000..4000 {
        router.queue.send(event(n, topic)).await.unwrap();
    }
    let got = wait_for_lines(&path, 4000).await;
    assert_eq!(got, (0..4000).collect::<Vec<u64>>());
    // The replacement counts on from where its predecessor stopped (the count follows the flush).
    let mut text = String::new();
    for _ in 0..600 {
        text = metrics.render(None, &sinks.sinks().await).await.unwrap();
        if text.contains("switchboard_sink_sent_total{sink=\"f\"} 4000") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("switchboard_sink_sent_total{sink=\"f\"} 4000"),
        "{text}"
    );

    // Another sink may not write the same file; a sink in use may not go.
    let err = sinks.put_sink(file_sink("g", &path, 10)).await.unwrap_err();
    assert!(
        matches!(&err, ManageError::Invalid(d) if d[0].starts_with("path:")),
        "{err}"
    );
    let err = sinks.delete_sink("f").await.unwrap_err();
    assert!(
        matches!(&err, ManageError::InUse(r) if r == &["config-1"]),
        "{err}"
    );
    let err = sinks
        .put_route(
            "r",
            RouteConfig {
                sinks: vec!["nope".into()],
                ..file_route.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ManageError::Invalid(d) if d[0].starts_with("sinks[0]:")),
        "{err}"
    );

    // Route and sink deleted: stored, and the file gets nothing more.
    sinks.delete_route("config-1").await.unwrap();
    assert!(matches!(
        sinks.delete_route("config-1").await,
        Err(ManageError::NotFound)
    ));
    sinks.delete_sink("f").await.unwrap();
    assert!(store.sink("f").await.unwrap().is_none());
    let text = metrics.render(None, &sinks.sinks().await).await.unwrap();
    assert!(
        !text.contains("sink=\"f\""),
        "a deleted sink's series go: {text}"
    );
    assert!(store.routes().await.unwrap().is_empty());
    for n in 4000..4100 {
        router.queue.send(event(n, topic)).await.unwrap();
    }
    // The file sink can take the path again (after the old worker is done).
    sinks
        .put_sink(file_sink("g", &path, 1 << 30))
        .await
        .unwrap();
    sinks
        .put_route(
            "r",
            RouteConfig {
                sinks: vec!["g".into()],
                ..file_route.clone()
            },
        )
        .await
        .unwrap();
    for n in 4100..4200 {
        router.queue.send(event(n, topic)).await.unwrap();
    }
    let got = wait_for_lines(&path, 4100).await;
    assert_eq!(got, (0..4000).chain(4100..4200).collect::<Vec<u64>>());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_successor_on_the_same_file_writes_only_once_its_predecessors_have_ended() {
    let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
    let path = dir.join("out.jsonl");
    let line = |n: u64| Delivery {
        kind: crate::sink::RecordKind::Event,
        received_ms: None,
        tenant: Arc::from("acme"),
        json: bytes::Bytes::from(format!(r#"{{"n":{n}}}"#)),
    };
    let (done, rx) = watch::channel(false);
    let mut next = AfterPredecessors {
        waiting: vec![rx],
        config: file_sink("f", &path, 1 << 20),
        sink: None,
        egress: crate::egress::Egress::unrestricted(),
    };
    let second = line(2);
    let write = tokio::spawn(async move {
        next.write(&[second]).await.unwrap();
        next.flush().await.unwrap();
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!write.is_finished(), "the successor waits");
    assert!(!path.exists(), "and has not opened the file");
    let mut old = crate::sink::file::FileSink::open(&path, 1 << 20, 2).unwrap();
    old.write(&[line(1)]).await.unwrap();
    old.flush().await.unwrap();
    drop(old);
    done.send(true).unwrap();
    write.await.unwrap();
    assert_eq!(numbers(&path), vec![1, 2]);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_stored_filter_is_compiled_at_start_and_a_route_whose_filter_does_not_compile_is_left_out()
 {
    let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(
        crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
            .await
            .unwrap(),
    );
    let sink = file_sink("f", &dir.join("out.jsonl"), 1 << 30);
    let stored = |id: &str, filter: &str| RouteRecord {
        id: id.into(),
        tenants: vec!["*".into()],
        sinks: vec!["f".into()],
        topics: vec!["*".into()],
        changes_only: false,
        filter: Some(filter.into()),
        updated_at: now_millis(),
    };
    store
        .upsert_route(&stored("good", "entity == 'u'"))
        .await
        .unwrap();
    // Written by hand, or by a version that took what this one refuses.
    store
        .upsert_route(&stored("bad", "entity =="))
        .await
        .unwrap();
    let (sinks, router, _) = EngineSinks::start(
        store,
        std::slice::from_ref(&sink),
        &[],
        None,
        WorkerSettings {
            queue: 4,
            spool_dir: None,
            spool_max_bytes: sink::spool::DEFAULT_MAX_BYTES,
            egress: crate::egress::Egress::unrestricted(),
            dead_letters_max: sink::DEFAULT_DEAD_LETTERS_MAX,
            instance: None,
        },
        crate::router::RouterSettings::here(4, 100_000),
        Arc::new(Metrics::new().unwrap()),
    )
    .await
    .unwrap();
    let ids: Vec<String> = sinks.routes().await.into_iter().map(|r| r.id).collect();
    assert_eq!(ids, vec!["good"]);
    assert_eq!(
        router.stats.filters.of("good"),
        Some((0, 0)),
        "running, filtered"
    );
    let _ = sinks.drain(std::time::Duration::from_secs(10)).await;
    let _ = std::fs::remove_dir_all(dir);
}
