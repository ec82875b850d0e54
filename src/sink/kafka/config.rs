//! A Kafka sink's settings (`kind = "kafka"`): one type that is the configuration file's table, the admin
//! API's body and view and the store's settings (see `crate::sink::form`), and their checks. The writer itself
//! (`sink.rs`) is built only with the `kafka` feature; these settings are read in every build so that a build
//! without it can say why it refuses them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secrets::Sealed;
use crate::settings::{EnvLookup, Errors, Reader, Secret};
use crate::sink::config::{SinkKind, check_template, sink_aad};
use crate::sink::form::{
    Context, Fault, KindSettings, Stored, as_millis, duration_key_to_millis, truncate,
};

pub use super::properties::{KAFKA_FIXED_PROPERTIES, Properties, is_secret_property};
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

/// Each envelope produced to Kafka by the idempotent producer with `acks=all`, acknowledged before the batch
/// counts as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaConfig {
    /// The bootstrap brokers, `host:port`; at least one. A configuration file may also write them as one
    /// comma-separated string.
    pub brokers: Vec<String>,
    /// Topic template with `{tenant}`, `{kind}` and `{family}`; default `switchboard.{tenant}`.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Key template with `{tenant}`, `{kind}`, `{family}`, `{entity}` and `{topic}`. Absent: the tenant and
    /// the topic's entity id (`acme/<user id>`), or the tenant alone when the topic has no id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Create each topic the template renders when it does not exist. Default false.
    #[serde(default)]
    pub create_topic: bool,
    /// Partitions of a created topic (with `createTopic`). Absent: the broker's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Replication factor of a created topic (with `createTopic`). Absent: the broker's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<i32>,
    /// How long a batch may wait for its acknowledgements before it fails and is sent again, in milliseconds
    /// (default 30000). A configuration file writes `timeout = "30s"`.
    #[serde(rename = "timeoutMs", default = "default_timeout", with = "as_millis")]
    #[schema(value_type = u64)]
    pub timeout: Duration,
    /// Other librdkafka properties, passed through (`security.protocol`, `sasl.*`, `ssl.*`...). Secret ones
    /// (passwords, client secrets, `ssl.key.pem`) are write-only: stored sealed by the master key, shown as
    /// `"set"`. `enable.idempotence`, `acks` and the timeouts are the sink's own.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>)]
    pub properties: Properties,
}

fn default_topic() -> String {
    DEFAULT_KAFKA_TOPIC.to_string()
}

fn default_timeout() -> Duration {
    DEFAULT_KAFKA_TIMEOUT
}

impl KafkaConfig {
    /// The text sealed in the store: the secret properties as one JSON object; `None` when there are none.
    pub fn secret(&self) -> Option<Secret> {
        if self.properties.secret.is_empty() {
            return None;
        }
        let values: BTreeMap<&str, &str> = self
            .properties
            .secret
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose()))
            .collect();
        Some(Secret::new(
            serde_json::to_string(&values).unwrap_or_default(),
        ))
    }
}

