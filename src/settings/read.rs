//! Typed reading of a parsed TOML table: every getter records a [`FieldError`](super::FieldError) with the
//! field's path instead of stopping, so that one pass reports every problem.
//!
//! Values are never copied into error messages by the getters: a field that holds a secret can be read with
//! them without the secret reaching a message.

use std::time::Duration;

use toml::{Table, Value};

use super::errors::{Errors, index, join};

/// A TOML table being read, with the path it sits at and the keys it may contain.
pub(crate) struct Reader<'a> {
    table: &'a Table,
    path: String,
}

impl<'a> Reader<'a> {
    /// Starts reading `table`; reports every key not in `allowed` as unknown.
    pub(crate) fn new(
        table: &'a Table,
        path: &str,
        allowed: &[&str],
        errs: &mut Errors,
    ) -> Reader<'a> {
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) {
                errs.push(
                    join(path, key),
                    format!("unknown key (expected one of: {})", allowed.join(", ")),
                );
            }
        }
        Reader {
            table,
            path: path.to_string(),
        }
    }

    /// The path of `key` in this table.
    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The path of this table.
    pub(crate) fn own_path(&self) -> &str {
        &self.path
    }

    /// Whether `key` is present.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// The raw value of `key`.
    pub(crate) fn raw(&self, key: &str) -> Option<&'a Value> {
        self.table.get(key)
    }

    /// A string, or `None` when absent or of another type (reported).
    pub(crate) fn string(&self, key: &str, errs: &mut Errors) -> Option<String> {
        match self.table.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                errs.push(self.path(key), wrong_type("a string", other));
                None
            }
        }
    }

    /// A required string: absence is reported too.
    pub(crate) fn required_string(&self, key: &str, errs: &mut Errors) -> Option<String> {
        if !self.has(key) {
            errs.push(self.path(key), "is required");
            return None;
        }
        self.string(key, errs)
    }

    /// A boolean, `default` when absent.
    pub(crate) fn bool(&self, key: &str, default: bool, errs: &mut Errors) -> bool {
        match self.table.get(key) {
            None => default,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                errs.push(self.path(key), wrong_type("true or false", other));
                default
            }
        }
    }

    /// A humantime duration string such as `"15s"`, greater than zero; `default` when absent.
    pub(crate) fn duration(&self, key: &str, default: Duration, errs: &mut Errors) -> Duration {
        match self.table.get(key) {
            None => default,
            Some(Value::String(s)) => match humantime::parse_duration(s.trim()) {
                Ok(d) if d.is_zero() => {
                    errs.push(self.path(key), "must be greater than zero");
                    default
                }
                Ok(d) => d,
                Err(e) => {
                    errs.push(
                        self.path(key),
                        format!("{s:?} is not a duration such as \"15s\" or \"500ms\": {e}"),
                    );
                    default
                }
            },
            Some(other) => {
                errs.push(
                    self.path(key),
                    wrong_type("a duration string such as \"15s\"", other),
                );
                default
            }
        }
    }

    /// A non-negative integer that fits `T`; `default` when absent.
    pub(crate) fn uint<T>(&self, key: &str, default: T, errs: &mut Errors) -> T
    where
        T: TryFrom<i64> + Copy + std::fmt::Display + Bounded,
    {
        match self.table.get(key) {
            None => default,
            Some(Value::Integer(i)) if *i < 0 => {
                errs.push(self.path(key), "must not be negative");
                default
            }
            Some(Value::Integer(i)) => match T::try_from(*i) {
                Ok(v) => v,
                Err(_) => {
                    errs.push(
                        self.path(key),
                        format!("is too large (at most {})", T::MAX_VALUE),
                    );
                    default
                }
            },
            Some(other) => {
                errs.push(self.path(key), wrong_type("a whole number", other));
                default
            }
        }
    }

    /// A signed 32-bit integer; `default` when absent.
    pub(crate) fn i32(&self, key: &str, default: i32, errs: &mut Errors) -> i32 {
        match self.table.get(key) {
            None => default,
            Some(Value::Integer(i)) => i32::try_from(*i).unwrap_or_else(|_| {
                errs.push(
                    self.path(key),
                    format!("must be between {} and {}", i32::MIN, i32::MAX),
                );
                default
            }),
            Some(other) => {
                errs.push(self.path(key), wrong_type("a whole number", other));
                default
            }
        }
    }

    /// A number (an integer is accepted too); `default` when absent.
    pub(crate) fn float(&self, key: &str, default: f64, errs: &mut Errors) -> f64 {
        match self.table.get(key) {
            None => default,
            Some(Value::Float(f)) if f.is_finite() => *f,
            Some(Value::Float(_)) => {
                errs.push(self.path(key), "must be a finite number");
                default
            }
            // Config values are small; the conversion is exact for them.
            Some(Value::Integer(i)) => *i as f64,
            Some(other) => {
                errs.push(self.path(key), wrong_type("a number", other));
                default
            }
        }
    }

    /// A list of strings with the path of each; `None` when absent or of another type (reported).
    pub(crate) fn string_list(
        &self,
        key: &str,
        errs: &mut Errors,
    ) -> Option<Vec<(String, String)>> {
        let path = self.path(key);
        match self.table.get(key)? {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push((index(&path, i), s.clone())),
                        other => errs.push(index(&path, i), wrong_type("a string", other)),
                    }
                }
                Some(out)
            }
            other => {
                errs.push(path, wrong_type("a list of strings", other));
                None
            }
        }
    }

    /// A sub-table, or `None` when absent or of another type (reported).
    pub(crate) fn table(&self, key: &str, errs: &mut Errors) -> Option<&'a Table> {
        match self.table.get(key)? {
            Value::Table(t) => Some(t),
            other => {
                errs.push(self.path(key), wrong_type("a table", other));
                None
            }
        }
    }

    /// An array of tables (`[[key]]`) with the path of each; empty when absent.
    pub(crate) fn tables(&self, key: &str, errs: &mut Errors) -> Vec<(String, &'a Table)> {
        let path = self.path(key);
        match self.table.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Table(t) => out.push((index(&path, i), t)),
                        other => errs.push(index(&path, i), wrong_type("a table", other)),
                    }
                }
                out
            }
            Some(other) => {
                errs.push(
                    path,
                    wrong_type("an array of tables ([[...]] sections)", other),
                );
                Vec::new()
            }
        }
    }
}

