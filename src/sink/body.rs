//! A sink in the admin API: [`SinkBody`] as written (`PUT /v1/sinks/{name}`) and [`SinkView`] as shown. Each
//! kind reads its fields of the body and fills its fields of the view in its own `config.rs` (dispatched by
//! [`SinkKind::from_body`] and [`SinkKind::view`]); this file holds the shapes and the checks that a field
//! belongs to the kind.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{SinkConfig, SinkKind, is_valid_sink_name};
use crate::settings::Secret;

/// A sink as written: `{"kind":"stdout"}`, `{"kind":"file","path":...}` with optional limits,
/// `{"kind":"nats","url":...,"subject":...,"stream":...,"createStream":...}` (all optional),
/// `{"kind":"webhook","url":...,"secret":...,"batch":...,"timeoutMs":...,"allow":[...]}`, or
/// `{"kind":"kafka","brokers":[...],"topic":...,"key":...,"createTopic":...,"partitions":...,
/// "replication":...,"timeoutMs":...,"properties":{...}}` (`brokers` required).
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SinkBody {
    /// `file`, `stdout`, `nats`, `webhook`, `kafka` or `log`.
    #[schema(pattern = r"^(file|stdout|nats|webhook|kafka|log)$")]
    pub kind: String,
    /// The file (kind `file` only; required). A relative path is taken from the service's working directory
    /// and stored absolute.
    pub path: Option<String>,
    /// Rotate past this many bytes (kind `file`; default 100 MiB; at least 1), or trim the oldest records
    /// past this many (kind `log`; default 1 GiB; at least 1 MiB).
    #[schema(minimum = 1)]
    pub max_bytes: Option<i64>,
    /// Rotated files kept (kind `file` only). Default 5; at least 1.
    #[schema(minimum = 1, maximum = 4294967295_i64)]
    pub max_files: Option<i64>,
    /// The log's directory (kind `log` only), below `[admin] data_dir`. Default `logs/<name>`.
    pub dir: Option<String>,
    /// Trim records older than this (kind `log` only): `"24h"` (the default), at least `"1m"`.
    pub max_age: Option<String>,
    /// The NATS server (kind `nats`; default `nats://127.0.0.1:4222`) or the webhook URL (kind `webhook`;
    /// required).
    pub url: Option<String>,
    /// Subject template with `{tenant}`, `{kind}`, `{family}` (kind `nats` only). Default
    /// `switchboard.{tenant}.{kind}`.
    pub subject: Option<String>,
    /// The JetStream stream (kind `nats` only); required when `createStream` is true.
    pub stream: Option<String>,
    /// Create the stream when it does not exist (kind `nats` only). Default false.
    pub create_stream: Option<bool>,
    /// The signing secret (kind `webhook` only; required): `whsec_<base64>` or any text. Write-only: stored
    /// sealed by the master key, never shown.
    #[schema(value_type = Option<String>)]
    pub secret: Option<Secret>,
    /// One POST per batch with a JSON array (kind `webhook` only). Default false.
    pub batch: Option<bool>,
    /// How long one POST may take (kind `webhook`; default 10000), or how long a batch may wait for the
    /// broker's acknowledgements before it is sent again (kind `kafka`; default 30000), in milliseconds.
    pub timeout_ms: Option<i64>,
    /// CIDRs, addresses or host names allowed although private or loopback (kind `webhook` only).
    pub allow: Option<Vec<String>>,
    /// The bootstrap brokers, `host:port` (kind `kafka` only; required).
    pub brokers: Option<Vec<String>>,
    /// Topic template with `{tenant}`, `{kind}`, `{family}` (kind `kafka` only). Default
    /// `switchboard.{tenant}`.
    pub topic: Option<String>,
    /// Key template with `{tenant}`, `{kind}`, `{family}`, `{entity}`, `{topic}` (kind `kafka` only).
    /// Default: the tenant and the topic's entity id (`acme/<id>`), the tenant alone when the topic has none.
    pub key: Option<String>,
    /// Create each topic when it does not exist (kind `kafka` only). Default false.
    pub create_topic: Option<bool>,
    /// Partitions of a created topic (kind `kafka` with `createTopic`). Default: the broker's.
    pub partitions: Option<i64>,
    /// Replication factor of a created topic (kind `kafka` with `createTopic`). Default: the broker's.
    pub replication: Option<i64>,
    /// Other librdkafka properties, passed through (kind `kafka` only): `security.protocol`, `sasl.*`,
    /// `ssl.*`... Secret ones (passwords, client secrets, `ssl.key.pem`) are write-only: stored sealed by
    /// the master key, shown as `"set"`. `enable.idempotence`, `acks` and the timeouts are the sink's own.
    pub properties: Option<std::collections::BTreeMap<String, String>>,
}

impl std::fmt::Debug for SinkBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkBody")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("secret", &self.secret)
            .field(
                "properties",
                &self
                    .properties
                    .as_ref()
                    .map(|p| p.keys().collect::<Vec<_>>()),
            )
            .finish_non_exhaustive()
    }
}

