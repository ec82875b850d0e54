//! The registry of sink kinds: [`SinkKind`], one arm per kind holding that kind's settings
//! (`crate::sink::<kind>::config`, one type each, read as `crate::sink::form` says), the table [`KINDS`] of
//! their fields, and every place that dispatches on the kind: reading a `[[sinks]]` table, the API's body and
//! the store's settings, the writer, the destination. A new kind adds one arm to the enum, one row to
//! [`KINDS`], and that arm to each `match` here (the compiler lists them).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::Sink;
use super::config::SinkConfig;
use super::file::{self, FileConfig};
use super::form::{self, Context, Fault, KindSettings, Origin, Stored};
use super::kafka::{self, KafkaConfig};
use super::log::{self, LogConfig};
use super::nats::{self, NatsConfig};
use super::stdout::{self, StdoutConfig};
use super::webhook::{self, WebhookConfig};
use crate::secrets::MasterKey;
use crate::settings::{EnvLookup, Errors, Reader, Secret};

/// The kinds of sink: `kind = "file"`, `"stdout"`, `"nats"`, `"webhook"`, `"kafka"` or `"log"`; one arm per
/// kind, holding that kind's settings. As JSON (the API's body and view), the settings' fields beside
/// `"kind"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
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
    /// A replay log on disk, trimmed by size and age, that the admin API's tail and paged read replay from.
    Log(LogConfig),
}

/// What the readers know of a kind without its settings: its name, its fields (the API's words) and its keys
/// (a `[[sinks]]` table's words), to tell a field of another kind from one of no kind.
pub struct KindFields {
    pub name: &'static str,
    pub fields: &'static [&'static str],
    pub file_keys: fn() -> Vec<String>,
}

const fn kind<T: KindSettings>() -> KindFields {
    KindFields {
        name: T::KIND,
        fields: T::FIELDS,
        file_keys: form::file_keys::<T>,
    }
}

/// Every kind, in the order messages list them.
pub const KINDS: [KindFields; 6] = [
    kind::<FileConfig>(),
    kind::<StdoutConfig>(),
    kind::<NatsConfig>(),
    kind::<WebhookConfig>(),
    kind::<KafkaConfig>(),
    kind::<LogConfig>(),
];

/// `"file", "stdout", ... or "log"`.
fn kind_names() -> String {
    let names: Vec<String> = KINDS.iter().map(|k| format!("{:?}", k.name)).collect();
    names.join(", ")
}

