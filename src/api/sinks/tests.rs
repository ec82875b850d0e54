//! Tests of the sinks and routes API: bodies checked, views shown.

use chrono::Utc;

use super::*;
use crate::sink::SinkKind;
use crate::sink::file::FileConfig;
use crate::sink::file::{DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES};
use crate::sink::kafka::{
    DEFAULT_KAFKA_TIMEOUT, DEFAULT_KAFKA_TOPIC, KAFKA_SUPPORTED, KafkaConfig, NO_KAFKA,
    split_properties,
};
use crate::sink::nats::NatsConfig;
use crate::sink::nats::{DEFAULT_NATS_SUBJECT, DEFAULT_NATS_URL};

fn file(path: Option<&str>, max_bytes: Option<i64>, max_files: Option<i64>) -> SinkBody {
    SinkBody {
        kind: "file".into(),
        path: path.map(Into::into),
        max_bytes,
        max_files,
        ..SinkBody::default()
    }
}

fn details(e: ApiError) -> Vec<String> {
    assert_eq!(e.code, "invalid");
    e.details
}

#[test]
fn a_sink_is_checked_like_the_configuration_naming_each_field() {
    let d = details(validate_sink("Bad Name", file(Some(" "), Some(0), Some(-1))).unwrap_err());
    assert!(d.iter().any(|x| x.starts_with("name:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("path:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("maxBytes:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("maxFiles:")), "{d:?}");
    let d = details(validate_sink("s", file(None, None, None)).unwrap_err());
    assert_eq!(d, vec!["path: is required for kind \"file\"".to_string()]);
    let stdout_with_path = SinkBody {
        kind: "stdout".into(),
        ..file(Some("x"), None, None)
    };
    let d = details(validate_sink("s", stdout_with_path).unwrap_err());
    assert_eq!(d, vec!["path: only applies to kind \"file\"".to_string()]);
    let d = details(
        validate_sink(
            "s",
            SinkBody {
                kind: "carrier-pigeon".into(),
                ..file(None, None, None)
            },
        )
        .unwrap_err(),
    );
    assert!(d[0].starts_with("kind:"), "{d:?}");

    let ok = validate_sink("a_1-b", file(Some("rel/out.jsonl"), None, None)).unwrap();
    match ok.kind {
        SinkKind::File(FileConfig {
            path,
            max_bytes,
            max_files,
        }) => {
            assert!(path.is_absolute() && path.ends_with("rel/out.jsonl"));
            assert_eq!(
                (max_bytes, max_files),
                (DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES)
            );
        }
        other => panic!("a file sink, not {other:?}"),
    }
}

#[test]
fn a_nats_sink_is_checked_naming_each_field_and_has_defaults() {
    let nats = |subject: Option<&str>, stream: Option<&str>, create: Option<bool>| SinkBody {
        kind: "nats".into(),
        subject: subject.map(Into::into),
        stream: stream.map(Into::into),
        create_stream: create,
        ..SinkBody::default()
    };
    let ok = validate_sink("n", nats(None, None, None)).unwrap();
    assert_eq!(
        ok.kind,
        SinkKind::Nats(NatsConfig {
            url: DEFAULT_NATS_URL.into(),
            subject: DEFAULT_NATS_SUBJECT.into(),
            stream: None,
            create_stream: false,
        })
    );
    let d = details(validate_sink("n", nats(Some("a.{topic}"), None, Some(true))).unwrap_err());
    assert!(d.iter().any(|x| x.starts_with("subject:")), "{d:?}");
    assert!(
        d.iter()
            .any(|x| x.starts_with("stream:") && x.contains("createStream")),
        "{d:?}"
    );
    let d = details(validate_sink("n", nats(Some("a b.{kind}"), Some("x.y"), None)).unwrap_err());
    assert!(d.iter().any(|x| x.starts_with("subject:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("stream:")), "{d:?}");
    let d = details(
        validate_sink(
            "n",
            SinkBody {
                path: Some("x".into()),
                url: Some("http://x".into()),
                ..nats(None, None, None)
            },
        )
        .unwrap_err(),
    );
    assert!(
        d.iter().any(|x| x.starts_with("path: only applies")),
        "{d:?}"
    );
    assert!(d.iter().any(|x| x.starts_with("url:")), "{d:?}");
    let d = details(
        validate_sink(
            "s",
            SinkBody {
                kind: "stdout".into(),
                ..nats(Some("a"), None, None)
            },
        )
        .unwrap_err(),
    );
    assert_eq!(
        d,
        vec!["subject: only applies to kind \"nats\"".to_string()]
    );
}

#[test]
fn a_kafka_sink_is_checked_naming_each_field_and_has_defaults() {
    let kafka = |brokers: Option<Vec<&str>>| SinkBody {
        kind: "kafka".into(),
        brokers: brokers.map(|b| b.into_iter().map(Into::into).collect()),
        ..SinkBody::default()
    };
    let result = validate_sink("k", kafka(Some(vec!["127.0.0.1:19092"])));
    if !KAFKA_SUPPORTED {
        let d = details(result.unwrap_err());
        assert_eq!(d, vec![format!("kind: {NO_KAFKA}")]);
        return;
    }
    let SinkKind::Kafka(k) = result.unwrap().kind else {
        panic!("a Kafka sink");
    };
    assert_eq!(k.topic, DEFAULT_KAFKA_TOPIC);
    assert_eq!(k.timeout, DEFAULT_KAFKA_TIMEOUT);
    assert_eq!(k.key, None);
    let d = details(validate_sink("k", kafka(None)).unwrap_err());
    assert_eq!(
        d,
        vec!["brokers: is required for kind \"kafka\"".to_string()]
    );
    let mut properties = std::collections::BTreeMap::new();
    properties.insert("acks".to_string(), "1".to_string());
    properties.insert("sasl.password".to_string(), "".to_string());
    let body = SinkBody {
        topic: Some("a b".into()),
        key: Some("{nope}".into()),
        partitions: Some(3),
        timeout_ms: Some(0),
        url: Some("http://x".into()),
        subject: Some("x".into()),
        properties: Some(properties),
        ..kafka(Some(vec!["nohost"]))
    };
    let d = details(validate_sink("k", body).unwrap_err());
    for field in [
        "brokers[0]:",
        "topic:",
        "key:",
        "partitions: only applies when createTopic",
        "timeoutMs:",
        "url:",
        "subject: only applies to kind \"nats\"",
        "properties.acks:",
        "properties.sasl.password: must not be empty",
    ] {
        assert!(d.iter().any(|x| x.starts_with(field)), "{field} in {d:?}");
    }
    let d = details(
        validate_sink(
            "s",
            SinkBody {
                kind: "stdout".into(),
                ..kafka(Some(vec!["h:1"]))
            },
        )
        .unwrap_err(),
    );
    assert_eq!(
        d,
        vec!["brokers: only applies to kind \"kafka\"".to_string()]
    );
}

#[test]
fn a_kafka_sink_shows_its_secret_properties_as_set() {
    let mut properties = std::collections::BTreeMap::new();
    properties.insert("sasl.username".to_string(), "sb".to_string());
    properties.insert("sasl.password".to_string(), "kafka-pass-123".to_string());
    let (properties, secret_properties) = split_properties(properties);
    let view = SinkView::from(SinkEntry {
        config: SinkConfig {
            name: "k".into(),
            kind: SinkKind::Kafka(KafkaConfig {
                brokers: vec!["h:1".into()],
                topic: DEFAULT_KAFKA_TOPIC.into(),
                key: None,
                create_topic: false,
                partitions: None,
                replication: None,
                timeout: DEFAULT_KAFKA_TIMEOUT,
                properties,
                secret_properties,
            }),
        },
        updated_at: Utc::now(),
        sent: 0,
        queued: 0,
        dead: 0,
        spool_bytes: 0,
        spool_max_bytes: 0,
        spooled: 0,
        spool_full: false,
        spool_full_total: 0,
    });
    let shown = serde_json::to_value(&view).unwrap();
    assert_eq!(shown["properties"]["sasl.password"], "set");
    assert_eq!(shown["properties"]["sasl.username"], "sb");
    assert_eq!(shown["timeoutMs"], 30000);
    assert!(shown.get("key").is_none(), "the default key");
    assert!(!shown.to_string().contains("kafka-pass-123"), "{shown}");
}

#[test]
fn a_route_is_checked_naming_each_field_and_defaults_to_everything() {
    let body = RouteBody {
        tenants: Some(vec!["acme".into(), "Not A Tenant".into()]),
        sinks: vec![],
        topics: Some(vec!["v2.users.*".into(), "has space".into(), "".into()]),
        changes_only: false,
    };
    let d = details(validate_route("Bad!", body).unwrap_err());
    for field in ["id:", "tenants[1]:", "sinks:", "topics[1]:", "topics[2]:"] {
        assert!(d.iter().any(|x| x.starts_with(field)), "{field} in {d:?}");
    }
    let route = validate_route(
        "r",
        RouteBody {
            tenants: None,
            sinks: vec!["file".into()],
            topics: None,
            changes_only: true,
        },
    )
    .unwrap();
    assert_eq!(route.tenants, vec!["*"]);
    assert_eq!(route.topics, vec!["*"]);
    assert!(route.changes_only);
}
