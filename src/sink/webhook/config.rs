//! A webhook sink's settings (`kind = "webhook"`): one type that is the configuration file's table, the admin
//! API's body and view and the store's settings (see `crate::sink::form`), and their checks.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secrets::Sealed;
use crate::settings::{EnvLookup, Errors, Reader, Secret, read_secret};
use crate::sink::config::{SinkKind, sink_aad};
use crate::sink::form::{
    Context, Fault, KindSettings, Stored, as_millis, duration_key_to_millis, truncate,
};

/// Default time a webhook POST may take: 10 s.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Each envelope (or the whole batch as a JSON array) POSTed to a URL, signed per Standard Webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConfig {
    /// The `http://` or `https://` URL. Credentials in it are never shown.
    pub url: String,
    /// The signing secret: `whsec_<base64>` (the key is the decoded part) or any other text (its bytes).
    /// Write-only: stored sealed by the master key, shown as `"set"`. A configuration file may give it as
    /// `secret_env` or `secret_file` instead.
    #[schema(value_type = String, example = "set")]
    pub secret: Secret,
    /// One POST per batch with a JSON array, rather than one POST per envelope. Default false.
    #[serde(default)]
    pub batch: bool,
    /// How long one POST may take, in milliseconds (default 10000). A configuration file writes
    /// `timeout = "10s"`.
    #[serde(rename = "timeoutMs", default = "default_timeout", with = "as_millis")]
    #[schema(value_type = u64)]
    pub timeout: Duration,
    /// CIDRs, addresses or host names allowed even when they resolve to loopback, private or link-local
    /// addresses.
    #[serde(default)]
    pub allow: Vec<String>,
}

fn default_timeout() -> Duration {
    DEFAULT_WEBHOOK_TIMEOUT
}

impl KindSettings for WebhookConfig {
    const KIND: &'static str = "webhook";
    const FIELDS: &'static [&'static str] = &["url", "secret", "batch", "timeoutMs", "allow"];
    const REQUIRED: &'static [(&'static str, &'static str)] = &[
        ("url", r#""http://required.invalid""#),
        ("secret", r#""required""#),
    ];
    const FILE_NAMES: &'static [(&'static str, &'static str)] = &[("timeoutMs", "timeout")];
    const FILE_ONLY: &'static [&'static str] = &["secret_env", "secret_file"];

    fn from_file(
        fields: &mut Map<String, Value>,
        r: &Reader<'_>,
        base_dir: &Path,
        env: EnvLookup<'_>,
        errs: &mut Errors,
    ) {
        fields.remove("secret");
        if let Some(secret) = read_secret(r, base_dir, env, errs) {
            fields.insert("secret".into(), Value::String(secret.expose().to_string()));
        }
        fields.remove("timeoutMs");
        duration_key_to_millis(fields, r, "timeout", "timeoutMs", errs);
    }

    /// The secret is stored sealed by the master key; stored without one, it is taken from the configuration
    /// file's webhook sink of the same name.
    fn from_store(fields: &mut Map<String, Value>, stored: &Stored<'_>) -> Result<(), String> {
        let secret = match fields.get("secret") {
            Some(Value::String(text)) => {
                let key = stored
                    .key
                    .ok_or("settings.secret: sealed, but no master key is set to open it")?;
                let sealed =
                    Sealed::from_text(text).map_err(|e| format!("settings.secret: {e}"))?;
                key.open(&sealed, &sink_aad(stored.name))
                    .map_err(|e| format!("settings.secret: {e}"))?
            }
            _ => stored
                .file_sinks
                .iter()
                .find_map(|f| match &f.kind {
                    SinkKind::Webhook(w) if f.name == stored.name => Some(w.secret.clone()),
                    _ => None,
                })
                .ok_or("settings.secret: not stored, and the configuration file has no webhook sink of this name to take it from")?,
        };
        fields.insert("secret".into(), Value::String(secret.expose().to_string()));
        Ok(())
    }

    fn check(&mut self, _cx: &Context<'_>) -> Vec<Fault> {
        let mut faults = Vec::new();
        self.url = self.url.trim().to_string();
        if let Err(e) = check_webhook_url(&self.url) {
            faults.push(("url".to_string(), truncate(&e)));
        }
        self.secret = Secret::new(self.secret.expose().trim());
        if let Err(e) = webhook_key(&self.secret) {
            faults.push(("secret".to_string(), e));
        }
        if self.timeout < Duration::from_millis(1) {
            faults.push(("timeoutMs".to_string(), "must be at least 1".to_string()));
        }
        for (i, a) in self.allow.iter_mut().enumerate() {
            match check_webhook_allow(a) {
                Ok(()) => *a = a.trim().to_string(),
                Err(e) => faults.push((format!("allow[{i}]"), truncate(&e))),
            }
        }
        faults
    }

    fn shown(mut self) -> WebhookConfig {
        self.url = crate::settings::redact_url(&self.url);
        self
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
