//! Tests of the sinks and routes API: bodies checked, views shown.

use chrono::Utc;

use super::*;
use crate::sink::SinkKind;
use crate::sink::file::FileConfig;
use crate::sink::file::{DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES};
use crate::sink::kafka::{
    DEFAULT_KAFKA_TIMEOUT, DEFAULT_KAFKA_TOPIC, KAFKA_SUPPORTED, KafkaConfig, NO_KAFKA, Properties,
};
use crate::sink::nats::NatsConfig;
use crate::sink::nats::{DEFAULT_NATS_SUBJECT, DEFAULT_NATS_URL};

fn body(fields: serde_json::Value) -> SinkBody {
    match fields {
        serde_json::Value::Object(fields) => SinkBody(fields),
        other => panic!("a body is an object, not {other}"),
    }
}

fn file(path: Option<&str>, max_bytes: Option<i64>, max_files: Option<i64>) -> serde_json::Value {
    let mut b = serde_json::json!({"kind": "file"});
    if let Some(path) = path {
        b["path"] = path.into();
    }
    if let Some(n) = max_bytes {
        b["maxBytes"] = n.into();
    }
    if let Some(n) = max_files {
        b["maxFiles"] = n.into();
    }
    b
}

/// `base` with `fields` written over it.
fn with(mut base: serde_json::Value, fields: serde_json::Value) -> SinkBody {
    for (k, v) in fields.as_object().unwrap() {
        base[k] = v.clone();
    }
    body(base)
}

fn details(e: ApiError) -> Vec<String> {
    assert_eq!(e.code, "invalid");
    e.details
}

