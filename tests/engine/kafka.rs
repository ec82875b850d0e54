//! The Kafka sink in the engine, against a Kafka-protocol broker (tansu): the simulator's events reach Kafka
//! exactly once each, keyed by tenant and entity, in routing order per key; and when the broker goes away, the
//! records go to the spool and reach the broker once it is back, none lost, in order per key.
//!
//! The broker of the first test is `SWITCHBOARD_TEST_KAFKA` (scripts/test.sh starts it); the second test starts
//! and kills its own `tansu` (from `SWITCHBOARD_TEST_TANSU` or the PATH). Without them the tests fail.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use serde_json::{Value, json};
use switchboard::sink::kafka::QuietContext;

use crate::harness::*;

pub(crate) fn broker_or_fail() -> String {
    std::env::var("SWITCHBOARD_TEST_KAFKA").unwrap_or_else(|_| {
        panic!(
            "SWITCHBOARD_TEST_KAFKA is not set: the Kafka sink tests need a Kafka-protocol broker \
             (scripts/test.sh starts tansu on 127.0.0.1:19092 and sets SWITCHBOARD_TEST_KAFKA=127.0.0.1:19092)"
        )
    })
}

/// One record read back from Kafka.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) key: String,
    id: String,
    pub(crate) envelope: Value,
}

/// Reads every record of `topic` from the start into a shared list, until dropped.
pub(crate) struct Reader {
    records: Arc<Mutex<Vec<Record>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Reader {
    pub(crate) fn start(brokers: &str, topic: &str) -> Reader {
        let consumer: StreamConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set(
                "group.id",
                format!("sbtest-{}", uuid::Uuid::new_v4().simple()),
            )
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("a consumer");
        consumer.subscribe(&[topic]).expect("subscribed");
        let records = Arc::new(Mutex::new(Vec::new()));
        let out = records.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok(m) = consumer.recv().await else {
                    continue;
                };
                let id = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "switchboard-id"))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                let envelope: Value =
                    serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or(Value::Null);
                out.lock().push(Record {
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    id,
                    envelope,
                });
            }
        });
        Reader { records, task }
    }

    fn ids(&self) -> BTreeSet<String> {
        self.records.lock().iter().map(|r| r.id.clone()).collect()
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        self.records.lock().clone()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates `topic` (3 partitions), retrying while the broker is not ready; one that exists is fine.
async fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<QuietContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create_with_context(QuietContext::default())
        .expect("an admin client");
    let new = NewTopic::new(topic, 3, TopicReplication::Fixed(1));
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
    wait_until(&format!("topic {topic} created"), || async {
        match admin.create_topics([&new], &options).await {
            Ok(results) => results.iter().all(|r| match r {
                Ok(_) => true,
                Err((_, code)) => *code == rdkafka::error::RDKafkaErrorCode::TopicAlreadyExists,
            }),
            Err(_) => false,
        }
    })
    .await;
}

