//! `[[sinks]]`: where events are delivered.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Table;

use super::errors::Errors;
use super::kafka::{KafkaConfig, read_kafka_sink};
use super::read::Reader;
use super::secret::{EnvLookup, Secret, read_secret};

/// Default time a webhook POST may take: 10 s.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Default size past which a file sink rotates: 100 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Default number of rotated files a file sink keeps.
pub const DEFAULT_MAX_FILES: u32 = 5;

/// A named destination for events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// Unique name, `[a-z0-9_-]+`, referred to by routes.
    pub name: String,
    /// What the sink is.
    pub kind: SinkKind,
}

/// Default server of a NATS sink.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Default subject template of a NATS sink.
pub const DEFAULT_NATS_SUBJECT: &str = "switchboard.{tenant}.{kind}";

/// The placeholders a NATS subject template may use.
pub const NATS_PLACEHOLDERS: &[&str] = &["tenant", "kind", "family"];

/// The kinds of sink: TOML `kind = "file"`, `"stdout"`, `"nats"`, `"webhook"` or `"kafka"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// JSON lines appended to a file, rotated by size.
    File {
        /// The file, resolved against the config file's directory.
        path: PathBuf,
        /// Rotate once the file grows past this many bytes. Default 100 MiB; at least 1.
        max_bytes: u64,
        /// Rotated files kept (`events.jsonl.1` ...). Default 5; at least 1.
        max_files: u32,
    },
    /// JSON lines on standard output.
    Stdout,
    /// Each envelope published to NATS JetStream, acknowledged before the batch counts as written.
    Nats {
        /// The server, default `nats://127.0.0.1:4222`.
        url: String,
        /// Subject template with `{tenant}`, `{kind}` and `{family}`; default `switchboard.{tenant}.{kind}`.
        subject: String,
        /// The JetStream stream meant to hold the records (checked on each publish when set).
        stream: Option<String>,
        /// Create `stream` (subjects: the template's literal prefix + `>`) when it does not exist.
        create_stream: bool,
    },
    /// Each envelope (or the whole batch as a JSON array) POSTed to a URL, signed per Standard Webhooks.
    Webhook {
        /// The `http://` or `https://` URL.
        url: String,
        /// The signing secret: `whsec_<base64>` (the key is the decoded part) or any other text (its bytes).
        secret: Secret,
        /// One POST per batch with a JSON array, rather than one POST per envelope. Default false.
        batch: bool,
        /// How long one POST may take. Default 10 s.
        timeout: Duration,
        /// CIDRs or host names allowed even when they resolve to loopback, private or link-local addresses.
        allow: Vec<String>,
    },
    /// Each envelope produced to Kafka by the idempotent producer with `acks=all`, acknowledged before the
    /// batch counts as written. Runs only in a build with the `kafka` feature.
    Kafka(KafkaConfig),
}

/// Checks a webhook URL: `http://` or `https://` with a host.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?}: a webhook URL needs a host"));
    }
    Ok(())
}

/// Checks one entry of a webhook allow-list: a CIDR (`10.0.0.0/8`, `::1/128`), an address, or a host name.
pub fn check_webhook_allow(entry: &str) -> Result<(), String> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some((addr, bits)) = entry.split_once('/') {
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{entry:?} is not a CIDR such as \"10.0.0.0/8\""))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        match bits.parse::<u8>() {
            Ok(b) if b <= max => return Ok(()),
            _ => return Err(format!("{entry:?}: the prefix length must be 0 to {max}")),
        }
    }
    if entry.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    if entry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        Ok(())
    } else {
        Err(format!(
            "{entry:?} is not a CIDR, an address or a host name"
        ))
    }
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

/// Checks a NATS subject template: only known placeholders, and a valid NATS subject once rendered (no
/// spaces, no empty tokens, no wildcards). The error does not name the field.
pub fn check_nats_subject(template: &str) -> Result<(), String> {
    let sample = check_template(template, NATS_PLACEHOLDERS)?;
    if let Some(c) = sample.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{template:?}: a NATS subject has no spaces or control characters ({c:?})"
        ));
    }
    if sample.contains(['*', '>']) {
        return Err(format!(
            "{template:?}: a subject to publish to has no wildcards ('*', '>')"
        ));
    }
    if sample.split('.').any(str::is_empty) {
        return Err(format!(
            "{template:?}: a NATS subject has no empty tokens (leading, trailing or double '.')"
        ));
    }
    Ok(())
}

