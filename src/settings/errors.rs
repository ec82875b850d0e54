//! Configuration errors: every problem found, each with the path of the field it concerns.

use std::fmt;

/// One problem in a configuration file.
///
/// `path` names the field the way it is written in TOML, with array indices:
/// `tenants[0].clients[1].secret_env`, `engine.backoff.jitter`, or `""` for the whole file.
/// `message` never contains a secret value: it names the environment variable or file instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the problem is, e.g. `tenants[0].clients[1].secret_env`; empty for the whole file.
    pub path: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a configuration file, in the order they were found.
///
/// Displays as one line per error, `path: message`.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(&self.errors))]
pub struct ConfigErrors {
    /// The problems, at least one.
    pub errors: Vec<FieldError>,
}

impl ConfigErrors {
    /// A single problem at `path`.
    pub fn single(path: impl Into<String>, message: impl Into<String>) -> ConfigErrors {
        ConfigErrors {
            errors: vec![FieldError::new(path, message)],
        }
    }

    /// Whether some error concerns exactly `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.errors.iter().any(|e| e.path == path)
    }
}

fn render(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(FieldError::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects problems while a configuration is read, so that all of them are reported at once.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    /// Records a problem at `path`.
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    /// How many problems were recorded: a reader compares it before and after to know whether its part failed.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether a problem was recorded at `path`: cross-field checks skip fields already reported.
    pub(crate) fn has(&self, path: &str) -> bool {
        self.0.iter().any(|e| e.path == path)
    }

    /// `Ok(value)` when nothing was recorded, else every recorded problem.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors { errors: self.0 })
        }
    }
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}
