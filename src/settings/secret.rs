//! OAuth client secrets: where they come from, and a type that keeps them out of logs and error messages.

use std::fmt;
use std::path::Path;

use super::errors::Errors;
use super::read::Reader;

/// A secret value (an OAuth client secret).
///
/// `Debug` and `Display` print `***`: a secret never reaches a log line or an error message. Read the value
/// with [`Secret::expose`] only where it is sent to the platform.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Looks up an environment variable; `Err(())` when it is set but not valid Unicode.
pub(crate) type EnvLookup<'e> = &'e dyn Fn(&str) -> Result<Option<String>, ()>;

/// The process environment, as [`EnvLookup`].
pub(crate) fn process_env(name: &str) -> Result<Option<String>, ()> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(()),
    }
}

/// Reads the secret of a client table: exactly one of `secret`, `secret_env`, `secret_file`.
///
/// The value is trimmed; an empty value is an error. Messages name the variable or the file, never the value.
pub(crate) fn read_secret(
    client: &Reader<'_>,
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Option<Secret> {
    let given: Vec<&str> = ["secret", "secret_env", "secret_file"]
        .into_iter()
        .filter(|k| client.has(k))
        .collect();
    match given.as_slice() {
        [] => {
            errs.push(
                client.path("secret"),
                "is required: give one of secret, secret_env or secret_file",
            );
            return None;
        }
        [_] => {}
        several => {
            for key in &several[1..] {
                errs.push(
                    client.path(key),
                    format!(
                        "give only one of secret, secret_env or secret_file (found {})",
                        several.join(" and ")
                    ),
                );
            }
            return None;
        }
    }
    let key = given[0];
    let path = client.path(key);
    let source = client.string(key, errs)?;
    let value = match key {
        "secret" => source.clone(),
        "secret_env" => {
            let name = source.trim();
            if name.is_empty() {
                errs.push(path, "must name an environment variable");
                return None;
            }
            match env(name) {
                Ok(Some(v)) => v,
                Ok(None) => {
                    errs.push(path, format!("environment variable {name} is not set"));
                    return None;
                }
                Err(()) => {
                    errs.push(
                        path,
                        format!("environment variable {name} is not valid Unicode"),
                    );
                    return None;
                }
            }
        }
        _ => {
            if source.trim().is_empty() {
                errs.push(path, "must name a file");
                return None;
            }
            let file = base_dir.join(source.trim());
            match std::fs::read(&file) {
                // Only the kind of error is shown: never the content, which may be the secret.
                Err(e) => {
                    errs.push(
                        path,
                        format!("cannot read secret file {}: {}", file.display(), e.kind()),
                    );
                    return None;
                }
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => s,
                    Err(_) => {
                        errs.push(
                            path,
                            format!("secret file {} is not valid UTF-8", file.display()),
                        );
                        return None;
                    }
                },
            }
        }
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        let what = match key {
            "secret" => "is empty".to_string(),
            "secret_env" => format!("environment variable {} is empty", source.trim()),
            _ => format!(
                "secret file {} is empty",
                base_dir.join(source.trim()).display()
            ),
        };
        errs.push(path, what);
        return None;
    }
    Some(Secret::new(trimmed))
}
