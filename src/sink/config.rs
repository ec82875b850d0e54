//! What every sink has, whatever its kind: [`SinkConfig`] (a name and a [`SinkKind`]), the reading of the
//! `[[sinks]]` tables, and the one place that dispatches on the kind: each arm hands over to the kind's own
//! `config.rs` (`crate::sink::<kind>::config`).

use std::path::{Path, PathBuf};

use toml::Table;

use super::file::{self, FileConfig};
use super::kafka::{self, KafkaConfig};
use super::nats::{self, NatsConfig};
use super::webhook::{self, WebhookConfig};
use crate::secrets::MasterKey;
use crate::settings::{EnvLookup, Errors, Reader, Secret};

/// A named destination for events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// Unique name, `[a-z0-9_-]+`, referred to by routes.
    pub name: String,
    /// What the sink is.
    pub kind: SinkKind,
}

/// The kinds of sink: TOML `kind = "file"`, `"stdout"`, `"nats"`, `"webhook"` or `"kafka"`; one arm per kind,
/// holding that kind's settings (`crate::sink::<kind>::config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// JSON lines appended to a file, rotated by size.
    File(FileConfig),
    /// JSON lines on standard output.
    Stdout,
    /// Each envelope published to NATS JetStream, acknowledged before the batch counts as written.
    Nats(NatsConfig),
    /// Each envelope (or the whole batch as a JSON array) POSTed to a URL, signed per Standard Webhooks.
    Webhook(WebhookConfig),
    /// Each envelope produced to Kafka by the idempotent producer with `acks=all`, acknowledged before the
    /// batch counts as written. Runs only in a build with the `kafka` feature.
    Kafka(KafkaConfig),
}

impl SinkKind {
    /// The kind's name, as in TOML `kind = "..."`, the API and the store.
    pub fn name(&self) -> &'static str {
        match self {
            SinkKind::File(_) => "file",
            SinkKind::Stdout => "stdout",
            SinkKind::Nats(_) => "nats",
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Kafka(_) => "kafka",
        }
    }

    /// The store's form of the kind's settings, without its secret (see [`SinkKind::secret`]).
    pub fn settings(&self) -> serde_json::Value {
        match self {
            SinkKind::File(f) => f.settings(),
            SinkKind::Stdout => serde_json::json!({}),
            SinkKind::Nats(n) => n.settings(),
            SinkKind::Webhook(w) => w.settings(),
            SinkKind::Kafka(k) => k.settings(),
        }
    }

    /// The text the store keeps sealed for this sink; `None` when the sink has no secret.
    pub fn secret(&self) -> Option<Secret> {
        match self {
            SinkKind::Webhook(w) => Some(w.secret()),
            SinkKind::Kafka(k) => k.secret(),
            SinkKind::File(_) | SinkKind::Stdout | SinkKind::Nats(_) => None,
        }
    }

    /// Reads a stored sink's kind and settings back. A sealed secret is opened with `key`; a sink stored
    /// without one takes the secret of the configuration file's sink of the same name (`file_sinks`).
    pub fn from_settings(
        kind: &str,
        name: &str,
        settings: &serde_json::Value,
        key: Option<&MasterKey>,
        file_sinks: &[SinkConfig],
    ) -> Result<SinkKind, String> {
        Ok(match kind {
            "stdout" => SinkKind::Stdout,
            "file" => SinkKind::File(FileConfig::from_settings(settings)?),
            "nats" => SinkKind::Nats(NatsConfig::from_settings(settings)?),
            "webhook" => SinkKind::Webhook(WebhookConfig::from_settings(
                name, settings, key, file_sinks,
            )?),
            "kafka" => {
                SinkKind::Kafka(KafkaConfig::from_settings(name, settings, key, file_sinks)?)
            }
            other => return Err(format!("kind {other:?} is not one this version runs")),
        })
    }

    /// How a sink that cannot be opened is reported by the admin API: the field at fault and why.
    pub fn open_error(&self, e: &std::io::Error) -> String {
        match self {
            SinkKind::File(_) => format!("path: cannot be opened for writing: {e}"),
            SinkKind::Kafka(_) => format!("properties: {e}"),
            _ => format!("kind: cannot be started: {e}"),
        }
    }
}

/// The associated data that binds a sink's sealed secret to the sink.
pub fn sink_aad(name: &str) -> String {
    format!("switchboard/sink-secret/v1/{name}")
}

