//! A sink in the admin API: [`SinkBody`] as written (`PUT /v1/sinks/{name}`) and [`SinkView`] as shown. Both
//! are a kind's one settings type beside `"kind"` (see [`SinkKind`]); the view adds the sink's name and
//! counters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::{SinkConfig, SinkKind, is_valid_sink_name};
pub(crate) use super::form::truncate;

/// A sink as written: `{"kind":"stdout"}`, `{"kind":"file","path":...}` with optional limits,
/// `{"kind":"nats","url":...,"subject":...,"stream":...,"createStream":...}` (all optional),
/// `{"kind":"webhook","url":...,"secret":...,"batch":...,"timeoutMs":...,"allow":[...]}`,
/// `{"kind":"kafka","brokers":[...],"topic":...,"key":...,"createTopic":...,"partitions":...,
/// "replication":...,"timeoutMs":...,"properties":{...}}` (`brokers` required), or
/// `{"kind":"log","dir":...,"maxBytes":...,"maxAge":"24h"}`: the fields of [`SinkKind`]. Every bad field is
/// named at once, a field of another kind as such.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = SinkKind)]
pub struct SinkBody(pub Map<String, Value>);

impl std::fmt::Debug for SinkBody {
    // Only the field names: a body may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A sink as shown: its name, its settings beside `"kind"` (secrets `"set"`, credentials in URLs hidden),
/// and its worker's counters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkView {
    pub name: String,
    #[serde(flatten)]
    pub settings: SinkKind,
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
    /// The view of a sink: its settings as shown, when it last changed, and its worker's counters.
    pub fn new(
        config: SinkConfig,
        updated_at: DateTime<Utc>,
        sent: u64,
        queued: usize,
    ) -> SinkView {
        SinkView {
            name: config.name,
            settings: config.kind.shown(),
            updated_at,
            sent,
            queued,
            dead_letters: 0,
            spool_bytes: 0,
            spool_full: false,
        }
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

/// Validates a sink on its own, as the configuration does (the check against other sinks' files is made
/// when it is applied).
pub fn validate_sink(name: &str, body: SinkBody) -> Result<SinkConfig, Vec<String>> {
    let mut details = Vec::new();
    check_name("name", name, &mut details);
    let mut fields = body.0;
    let kind = match fields.remove("kind") {
        Some(Value::String(kind)) => Some(kind),
        Some(_) => {
            details.push("kind: a string is required".into());
            None
        }
        None => {
            details.push("kind: is required".into());
            None
        }
    };
    let mut faults = Vec::new();
    let kind = kind.and_then(|kind| SinkKind::from_body(&kind, name, fields, &mut faults));
    details.extend(
        faults
            .into_iter()
            .map(|(field, message)| format!("{field}: {}", truncate(&message))),
    );
    match kind {
        Some(kind) if details.is_empty() => Ok(SinkConfig {
            name: name.to_string(),
            kind,
        }),
        _ => Err(details),
    }
}
