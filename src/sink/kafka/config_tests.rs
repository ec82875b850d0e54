//! Tests of the Kafka sink's settings: defaults, properties (plain, secret, from the environment), the
//! properties the sink keeps for itself, and every error naming its field.

use super::*;
use crate::config::tests::parse;
use crate::config::{FieldError, SinkKind};

fn errors(text: &str) -> Vec<FieldError> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.errors,
    }
}

fn has(errs: &[FieldError], path: &str, says: &str) -> bool {
    errs.iter()
        .any(|e| e.path == path && e.message.contains(says))
}

#[test]
fn kafka_sink_defaults() {
    // A broker on loopback is reachable only when allow-listed.
    let c = parse(
        "[egress]\nallow = [\"127.0.0.1\"]\n[[sinks]]\nname = \"k\"\nkind = \"kafka\"\nbrokers = [\"127.0.0.1:9092\"]\n",
    );
    if !KAFKA_SUPPORTED {
        let errs = c.unwrap_err().errors;
        assert!(has(&errs, "sinks[0].kind", NO_KAFKA), "{errs:?}");
        return;
    }
    assert_eq!(
        c.unwrap().sinks[0].kind,
        SinkKind::Kafka(KafkaConfig {
            brokers: vec!["127.0.0.1:9092".into()],
            topic: "switchboard.{tenant}".into(),
            key: None,
            create_topic: false,
            partitions: None,
            replication: None,
            timeout: DEFAULT_KAFKA_TIMEOUT,
            properties: Properties::default(),
        })
    );
}