impl KindSettings for KafkaConfig {
    const KIND: &'static str = "kafka";
    const FIELDS: &'static [&'static str] = &[
        "brokers",
        "topic",
        "key",
        "createTopic",
        "partitions",
        "replication",
        "timeoutMs",
        "properties",
    ];
    const REQUIRED: &'static [(&'static str, &'static str)] = &[("brokers", r#"["required:1"]"#)];
    const FILE_NAMES: &'static [(&'static str, &'static str)] = &[("timeoutMs", "timeout")];

    /// Brokers may be one comma-separated string; a property's value may be a number, true or false, or
    /// `{ env = "VAR" }` / `{ file = "path" }`; the timeout is text.
    fn from_file(
        fields: &mut Map<String, Value>,
        r: &Reader<'_>,
        base_dir: &Path,
        env: EnvLookup<'_>,
        errs: &mut Errors,
    ) {
        if let Some(Value::String(list)) = fields.get("brokers") {
            let brokers: Vec<Value> = list
                .split(',')
                .map(|b| Value::String(b.trim().to_string()))
                .collect();
            fields.insert("brokers".into(), Value::Array(brokers));
        }
        fields.remove("timeoutMs");
        duration_key_to_millis(fields, r, "timeout", "timeoutMs", errs);
        if fields.remove("properties").is_some()
            && let Some(table) = r.table("properties", errs)
        {
            let mut values = Map::new();
            for (name, value) in table {
                let path = format!("{}.{name:?}", r.path("properties"));
                if let Some(v) = property_value(&path, value, base_dir, env, errs) {
                    values.insert(name.clone(), Value::String(v));
                }
            }
            fields.insert("properties".into(), Value::Object(values));
        }
    }

    /// The secret properties are stored sealed together, as one JSON object; stored without a master key,
    /// they come from the configuration file's sink of the same name. (Versions before this one also listed
    /// their names apart, in `secretProperties`.)
    fn from_store(fields: &mut Map<String, Value>, stored: &Stored<'_>) -> Result<(), String> {
        if !KAFKA_SUPPORTED {
            return Err(NO_KAFKA.into());
        }
        let listed = fields.remove("secretProperties");
        let secrets: BTreeMap<String, String> = match fields.remove("secret") {
            Some(Value::String(text)) => {
                let key = stored
                    .key
                    .ok_or("settings.secret: sealed, but no master key is set to open it")?;
                let sealed =
                    Sealed::from_text(&text).map_err(|e| format!("settings.secret: {e}"))?;
                let opened = key
                    .open(&sealed, &sink_aad(stored.name))
                    .map_err(|e| format!("settings.secret: {e}"))?;
                serde_json::from_str(opened.expose())
                    .map_err(|_| "settings.secret: not the secret properties of a Kafka sink")?
            }
            _ => {
                let shown = fields
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| p.keys().any(|n| is_secret_property(n)));
                let listed = listed
                    .as_ref()
                    .and_then(Value::as_array)
                    .is_some_and(|l| !l.is_empty());
                if shown || listed {
                    stored
                        .file_sinks
                        .iter()
                        .find_map(|f| match &f.kind {
                            SinkKind::Kafka(k) if f.name == stored.name => Some(
                                k.properties
                                    .secret
                                    .iter()
                                    .map(|(n, v)| (n.clone(), v.expose().to_string()))
                                    .collect(),
                            ),
                            _ => None,
                        })
                        .ok_or("settings.secret: not stored, and the configuration file has no Kafka sink of this name to take the secret properties from")?
                } else {
                    BTreeMap::new()
                }
            }
        };
        let properties = fields
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = properties {
            properties.retain(|name, _| !is_secret_property(name));
            for (name, value) in secrets {
                properties.insert(name, Value::String(value));
            }
        }
        Ok(())
    }

    fn check(&mut self, _cx: &Context<'_>) -> Vec<Fault> {
        let mut faults = Vec::new();
        if !KAFKA_SUPPORTED {
            faults.push(("kind".to_string(), NO_KAFKA.to_string()));
        }
        for b in &mut self.brokers {
            *b = b.trim().to_string();
        }
        for (field, e) in check_kafka(self) {
            faults.push((field, truncate(&e)));
        }
        faults
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

/// Checks the Kafka settings together; each error is `(field, message)` in the API's words
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
            out.push((field.into(), "only applies when createTopic is true".into()));
        }
    }
    if config.timeout.is_zero() {
        out.push(("timeoutMs".into(), "must be greater than zero".into()));
    }
    let names = config
        .properties
        .plain
        .keys()
        .chain(config.properties.secret.keys());
    for name in names {
        if let Err(e) = check_kafka_property(name) {
            out.push((format!("properties.{name}"), e));
        }
    }
    for (name, value) in &config.properties.secret {
        if value.expose().is_empty() {
            out.push((format!("properties.{name}"), "must not be empty".into()));
        }
    }
    out
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