#[test]
fn a_sink_is_checked_like_the_configuration_naming_each_field() {
    let d =
        details(validate_sink("Bad Name", body(file(Some(" "), Some(0), Some(-1)))).unwrap_err());
    assert!(d.iter().any(|x| x.starts_with("name:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("path:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("maxBytes:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("maxFiles:")), "{d:?}");
    let d = details(validate_sink("s", body(file(None, None, None))).unwrap_err());
    assert_eq!(d, vec!["path: is required for kind \"file\"".to_string()]);
    let stdout_with_path = with(
        file(Some("x"), None, None),
        serde_json::json!({"kind": "stdout"}),
    );
    let d = details(validate_sink("s", stdout_with_path).unwrap_err());
    assert_eq!(d, vec!["path: only applies to kind \"file\"".to_string()]);
    let d = details(
        validate_sink(
            "s",
            with(
                file(None, None, None),
                serde_json::json!({"kind": "carrier-pigeon"}),
            ),
        )
        .unwrap_err(),
    );
    assert!(d[0].starts_with("kind:"), "{d:?}");
    let d = details(
        validate_sink(
            "s",
            with(
                file(Some("x"), None, None),
                serde_json::json!({"format": "json"}),
            ),
        )
        .unwrap_err(),
    );
    assert_eq!(d, vec!["format: is not a field of a sink".to_string()]);
    // A field written as null is one not written: its default, and no field of another kind.
    let nulls = with(
        file(Some("x"), None, None),
        serde_json::json!({"maxBytes": null, "subject": null}),
    );
    let SinkKind::File(f) = validate_sink("s", nulls).unwrap().kind else {
        panic!("a file sink");
    };
    assert_eq!(f.max_bytes, DEFAULT_MAX_BYTES);

    let ok = validate_sink("a_1-b", body(file(Some("rel/out.jsonl"), None, None))).unwrap();
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
    let nats = |subject: Option<&str>, stream: Option<&str>, create: Option<bool>| {
        let mut b = serde_json::json!({"kind": "nats"});
        if let Some(subject) = subject {
            b["subject"] = subject.into();
        }
        if let Some(stream) = stream {
            b["stream"] = stream.into();
        }
        if let Some(create) = create {
            b["createStream"] = create.into();
        }
        b
    };
    let ok = validate_sink("n", body(nats(None, None, None))).unwrap();
    assert_eq!(
        ok.kind,
        SinkKind::Nats(NatsConfig {
            url: DEFAULT_NATS_URL.into(),
            subject: DEFAULT_NATS_SUBJECT.into(),
            stream: None,
            create_stream: false,
        })
    );
    let d =
        details(validate_sink("n", body(nats(Some("a.{topic}"), None, Some(true)))).unwrap_err());
    assert!(d.iter().any(|x| x.starts_with("subject:")), "{d:?}");
    assert!(
        d.iter()
            .any(|x| x.starts_with("stream:") && x.contains("createStream")),
        "{d:?}"
    );
    let d =
        details(validate_sink("n", body(nats(Some("a b.{kind}"), Some("x.y"), None))).unwrap_err());
    assert!(d.iter().any(|x| x.starts_with("subject:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("stream:")), "{d:?}");
    let d = details(
        validate_sink(
            "n",
            with(
                nats(None, None, None),
                serde_json::json!({"path": "x", "url": "http://x"}),
            ),
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
            with(
                nats(Some("a"), None, None),
                serde_json::json!({"kind": "stdout"}),
            ),
        )
        .unwrap_err(),
    );
    assert_eq!(
        d,
        vec!["subject: only applies to kind \"nats\"".to_string()]
    );
    // A field of the wrong type is named, and the others are still checked.
    let d = details(
        validate_sink(
            "n",
            with(
                nats(Some("a b"), None, None),
                serde_json::json!({"createStream": "yes"}),
            ),
        )
        .unwrap_err(),
    );
    assert!(d.iter().any(|x| x.starts_with("createStream:")), "{d:?}");
    assert!(d.iter().any(|x| x.starts_with("subject:")), "{d:?}");
}

#[test]
fn a_kafka_sink_is_checked_naming_each_field_and_has_defaults() {
    let kafka = |brokers: Option<Vec<&str>>| {
        let mut b = serde_json::json!({"kind": "kafka"});
        if let Some(brokers) = brokers {
            b["brokers"] = brokers.into();
        }
        b
    };
    let result = validate_sink("k", body(kafka(Some(vec!["127.0.0.1:19092"]))));
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
    let d = details(validate_sink("k", body(kafka(None))).unwrap_err());
    assert_eq!(
        d,
        vec!["brokers: is required for kind \"kafka\"".to_string()]
    );
    let bad = with(
        kafka(Some(vec!["nohost"])),
        serde_json::json!({
            "topic": "a b",
            "key": "{nope}",
            "partitions": 3,
            "timeoutMs": 0,
            "url": "http://x",
            "subject": "x",
            "properties": {"acks": "1", "sasl.password": ""},
        }),
    );
    let d = details(validate_sink("k", bad).unwrap_err());
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
            with(
                kafka(Some(vec!["h:1"])),
                serde_json::json!({"kind": "stdout"}),
            ),
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
                properties: Properties::new(properties),
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
    assert_eq!(shown["kind"], "kafka");
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
        filter: None,
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
            filter: None,
        },
    )
    .unwrap();
    assert_eq!(route.tenants, vec!["*"]);
    assert_eq!(route.topics, vec!["*"]);
    assert!(route.changes_only);
}

#[test]
fn a_view_written_back_as_a_body_is_the_same_sink() {
    // One type per kind is the body, the view and the stored settings: what is shown can be written back.
    let bodies = [
        serde_json::json!({"kind": "stdout"}),
        serde_json::json!({"kind": "file", "path": "/var/lib/sb/out.jsonl", "maxFiles": 2}),
        serde_json::json!({"kind": "nats", "subject": "sb.{tenant}", "stream": "SB", "createStream": true}),
        serde_json::json!({"kind": "log", "dir": "logs/replay", "maxAge": "90m"}),
        serde_json::json!({"kind": "kafka", "brokers": ["k:9092"], "createTopic": true, "partitions": 3,
            "properties": {"linger.ms": "5"}}),
    ];
    for written in bodies {
        if written["kind"] == "kafka" && !KAFKA_SUPPORTED {
            continue;
        }
        let config = validate_sink("s", body(written.clone())).unwrap();
        let view = serde_json::to_value(SinkView::new(config.clone(), Utc::now(), 0, 0)).unwrap();
        let mut shown = view.as_object().unwrap().clone();
        for counter in [
            "name",
            "updatedAt",
            "sent",
            "queued",
            "deadLetters",
            "spoolBytes",
            "spoolFull",
        ] {
            shown.remove(counter);
        }
        assert_eq!(
            validate_sink("s", SinkBody(shown.clone())).unwrap(),
            config,
            "{shown:?}"
        );
        let mut stored = config.kind.settings();
        stored["kind"] = written["kind"].clone();
        assert_eq!(
            serde_json::Value::Object(shown),
            stored,
            "the store keeps what is shown"
        );
    }
}

#[test]
fn a_malformed_route_filter_is_refused_naming_the_route_quoting_it_with_its_position() {
    let body = |filter: &str| RouteBody {
        tenants: None,
        sinks: vec!["file".into()],
        topics: None,
        changes_only: false,
        filter: Some(filter.into()),
    };
    let e =
        validate_route("online", body("body.presenceDefinition.systemPresence == ")).unwrap_err();
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    let detail = "filter: \"body.presenceDefinition.systemPresence == \" is not a valid CEL expression: line 1, column 43: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}";
    assert_eq!(
        e.message,
        format!("the route \"online\" is not valid: {detail}")
    );
    assert_eq!(details(e), vec![detail.to_string()]);

    let route = validate_route("online", body("entity != ''")).unwrap();
    assert_eq!(route.filter.unwrap().source(), "entity != ''");
}
