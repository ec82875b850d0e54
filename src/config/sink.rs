//! `[[sinks]]`: where events are delivered.

use std::path::{Path, PathBuf};

use toml::Table;

use super::errors::Errors;
use super::read::Reader;

/// Default size past which a file sink rotates: 100 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Default number of rotated files a file sink keeps.
pub const DEFAULT_MAX_FILES: u32 = 5;

/// A named destination for events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// Unique name, `[a-z0-9_-]+`, referred to by routes.
    pub name: String,
    /// What the sink is.
    pub kind: SinkKind,
}

/// The kinds of sink: TOML `kind = "file"` or `kind = "stdout"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// JSON lines appended to a file, rotated by size.
    File {
        /// The file, resolved against the config file's directory.
        path: PathBuf,
        /// Rotate once the file grows past this many bytes. Default 100 MiB; at least 1.
        max_bytes: u64,
        /// Rotated files kept (`events.jsonl.1` ...). Default 5; at least 1.
        max_files: u32,
    },
    /// JSON lines on standard output.
    Stdout,
}

/// Whether `name` is a valid sink name: `[a-z0-9_-]+`.
pub fn is_valid_sink_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

const SINK_KEYS: &[&str] = &["name", "kind", "path", "max_bytes", "max_files"];
const FILE_ONLY_KEYS: &[&str] = &["path", "max_bytes", "max_files"];

/// Reads every `[[sinks]]` table; reports duplicate names and two file sinks writing one file.
pub(crate) fn read_sinks(
    tables: &[(String, &Table)],
    base_dir: &Path,
    errs: &mut Errors,
) -> Vec<SinkConfig> {
    let mut out: Vec<SinkConfig> = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for (path, table) in tables {
        let r = Reader::new(table, path, SINK_KEYS, errs);
        let name = r.required_string("name", errs).and_then(|name| {
            if !is_valid_sink_name(&name) {
                errs.push(
                    r.path("name"),
                    format!("{name:?} is not a valid sink name: use a-z, 0-9, _ and -"),
                );
                None
            } else if let Some((_, other)) = names.iter().find(|(n, _)| *n == name) {
                errs.push(
                    r.path("name"),
                    format!("duplicate sink name {name:?} (also at {other})"),
                );
                None
            } else {
                names.push((name.clone(), r.path("name")));
                Some(name)
            }
        });
        let kind = match r.required_string("kind", errs).as_deref() {
            None => None,
            Some("stdout") => {
                for key in FILE_ONLY_KEYS {
                    if r.has(key) {
                        errs.push(r.path(key), "only applies to kind = \"file\"");
                    }
                }
                Some(SinkKind::Stdout)
            }
            Some("file") => read_file_sink(&r, base_dir, &mut files, errs),
            Some(other) => {
                errs.push(
                    r.path("kind"),
                    format!("{other:?} is not one of \"file\", \"stdout\""),
                );
                None
            }
        };
        if let (Some(name), Some(kind)) = (name, kind) {
            out.push(SinkConfig { name, kind });
        }
    }
    out
}

fn read_file_sink(
    r: &Reader<'_>,
    base_dir: &Path,
    files: &mut Vec<(PathBuf, String)>,
    errs: &mut Errors,
) -> Option<SinkKind> {
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
    Some(SinkKind::File {
        path,
        max_bytes,
        max_files,
    })
}