/// A Kafka property as shown: its value, or `"set"` for a secret one.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Property {
    Plain(String),
    Secret(Secret),
}

/// A sink as shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkView {
    pub name: String,
    /// `file`, `stdout`, `nats`, `webhook`, `kafka` or `log`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_stream: Option<bool>,
    /// `"set"` for a webhook: the secret itself is never shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "set")]
    pub secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brokers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Absent for a Kafka sink with the default key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_topic: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<i32>,
    /// A Kafka sink's librdkafka properties; a secret one shows `"set"`, never its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub properties: Option<std::collections::BTreeMap<String, Property>>,
    pub updated_at: DateTime<Utc>,
    /// Records written by the sink's current worker.
    pub sent: u64,
    /// Records waiting to be written.
    pub queued: usize,
    /// Records the sink's current worker moved to the dead-letter store.
    pub dead_letters: u64,
    /// Bytes waiting in the sink's spool on disk.
    pub spool_bytes: u64,
    /// Whether the spool is full (the sink then takes nothing more; the router waits).
    pub spool_full: bool,
}

impl SinkView {
    /// The view of a sink: its settings (each kind fills its own fields), when it last changed, and its
    /// worker's counters.
    pub fn new(
        config: SinkConfig,
        updated_at: DateTime<Utc>,
        sent: u64,
        queued: usize,
    ) -> SinkView {
        let mut view = SinkView {
            name: config.name,
            kind: String::new(),
            path: None,
            max_bytes: None,
            max_files: None,
            dir: None,
            max_age: None,
            url: None,
            subject: None,
            stream: None,
            create_stream: None,
            secret: None,
            batch: None,
            timeout_ms: None,
            allow: None,
            brokers: None,
            topic: None,
            key: None,
            create_topic: None,
            partitions: None,
            replication: None,
            properties: None,
            updated_at,
            sent,
            queued,
            dead_letters: 0,
            spool_bytes: 0,
            spool_full: false,
        };
        view.kind = config.kind.name().to_string();
        config.kind.view(&mut view);
        view
    }
}

pub(crate) fn truncate(s: &str) -> String {
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(120)])
    } else {
        s.to_string()
    }
}

/// Checks a name taken from the path: `[a-z0-9_-]+`, as sink names are in the configuration.
pub(crate) fn check_name(field: &str, name: &str, details: &mut Vec<String>) {
    if !is_valid_sink_name(name) {
        details.push(format!(
            "{field}: {:?} is not valid: use a-z, 0-9, _ and -",
            truncate(name)
        ));
    }
}

pub(super) fn only_for_file(body: &SinkBody, details: &mut Vec<String>) {
    for (field, given) in [
        ("path", body.path.is_some()),
        ("maxBytes", body.max_bytes.is_some()),
        ("maxFiles", body.max_files.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"file\""));
        }
    }
}

pub(super) fn only_for_webhook(body: &SinkBody, details: &mut Vec<String>) {
    for (field, given) in [
        ("secret", body.secret.is_some()),
        ("batch", body.batch.is_some()),
        ("allow", body.allow.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"webhook\""));
        }
    }
    if body.timeout_ms.is_some() && body.kind != "kafka" {
        details.push("timeoutMs: only applies to kind \"webhook\" or \"kafka\"".into());
    }
}

pub(super) fn only_for_kafka(body: &SinkBody, details: &mut Vec<String>) {
    for (field, given) in [
        ("brokers", body.brokers.is_some()),
        ("topic", body.topic.is_some()),
        ("key", body.key.is_some()),
        ("createTopic", body.create_topic.is_some()),
        ("partitions", body.partitions.is_some()),
        ("replication", body.replication.is_some()),
        ("properties", body.properties.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"kafka\""));
        }
    }
}

pub(super) fn only_for_log(body: &SinkBody, details: &mut Vec<String>) {
    for (field, given) in [
        ("dir", body.dir.is_some()),
        ("maxAge", body.max_age.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"log\""));
        }
    }
}

pub(super) fn only_for_nats(body: &SinkBody, details: &mut Vec<String>) {
    if body.url.is_some() && body.kind != "webhook" {
        details.push("url: only applies to kind \"nats\" or \"webhook\"".into());
    }
    for (field, given) in [
        ("subject", body.subject.is_some()),
        ("stream", body.stream.is_some()),
        ("createStream", body.create_stream.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"nats\""));
        }
    }
}

/// Validates a sink on its own, as the configuration does (the check against other sinks' files is made
/// when it is applied).
pub fn validate_sink(name: &str, body: SinkBody) -> Result<SinkConfig, Vec<String>> {
    let mut details = Vec::new();
    check_name("name", name, &mut details);
    let kind = SinkKind::from_body(name, body, &mut details);
    match kind {
        Some(kind) if details.is_empty() => Ok(SinkConfig {
            name: name.to_string(),
            kind,
        }),
        _ => Err(details),
    }
}