/// "expected X, found integer": names the type found, never its value.
pub(crate) fn wrong_type(expected: &str, found: &Value) -> String {
    format!("expected {expected}, found {}", found.type_str())
}

/// The largest value of an integer type, for messages.
pub(crate) trait Bounded {
    /// The largest value.
    const MAX_VALUE: u64;
}

impl Bounded for u32 {
    const MAX_VALUE: u64 = u32::MAX as u64;
}

impl Bounded for u64 {
    const MAX_VALUE: u64 = u64::MAX;
}

impl Bounded for usize {
    const MAX_VALUE: u64 = usize::MAX as u64;
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Best-effort key path of the line holding a syntax error: the enclosing `[table]` or `[[array]]` header
/// (with indices) and the bare key at the start of the line, if any. Empty when it cannot be told.
pub(crate) fn syntax_error_path(text: &str, offset: usize) -> String {
    let (line_no, _) = line_col(text, offset);
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut header = String::new();
    let mut header_path = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let is_error_line = i + 1 == line_no;
        if let Some(name) = header_name(line) {
            let Some(name) = name else {
                // A header we cannot read (quoted keys and the like): give up on a path.
                if is_error_line {
                    return String::new();
                }
                header.clear();
                header_path.clear();
                continue;
            };
            if line.starts_with("[[") {
                let prefix = format!("{name}.");
                counts.retain(|(k, _)| !k.starts_with(&prefix));
                match counts.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((name.clone(), 1)),
                }
            }
            header = name;
            header_path = indexed_path(&header, &counts);
            if is_error_line {
                return header_path;
            }
            continue;
        }
        if is_error_line {
            return match bare_key(line) {
                Some(key) => join(&header_path, key),
                None => header_path,
            };
        }
    }
    header_path
}

/// `Some(Some(name))` for a readable `[name]` / `[[name]]` header, `Some(None)` for an unreadable one,
/// `None` when the line is not a header.
fn header_name(line: &str) -> Option<Option<String>> {
    if !line.starts_with('[') {
        return None;
    }
    let (open, close) = if line.starts_with("[[") {
        ("[[", "]]")
    } else {
        ("[", "]")
    };
    let inner = line.strip_prefix(open)?;
    let Some(end) = inner.find(close) else {
        return Some(None);
    };
    let parts: Vec<&str> = inner[..end].split('.').map(str::trim).collect();
    if parts.iter().all(|p| is_bare_key(p)) {
        Some(Some(parts.join(".")))
    } else {
        Some(None)
    }
}

/// The bare key at the start of `key = value`, if the line has that shape.
fn bare_key(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    is_bare_key(key).then_some(key)
}

fn is_bare_key(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `tenants.clients` → `tenants[1].clients[0]` given how many of each array element were seen.
fn indexed_path(header: &str, counts: &[(String, usize)]) -> String {
    let mut path = String::new();
    let mut prefix = String::new();
    for part in header.split('.') {
        prefix = join(&prefix, part);
        path = join(&path, part);
        if let Some((_, n)) = counts.iter().find(|(k, _)| *k == prefix) {
            path = index(&path, n - 1);
        }
    }
    path
}