/// Checks a template's placeholders: each `{name}` is one of `placeholders`, braces are paired. Returns the
/// template with every placeholder rendered as `x`, for the destination's own checks. The error does not
/// name the field.
pub fn check_template(template: &str, placeholders: &[&str]) -> Result<String, String> {
    if template.is_empty() {
        return Err("must not be empty".into());
    }
    let mut sample = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        sample.push_str(&rest[..open]);
        if rest.as_bytes()[open] == b'}' {
            return Err(format!("{template:?}: a '}}' without its '{{'"));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{template:?}: a '{{' without its '}}'"))?;
        let name = &after[..close];
        if !placeholders.contains(&name) {
            let expected: Vec<String> = placeholders.iter().map(|p| format!("{{{p}}}")).collect();
            return Err(format!(
                "{template:?}: unknown placeholder {{{name}}} (expected {})",
                or_list(&expected)
            ));
        }
        sample.push('x');
        rest = &after[close + 1..];
    }
    sample.push_str(rest);
    Ok(sample)
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Whether `name` is a valid sink name: `[a-z0-9_-]+`.
pub fn is_valid_sink_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

const SINK_KEYS: &[&str] = &[
    "name",
    "kind",
    "path",
    "max_bytes",
    "max_files",
    "url",
    "subject",
    "stream",
    "create_stream",
    "secret",
    "secret_env",
    "secret_file",
    "batch",
    "timeout",
    "allow",
    "brokers",
    "topic",
    "key",
    "create_topic",
    "partitions",
    "replication",
    "properties",
];
const FILE_ONLY_KEYS: &[&str] = file::KEYS;
const NATS_ONLY_KEYS: &[&str] = nats::KEYS;
const WEBHOOK_ONLY_KEYS: &[&str] = webhook::KEYS;
const KAFKA_ONLY_KEYS: &[&str] = kafka::KEYS;
const WEBHOOK_OR_KAFKA: &str = "webhook\" or kind = \"kafka";

/// Reads every `[[sinks]]` table; reports duplicate names and two file sinks writing one file.
pub(crate) fn read_sinks(
    tables: &[(String, &Table)],
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Vec<SinkConfig> {
    let mut out: Vec<SinkConfig> = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for (path, table) in tables {
        let r = Reader::new(table, path, SINK_KEYS, errs);
        let name = r.required_string("name", errs).and_then(|name| {
            if !is_valid_sink_name(&name) {
                errs.push(
                    r.path("name"),
                    format!("{name:?} is not a valid sink name: use a-z, 0-9, _ and -"),
                );
                None
            } else if let Some((_, other)) = names.iter().find(|(n, _)| *n == name) {
                errs.push(
                    r.path("name"),
                    format!("duplicate sink name {name:?} (also at {other})"),
                );
                None
            } else {
                names.push((name.clone(), r.path("name")));
                Some(name)
            }
        });
        let kind = match r.required_string("kind", errs).as_deref() {
            None => None,
            Some("stdout") => {
                only_for(&r, FILE_ONLY_KEYS, "file", errs);
                only_for(&r, NATS_ONLY_KEYS, "nats", errs);
                only_for(&r, &["url"], "nats\" or kind = \"webhook", errs);
                only_for(&r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                only_for(&r, &["timeout"], WEBHOOK_OR_KAFKA, errs);
                only_for(&r, KAFKA_ONLY_KEYS, "kafka", errs);
                Some(SinkKind::Stdout)
            }
            Some("file") => {
                only_for(&r, NATS_ONLY_KEYS, "nats", errs);
                only_for(&r, &["url"], "nats\" or kind = \"webhook", errs);
                only_for(&r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                only_for(&r, &["timeout"], WEBHOOK_OR_KAFKA, errs);
                only_for(&r, KAFKA_ONLY_KEYS, "kafka", errs);
                FileConfig::read(&r, base_dir, &mut files, errs).map(SinkKind::File)
            }
            Some("nats") => {
                only_for(&r, FILE_ONLY_KEYS, "file", errs);
                only_for(&r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                only_for(&r, &["timeout"], WEBHOOK_OR_KAFKA, errs);
                only_for(&r, KAFKA_ONLY_KEYS, "kafka", errs);
                NatsConfig::read(&r, errs).map(SinkKind::Nats)
            }
            Some("webhook") => {
                only_for(&r, FILE_ONLY_KEYS, "file", errs);
                only_for(&r, NATS_ONLY_KEYS, "nats", errs);
                only_for(&r, KAFKA_ONLY_KEYS, "kafka", errs);
                WebhookConfig::read(&r, base_dir, env, errs).map(SinkKind::Webhook)
            }
            Some("kafka") => {
                only_for(&r, FILE_ONLY_KEYS, "file", errs);
                only_for(&r, NATS_ONLY_KEYS, "nats", errs);
                only_for(&r, &["url"], "nats\" or kind = \"webhook", errs);
                only_for(&r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                kafka::read_kafka_sink(&r, base_dir, env, errs).map(SinkKind::Kafka)
            }
            Some(other) => {
                errs.push(
                    r.path("kind"),
                    format!("{other:?} is not one of \"file\", \"stdout\", \"nats\", \"webhook\", \"kafka\""),
                );
                None
            }
        };
        if let (Some(name), Some(kind)) = (name, kind) {
            out.push(SinkConfig { name, kind });
        }
    }
    out
}

fn only_for(r: &Reader<'_>, keys: &[&str], kind: &str, errs: &mut Errors) {
    for key in keys {
        if r.has(key) {
            errs.push(r.path(key), format!("only applies to kind = \"{kind}\""));
        }
    }
}
