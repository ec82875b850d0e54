//! The Kafka sink: templates and error handling on their own, and delivery against the broker named by
//! `SWITCHBOARD_TEST_KAFKA` (`scripts/test.sh` starts tansu on 127.0.0.1:19092 and sets it). Without that
//! variable the broker tests fail; they never pass silently.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;

use super::*;
use crate::settings::Secret;
use crate::sink::RecordKind;
use crate::sink::kafka::{DEFAULT_KAFKA_TIMEOUT, DEFAULT_KAFKA_TOPIC, Properties};

/// The broker the tests use; fails the test when none is configured.
pub(super) fn broker_or_fail() -> String {
    std::env::var("SWITCHBOARD_TEST_KAFKA").unwrap_or_else(|_| {
        panic!(
            "SWITCHBOARD_TEST_KAFKA is not set: the Kafka sink tests need a Kafka-protocol broker \
             (scripts/test.sh starts tansu on 127.0.0.1:19092 and sets SWITCHBOARD_TEST_KAFKA=127.0.0.1:19092)"
        )
    })
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn config(brokers: &str, topic: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: vec![brokers.to_string()],
        topic: topic.to_string(),
        key: None,
        create_topic: true,
        partitions: Some(3),
        replication: None,
        timeout: DEFAULT_KAFKA_TIMEOUT,
        properties: Properties::default(),
    }
}

fn event(tenant: &str, n: u32, topic: &str, family: &str) -> Delivery {
    Delivery {
        kind: RecordKind::Event,
        received_ms: None,
        tenant: Arc::from(tenant),
        json: Bytes::from(format!(
            r#"{{"kind":"event","id":"{n:016x}","tenant":"{tenant}","region":"eu-west-1","channelId":"streaming-0-x","topic":"{topic}","topicFamily":"{family}","receivedAt":"2026-11-23T10:00:00.123Z","version":"2","body":{{"n":{n},"id":"not-this-one"}}}}"#
        )),
    }
}

fn gap(tenant: &str) -> Delivery {
    let id = uuid::Uuid::new_v4();
    Delivery {
        kind: RecordKind::Gap,
        received_ms: None,
        tenant: Arc::from(tenant),
        json: Bytes::from(format!(
            r#"{{"kind":"gap","channelId":"streaming-0-x","from":"2026-11-23T10:00:01.000Z","id":"{id}","reason":"socket_lost","region":"eu-west-1","tenant":"{tenant}","to":"2026-11-23T10:00:04.120Z","topics":["v2.users.u1.presence"]}}"#
        )),
    }
}

const PRESENCE: &str = "v2.users.{id}.presence";
const QUEUE: &str = "v2.routing.queues.{id}.conversations";

fn batch() -> Vec<Delivery> {
    vec![
        event("acme", 1, "v2.users.u1.presence", PRESENCE),
        event("acme", 2, "v2.users.u2.presence", PRESENCE),
        event("other", 3, "v2.routing.queues.q1.conversations", QUEUE),
        gap("acme"),
        event("acme", 4, "v2.users.u1.presence", PRESENCE),
        event("other", 5, "v2.routing.queues.q1.conversations", QUEUE),
        event("acme", 6, "v2.users.u2.presence", PRESENCE),
    ]
}

/// A record as read back from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    topic: String,
    key: String,
    id: String,
    payload: Bytes,
}

/// Reads `n` records of `topics` from the start, through a consumer group of its own.
async fn consume(brokers: &str, topics: &[&str], n: usize) -> Vec<Got> {
    let consumer: StreamConsumer<QuietContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("sbtest-{}", unique()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create_with_context(QuietContext::default())
        .expect("a consumer");
    consumer.subscribe(topics).expect("subscribed");
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} records came back: {out:?}", out.len()))
            .expect("a record");
        let id = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == ID_HEADER))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        out.push(Got {
            topic: m.topic().to_string(),
            key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
            id,
            payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
        });
    }
    out
}

/// The records of each key, in the order read.
fn by_key(got: &[Got]) -> HashMap<String, Vec<Bytes>> {
    let mut out: HashMap<String, Vec<Bytes>> = HashMap::new();
    for g in got {
        out.entry(g.key.clone())
            .or_default()
            .push(g.payload.clone());
    }
    out
}

