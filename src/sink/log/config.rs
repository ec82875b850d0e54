//! A log sink's settings (`kind = "log"`): one type that is the configuration file's table, the admin API's
//! body and view and the store's settings (see `crate::sink::form`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::sink::form::{Context, Fault, KindSettings, Origin, Stored, as_text};

/// Default bound of a log: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// Default age past which records are trimmed: 24 hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The shortest `max_age`.
pub const MIN_MAX_AGE: Duration = Duration::from_secs(1);
/// The smallest `max_bytes`.
pub const MIN_MAX_BYTES: u64 = 4096;

/// A replay log on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogConfig {
    /// The log's directory (its segments and lock). Default `logs/<sink name>`: in a configuration file,
    /// beside the file; through the API, below `[admin] data_dir`.
    #[serde(default)]
    #[schema(value_type = String)]
    pub dir: PathBuf,
    /// Trim the oldest segments once the log is larger than this. Default 1 GiB; at least 4096.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Trim segments whose records are all older than this: `"24h"` (the default), at least `"1s"`.
    #[serde(default = "default_max_age", with = "as_text")]
    #[schema(value_type = String, example = "24h")]
    pub max_age: Duration,
}

fn default_max_bytes() -> u64 {
    DEFAULT_MAX_BYTES
}

fn default_max_age() -> Duration {
    DEFAULT_MAX_AGE
}

impl KindSettings for LogConfig {
    const KIND: &'static str = "log";
    const FIELDS: &'static [&'static str] = &["dir", "maxBytes", "maxAge"];

    /// Versions before this one stored the age in milliseconds (`maxAgeMs`).
    fn from_store(fields: &mut Map<String, Value>, _stored: &Stored<'_>) -> Result<(), String> {
        if let Some(ms) = fields.remove("maxAgeMs") {
            let ms = ms
                .as_u64()
                .ok_or("settings.maxAgeMs: a whole number is required")?;
            let text = humantime::format_duration(Duration::from_millis(ms)).to_string();
            fields.entry("maxAge").or_insert(Value::String(text));
        }
        Ok(())
    }

    fn check(&mut self, cx: &Context<'_>) -> Vec<Fault> {
        let mut faults = Vec::new();
        if self.max_bytes < MIN_MAX_BYTES {
            faults.push((
                "maxBytes".to_string(),
                format!("must be at least {MIN_MAX_BYTES} (1 MiB)"),
            ));
        }
        if self.max_age < MIN_MAX_AGE {
            faults.push(("maxAge".to_string(), "must be at least 1s".to_string()));
        }
        let written = self.dir.to_string_lossy().trim().to_string();
        if written.is_empty() && cx.given("dir") {
            faults.push(("dir".to_string(), "must not be empty".to_string()));
            return faults;
        }
        let dir = if written.is_empty() {
            Path::new("logs").join(cx.name)
        } else {
            PathBuf::from(written)
        };
        self.dir = match cx.origin {
            Origin::File { base_dir } => base_dir.join(dir),
            // Relative: the API confines it below `[admin] data_dir`.
            Origin::Api | Origin::Store => dir,
        };
        faults
    }
}
