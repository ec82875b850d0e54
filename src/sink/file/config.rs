//! A file sink's settings (`kind = "file"`): one type that is the configuration file's table, the admin API's
//! body and view and the store's settings (see `crate::sink::form`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::sink::form::{Context, Fault, KindSettings, Origin, truncate};

/// Default size past which a file sink rotates: 100 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Default number of rotated files a file sink keeps.
pub const DEFAULT_MAX_FILES: u32 = 5;

/// JSON lines appended to a file, rotated by size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileConfig {
    /// The file. In a configuration file, relative to the file's directory; through the API, relative to the
    /// service's working directory and stored absolute.
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// Rotate once the file grows past this many bytes. Default 100 MiB; at least 1.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept (`events.jsonl.1` ...). Default 5; at least 1.
    #[serde(default = "default_max_files")]
    pub max_files: u32,
}

fn default_max_bytes() -> u64 {
    DEFAULT_MAX_BYTES
}

fn default_max_files() -> u32 {
    DEFAULT_MAX_FILES
}

impl KindSettings for FileConfig {
    const KIND: &'static str = "file";
    const FIELDS: &'static [&'static str] = &["path", "maxBytes", "maxFiles"];
    const REQUIRED: &'static [(&'static str, &'static str)] = &[("path", r#""required""#)];

    fn check(&mut self, cx: &Context<'_>) -> Vec<Fault> {
        let mut faults = Vec::new();
        if self.max_bytes == 0 {
            faults.push(("maxBytes".to_string(), "must be at least 1".to_string()));
        }
        if self.max_files == 0 {
            faults.push(("maxFiles".to_string(), "must be at least 1".to_string()));
        }
        let written = self.path.to_string_lossy().trim().to_string();
        if written.is_empty() {
            faults.push(("path".to_string(), "must not be empty".to_string()));
            return faults;
        }
        match cx.origin {
            Origin::File { base_dir } => self.path = base_dir.join(written),
            // Stored absolute, so the same file is meant after a restart from another directory.
            Origin::Api => match std::path::absolute(&written) {
                Ok(abs) => self.path = abs,
                Err(e) => {
                    faults.push(("path".to_string(), format!("{:?}: {e}", truncate(&written))))
                }
            },
            Origin::Store => {}
        }
        faults
    }
}