/// What the file sink holds, in routing order: (key as the Kafka sink computes it by default, id).
fn file_records(scratch: &Scratch) -> Vec<(String, String)> {
    std::fs::read_to_string(scratch.sink())
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (default_key(&v), v["id"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The default key of an envelope of the simulator's user topics (`v2.users.{id}.<family>`): tenant/user.
fn default_key(v: &Value) -> String {
    let tenant = v["tenant"].as_str().unwrap();
    match (v["topic"].as_str(), v["topicFamily"].as_str()) {
        (Some(topic), Some(family)) if family.starts_with("v2.users.{id}.") => {
            format!("{tenant}/{}", topic.split('.').nth(2).unwrap())
        }
        _ => tenant.to_string(),
    }
}

fn kafka_sink(brokers: &str, topic: &str, timeout: &str) -> String {
    format!(
        "\n[[sinks]]\nname = \"kafka\"\nkind = \"kafka\"\nbrokers = [\"{brokers}\"]\ntopic = \"{topic}\"\ncreate_topic = true\npartitions = 3\ntimeout = \"{timeout}\"\n\n[[routes]]\nsinks = [\"kafka\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_kafka_once_keyed_by_entity_in_routing_order() {
    let brokers = broker_or_fail();
    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence", "routingStatus"]).await;
    let scratch = Scratch::new();
    let prefix = format!("sbtest-{}", uuid::Uuid::new_v4().simple());
    let topic = format!("{prefix}.acme");
    create_topic(&brokers, &topic).await;
    let reader = Reader::start(&brokers, &topic);
    let engine = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &followed)
        .client("demo", "secret")
        .sink_file()
        .extra(&kafka_sink(
            &brokers,
            &format!("{prefix}.{{tenant}}"),
            "10s",
        ))
        .start()
        .engine;
    wait_live(&engine, "acme", 1).await;

    sim.workload(json_rate(100.0, &["presence", "routingStatus"]))
        .await;
    wait_until("events in the file sink", || async {
        read_sink(&scratch).events.len() >= 300
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let verdict = settle(&sim, &scratch, &followed).await;
    assert_complete(&verdict);
    assert!(verdict.happened >= 300, "{verdict:?}");

    // Everything the file sink holds (every ledger event of the followed topics) reaches Kafka.
    let file = file_records(&scratch);
    let want: BTreeSet<String> = file.iter().map(|(_, id)| id.clone()).collect();
    wait_until("every record in Kafka", || async {
        want.is_subset(&reader.ids())
    })
    .await;
    engine.stop();
    let got = reader.records();
    assert_eq!(got.len(), file.len(), "each record exactly once");
    let mut ids = HashSet::new();
    for r in &got {
        assert!(ids.insert(r.id.clone()), "{} delivered twice", r.id);
        assert_eq!(r.id, r.envelope["id"].as_str().unwrap(), "the id header");
        assert_eq!(r.key, default_key(&r.envelope), "keyed by tenant and user");
    }
    let ledger_ids: BTreeSet<String> = sim
        .ledger()
        .await
        .iter()
        .map(|e| e["correlationId"].as_str().unwrap().to_string())
        .collect();
    let kafka_correlation: BTreeSet<String> = got
        .iter()
        .filter_map(|r| r.envelope["correlationId"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        kafka_correlation.len(),
        verdict.delivered_once,
        "every followed ledger event, once"
    );
    assert!(kafka_correlation.is_subset(&ledger_ids));
    // In order per key: Kafka keeps each key's records in the order the router sent them (the file's order).
    let kafka: Vec<(String, String)> = got.iter().map(|r| (r.key.clone(), r.id.clone())).collect();
    assert_eq!(first_copies_by_key(&kafka), first_copies_by_key(&file));
    assert!(
        first_copies_by_key(&kafka).len() > 10,
        "events of many users"
    );
}

/// A tansu broker of the test's own, in memory, on `port`.
fn spawn_tansu(port: u16) -> tokio::process::Child {
    let tansu = std::env::var("SWITCHBOARD_TEST_TANSU").unwrap_or_else(|_| "tansu".into());
    let url = format!("tcp://127.0.0.1:{port}");
    tokio::process::Command::new(&tansu)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {tansu} ({e}): the Kafka outage test needs tansu \
                 (scripts/test.sh installs it; or set SWITCHBOARD_TEST_TANSU)"
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_spools_and_loses_nothing_and_keeps_order_per_key() {
    // Fails (never skips) without a broker for the Kafka suite, like the other Kafka tests.
    broker_or_fail();
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let mut tansu = spawn_tansu(port);
    let topic = format!("sbtest-{}.acme", uuid::Uuid::new_v4().simple());
    create_topic(&brokers, &topic).await;

    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence", "routingStatus"]).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &followed)
        .client("demo", "secret")
        .sink_file()
        .extra(&kafka_sink(&brokers, &topic, "2s"))
        .start();
    let stats = engine
        .sinks
        .iter()
        .find(|(name, _)| name == "kafka")
        .map(|(_, s)| s.clone())
        .expect("the kafka sink runs");
    wait_live(&engine, "acme", 1).await;

    // Before the outage: what happened reaches the broker, and is read from it (it keeps nothing once killed).
    let before = Reader::start(&brokers, &topic);
    sim.workload(json_rate(100.0, &["presence", "routingStatus"]))
        .await;
    wait_until("events in the file sink", || async {
        read_sink(&scratch).events.len() >= 100
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    assert_complete(&settle(&sim, &scratch, &followed).await);
    let first: BTreeSet<String> = file_records(&scratch)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    wait_until("the first events in Kafka", || async {
        first.is_subset(&before.ids())
    })
    .await;
    let before_records = before.records();
    drop(before);

    // The broker goes away; events keep coming and go to the spool.
    tansu.kill().await.unwrap();
    let spooled = stats.spooled.load(Ordering::Relaxed);
    sim.workload(json_rate(100.0, &["presence", "routingStatus"]))
        .await;
    wait_until("more events in the file sink", || async {
        read_sink(&scratch).events.len() >= first.len() + 200
    })
    .await;
    wait_until("records in the Kafka sink's spool", || async {
        stats.spooled.load(Ordering::Relaxed) >= spooled + 100
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let verdict = settle(&sim, &scratch, &followed).await;
    assert_complete(&verdict);
    assert!(stats.spool_bytes.load(Ordering::Relaxed) > 0);
    assert!(stats.errors.load(Ordering::Relaxed) > 0);

    // Back (empty: in memory); the sink creates the topic again and delivers the spool.
    let _tansu = spawn_tansu(port);
    create_topic(&brokers, &topic).await;
    let after = Reader::start(&brokers, &topic);
    let file = file_records(&scratch);
    let all: BTreeSet<String> = file.iter().map(|(_, id)| id.clone()).collect();
    wait_until("every record in Kafka after the outage", || {
        let got: BTreeSet<String> = first.union(&after.ids()).cloned().collect();
        let done = all.is_subset(&got);
        async move { done }
    })
    .await;
    wait_until("the spool empty", || async {
        stats.spool_bytes.load(Ordering::Relaxed) == 0
    })
    .await;
    engine.stop();

    let kafka: Vec<(String, String)> = before_records
        .iter()
        .chain(after.records().iter())
        .map(|r| (r.key.clone(), r.id.clone()))
        .collect();
    let delivered: BTreeSet<&String> = kafka.iter().map(|(_, id)| id).collect();
    assert_eq!(delivered.len(), all.len(), "0 lost, nothing else");
    assert_eq!(
        first_copies_by_key(&kafka),
        first_copies_by_key(&file),
        "in routing order per key (duplicates of a re-sent batch allowed after the first copy)"
    );
}