#[cfg(feature = "kafka")]
#[test]
fn kafka_sink_settings_and_properties() {
    let c = parse(
        r#"
[[sinks]]
name = "k"
kind = "kafka"
brokers = "k1.internal:9092, k2.internal:9093"
topic = "genesys.{tenant}.{family}"
key = "{tenant}:{entity}"
create_topic = true
partitions = 12
replication = 3
timeout = "5s"
[sinks.properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "switchboard"
"sasl.password" = { env = "SB_TEST_FAKE_SECRET" }
"linger.ms" = 20
"ssl.endpoint.identification.algorithm" = "https"
"enable.ssl.certificate.verification" = true
"#,
    )
    .unwrap();
    let SinkKind::Kafka(k) = &c.sinks[0].kind else {
        panic!("a Kafka sink: {:?}", c.sinks[0]);
    };
    assert_eq!(k.brokers, ["k1.internal:9092", "k2.internal:9093"]);
    assert_eq!(k.topic, "genesys.{tenant}.{family}");
    assert_eq!(k.key.as_deref(), Some("{tenant}:{entity}"));
    assert!(k.create_topic);
    assert_eq!((k.partitions, k.replication), (Some(12), Some(3)));
    assert_eq!(k.timeout, std::time::Duration::from_secs(5));
    assert_eq!(k.properties.plain["security.protocol"], "SASL_SSL");
    assert_eq!(k.properties.plain["linger.ms"], "20");
    assert_eq!(
        k.properties.plain["enable.ssl.certificate.verification"],
        "true"
    );
    assert!(!k.properties.plain.contains_key("sasl.password"));
    assert_eq!(k.properties.secret["sasl.password"].expose(), "from-env");
    assert!(
        !format!("{c:?}").contains("from-env"),
        "a secret property never prints"
    );
}

#[test]
fn kafka_sink_errors_name_the_field() {
    let errs = errors(
        r#"
[[sinks]]
name = "k"
kind = "kafka"
brokers = ["no-port", "h:0"]
topic = "a b.{tenant}"
key = "{tenant}.{nope}"
partitions = 0
timeout = "0s"
url = "http://x"
subject = "x"
[sinks.properties]
"enable.idempotence" = false
"acks" = 1
"message.timeout.ms" = 1000
"Bad Name" = "x"
"sasl.password" = { env = "SB_TEST_FAKE_UNSET" }
"ssl.key.pem" = { file = "missing.pem" }
"sasl.username" = ["x"]
"client.rack" = { nope = 1 }
"plugin.library.paths" = "/tmp/evil.so"
[[sinks]]
name = "m"
kind = "kafka"
[[sinks]]
name = "s"
kind = "stdout"
brokers = ["x:1"]
timeout = "1s"
"#,
    );
    for (path, says) in [
        ("sinks[0].brokers[0]", "host:port"),
        ("sinks[0].brokers[1]", "port"),
        ("sinks[0].topic", "letters, digits"),
        ("sinks[0].key", "unknown placeholder {nope}"),
        ("sinks[0].partitions", "at least 1"),
        ("sinks[0].partitions", "create_topic"),
        ("sinks[0].timeout", "greater than zero"),
        ("sinks[0].url", "only applies"),
        ("sinks[0].subject", "only applies to kind = \"nats\""),
        ("sinks[0].properties.\"enable.idempotence\"", "always true"),
        ("sinks[0].properties.\"acks\"", "always \"all\""),
        ("sinks[0].properties.\"message.timeout.ms\"", "timeout"),
        (
            "sinks[0].properties.\"Bad Name\"",
            "not a librdkafka property",
        ),
        (
            "sinks[0].properties.\"sasl.password\"",
            "SB_TEST_FAKE_UNSET is not set",
        ),
        ("sinks[0].properties.\"ssl.key.pem\"", "cannot read"),
        ("sinks[0].properties.\"sasl.username\"", "found array"),
        ("sinks[0].properties.\"client.rack\"", "{ env"),
        (
            "sinks[0].properties.\"plugin.library.paths\"",
            "loads libraries",
        ),
        ("sinks[1].brokers", "is required"),
        ("sinks[2].brokers", "only applies to kind = \"kafka\""),
        ("sinks[2].timeout", "\"webhook\" or kind = \"kafka\""),
    ] {
        assert!(has(&errs, path, says), "{path}: {says} in {errs:#?}");
    }
}

#[test]
fn templates_brokers_and_secret_properties_are_checked() {
    assert_eq!(check_kafka_topic("switchboard.{tenant}"), Ok(()));
    assert_eq!(check_kafka_topic("sb_{tenant}-{kind}.{family}"), Ok(()));
    for (bad, says) in [
        ("", "empty"),
        ("a.{entity}", "unknown placeholder {entity}"),
        ("a/{tenant}", "letters, digits"),
        ("..", "not a Kafka topic"),
        ("a.{tenant", "without its '}'"),
    ] {
        let e = check_kafka_topic(bad).expect_err(bad);
        assert!(e.contains(says), "{bad:?}: {e}");
    }
    assert!(check_kafka_topic(&"x".repeat(250)).is_err());
    assert_eq!(
        check_kafka_key("{tenant}/{entity}|{topic}.{kind}.{family}"),
        Ok(())
    );
    assert!(check_kafka_key("{id}").is_err());
    for ok in ["127.0.0.1:9092", "kafka-0.kafka.svc:19092", "[::1]:9092"] {
        assert_eq!(check_kafka_broker(ok), Ok(()), "{ok}");
    }
    for bad in ["127.0.0.1", ":9092", "h:99999", "a b:1", "h:x"] {
        assert!(check_kafka_broker(bad).is_err(), "{bad}");
    }
    for secret in [
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "sasl.oauthbearer.client.secret",
        "ssl.key.pem",
        "sasl.oauthbearer.config",
    ] {
        assert!(is_secret_property(secret), "{secret}");
    }
    for plain in [
        "sasl.username",
        "security.protocol",
        "ssl.ca.location",
        "ssl.certificate.pem",
    ] {
        assert!(!is_secret_property(plain), "{plain}");
    }
}

#[test]
fn brokers_on_refused_addresses_are_field_errors() {
    let errs = parse("[[sinks]]\nname = \"k\"\nkind = \"kafka\"\nbrokers = [\"10.1.2.3:9092\"]\n")
        .unwrap_err()
        .errors;
    assert!(
        errs.iter().any(|e| e.path == "sinks[0].brokers"
            && (e.message.contains("[egress] allow") || e.message.contains(NO_KAFKA))),
        "{errs:?}"
    );
}
