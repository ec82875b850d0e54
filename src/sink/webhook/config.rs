//! A webhook sink's settings (`kind = "webhook"`): the configuration file's table, the store's settings, the
//! admin API's body and view, and their checks.

use std::path::Path;
use std::time::Duration;

use crate::secrets::{MasterKey, Sealed};
use crate::settings::{EnvLookup, Errors, Reader, Secret, read_secret};
use crate::sink::body::{SinkBody, SinkView, truncate};
use crate::sink::config::{SinkConfig, SinkKind, sink_aad};

/// Default time a webhook POST may take: 10 s.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The TOML keys of a webhook sink alone (it shares `url` with NATS and `timeout` with Kafka).
pub const KEYS: &[&str] = &["secret", "secret_env", "secret_file", "batch", "allow"];

/// Each envelope (or the whole batch as a JSON array) POSTed to a URL, signed per Standard Webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The `http://` or `https://` URL.
    pub url: String,
    /// The signing secret: `whsec_<base64>` (the key is the decoded part) or any other text (its bytes).
    pub secret: Secret,
    /// One POST per batch with a JSON array, rather than one POST per envelope. Default false.
    pub batch: bool,
    /// How long one POST may take. Default 10 s.
    pub timeout: Duration,
    /// CIDRs or host names allowed even when they resolve to loopback, private or link-local addresses.
    pub allow: Vec<String>,
}

impl WebhookConfig {
    /// Reads a `kind = "webhook"` table.
    pub(crate) fn read(
        r: &Reader<'_>,
        base_dir: &Path,
        env: EnvLookup<'_>,
        errs: &mut Errors,
    ) -> Option<WebhookConfig> {
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
        ok.then_some(WebhookConfig {
            url,
            secret,
            batch,
            timeout,
            allow,
        })
    }

    /// The store's form: `{"url","batch","timeoutMs","allow"}` (the secret is added sealed by the registry,
    /// and never shown).
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "batch": self.batch,
            "timeoutMs": u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            "allow": self.allow,
        })
    }

    /// The text sealed in the store: the secret.
    pub fn secret(&self) -> Secret {
        self.secret.clone()
    }

    /// Reads the store's form back. The secret is opened with `key`; stored without one, it is taken from the
    /// configuration file's webhook sink of the same name.
    pub fn from_settings(
        name: &str,
        s: &serde_json::Value,
        key: Option<&MasterKey>,
        file_sinks: &[SinkConfig],
    ) -> Result<WebhookConfig, String> {
        let url = s["url"]
            .as_str()
            .ok_or("settings.url: a string is required")?;
        check_webhook_url(url).map_err(|e| format!("settings.url: {e}"))?;
        let batch = s["batch"].as_bool().unwrap_or(false);
        let timeout = s["timeoutMs"]
            .as_u64()
            .filter(|&n| n >= 1)
            .map(Duration::from_millis)
            .ok_or("settings.timeoutMs: a whole number of at least 1 is required")?;
        let allow: Vec<String> = match &s["allow"] {
            serde_json::Value::Null => Vec::new(),
            v => serde_json::from_value(v.clone())
                .map_err(|_| "settings.allow: a list of strings is required")?,
        };
        for a in &allow {
            check_webhook_allow(a).map_err(|e| format!("settings.allow: {e}"))?;
        }
        let secret = match &s["secret"] {
            serde_json::Value::String(text) => {
                let key =
                    key.ok_or("settings.secret: sealed, but no master key is set to open it")?;
                let sealed =
                    Sealed::from_text(text).map_err(|e| format!("settings.secret: {e}"))?;
                key.open(&sealed, &sink_aad(name))
                    .map_err(|e| format!("settings.secret: {e}"))?
            }
            _ => file_sinks
                .iter()
                .find_map(|f| match &f.kind {
                    SinkKind::Webhook(w) if f.name == name => Some(w.secret.clone()),
                    _ => None,
                })
                .ok_or("settings.secret: not stored, and the configuration file has no webhook sink of this name to take it from")?,
        };
        webhook_key(&secret).map_err(|e| format!("settings.secret: {e}"))?;
        Ok(WebhookConfig {
            url: url.to_string(),
            secret,
            batch,
            timeout,
            allow,
        })
    }

    /// Reads the admin API's body (every bad field is named in `details`).
    pub(crate) fn from_body(body: SinkBody, details: &mut Vec<String>) -> Option<WebhookConfig> {
        let url = body.url.as_deref().map(str::trim).map(str::to_string);
        match &url {
            None => details.push("url: is required for kind \"webhook\"".into()),
            Some(u) => {
                if let Err(e) = check_webhook_url(u) {
                    details.push(format!("url: {}", truncate(&e)));
                }
            }
        }
        let secret = body.secret.as_ref().map(|s| Secret::new(s.expose().trim()));
        match &secret {
            None => details.push("secret: is required for kind \"webhook\"".into()),
            Some(s) => {
                if let Err(e) = webhook_key(s) {
                    details.push(format!("secret: {e}"));
                }
            }
        }
        let timeout = match body.timeout_ms {
            None => Some(DEFAULT_WEBHOOK_TIMEOUT),
            Some(ms) => match u64::try_from(ms) {
                Ok(ms) if ms >= 1 => Some(Duration::from_millis(ms)),
                _ => {
                    details.push("timeoutMs: must be at least 1".into());
                    None
                }
            },
        };
        let allow = body.allow.unwrap_or_default();
        for (i, a) in allow.iter().enumerate() {
            if let Err(e) = check_webhook_allow(a) {
                details.push(format!("allow[{i}]: {}", truncate(&e)));
            }
        }
        match (url, secret, timeout) {
            (Some(url), Some(secret), Some(timeout)) => Some(WebhookConfig {
                url,
                secret,
                batch: body.batch.unwrap_or(false),
                timeout,
                allow: allow.into_iter().map(|a| a.trim().to_string()).collect(),
            }),
            _ => None,
        }
    }

    /// Fills the admin API's view: the secret shows as `"set"`, never itself.
    pub(crate) fn view(self, view: &mut SinkView) {
        // Credentials in the URL (user, password, query tokens) are never shown.
        view.url = Some(crate::settings::redact_url(&self.url));
        view.secret = Some(self.secret);
        view.batch = Some(self.batch);
        view.timeout_ms = Some(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX));
        view.allow = Some(self.allow);
    }
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
