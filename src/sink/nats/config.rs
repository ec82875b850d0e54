//! A NATS sink's settings (`kind = "nats"`): the configuration file's table, the store's settings, the admin
//! API's body and view, and their checks.

use crate::settings::{Errors, Reader};
use crate::sink::body::{SinkBody, SinkView, truncate};
use crate::sink::config::check_template;

/// Default server of a NATS sink.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Default subject template of a NATS sink.
pub const DEFAULT_NATS_SUBJECT: &str = "switchboard.{tenant}.{kind}";

/// The placeholders a NATS subject template may use.
pub const NATS_PLACEHOLDERS: &[&str] = &["tenant", "kind", "family"];

/// The TOML keys of a NATS sink alone (it shares `url` with the webhook sink).
pub const KEYS: &[&str] = &["subject", "stream", "create_stream"];

/// Each envelope published to NATS JetStream, acknowledged before the batch counts as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// The server, default `nats://127.0.0.1:4222`.
    pub url: String,
    /// Subject template with `{tenant}`, `{kind}` and `{family}`; default `switchboard.{tenant}.{kind}`.
    pub subject: String,
    /// The JetStream stream meant to hold the records (checked on each publish when set).
    pub stream: Option<String>,
    /// Create `stream` (subjects: the template's literal prefix + `>`) when it does not exist.
    pub create_stream: bool,
}

impl NatsConfig {
    /// Reads a `kind = "nats"` table.
    pub(crate) fn read(r: &Reader<'_>, errs: &mut Errors) -> Option<NatsConfig> {
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
        ok.then_some(NatsConfig {
            url,
            subject,
            stream,
            create_stream,
        })
    }

    /// The store's form: `{"url","subject","stream","createStream"}`.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "subject": self.subject,
            "stream": self.stream,
            "createStream": self.create_stream,
        })
    }

    /// Reads the store's form back; the error names the setting at fault.
    pub fn from_settings(s: &serde_json::Value) -> Result<NatsConfig, String> {
        let url = s["url"]
            .as_str()
            .ok_or("settings.url: a string is required")?;
        check_nats_url(url).map_err(|e| format!("settings.url: {e}"))?;
        let subject = s["subject"]
            .as_str()
            .ok_or("settings.subject: a string is required")?;
        let stream = match &s["stream"] {
            serde_json::Value::Null => None,
            serde_json::Value::String(name) => Some(name.clone()),
            _ => return Err("settings.stream: a string or null is required".into()),
        };
        let create_stream = match &s["createStream"] {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => *b,
            _ => return Err("settings.createStream: true or false is required".into()),
        };
        if let Some((field, e)) = check_nats(subject, stream.as_deref(), create_stream)
            .into_iter()
            .next()
        {
            let field = if field == "create_stream" {
                "createStream"
            } else {
                field
            };
            return Err(format!("settings.{field}: {e}"));
        }
        Ok(NatsConfig {
            url: url.to_string(),
            subject: subject.to_string(),
            stream,
            create_stream,
        })
    }

    /// Reads the admin API's body (every bad field is named in `details`).
    pub(crate) fn from_body(body: SinkBody, details: &mut Vec<String>) -> Option<NatsConfig> {
        let url = body
            .url
            .as_deref()
            .map_or(DEFAULT_NATS_URL, str::trim)
            .to_string();
        let subject = body
            .subject
            .unwrap_or_else(|| DEFAULT_NATS_SUBJECT.to_string());
        let create_stream = body.create_stream.unwrap_or(false);
        let mut ok = true;
        if let Err(e) = check_nats_url(&url) {
            details.push(format!("url: {}", truncate(&e)));
            ok = false;
        }
        for (field, e) in check_nats(&subject, body.stream.as_deref(), create_stream) {
            let e = e.replace("create_stream", "createStream");
            details.push(format!("{field}: {}", truncate(&e)));
            ok = false;
        }
        ok.then_some(NatsConfig {
            url,
            subject,
            stream: body.stream,
            create_stream,
        })
    }

    /// Fills the admin API's view.
    pub(crate) fn view(self, view: &mut SinkView) {
        // Credentials in the URL are never shown.
        view.url = Some(crate::settings::redact_urls(&self.url));
        view.subject = Some(self.subject);
        view.stream = self.stream;
        view.create_stream = Some(self.create_stream);
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
