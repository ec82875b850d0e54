//! A Kafka sink's settings (`kind = "kafka"`) and their checks, shared by the configuration file, the admin
//! API and the store. The writer itself (`sink.rs`) is built only with the `kafka` feature; these settings
//! are read in every build so that a build without it can say why it refuses them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use toml::Value;

use crate::secrets::{MasterKey, Sealed};
use crate::settings::{EnvLookup, Errors, Reader, Secret};
use crate::sink::body::{Property, SinkBody, SinkView, truncate};
use crate::sink::config::{SinkConfig, SinkKind, check_template, sink_aad};

pub use super::properties::{KAFKA_FIXED_PROPERTIES, is_secret_property, split_properties};
use super::properties::{check_kafka_property, property_value};

/// What a build without the `kafka` feature says of a Kafka sink.
pub const NO_KAFKA: &str = "this build has no Kafka support: build with --features kafka";

/// Whether this build runs Kafka sinks.
pub const KAFKA_SUPPORTED: bool = cfg!(feature = "kafka");

/// Default topic template of a Kafka sink.
pub const DEFAULT_KAFKA_TOPIC: &str = "switchboard.{tenant}";

/// Default time a batch may wait for the broker's acknowledgements before it is sent again: 30 s.
pub const DEFAULT_KAFKA_TIMEOUT: Duration = Duration::from_secs(30);

/// The placeholders a Kafka topic template may use.
pub const KAFKA_TOPIC_PLACEHOLDERS: &[&str] = &["tenant", "kind", "family"];

/// The placeholders a Kafka key template may use.
pub const KAFKA_KEY_PLACEHOLDERS: &[&str] = &["tenant", "kind", "family", "entity", "topic"];

/// The settings of a Kafka sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// The bootstrap brokers, `host:port`; at least one.
    pub brokers: Vec<String>,
    /// Topic template with `{tenant}`, `{kind}` and `{family}`; default `switchboard.{tenant}`.
    pub topic: String,
    /// Key template with `{tenant}`, `{kind}`, `{family}`, `{entity}` and `{topic}`. `None`: the tenant and
    /// the topic's entity id (`acme/<user id>`), or the tenant alone when the topic has no id.
    pub key: Option<String>,
    /// Create each topic the template renders when it does not exist.
    pub create_topic: bool,
    /// Partitions of a created topic; `None`: the broker's default.
    pub partitions: Option<i32>,
    /// Replication factor of a created topic; `None`: the broker's default.
    pub replication: Option<i32>,
    /// How long a batch may wait for its acknowledgements before it fails and is sent again.
    pub timeout: Duration,
    /// Other librdkafka properties, passed through as they are (`security.protocol`, `ssl.ca.location`...).
    pub properties: BTreeMap<String, String>,
    /// Properties that hold secrets (see [`is_secret_property`]): never shown, sealed in the store.
    pub secret_properties: BTreeMap<String, Secret>,
}

/// The TOML keys of a Kafka sink alone (it shares `timeout` with the webhook sink).
pub const KEYS: &[&str] = &[
    "brokers",
    "topic",
    "key",
    "create_topic",
    "partitions",
    "replication",
    "properties",
];