/// The subjects a stream created for `template` captures: its literal leading tokens followed by `>`
/// (`switchboard.>` for the default), or the template itself when it has no placeholder. `None` when the
/// first token already holds a placeholder. `template` must have passed [`check_nats_subject`].
pub fn nats_stream_subjects(template: &str) -> Option<String> {
    if !template.contains('{') {
        return Some(template.to_string());
    }
    let literal: Vec<&str> = template
        .split('.')
        .take_while(|token| !token.contains('{'))
        .collect();
    if literal.is_empty() {
        None
    } else {
        Some(format!("{}.>", literal.join(".")))
    }
}

/// Checks a JetStream stream name: not empty, no spaces, '.', '*', '>', '/' or '\\'.
pub fn check_stream_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 255
        || name.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')
        })
    {
        return Err(format!(
            "{name:?} is not a stream name: at most 255 characters, without spaces, '.', '*', '>', '/' or '\\'"
        ));
    }
    Ok(())
}

/// Checks the NATS settings together; each error is `(field, message)` with the TOML field name.
pub fn check_nats(
    subject: &str,
    stream: Option<&str>,
    create_stream: bool,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let subject_ok = match check_nats_subject(subject) {
        Ok(()) => true,
        Err(e) => {
            out.push(("subject", e));
            false
        }
    };
    match stream {
        Some(name) => {
            if let Err(e) = check_stream_name(name) {
                out.push(("stream", e));
            }
        }
        None if create_stream => {
            out.push((
                "stream",
                "is required when create_stream is true".to_string(),
            ));
        }
        None => {}
    }
    if create_stream && subject_ok && nats_stream_subjects(subject).is_none() {
        out.push((
            "subject",
            format!(
                "{subject:?}: to create the stream, the subject must start with a literal token (such as \"switchboard.\")"
            ),
        ));
    }
    out
}

