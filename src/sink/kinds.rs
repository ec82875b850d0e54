//! The registry of sink kinds: [`SinkKind`], one arm per kind holding that kind's settings
//! (`crate::sink::<kind>::config`), and every place that dispatches on the kind: reading the configuration
//! file's table and the API's body, the store's settings, the view, the writer, the destination. Each arm
//! hands over to the kind's folder; a new kind adds one arm here to each `match` (the compiler lists them).

use std::path::{Path, PathBuf};

use super::Sink;
use super::body::{
    SinkBody, SinkView, only_for_file, only_for_kafka, only_for_log, only_for_nats,
    only_for_webhook, truncate,
};
use super::config::SinkConfig;
use super::file::{self, FileConfig};
use super::kafka::{self, KafkaConfig};
use super::log::{self, LogConfig};
use super::nats::{self, NatsConfig};
use super::stdout;
use super::webhook::{self, WebhookConfig};
use crate::secrets::MasterKey;
use crate::settings::{EnvLookup, Errors, Reader, Secret};

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
    /// A replay log on disk, trimmed by size and age, that the admin API's tail and paged read replay from.
    Log(LogConfig),
}

impl SinkKind {
    /// Reads the table of a sink of `kind` (TOML `kind = "..."`): keys of other kinds are errors, the rest is
    /// the kind's own reader.
    pub(crate) fn read(
        kind: &str,
        name: &str,
        r: &Reader<'_>,
        base_dir: &Path,
        env: EnvLookup<'_>,
        files: &mut Vec<(PathBuf, String)>,
        errs: &mut Errors,
    ) -> Option<SinkKind> {
        match kind {
            "stdout" => {
                only_for(r, LOG_ONLY_KEYS, "log", errs);
                only_for(r, FILE_ONLY_KEYS, "file", errs);
                only_for(r, NATS_ONLY_KEYS, "nats", errs);
                only_for(r, &["url"], "nats\" or kind = \"webhook", errs);
                only_for(r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                only_for(r, &["timeout"], WEBHOOK_OR_KAFKA, errs);
                only_for(r, KAFKA_ONLY_KEYS, "kafka", errs);
                Some(SinkKind::Stdout)
            }
            "file" => {
                only_for(r, LOG_ONLY_KEYS, "log", errs);
                only_for(r, NATS_ONLY_KEYS, "nats", errs);
                only_for(r, &["url"], "nats\" or kind = \"webhook", errs);
                only_for(r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                only_for(r, &["timeout"], WEBHOOK_OR_KAFKA, errs);
                only_for(r, KAFKA_ONLY_KEYS, "kafka", errs);
                FileConfig::read(r, base_dir, files, errs).map(SinkKind::File)
            }
            "nats" => {
                only_for(r, LOG_ONLY_KEYS, "log", errs);
                only_for(r, FILE_ONLY_KEYS, "file", errs);
                only_for(r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                only_for(r, &["timeout"], WEBHOOK_OR_KAFKA, errs);
                only_for(r, KAFKA_ONLY_KEYS, "kafka", errs);
                NatsConfig::read(r, errs).map(SinkKind::Nats)
            }
            "webhook" => {
                only_for(r, LOG_ONLY_KEYS, "log", errs);
                only_for(r, FILE_ONLY_KEYS, "file", errs);
                only_for(r, NATS_ONLY_KEYS, "nats", errs);
                only_for(r, KAFKA_ONLY_KEYS, "kafka", errs);
                WebhookConfig::read(r, base_dir, env, errs).map(SinkKind::Webhook)
            }
            "kafka" => {
                only_for(r, LOG_ONLY_KEYS, "log", errs);
                only_for(r, FILE_ONLY_KEYS, "file", errs);
                only_for(r, NATS_ONLY_KEYS, "nats", errs);
                only_for(r, &["url"], "nats\" or kind = \"webhook", errs);
                only_for(r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                kafka::read_kafka_sink(r, base_dir, env, errs).map(SinkKind::Kafka)
            }
            "log" => {
                only_for(r, &["path", "max_files"], "file", errs);
                only_for(r, NATS_ONLY_KEYS, "nats", errs);
                only_for(r, &["url"], "nats\" or kind = \"webhook", errs);
                only_for(r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                only_for(r, &["timeout"], WEBHOOK_OR_KAFKA, errs);
                only_for(r, KAFKA_ONLY_KEYS, "kafka", errs);
                LogConfig::read(r, name, base_dir, files, errs).map(SinkKind::Log)
            }
            other => {
                errs.push(
                r.path("kind"),
                format!("{other:?} is not one of \"file\", \"stdout\", \"nats\", \"webhook\", \"kafka\", \"log\""),
            );
                None
            }
        }
    }

    /// Reads the admin API's body of a sink: fields of other kinds are errors, the rest is the kind's own
    /// reader. Every bad field is named in `details`.
    pub(crate) fn from_body(
        name: &str,
        body: SinkBody,
        details: &mut Vec<String>,
    ) -> Option<SinkKind> {
        if body.kind != "log" {
            only_for_log(&body, details);
        }
        match body.kind.as_str() {
            "stdout" => {
                only_for_file(&body, details);
                only_for_nats(&body, details);
                only_for_webhook(&body, details);
                only_for_kafka(&body, details);
                Some(SinkKind::Stdout)
            }
            "kafka" => {
                only_for_file(&body, details);
                only_for_webhook(&body, details);
                for (field, given) in [
                    ("subject", body.subject.is_some()),
                    ("stream", body.stream.is_some()),
                    ("createStream", body.create_stream.is_some()),
                ] {
                    if given {
                        details.push(format!("{field}: only applies to kind \"nats\""));
                    }
                }
                KafkaConfig::from_body(body, details).map(SinkKind::Kafka)
            }
            "webhook" => {
                only_for_file(&body, details);
                only_for_nats(&body, details);
                only_for_kafka(&body, details);
                WebhookConfig::from_body(body, details).map(SinkKind::Webhook)
            }
            "nats" => {
                only_for_file(&body, details);
                only_for_webhook(&body, details);
                only_for_kafka(&body, details);
                NatsConfig::from_body(body, details).map(SinkKind::Nats)
            }
            "file" => {
                only_for_nats(&body, details);
                only_for_webhook(&body, details);
                only_for_kafka(&body, details);
                FileConfig::from_body(&body, details).map(SinkKind::File)
            }
            "log" => {
                for (field, given) in [
                    ("path", body.path.is_some()),
                    ("maxFiles", body.max_files.is_some()),
                ] {
                    if given {
                        details.push(format!("{field}: only applies to kind \"file\""));
                    }
                }
                only_for_nats(&body, details);
                only_for_webhook(&body, details);
                only_for_kafka(&body, details);
                LogConfig::from_body(name, &body, details).map(SinkKind::Log)
            }
            other => {
                details.push(format!(
                "kind: {:?} is not one of \"file\", \"stdout\", \"nats\", \"webhook\", \"kafka\", \"log\"",
                truncate(other)
            ));
                None
            }
        }
    }

    /// Fills the admin API's view with the kind's settings.
    pub(crate) fn view(self, view: &mut SinkView) {
        match self {
            SinkKind::File(f) => f.view(view),
            SinkKind::Stdout => {}
            SinkKind::Nats(n) => n.view(view),
            SinkKind::Webhook(w) => w.view(view),
            SinkKind::Kafka(k) => k.view(view),
            SinkKind::Log(l) => l.view(view),
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

    /// The store's form of the kind's settings, without its secret (see [`SinkKind::secret`]).
    pub fn settings(&self) -> serde_json::Value {
        match self {
            SinkKind::File(f) => f.settings(),
            SinkKind::Stdout => serde_json::json!({}),
            SinkKind::Nats(n) => n.settings(),
            SinkKind::Webhook(w) => w.settings(),
            SinkKind::Kafka(k) => k.settings(),
            SinkKind::Log(l) => l.settings(),
        }
    }

    /// The text the store keeps sealed for this sink; `None` when the sink has no secret.
    pub fn secret(&self) -> Option<Secret> {
        match self {
            SinkKind::Webhook(w) => Some(w.secret()),
            SinkKind::Kafka(k) => k.secret(),
            SinkKind::File(_) | SinkKind::Stdout | SinkKind::Nats(_) | SinkKind::Log(_) => None,
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
            "log" => SinkKind::Log(LogConfig::from_settings(settings)?),
            "webhook" => SinkKind::Webhook(WebhookConfig::from_settings(
                name, settings, key, file_sinks,
            )?),
            "kafka" => {
                SinkKind::Kafka(KafkaConfig::from_settings(name, settings, key, file_sinks)?)
            }
            other => return Err(format!("kind {other:?} is not one this version runs")),
        })
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

const FILE_ONLY_KEYS: &[&str] = file::KEYS;
const NATS_ONLY_KEYS: &[&str] = nats::KEYS;
const WEBHOOK_ONLY_KEYS: &[&str] = webhook::KEYS;
const KAFKA_ONLY_KEYS: &[&str] = kafka::KEYS;
const LOG_ONLY_KEYS: &[&str] = &["dir", "max_age"];
const WEBHOOK_OR_KAFKA: &str = "webhook\" or kind = \"kafka";

fn only_for(r: &Reader<'_>, keys: &[&str], kind: &str, errs: &mut Errors) {
    for key in keys {
        if r.has(key) {
            errs.push(r.path(key), format!("only applies to kind = \"{kind}\""));
        }
    }
}