impl KafkaConfig {
    /// The store's form: `{"brokers","topic","key","createTopic","partitions","replication","timeoutMs",
    /// "properties","secretProperties"}`: the names of its secret properties only; their values are added
    /// sealed by the registry (see [`KafkaConfig::secret`]).
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "brokers": self.brokers,
            "topic": self.topic,
            "key": self.key,
            "createTopic": self.create_topic,
            "partitions": self.partitions,
            "replication": self.replication,
            "timeoutMs": u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            "properties": self.properties,
            "secretProperties": self.secret_properties.keys().collect::<Vec<_>>(),
        })
    }

    /// The text sealed in the store: the secret properties as one JSON object; `None` when there are none.
    pub fn secret(&self) -> Option<Secret> {
        if self.secret_properties.is_empty() {
            return None;
        }
        let values: BTreeMap<&str, &str> = self
            .secret_properties
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose()))
            .collect();
        Some(Secret::new(
            serde_json::to_string(&values).unwrap_or_default(),
        ))
    }

    /// Reads the store's form back. Its secret properties are opened with `key` (sealed together, as one JSON
    /// object); stored without a key, they come from the configuration file's sink of the same name.
    pub fn from_settings(
        name: &str,
        s: &serde_json::Value,
        key: Option<&MasterKey>,
        file_sinks: &[SinkConfig],
    ) -> Result<KafkaConfig, String> {
        if !KAFKA_SUPPORTED {
            return Err(NO_KAFKA.into());
        }
        let brokers: Vec<String> = serde_json::from_value(s["brokers"].clone())
            .map_err(|_| "settings.brokers: a list of strings is required")?;
        let topic = s["topic"]
            .as_str()
            .ok_or("settings.topic: a string is required")?
            .to_string();
        let key_template = match &s["key"] {
            serde_json::Value::Null => None,
            serde_json::Value::String(k) => Some(k.clone()),
            _ => return Err("settings.key: a string or null is required".into()),
        };
        let count = |field: &str| match &s[field] {
            serde_json::Value::Null => Ok(None),
            v => v
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or(format!(
                    "settings.{field}: a whole number or null is required"
                )),
        };
        let timeout = s["timeoutMs"]
            .as_u64()
            .filter(|&n| n >= 1)
            .map(Duration::from_millis)
            .ok_or("settings.timeoutMs: a whole number of at least 1 is required")?;
        let properties = match &s["properties"] {
            serde_json::Value::Null => Default::default(),
            v => serde_json::from_value(v.clone())
                .map_err(|_| "settings.properties: an object of strings is required")?,
        };
        let names: Vec<String> = match &s["secretProperties"] {
            serde_json::Value::Null => Vec::new(),
            v => serde_json::from_value(v.clone())
                .map_err(|_| "settings.secretProperties: a list of strings is required")?,
        };
        let secret_properties = match &s["secret"] {
            serde_json::Value::String(text) => {
                let key =
                    key.ok_or("settings.secret: sealed, but no master key is set to open it")?;
                let sealed =
                    Sealed::from_text(text).map_err(|e| format!("settings.secret: {e}"))?;
                let opened = key
                    .open(&sealed, &sink_aad(name))
                    .map_err(|e| format!("settings.secret: {e}"))?;
                let values: BTreeMap<String, String> = serde_json::from_str(opened.expose())
                    .map_err(|_| "settings.secret: not the secret properties of a Kafka sink")?;
                values
                    .into_iter()
                    .map(|(n, v)| (n, Secret::new(v)))
                    .collect()
            }
            _ if names.is_empty() => Default::default(),
            _ => file_sinks
                .iter()
                .find_map(|f| match &f.kind {
                    SinkKind::Kafka(k) if f.name == name => Some(k.secret_properties.clone()),
                    _ => None,
                })
                .ok_or("settings.secret: not stored, and the configuration file has no Kafka sink of this name to take the secret properties from")?,
        };
        let config = KafkaConfig {
            brokers,
            topic,
            key: key_template,
            create_topic: s["createTopic"].as_bool().unwrap_or(false),
            partitions: count("partitions")?,
            replication: count("replication")?,
            timeout,
            properties,
            secret_properties,
        };
        if let Some((field, e)) = check_kafka(&config).into_iter().next() {
            let field = if field == "create_topic" {
                "createTopic".to_string()
            } else {
                field
            };
            return Err(format!(
                "settings.{field}: {}",
                e.replace("create_topic", "createTopic")
            ));
        }
        Ok(config)
    }

    /// Reads the admin API's body, checked as the configuration file is (every bad field is named in
    /// `details`).
    pub(crate) fn from_body(body: SinkBody, details: &mut Vec<String>) -> Option<KafkaConfig> {
        if !KAFKA_SUPPORTED {
            details.push(format!("kind: {NO_KAFKA}"));
        }
        if body.url.is_some() {
            details.push("url: only applies to kind \"nats\" or \"webhook\"".into());
        }
        // Every field is checked even when one is already wrong, so that all of them are named at once.
        let mut ok = true;
        let mut count = |field: &str, n: Option<i64>| match n.map(i32::try_from) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                details.push(format!("{field}: must be between 1 and {}", i32::MAX));
                ok = false;
                None
            }
        };
        let partitions = count("partitions", body.partitions);
        let replication = count("replication", body.replication);
        let timeout = match body.timeout_ms.map(u64::try_from) {
            None => DEFAULT_KAFKA_TIMEOUT,
            Some(Ok(ms)) if ms >= 1 => Duration::from_millis(ms),
            Some(_) => {
                details.push("timeoutMs: must be at least 1".into());
                ok = false;
                DEFAULT_KAFKA_TIMEOUT
            }
        };
        let brokers = body.brokers.unwrap_or_else(|| {
            details.push("brokers: is required for kind \"kafka\"".into());
            ok = false;
            // A stand-in, so that the other fields are still checked (and the missing brokers said once).
            vec!["required:1".into()]
        });
        let (properties, secret_properties) = split_properties(body.properties.unwrap_or_default());
        let config = KafkaConfig {
            brokers: brokers.iter().map(|b| b.trim().to_string()).collect(),
            topic: body
                .topic
                .unwrap_or_else(|| DEFAULT_KAFKA_TOPIC.to_string()),
            key: body.key,
            create_topic: body.create_topic.unwrap_or(false),
            partitions,
            replication,
            timeout,
            properties,
            secret_properties,
        };
        let errors = check_kafka(&config);
        for (field, e) in &errors {
            let field = match field.as_str() {
                "timeout" => "timeoutMs",
                f => f,
            };
            let e = e.replace("create_topic", "createTopic");
            details.push(format!("{field}: {}", truncate(&e)));
        }
        (ok && errors.is_empty()).then_some(config)
    }

    /// Fills the admin API's view: a secret property shows `"set"`, never its value.
    pub(crate) fn view(self, view: &mut SinkView) {
        view.timeout_ms = Some(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX));
        view.brokers = Some(self.brokers);
        view.topic = Some(self.topic);
        view.key = self.key;
        view.create_topic = Some(self.create_topic);
        view.partitions = self.partitions;
        view.replication = self.replication;
        let mut properties: std::collections::BTreeMap<String, Property> = self
            .properties
            .into_iter()
            .map(|(name, value)| (name, Property::Plain(value)))
            .collect();
        for (name, secret) in self.secret_properties {
            properties.insert(name, Property::Secret(secret));
        }
        view.properties = Some(properties);
    }
}

