//! The store's form of sinks and routes, and the conversions both ways: a sink's record holds its kind, its
//! settings (each kind's own, see `crate::sink::<kind>::config`) and its secret sealed by the master key.

use chrono::{DateTime, Utc};

use crate::config::RouteConfig;
use crate::secrets::{MasterKey, Sealed};
use crate::settings::{Secret, redact_url, url_has_credentials};
use crate::sink::{SinkConfig, SinkKind, sink_aad};
use crate::store::{RouteRecord, SinkRecord};

/// Reads a stored sink back. An error says what is wrong (a kind this version does not know, a bad setting).
/// A sealed secret is opened with `key`; a sink stored without one takes the secret of the configuration
/// file's sink of the same name.
pub(super) fn sink_from_record(
    record: &SinkRecord,
    key: Option<&MasterKey>,
    file_sinks: &[SinkConfig],
) -> Result<SinkConfig, String> {
    let settings = with_url_opened(record, key, file_sinks)?;
    let kind = SinkKind::from_settings(&record.kind, &record.name, &settings, key, file_sinks)?;
    Ok(SinkConfig {
        name: record.name.clone(),
        kind,
    })
}

/// The store's form of a sink. A sink's secret (see [`SinkKind::secret`]) is sealed with `key`; without a key it is
/// not stored (the sink then comes from the configuration file, which holds it).
pub(super) fn sink_record(
    config: &SinkConfig,
    at: DateTime<Utc>,
    key: Option<&MasterKey>,
) -> SinkRecord {
    let (kind, mut settings) = (config.kind.name(), config.kind.settings());
    // Credentials written in a URL are a secret too: the stored URL shows `***` for them, and the whole URL
    // is sealed beside it (or, without a key, taken from the configuration file again).
    if let Some(url) = settings["url"].as_str().map(str::to_string)
        && url_has_credentials(&url)
    {
        settings["url"] = serde_json::Value::String(redact_url(&url));
        settings[SEALED_URL] = match key {
            Some(key) => serde_json::Value::String(
                key.seal(&Secret::new(url), &url_aad(&config.name))
                    .to_text(),
            ),
            None => serde_json::Value::Null,
        };
    }
    if let Some(secret) = config.kind.secret() {
        settings["secret"] = match key {
            Some(key) => {
                serde_json::Value::String(key.seal(&secret, &sink_aad(&config.name)).to_text())
            }
            None => serde_json::Value::Null,
        };
    }
    SinkRecord {
        name: config.name.clone(),
        kind: kind.to_string(),
        settings,
        updated_at: at,
    }
}

/// Reads a stored route back, compiling its filter. An error says why the filter does not compile (a store
/// written by hand, or by a version whose CEL took what this one refuses).
pub(super) fn route_config(record: &RouteRecord) -> Result<RouteConfig, String> {
    let filter = match &record.filter {
        Some(text) => Some(
            crate::filter::Filter::compile(text)
                .map_err(|e| format!("filter: {}", crate::config::filter_fault(text, &e)))?,
        ),
        None => None,
    };
    Ok(RouteConfig {
        tenants: record.tenants.clone(),
        sinks: record.sinks.clone(),
        topics: record.topics.clone(),
        changes_only: record.changes_only,
        filter,
    })
}

/// The store's form of route `id`.
pub(super) fn route_record(id: &str, route: &RouteConfig, at: DateTime<Utc>) -> RouteRecord {
    RouteRecord {
        id: id.to_string(),
        tenants: route.tenants.clone(),
        sinks: route.sinks.clone(),
        topics: route.topics.clone(),
        changes_only: route.changes_only,
        filter: route.filter.as_ref().map(|f| f.source().to_string()),
        updated_at: at,
    }
}

/// What the audit log keeps of a route.
pub(super) fn route_audit(record: &RouteRecord) -> serde_json::Value {
    serde_json::json!({"tenants": record.tenants, "sinks": record.sinks, "topics": record.topics,
        "changesOnly": record.changes_only, "filter": record.filter})
}

/// Now, at the precision the stores keep, so that what the API shows does not change across a restart.
pub(super) fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// The stored settings' key of a sink's sealed URL (when its URL carries credentials).
const SEALED_URL: &str = "urlSealed";

/// What a sink's URL is sealed for: its own name, and that it is the URL (not the sink's secret).
fn url_aad(name: &str) -> String {
    format!("{}/url", sink_aad(name))
}

/// The stored settings with the sealed URL opened into `url` (or, stored without a key, the URL of the
/// configuration file's sink of that name).
fn with_url_opened(
    record: &SinkRecord,
    key: Option<&MasterKey>,
    file_sinks: &[SinkConfig],
) -> Result<serde_json::Value, String> {
    let mut settings = record.settings.clone();
    let url = match &record.settings[SEALED_URL] {
        serde_json::Value::String(text) => {
            let key = key.ok_or("settings.urlSealed: sealed, but no master key is set to open it")?;
            let sealed = Sealed::from_text(text).map_err(|e| format!("settings.urlSealed: {e}"))?;
            key.open(&sealed, &url_aad(&record.name))
                .map_err(|e| format!("settings.urlSealed: {e}"))?
                .expose()
                .to_string()
        }
        serde_json::Value::Null if record.settings.get(SEALED_URL).is_some() => file_sinks
            .iter()
            .find(|f| f.name == record.name)
            .and_then(|f| f.kind.settings()["url"].as_str().map(str::to_string))
            .ok_or("settings.url: not stored, and the configuration file has no sink of this name to take it from")?,
        _ => return Ok(settings),
    };
    settings["url"] = serde_json::Value::String(url);
    if let Some(map) = settings.as_object_mut() {
        map.remove(SEALED_URL);
    }
    Ok(settings)
}
