//! The store's form of sinks and routes, and the conversions both ways: a sink's record holds its kind, its
//! settings (each kind's own, see `crate::sink::<kind>::config`) and its secret sealed by the master key.

use chrono::{DateTime, Utc};

use crate::config::RouteConfig;
use crate::secrets::MasterKey;
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
    let kind = SinkKind::from_settings(
        &record.kind,
        &record.name,
        &record.settings,
        key,
        file_sinks,
    )?;
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

pub(super) fn route_config(record: &RouteRecord) -> RouteConfig {
    RouteConfig {
        tenants: record.tenants.clone(),
        sinks: record.sinks.clone(),
        topics: record.topics.clone(),
        changes_only: record.changes_only,
    }
}

/// Now, at the precision the stores keep, so that what the API shows does not change across a restart.
pub(super) fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