/// Checks a NATS server URL: `nats://`, `tls://`, `ws://` or `wss://` and a host.
pub fn check_nats_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let rest = ["nats://", "tls://", "ws://", "wss://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .ok_or_else(|| format!("{url:?} is not a nats://, tls://, ws:// or wss:// URL"))?;
    if rest.is_empty() || rest.starts_with(['/', ':']) || rest.contains(char::is_whitespace) {
        return Err(format!(
            "{url:?}: a server URL needs a host, such as nats://127.0.0.1:4222"
        ));
    }
    Ok(())
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
const FILE_ONLY_KEYS: &[&str] = &["path", "max_bytes", "max_files"];
const NATS_ONLY_KEYS: &[&str] = &["subject", "stream", "create_stream"];
const WEBHOOK_ONLY_KEYS: &[&str] = &["secret", "secret_env", "secret_file", "batch", "allow"];
const KAFKA_ONLY_KEYS: &[&str] = &[
    "brokers",
    "topic",
    "key",
    "create_topic",
    "partitions",
    "replication",
    "properties",
];
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
                read_file_sink(&r, base_dir, &mut files, errs)
            }
            Some("nats") => {
                only_for(&r, FILE_ONLY_KEYS, "file", errs);
                only_for(&r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                only_for(&r, &["timeout"], WEBHOOK_OR_KAFKA, errs);
                only_for(&r, KAFKA_ONLY_KEYS, "kafka", errs);
                read_nats_sink(&r, errs)
            }
            Some("webhook") => {
                only_for(&r, FILE_ONLY_KEYS, "file", errs);
                only_for(&r, NATS_ONLY_KEYS, "nats", errs);
                only_for(&r, KAFKA_ONLY_KEYS, "kafka", errs);
                read_webhook_sink(&r, base_dir, env, errs)
            }
            Some("kafka") => {
                only_for(&r, FILE_ONLY_KEYS, "file", errs);
                only_for(&r, NATS_ONLY_KEYS, "nats", errs);
                only_for(&r, &["url"], "nats\" or kind = \"webhook", errs);
                only_for(&r, WEBHOOK_ONLY_KEYS, "webhook", errs);
                read_kafka_sink(&r, base_dir, env, errs).map(SinkKind::Kafka)
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

fn read_nats_sink(r: &Reader<'_>, errs: &mut Errors) -> Option<SinkKind> {
    let url = r
        .string("url", errs)
        .map_or_else(|| DEFAULT_NATS_URL.to_string(), |u| u.trim().to_string());
    let subject = r
        .string("subject", errs)
        .unwrap_or_else(|| DEFAULT_NATS_SUBJECT.to_string());
    let stream = r.string("stream", errs);
    let create_stream = r.bool("create_stream", false, errs);
    let mut ok = true;
    if let Err(e) = check_nats_url(&url) {
        errs.push(r.path("url"), e);
        ok = false;
    }
    for (field, e) in check_nats(&subject, stream.as_deref(), create_stream) {
        errs.push(r.path(field), e);
        ok = false;
    }
    ok.then_some(SinkKind::Nats {
        url,
        subject,
        stream,
        create_stream,
    })
}

fn read_webhook_sink(
    r: &Reader<'_>,
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Option<SinkKind> {
    let url = r.required_string("url", errs).map(|u| u.trim().to_string());
    let secret = read_secret(r, base_dir, env, errs);
    let batch = r.bool("batch", false, errs);
    let timeout = r.duration("timeout", DEFAULT_WEBHOOK_TIMEOUT, errs);
    let mut ok = true;
    let mut allow = Vec::new();
    for (path, entry) in r.string_list("allow", errs).unwrap_or_default() {
        match check_webhook_allow(&entry) {
            Ok(()) => allow.push(entry.trim().to_string()),
            Err(e) => {
                errs.push(path, e);
                ok = false;
            }
        }
    }
    let url = url?;
    if let Err(e) = check_webhook_url(&url) {
        errs.push(r.path("url"), e);
        ok = false;
    }
    if let Some(secret) = &secret
        && let Err(e) = webhook_key(secret)
    {
        errs.push(r.path("secret"), e);
        ok = false;
    }
    let secret = secret?;
    ok.then_some(SinkKind::Webhook {
        url,
        secret,
        batch,
        timeout,
        allow,
    })
}

/// The signing key of a webhook secret: the decoded base64 after `whsec_`, or the text's bytes. The error
/// never shows the secret.
pub fn webhook_key(secret: &Secret) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let text = secret.expose();
    match text.strip_prefix("whsec_") {
        Some(b64) => {
            let key = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "a \"whsec_\" secret must be followed by base64".to_string())?;
            if key.is_empty() {
                return Err("a \"whsec_\" secret must not be empty".into());
            }
            Ok(key)
        }
        None if text.is_empty() => Err("must not be empty".into()),
        None => Ok(text.as_bytes().to_vec()),
    }
}

fn read_file_sink(
    r: &Reader<'_>,
    base_dir: &Path,
    files: &mut Vec<(PathBuf, String)>,
    errs: &mut Errors,
) -> Option<SinkKind> {
    let max_bytes = r.uint("max_bytes", DEFAULT_MAX_BYTES, errs);
    let max_files = r.uint("max_files", DEFAULT_MAX_FILES, errs);
    if max_bytes == 0 {
        errs.push(r.path("max_bytes"), "must be at least 1");
    }
    if max_files == 0 {
        errs.push(r.path("max_files"), "must be at least 1");
    }
    let file = r.required_string("path", errs)?;
    if file.trim().is_empty() {
        errs.push(r.path("path"), "must not be empty");
        return None;
    }
    let path = base_dir.join(file.trim());
    if let Some((_, other)) = files.iter().find(|(p, _)| *p == path) {
        errs.push(
            r.path("path"),
            format!(
                "{} is already written by the sink at {other}",
                path.display()
            ),
        );
        return None;
    }
    files.push((path.clone(), r.own_path().to_string()));
    Some(SinkKind::File {
        path,
        max_bytes,
        max_files,
    })
}
