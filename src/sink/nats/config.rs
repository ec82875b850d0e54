//! A NATS sink's settings (`kind = "nats"`): one type that is the configuration file's table, the admin API's
//! body and view and the store's settings (see `crate::sink::form`), and their checks.

use serde::{Deserialize, Serialize};

use crate::sink::config::check_template;
use crate::sink::form::{Context, Fault, KindSettings};

/// Default server of a NATS sink.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Default subject template of a NATS sink.
pub const DEFAULT_NATS_SUBJECT: &str = "switchboard.{tenant}.{kind}";

/// The placeholders a NATS subject template may use.
pub const NATS_PLACEHOLDERS: &[&str] = &["tenant", "kind", "family"];

/// Each envelope published to NATS JetStream, acknowledged before the batch counts as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NatsConfig {
    /// The server, default `nats://127.0.0.1:4222` (several: comma-separated). Credentials in it are never
    /// shown.
    #[serde(default = "default_url")]
    pub url: String,
    /// Subject template with `{tenant}`, `{kind}` and `{family}`; default `switchboard.{tenant}.{kind}`.
    #[serde(default = "default_subject")]
    pub subject: String,
    /// The JetStream stream meant to hold the records (checked on each publish when set); required when
    /// `createStream` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Create `stream` (subjects: the template's literal prefix + `>`) when it does not exist. Default false.
    #[serde(default)]
    pub create_stream: bool,
}

fn default_url() -> String {
    DEFAULT_NATS_URL.to_string()
}

fn default_subject() -> String {
    DEFAULT_NATS_SUBJECT.to_string()
}

impl KindSettings for NatsConfig {
    const KIND: &'static str = "nats";
    const FIELDS: &'static [&'static str] = &["url", "subject", "stream", "createStream"];

    fn check(&mut self, _cx: &Context<'_>) -> Vec<Fault> {
        self.url = self.url.trim().to_string();
        let mut faults = Vec::new();
        if let Err(e) = check_nats_url(&self.url) {
            faults.push(("url".to_string(), e));
        }
        for (field, e) in check_nats(&self.subject, self.stream.as_deref(), self.create_stream) {
            faults.push((field.to_string(), e));
        }
        faults
    }

    fn shown(mut self) -> NatsConfig {
        self.url = crate::settings::redact_urls(&self.url);
        self
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

/// Checks the NATS settings together; each error is `(field, message)` in the API's words.
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
                "is required when createStream is true".to_string(),
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
