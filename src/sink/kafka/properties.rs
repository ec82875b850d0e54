//! A Kafka sink's librdkafka properties: those the sink sets itself (refused), those that hold secrets (sealed,
//! never shown), and how the configuration file gives a value (text, or `{ env }` / `{ file }`).

use std::collections::BTreeMap;
use std::path::Path;

use toml::Value;

use crate::settings::{EnvLookup, Errors, Secret, wrong_type};

/// librdkafka properties the sink sets itself, with the reason given when a configuration sets them.
pub const KAFKA_FIXED_PROPERTIES: &[(&str, &str)] = &[
    (
        "enable.idempotence",
        "is always true: the idempotent producer keeps its own retries from adding duplicates",
    ),
    (
        "acks",
        "is always \"all\": a record counts as written once every in-sync replica has it",
    ),
    (
        "request.required.acks",
        "is always \"all\" (it is acks): a record counts as written once every in-sync replica has it",
    ),
    (
        "message.timeout.ms",
        "is set from the sink's timeout (use timeout), so that librdkafka never drops a record on its own",
    ),
    (
        "delivery.timeout.ms",
        "is set from the sink's timeout (use timeout), so that librdkafka never drops a record on its own",
    ),
    ("bootstrap.servers", "is given by brokers"),
    ("metadata.broker.list", "is given by brokers"),
    (
        "transactional.id",
        "is not supported: the sink uses the idempotent producer without transactions",
    ),
    ("plugin.library.paths", LOADS_CODE),
    ("ssl.engine.location", LOADS_CODE),
    ("ssl.providers", LOADS_CODE),
    ("sasl.kerberos.kinit.cmd", LOADS_CODE),
];

/// Why properties that load libraries or run commands are refused: a sink's settings come through the
/// admin API too, and must not turn into code run by the service.
const LOADS_CODE: &str = "is not allowed: it loads libraries or runs commands in the service";

/// Whether a librdkafka property holds a secret: passwords, client secrets, private keys, the OAUTHBEARER
/// configuration. Such values are sealed in the store, never shown by the API, never logged.
pub fn is_secret_property(name: &str) -> bool {
    name.contains("password")
        || name.contains("secret")
        || name == "ssl.key.pem"
        || name == "ssl_key"
        || name == "sasl.oauthbearer.config"
}

/// Checks a property name: lower-case letters, digits, `.` and `_`, and not one the sink sets itself.
pub fn check_kafka_property(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
    {
        return Err(format!(
            "{:?} is not a librdkafka property name (such as \"security.protocol\")",
            name.chars().take(60).collect::<String>()
        ));
    }
    match KAFKA_FIXED_PROPERTIES.iter().find(|(n, _)| *n == name) {
        Some((_, why)) => Err(format!("cannot be set: {name} {why}")),
        None => Ok(()),
    }
}

/// A Kafka sink's librdkafka properties: plain ones, and secret ones (by [`is_secret_property`]). As JSON, one
/// object of strings; a secret one serialises as `"set"`, never its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    pub plain: BTreeMap<String, String>,
    pub secret: BTreeMap<String, Secret>,
}

impl Properties {
    /// Splits properties into plain ones and secret ones.
    pub fn new(all: impl IntoIterator<Item = (String, String)>) -> Properties {
        let mut properties = Properties::default();
        for (name, value) in all {
            if is_secret_property(&name) {
                properties.secret.insert(name, Secret::new(value));
            } else {
                properties.plain.insert(name, value);
            }
        }
        properties
    }
}

impl serde::Serialize for Properties {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut all: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in &self.plain {
            all.insert(name, value);
        }
        for name in self.secret.keys() {
            all.insert(name, "set");
        }
        let mut map = s.serialize_map(Some(all.len()))?;
        for (name, value) in all {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Properties {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Properties, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(Properties::new)
    }
}

/// A property's value: a string, number or boolean as text, or `{ env = "VAR" }` / `{ file = "path" }` for
/// a value kept out of the file. Messages never show the value.
pub(super) fn property_value(
    path: &str,
    value: &Value,
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Table(t) => {
            let from = match (t.get("env"), t.get("file"), t.len()) {
                (Some(Value::String(var)), None, 1) => Source::Env(var.trim()),
                (None, Some(Value::String(file)), 1) => Source::File(file.trim()),
                _ => {
                    errs.push(
                        path,
                        "a table here is { env = \"VARIABLE\" } or { file = \"path\" }",
                    );
                    return None;
                }
            };
            let text = match from {
                Source::Env(var) => match env(var) {
                    Ok(Some(v)) => v,
                    Ok(None) => {
                        errs.push(path, format!("environment variable {var} is not set"));
                        return None;
                    }
                    Err(()) => {
                        errs.push(
                            path,
                            format!("environment variable {var} is not valid Unicode"),
                        );
                        return None;
                    }
                },
                Source::File(file) => {
                    let file = base_dir.join(file);
                    match std::fs::read_to_string(&file) {
                        Ok(v) => v,
                        // Only the kind of error: never the content, which may be the secret.
                        Err(e) => {
                            errs.push(
                                path,
                                format!("cannot read {}: {}", file.display(), e.kind()),
                            );
                            return None;
                        }
                    }
                }
            };
            let text = text.trim();
            if text.is_empty() {
                errs.push(path, "is empty");
                return None;
            }
            Some(text.to_string())
        }
        other => {
            errs.push(
                path,
                wrong_type(
                    "a string, a number, true or false, or { env = \"VARIABLE\" }",
                    other,
                ),
            );
            None
        }
    }
}

enum Source<'a> {
    Env(&'a str),
    File(&'a str),
}