/// Checks one bootstrap broker: `host:port`.
pub fn check_kafka_broker(broker: &str) -> Result<(), String> {
    let broker = broker.trim();
    let Some((host, port)) = broker.rsplit_once(':') else {
        return Err(format!(
            "{broker:?} is not host:port, such as \"127.0.0.1:9092\""
        ));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '/')
    {
        return Err(format!(
            "{broker:?} is not host:port, such as \"127.0.0.1:9092\""
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{broker:?}: the port must be 1 to 65535")),
    }
}

/// Checks a topic template: known placeholders, and once rendered a legal Kafka topic name (letters,
/// digits, `.`, `_` and `-`, at most 249 characters). Values put in the placeholders are made legal when
/// rendered; this checks the literal text.
pub fn check_kafka_topic(template: &str) -> Result<(), String> {
    let sample = check_template(template, KAFKA_TOPIC_PLACEHOLDERS)?;
    if let Some(c) = sample
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{template:?}: a Kafka topic holds only letters, digits, '.', '_' and '-' (found {c:?})"
        ));
    }
    if sample.len() > 249 {
        return Err(format!(
            "{template:?}: a Kafka topic has at most 249 characters"
        ));
    }
    if sample == "." || sample == ".." {
        return Err(format!("{template:?} is not a Kafka topic name"));
    }
    Ok(())
}

