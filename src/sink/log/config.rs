//! A log sink's settings (`kind = "log"`): the configuration file's table, the store's settings, the admin
//! API's body and view.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::settings::{Errors, Reader};
use crate::sink::body::{SinkBody, SinkView, truncate};

/// Default bound of a log: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// Default age past which records are trimmed: 24 hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The shortest `max_age`.
pub const MIN_MAX_AGE: Duration = Duration::from_secs(1);
/// The smallest `max_bytes`.
pub const MIN_MAX_BYTES: u64 = 4096;

/// The TOML keys of a log sink (besides `name` and `kind`).
pub const KEYS: &[&str] = &["dir", "max_bytes", "max_age"];

/// A replay log on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The log's directory (its segments and lock); default `logs/<sink name>` beside the configuration file.
    pub dir: PathBuf,
    /// Trim the oldest segments once the log is larger than this. Default 1 GiB; at least 4096.
    pub max_bytes: u64,
    /// Trim segments whose records are all older than this. Default 24 h; at least 1 s.
    pub max_age: Duration,
}

impl LogConfig {
    /// Reads a `kind = "log"` table; `files` holds what earlier sinks write, so that two sinks never share a
    /// log.
    pub(crate) fn read(
        r: &Reader<'_>,
        name: &str,
        base_dir: &Path,
        files: &mut Vec<(PathBuf, String)>,
        errs: &mut Errors,
    ) -> Option<LogConfig> {
        let max_bytes = r.uint("max_bytes", DEFAULT_MAX_BYTES, errs);
        if max_bytes < MIN_MAX_BYTES {
            errs.push(
                r.path("max_bytes"),
                format!("must be at least {MIN_MAX_BYTES} (1 MiB)"),
            );
        }
        let max_age = r.duration("max_age", DEFAULT_MAX_AGE, errs);
        if max_age < MIN_MAX_AGE {
            errs.push(r.path("max_age"), "must be at least 1s");
        }
        let dir = match r.string("dir", errs) {
            Some(d) if d.trim().is_empty() => {
                errs.push(r.path("dir"), "must not be empty");
                return None;
            }
            Some(d) => base_dir.join(d.trim()),
            None => base_dir.join("logs").join(name),
        };
        if let Some((_, other)) = files.iter().find(|(p, _)| *p == dir) {
            errs.push(
                r.path("dir"),
                format!(
                    "{} is already written by the sink at {other}",
                    dir.display()
                ),
            );
            return None;
        }
        files.push((dir.clone(), r.own_path().to_string()));
        Some(LogConfig {
            dir,
            max_bytes,
            max_age,
        })
    }

    /// The store's form: `{"dir","maxBytes","maxAgeMs"}`.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "dir": self.dir.display().to_string(),
            "maxBytes": self.max_bytes,
            "maxAgeMs": u64::try_from(self.max_age.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Reads the store's form back; the error names the setting at fault.
    pub fn from_settings(s: &serde_json::Value) -> Result<LogConfig, String> {
        let dir = s["dir"]
            .as_str()
            .filter(|p| !p.trim().is_empty())
            .ok_or("settings.dir: a non-empty string is required")?;
        let max_bytes = s["maxBytes"]
            .as_u64()
            .filter(|&n| n >= MIN_MAX_BYTES)
            .ok_or("settings.maxBytes: a whole number of at least 4096 is required")?;
        let max_age = s["maxAgeMs"]
            .as_u64()
            .map(Duration::from_millis)
            .filter(|d| *d >= MIN_MAX_AGE)
            .ok_or("settings.maxAgeMs: a whole number of at least 1000 is required")?;
        Ok(LogConfig {
            dir: PathBuf::from(dir),
            max_bytes,
            max_age,
        })
    }

    /// Reads the admin API's body (every bad field is named in `details`). `dir` defaults to
    /// `logs/<name>`, relative: the API confines it below `[admin] data_dir`.
    pub(crate) fn from_body(
        name: &str,
        body: &SinkBody,
        details: &mut Vec<String>,
    ) -> Option<LogConfig> {
        let max_bytes = body.max_bytes.map_or(Some(DEFAULT_MAX_BYTES), |n| {
            u64::try_from(n).ok().filter(|&n| n >= MIN_MAX_BYTES)
        });
        if max_bytes.is_none() {
            details.push(format!(
                "maxBytes: must be at least {MIN_MAX_BYTES} (1 MiB)"
            ));
        }
        let max_age = match body.max_age.as_deref() {
            None => Some(DEFAULT_MAX_AGE),
            Some(text) => match humantime::parse_duration(text.trim()) {
                Ok(d) if d >= MIN_MAX_AGE => Some(d),
                Ok(_) => {
                    details.push("maxAge: must be at least 1s".into());
                    None
                }
                Err(e) => {
                    details.push(format!(
                        "maxAge: {:?} is not a duration such as \"24h\": {e}",
                        truncate(text)
                    ));
                    None
                }
            },
        };
        let dir = match body.dir.as_deref().map(str::trim) {
            Some("") => {
                details.push("dir: must not be empty".into());
                None
            }
            Some(d) => Some(PathBuf::from(d)),
            None => Some(Path::new("logs").join(name)),
        };
        Some(LogConfig {
            dir: dir?,
            max_bytes: max_bytes?,
            max_age: max_age?,
        })
    }

    /// Fills the admin API's view.
    pub(crate) fn view(self, view: &mut SinkView) {
        view.dir = Some(self.dir.display().to_string());
        view.max_bytes = Some(self.max_bytes);
        view.max_age = Some(humantime::format_duration(self.max_age).to_string());
    }
}