/// Every key a `[[sinks]]` table may have, of any kind.
pub(crate) fn all_file_keys() -> Vec<String> {
    let mut keys = vec!["name".to_string(), "kind".to_string()];
    for k in &KINDS {
        for key in (k.file_keys)() {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

impl SinkKind {
    /// Reads the table of a sink of `kind` (`kind = "..."`): keys of other kinds are errors, the rest is read
    /// into the kind's settings.
    pub(crate) fn read(
        kind: &str,
        name: &str,
        r: &Reader<'_>,
        table: &toml::Table,
        base_dir: &Path,
        env: EnvLookup<'_>,
        errs: &mut Errors,
    ) -> Option<SinkKind> {
        let Some(own) = KINDS.iter().find(|k| k.name == kind) else {
            errs.push(
                r.path("kind"),
                format!("{kind:?} is not one of {}", kind_names()),
            );
            return None;
        };
        let own_keys = (own.file_keys)();
        for key in table.keys() {
            if key == "name" || key == "kind" || own_keys.contains(key) {
                continue;
            }
            let theirs: Vec<String> = KINDS
                .iter()
                .filter(|k| (k.file_keys)().contains(key))
                .map(|k| format!("kind = {:?}", k.name))
                .collect();
            if !theirs.is_empty() {
                errs.push(
                    r.path(key),
                    format!("only applies to {}", theirs.join(" or ")),
                );
            }
        }
        macro_rules! read {
            ($config:ty) => {
                form::from_file::<$config>(name, r, table, base_dir, env, errs)
            };
        }
        match own.name {
            "file" => read!(FileConfig).map(SinkKind::File),
            "stdout" => read!(StdoutConfig).map(|_| SinkKind::Stdout),
            "nats" => read!(NatsConfig).map(SinkKind::Nats),
            "webhook" => read!(WebhookConfig).map(SinkKind::Webhook),
            "kafka" => read!(KafkaConfig).map(SinkKind::Kafka),
            _ => read!(LogConfig).map(SinkKind::Log),
        }
    }

    /// Reads the admin API's body of a sink (its fields besides `kind`): fields of other kinds are errors,
    /// the rest is decoded into the kind's settings. Every bad field is named in `faults`.
    pub(crate) fn from_body(
        kind: &str,
        name: &str,
        fields: Map<String, Value>,
        faults: &mut Vec<Fault>,
    ) -> Option<SinkKind> {
        let Some(own) = KINDS.iter().find(|k| k.name == kind) else {
            faults.push((
                "kind".into(),
                format!("{:?} is not one of {}", form::truncate(kind), kind_names()),
            ));
            return None;
        };
        let mut own_fields = Map::new();
        // A field written as null is one not written (its default), as it always was.
        for (field, value) in fields.into_iter().filter(|(_, v)| !v.is_null()) {
            if own.fields.contains(&field.as_str()) {
                own_fields.insert(field, value);
                continue;
            }
            let theirs: Vec<String> = KINDS
                .iter()
                .filter(|k| k.fields.contains(&field.as_str()))
                .map(|k| format!("{:?}", k.name))
                .collect();
            let message = if theirs.is_empty() {
                "is not a field of a sink".to_string()
            } else {
                format!("only applies to kind {}", theirs.join(" or "))
            };
            faults.push((form::truncate(&field), message));
        }
        let cx = Context {
            name,
            origin: Origin::Api,
            given: own_fields.keys().cloned().collect(),
        };
        macro_rules! decode {
            ($config:ty) => {
                form::decode::<$config>(own_fields, &cx, faults)
            };
        }
        match own.name {
            "file" => decode!(FileConfig).map(SinkKind::File),
            "stdout" => decode!(StdoutConfig).map(|_| SinkKind::Stdout),
            "nats" => decode!(NatsConfig).map(SinkKind::Nats),
            "webhook" => decode!(WebhookConfig).map(SinkKind::Webhook),
            "kafka" => decode!(KafkaConfig).map(SinkKind::Kafka),
            _ => decode!(LogConfig).map(SinkKind::Log),
        }
    }

    /// Reads a stored sink's kind and settings back. A sealed secret is opened with `key`; a sink stored
    /// without one takes the secret of the configuration file's sink of the same name (`file_sinks`).
    pub fn from_settings(
        kind: &str,
        name: &str,
        settings: &Value,
        key: Option<&MasterKey>,
        file_sinks: &[SinkConfig],
    ) -> Result<SinkKind, String> {
        let stored = Stored {
            name,
            key,
            file_sinks,
        };
        Ok(match kind {
            "file" => SinkKind::File(form::from_store(settings, &stored)?),
            "stdout" => {
                form::from_store::<StdoutConfig>(settings, &stored)?;
                SinkKind::Stdout
            }
            "nats" => SinkKind::Nats(form::from_store(settings, &stored)?),
            "webhook" => SinkKind::Webhook(form::from_store(settings, &stored)?),
            "kafka" => SinkKind::Kafka(form::from_store(settings, &stored)?),
            "log" => SinkKind::Log(form::from_store(settings, &stored)?),
            other => return Err(format!("kind {other:?} is not one this version runs")),
        })
    }

    /// The store's form of the kind's settings: the view's fields without `kind`, a secret as `"set"` (the
    /// registry stores it sealed beside them, see [`SinkKind::secret`]).
    pub fn settings(&self) -> Value {
        let mut settings = serde_json::to_value(self).unwrap_or_default();
        if let Value::Object(fields) = &mut settings {
            fields.remove("kind");
        }
        settings
    }

    /// The text the store keeps sealed for this sink; `None` when the sink has no secret.
    pub fn secret(&self) -> Option<Secret> {
        match self {
            SinkKind::Webhook(w) => Some(w.secret.clone()),
            SinkKind::Kafka(k) => k.secret(),
            SinkKind::File(_) | SinkKind::Stdout | SinkKind::Nats(_) | SinkKind::Log(_) => None,
        }
    }

    /// The settings as the API shows them: credentials in URLs hidden, secrets `"set"`.
    pub fn shown(self) -> SinkKind {
        match self {
            SinkKind::File(f) => SinkKind::File(f.shown()),
            SinkKind::Stdout => SinkKind::Stdout,
            SinkKind::Nats(n) => SinkKind::Nats(n.shown()),
            SinkKind::Webhook(w) => SinkKind::Webhook(w.shown()),
            SinkKind::Kafka(k) => SinkKind::Kafka(k.shown()),
            SinkKind::Log(l) => SinkKind::Log(l.shown()),
        }
    }

    /// What this kind writes on the local disk (a file sink's file, a log's directory), with the field that
    /// names it: two sinks never share one.
    pub fn local_path(&self) -> Option<(&'static str, &Path)> {
        match self {
            SinkKind::File(f) => Some(("path", &f.path)),
            SinkKind::Log(l) => Some(("dir", &l.dir)),
            _ => None,
        }
    }

    /// Builds the writer of this kind.
    pub fn open(&self, egress: &crate::egress::Egress) -> std::io::Result<Box<dyn Sink>> {
        Ok(match self {
            SinkKind::File(f) => Box::new(file::FileSink::open(&f.path, f.max_bytes, f.max_files)?),
            SinkKind::Stdout => Box::new(stdout::StdoutSink::new()),
            SinkKind::Nats(n) => Box::new(nats::NatsSink::new(
                &n.url,
                &n.subject,
                n.stream.as_deref(),
                n.create_stream,
                egress,
            )),
            SinkKind::Webhook(w) => Box::new(
                webhook::WebhookSink::new(&w.url, &w.secret, w.batch, w.timeout, &w.allow, egress)
                    .map_err(std::io::Error::other)?,
            ),
            SinkKind::Log(l) => Box::new(log::LogSink::open(l)?),
            #[cfg(feature = "kafka")]
            SinkKind::Kafka(kafka) => Box::new(kafka::KafkaSink::new(kafka, egress)?),
            #[cfg(not(feature = "kafka"))]
            SinkKind::Kafka(_) => {
                return Err(std::io::Error::other(kafka::NO_KAFKA));
            }
        })
    }

    /// This kind as one instance of a cluster opens it (`instance`): a file sink's file gets the id before its
    /// extension (`events.jsonl` → `events.sb-1.jsonl`), a log its own directory below the configured one.
    /// Shared destinations (NATS, Kafka, webhooks, stdout) are unchanged: they rely on the stable record id.
    pub fn local_to(&self, instance: Option<&str>) -> SinkKind {
        let Some(instance) = instance else {
            return self.clone();
        };
        match self {
            SinkKind::File(f) => {
                let mut f = f.clone();
                let stem = f
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let name = match f.path.extension() {
                    Some(ext) => format!("{stem}.{instance}.{}", ext.to_string_lossy()),
                    None => format!("{stem}.{instance}"),
                };
                f.path.set_file_name(name);
                SinkKind::File(f)
            }
            SinkKind::Log(l) => {
                let mut l = l.clone();
                l.dir = l.dir.join(instance);
                SinkKind::Log(l)
            }
            other => other.clone(),
        }
    }

    /// Where a sink of this kind writes.
    pub fn destination(&self) -> Destination {
        match self {
            SinkKind::File(f) => Destination::File(f.path.clone()),
            SinkKind::Stdout => Destination::Stdout,
            SinkKind::Nats(n) => Destination::Nats(n.url.clone(), n.subject.clone()),
            SinkKind::Webhook(w) => Destination::Webhook(w.url.clone()),
            SinkKind::Kafka(k) => Destination::Kafka(k.brokers.clone(), k.topic.clone()),
            SinkKind::Log(l) => Destination::Log(l.dir.clone()),
        }
    }

    /// The kind's name, as in TOML `kind = "..."`, the API and the store.
    pub fn name(&self) -> &'static str {
        match self {
            SinkKind::File(_) => "file",
            SinkKind::Stdout => "stdout",
            SinkKind::Nats(_) => "nats",
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Kafka(_) => "kafka",
            SinkKind::Log(_) => "log",
        }
    }

    /// Destinations written as addresses (a webhook's URL, NATS servers, Kafka brokers) that the outbound
    /// address policy refuses: the field and why. Names are checked when they are resolved, at each connection.
    pub fn check_addresses(
        &self,
        egress: &crate::egress::Egress,
    ) -> Result<(), (&'static str, String)> {
        let checked = match self {
            SinkKind::Webhook(w) => egress
                .with(&w.allow)
                .unwrap_or_else(|_| egress.clone())
                .check_url(&w.url)
                .map_err(|e| ("url", e)),
            SinkKind::Nats(n) => n
                .url
                .split(',')
                .try_for_each(|u| egress.check_url(u))
                .map_err(|e| ("url", e)),
            SinkKind::Kafka(k) => k
                .brokers
                .iter()
                .flat_map(|b| b.split(','))
                .try_for_each(|b| egress.check_literal(crate::egress::host_port(b, 9092).0))
                .map_err(|e| ("brokers", e)),
            _ => Ok(()),
        };
        checked.map_err(|(field, e)| (field, e.to_string()))
    }

    /// How a sink that cannot be opened is reported by the admin API: the field at fault and why.
    pub fn open_error(&self, e: &std::io::Error) -> String {
        match self {
            SinkKind::File(_) => format!("path: cannot be opened for writing: {e}"),
            SinkKind::Log(_) => format!("dir: cannot be opened for writing: {e}"),
            SinkKind::Kafka(_) if e.to_string().starts_with("broker ") => format!("brokers: {e}"),
            SinkKind::Kafka(_) => format!("properties: {e}"),
            SinkKind::Webhook(_) | SinkKind::Nats(_)
                if e.to_string().contains("[egress] allow") =>
            {
                format!("url: {e}")
            }
            _ => format!("kind: cannot be started: {e}"),
        }
    }
}

/// Where a sink writes. Two workers on one destination must not write at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    File(PathBuf),
    Stdout,
    /// A NATS server and subject template: a replacement waits for its predecessor, so that each subject
    /// keeps its records in routing order. Different sinks may share it (each has its own connection).
    Nats(String, String),
    /// A webhook URL: a replacement waits for its predecessor, so that the receiver gets records in order.
    Webhook(String),
    /// Kafka brokers and topic template: a replacement waits for its predecessor, so that each key keeps
    /// its records in routing order.
    Kafka(Vec<String>, String),
    /// A log directory: a replacement shares the log with its predecessor (one writer at a time).
    Log(PathBuf),
}
