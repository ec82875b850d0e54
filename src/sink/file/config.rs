//! A file sink's settings (`kind = "file"`): the configuration file's table, the store's settings, the admin
//! API's body and view.

use std::path::{Path, PathBuf};

use crate::settings::{Errors, Reader};
use crate::sink::body::{SinkBody, SinkView, truncate};

/// Default size past which a file sink rotates: 100 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Default number of rotated files a file sink keeps.
pub const DEFAULT_MAX_FILES: u32 = 5;

/// The TOML keys of a file sink (besides `name` and `kind`).
pub const KEYS: &[&str] = &["path", "max_bytes", "max_files"];

/// JSON lines appended to a file, rotated by size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// The file, resolved against the config file's directory.
    pub path: PathBuf,
    /// Rotate once the file grows past this many bytes. Default 100 MiB; at least 1.
    pub max_bytes: u64,
    /// Rotated files kept (`events.jsonl.1` ...). Default 5; at least 1.
    pub max_files: u32,
}

impl FileConfig {
    /// Reads a `kind = "file"` table; `files` holds the files earlier sinks write (with their paths), so that
    /// two sinks never write one file.
    pub(crate) fn read(
        r: &Reader<'_>,
        base_dir: &Path,
        files: &mut Vec<(PathBuf, String)>,
        errs: &mut Errors,
    ) -> Option<FileConfig> {
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
        Some(FileConfig {
            path,
            max_bytes,
            max_files,
        })
    }

    /// The store's form: `{"path","maxBytes","maxFiles"}`.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "path": self.path.display().to_string(),
            "maxBytes": self.max_bytes,
            "maxFiles": self.max_files,
        })
    }

    /// Reads the store's form back; the error names the setting at fault.
    pub fn from_settings(s: &serde_json::Value) -> Result<FileConfig, String> {
        let path = s["path"]
            .as_str()
            .filter(|p| !p.trim().is_empty())
            .ok_or("settings.path: a non-empty string is required")?;
        let max_bytes = s["maxBytes"]
            .as_u64()
            .filter(|&n| n >= 1)
            .ok_or("settings.maxBytes: a whole number of at least 1 is required")?;
        let max_files = s["maxFiles"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n >= 1)
            .ok_or("settings.maxFiles: a whole number of at least 1 is required")?;
        Ok(FileConfig {
            path: PathBuf::from(path),
            max_bytes,
            max_files,
        })
    }

    /// Reads the admin API's body (every bad field is named in `details`).
    pub(crate) fn from_body(body: &SinkBody, details: &mut Vec<String>) -> Option<FileConfig> {
        let max_bytes = body.max_bytes.map_or(Some(DEFAULT_MAX_BYTES), |n| {
            u64::try_from(n).ok().filter(|&n| n >= 1)
        });
        if max_bytes.is_none() {
            details.push("maxBytes: must be at least 1".into());
        }
        let max_files = body.max_files.map_or(Some(DEFAULT_MAX_FILES), |n| {
            u32::try_from(n).ok().filter(|&n| n >= 1)
        });
        if max_files.is_none() {
            details.push(format!("maxFiles: must be between 1 and {}", u32::MAX));
        }
        let path = match body.path.as_deref().map(str::trim) {
            None => {
                details.push("path: is required for kind \"file\"".into());
                None
            }
            Some("") => {
                details.push("path: must not be empty".into());
                None
            }
            // Stored absolute, so the same file is meant after a restart from another directory.
            Some(p) => match std::path::absolute(p) {
                Ok(abs) => Some(abs),
                Err(e) => {
                    details.push(format!("path: {:?}: {e}", truncate(p)));
                    None
                }
            },
        };
        match (path, max_bytes, max_files) {
            (Some(path), Some(max_bytes), Some(max_files)) => Some(FileConfig {
                path,
                max_bytes,
                max_files,
            }),
            _ => None,
        }
    }

    /// Fills the admin API's view.
    pub(crate) fn view(self, view: &mut SinkView) {
        view.path = Some(self.path.display().to_string());
        view.max_bytes = Some(self.max_bytes);
        view.max_files = Some(self.max_files);
    }
}