/// Checks a key template: known placeholders.
pub fn check_kafka_key(template: &str) -> Result<(), String> {
    check_template(template, KAFKA_KEY_PLACEHOLDERS).map(|_| ())
}

/// Checks the Kafka settings together; each error is `(field, message)` with the TOML field name
/// (`properties.<name>` for a property).
pub fn check_kafka(config: &KafkaConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if config.brokers.is_empty() {
        out.push(("brokers".into(), "must name at least one broker".into()));
    }
    for (i, b) in config.brokers.iter().enumerate() {
        if let Err(e) = check_kafka_broker(b) {
            out.push((format!("brokers[{i}]"), e));
        }
    }
    if let Err(e) = check_kafka_topic(&config.topic) {
        out.push(("topic".into(), e));
    }
    if let Some(key) = &config.key
        && let Err(e) = check_kafka_key(key)
    {
        out.push(("key".into(), e));
    }
    for (field, n) in [
        ("partitions", config.partitions),
        ("replication", config.replication),
    ] {
        if let Some(n) = n
            && n < 1
        {
            out.push((field.into(), "must be at least 1".into()));
        }
        if n.is_some() && !config.create_topic {
            out.push((
                field.into(),
                "only applies when create_topic is true".into(),
            ));
        }
    }
    if config.timeout.is_zero() {
        out.push(("timeout".into(), "must be greater than zero".into()));
    }
    let names = config
        .properties
        .keys()
        .chain(config.secret_properties.keys());
    for name in names {
        if let Err(e) = check_kafka_property(name) {
            out.push((format!("properties.{name}"), e));
        }
    }
    for (name, value) in &config.secret_properties {
        if value.expose().is_empty() {
            out.push((format!("properties.{name}"), "must not be empty".into()));
        }
    }
    out
}

/// Reads a `kind = "kafka"` table.
pub(crate) fn read_kafka_sink(
    r: &Reader<'_>,
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Option<KafkaConfig> {
    if !KAFKA_SUPPORTED {
        errs.push(r.path("kind"), NO_KAFKA);
    }
    let brokers = match r.raw("brokers") {
        None => {
            errs.push(
                r.path("brokers"),
                "is required (such as [\"127.0.0.1:9092\"])",
            );
            None
        }
        Some(Value::String(s)) => Some(s.split(',').map(|b| b.trim().to_string()).collect()),
        Some(_) => r
            .string_list("brokers", errs)
            .map(|l| l.into_iter().map(|(_, b)| b.trim().to_string()).collect()),
    };
    let topic = r
        .string("topic", errs)
        .unwrap_or_else(|| DEFAULT_KAFKA_TOPIC.to_string());
    let key = r.string("key", errs);
    let create_topic = r.bool("create_topic", false, errs);
    let partitions = r.has("partitions").then(|| r.i32("partitions", 0, errs));
    let replication = r.has("replication").then(|| r.i32("replication", 0, errs));
    let timeout = r.duration("timeout", DEFAULT_KAFKA_TIMEOUT, errs);
    let mut values = Vec::new();
    let mut ok = true;
    if let Some(table) = r.table("properties", errs) {
        for (name, value) in table {
            let path = format!("{}.{name:?}", r.path("properties"));
            match property_value(&path, value, base_dir, env, errs) {
                Some(v) => values.push((name.clone(), v)),
                None => ok = false,
            }
        }
    }
    let (properties, secret_properties) = split_properties(values);
    let config = KafkaConfig {
        brokers: brokers?,
        topic,
        key,
        create_topic,
        partitions,
        replication,
        timeout,
        properties,
        secret_properties,
    };
    for (field, e) in check_kafka(&config) {
        let path = match field.strip_prefix("properties.") {
            Some(name) => format!("{}.{name:?}", r.path("properties")),
            None => r.path(&field),
        };
        errs.push(path, e);
        ok = false;
    }
    ok.then_some(config)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