#[tokio::test]
async fn topics_and_keys_come_from_the_templates_and_the_envelope() {
    let sink = KafkaSink::new(
        &config("127.0.0.1:1", DEFAULT_KAFKA_TOPIC),
        &crate::egress::Egress::unrestricted(),
    )
    .unwrap();
    let e = event("acme", 7, "v2.users.U-1.presence", PRESENCE);
    let p = sink.prepare(&e);
    assert_eq!(p.topic, "switchboard.acme");
    assert_eq!(p.key, "acme/U-1", "default key: tenant and entity id");
    assert_eq!(p.id.as_deref(), Some("0000000000000007"));
    let g = gap("acme");
    let p = sink.prepare(&g);
    assert_eq!(p.key, "acme", "a gap has no entity: the tenant alone");
    let no_id = Delivery {
        kind: RecordKind::Event,
        received_ms: None,
        tenant: Arc::from("acme"),
        json: Bytes::from_static(
            br#"{"kind":"event","id":"ab","topic":"v2.analytics.flows","topicFamily":"v2.analytics.flows"}"#,
        ),
    };
    assert_eq!(sink.prepare(&no_id).key, "acme", "a topic without an id");

    let mut c = config("127.0.0.1:1", "sb.{tenant}.{kind}.{family}");
    c.key = Some("{entity}@{tenant}:{topic}".into());
    let sink = KafkaSink::new(&c, &crate::egress::Egress::unrestricted()).unwrap();
    let p = sink.prepare(&e);
    assert_eq!(p.topic, "sb.acme.event.v2.users.id.presence");
    assert_eq!(p.key, "U-1@acme:v2.users.U-1.presence");
    assert_eq!(sink.prepare(&g).topic, "sb.acme.gap.gap");
    let odd = Delivery {
        kind: RecordKind::Backfill,
        received_ms: None,
        tenant: Arc::from("t"),
        json: Bytes::from_static(br#"{"kind":"backfill","id":"ab","topicFamily":"a b/{x}*.c"}"#),
    };
    assert_eq!(
        sink.prepare(&odd).topic,
        "sb.t.backfill.a_b__x__.c",
        "characters a topic cannot hold become _"
    );
    let mut long = config("127.0.0.1:1", "{family}");
    long.create_topic = false;
    long.partitions = None;
    let sink = KafkaSink::new(&long, &crate::egress::Egress::unrestricted()).unwrap();
    let family = "x".repeat(400);
    let huge = Delivery {
        kind: RecordKind::Event,
        received_ms: None,
        tenant: Arc::from("t"),
        json: Bytes::from(format!(
            r#"{{"kind":"event","id":"a","topicFamily":"{family}"}}"#
        )),
    };
    assert_eq!(sink.prepare(&huge).topic.len(), 249);
}

#[test]
fn errors_of_the_record_itself_are_rejected_the_rest_retried() {
    let reject = |code| {
        matches!(
            verdict(&KafkaError::MessageProduction(code)),
            Verdict::Reject(_)
        )
    };
    assert!(reject(RDKafkaErrorCode::MessageSizeTooLarge));
    assert!(reject(RDKafkaErrorCode::InvalidTopic));
    assert!(reject(RDKafkaErrorCode::MessageBatchTooLarge));
    assert!(reject(RDKafkaErrorCode::InvalidRecord));
    assert!(!reject(RDKafkaErrorCode::MessageTimedOut));
    assert!(!reject(RDKafkaErrorCode::AllBrokersDown));
    assert!(!reject(RDKafkaErrorCode::NotEnoughReplicas));
    assert!(!reject(RDKafkaErrorCode::TopicAuthorizationFailed));
    match verdict(&KafkaError::MessageProduction(
        RDKafkaErrorCode::UnknownTopic,
    )) {
        Verdict::Retry(why) => assert!(why.contains("create_topic"), "{why}"),
        Verdict::Reject(_) => panic!("a missing topic is retried"),
    }
}

#[test]
fn a_property_librdkafka_refuses_is_reported_without_secrets() {
    let mut c = config("127.0.0.1:1", DEFAULT_KAFKA_TOPIC);
    c.properties
        .plain
        .insert("linger.ms".into(), "not-a-number".into());
    let e = KafkaSink::new(&c, &crate::egress::Egress::unrestricted())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("linger.ms"), "{e}");

    let mut c = config("127.0.0.1:1", DEFAULT_KAFKA_TOPIC);
    c.properties
        .plain
        .insert("no.such.property".into(), "1".into());
    c.properties
        .secret
        .insert("sasl.password".into(), Secret::new("hunter2-secret-value"));
    let e = KafkaSink::new(&c, &crate::egress::Egress::unrestricted())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("no.such.property"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let mut sink = KafkaSink::new(
        &config("127.0.0.1:1", DEFAULT_KAFKA_TOPIC),
        &crate::egress::Egress::unrestricted(),
    )
    .unwrap();
    sink.context.secrets = vec!["hunter2-secret-value".to_string()].into();
    assert_eq!(
        sink.redact("bad value \"hunter2-secret-value\" for sasl.password"),
        "bad value \"***\" for sasl.password"
    );
}

#[tokio::test]
async fn a_batch_is_produced_keyed_with_its_ids_and_read_back_in_order_per_key() {
    let brokers = broker_or_fail();
    let prefix = format!("sbtest-{}", unique());
    let mut sink = KafkaSink::new(
        &config(&brokers, &format!("{prefix}.{{tenant}}")),
        &crate::egress::Egress::unrestricted(),
    )
    .unwrap();
    let records = batch();
    sink.write(&records)
        .await
        .expect("every record acknowledged");
    sink.flush().await.unwrap();
    let (acme, other) = (format!("{prefix}.acme"), format!("{prefix}.other"));
    let got = consume(&brokers, &[&acme, &other], records.len()).await;

    assert_eq!(got.len(), records.len());
    for g in &got {
        let envelope: serde_json::Value = serde_json::from_slice(&g.payload).unwrap();
        assert_eq!(g.id, envelope["id"].as_str().unwrap(), "the id header");
        let tenant = envelope["tenant"].as_str().unwrap();
        assert_eq!(g.topic, format!("{prefix}.{tenant}"));
        let expected_key = match envelope["topic"].as_str() {
            Some(t) => format!(
                "{tenant}/{}",
                t.split('.').nth(t.matches('.').count() - 1).unwrap()
            ),
            None => tenant.to_string(),
        };
        assert_eq!(g.key, expected_key, "{envelope}");
        assert!(
            records.iter().any(|r| r.json == g.payload),
            "the payload is the envelope, unchanged"
        );
    }
    // Per key, the records arrive in batch order.
    let mut expected: HashMap<String, Vec<Bytes>> = HashMap::new();
    for r in &records {
        let p = sink.prepare(r);
        expected.entry(p.key).or_default().push(r.json.clone());
    }
    assert_eq!(by_key(&got), expected);
}

#[tokio::test]
async fn a_resent_batch_keeps_the_first_copies_in_order() {
    let brokers = broker_or_fail();
    let topic = format!("sbtest-{}", unique());
    let mut c = config(&brokers, &topic);
    c.partitions = Some(1);
    let mut sink = KafkaSink::new(&c, &crate::egress::Egress::unrestricted()).unwrap();
    let records = batch();
    sink.write(&records[..4]).await.unwrap();
    // As the worker does after a failure: the whole batch again, by a new producer session.
    let mut again = KafkaSink::new(&c, &crate::egress::Egress::unrestricted()).unwrap();
    again.write(&records).await.unwrap();
    let got = consume(&brokers, &[&topic], 4 + records.len()).await;
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<&Bytes> = got
        .iter()
        .filter(|g| seen.insert(g.id.clone()))
        .map(|g| &g.payload)
        .collect();
    let expected: Vec<&Bytes> = records.iter().map(|r| &r.json).collect();
    assert_eq!(firsts, expected, "deduplicated by id, in order");
}

#[tokio::test]
async fn a_record_too_large_is_rejected_and_the_others_delivered() {
    let brokers = broker_or_fail();
    let topic = format!("sbtest-{}", unique());
    let mut c = config(&brokers, &topic);
    c.properties
        .plain
        .insert("message.max.bytes".into(), "2000".into());
    let mut sink = KafkaSink::new(&c, &crate::egress::Egress::unrestricted()).unwrap();
    let mut records = batch();
    let mut big = event("acme", 99, "v2.users.u9.presence", PRESENCE);
    big.json = Bytes::from(String::from_utf8(big.json.to_vec()).unwrap().replace(
        r#""n":99"#,
        &format!(r#""n":99,"pad":"{}""#, "x".repeat(5000)),
    ));
    records.insert(2, big);
    match sink.write(&records).await {
        Err(SinkError::Reject { records: r, reason }) => {
            assert_eq!(r, vec![2]);
            assert!(reason.contains(&topic), "{reason}");
        }
        other => panic!("the large record is rejected, not {other:?}"),
    }
    let got = consume(&brokers, &[&topic], records.len() - 1).await;
    assert!(got.iter().all(|g| g.payload != records[2].json));
}

#[tokio::test]
async fn a_closed_port_is_a_retry_within_the_timeout() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut c = config(&format!("127.0.0.1:{port}"), DEFAULT_KAFKA_TOPIC);
    c.create_topic = false;
    c.partitions = None;
    let mut sink = KafkaSink::new(&c, &crate::egress::Egress::unrestricted())
        .unwrap()
        .with_timeout(Duration::from_millis(1500));
    for _ in 0..2 {
        let result = tokio::time::timeout(Duration::from_secs(20), sink.write(&batch()))
            .await
            .expect("the write returns within its timeout");
        match result {
            Err(SinkError::Retry(e)) => assert!(e.to_string().contains(&port.to_string()), "{e}"),
            other => panic!("a retry, not {other:?}"),
        }
    }
}
