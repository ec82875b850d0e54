//! Secrets: where a configuration file's come from, and a write-only type that keeps them out of logs, error
//! messages and the API's answers.

use std::fmt;
use std::path::Path;

use super::errors::Errors;
use super::read::Reader;

/// A secret value: an OAuth client secret, a webhook's signing secret, a secret Kafka property.
///
/// Write-only: it is read from an API body as its plain text, and written back as [`SHOWN`] (`"set"`) by
/// every view that serialises it, so that no response can carry it. `Debug` and `Display` print `***`: a
/// secret never reaches a log line or an error message. It goes into the store only sealed by the master key
/// (`crate::secrets`). Read the value with [`Secret::expose`] only where it is sent to the platform or a sink's
/// destination.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// How a view shows a secret that is set.
pub const SHOWN: &str = "set";

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SHOWN)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

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

/// A URL as it may be shown (logs, errors, API views, the audit log): the user name and password become `***`,
/// and so does every query value (a token in a query is as secret as a password). Text that is not a URL is
/// shown as `***` whole.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => redacted(&u),
        Err(_) => "***".into(),
    }
}

/// [`redact_url`] of each URL of a comma-separated list (NATS servers).
pub fn redact_urls(list: &str) -> String {
    list.split(',')
        .map(redact_url)
        .collect::<Vec<_>>()
        .join(",")
}

/// [`redact_url`] of a parsed URL.
pub fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() {
        let _ = shown.set_username("***");
    }
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, _)| (k.into_owned(), "***".to_string()))
            .collect();
        shown
            .query_pairs_mut()
            .clear()
            .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    shown.to_string()
}

/// Whether a URL carries a credential (a user name, a password or a query) that [`redacted`] hides.
pub fn url_has_credentials(url: &str) -> bool {
    reqwest::Url::parse(url.trim())
        .is_ok_and(|u| !u.username().is_empty() || u.password().is_some() || u.query().is_some())
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn user_password_and_query_values_are_hidden() {
        assert_eq!(
            redact_url("https://bob:hunter2@hooks.example.com/x?token=abc&team=a"),
            "https://***:***@hooks.example.com/x?token=***&team=***"
        );
        assert_eq!(
            redact_url("nats://user:pw@nats.internal:4222"),
            "nats://***:***@nats.internal:4222"
        );
        assert_eq!(
            redact_url("https://h.example.com/x"),
            "https://h.example.com/x"
        );
        assert_eq!(redact_url("not a url with hunter2"), "***");
        assert!(url_has_credentials("https://a:b@h/"));
        assert!(url_has_credentials("https://h/?k=v"));
        assert!(!url_has_credentials("https://h/x"));
    }
}

#[cfg(test)]
mod write_only_tests {
    use super::*;

    #[test]
    fn a_secret_is_read_as_text_and_shown_only_as_set() {
        let s: Secret = serde_json::from_str(r#""hunter2""#).unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""set""#);
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        #[derive(serde::Serialize)]
        struct View {
            secret: Secret,
        }
        let shown = serde_json::to_string(&View { secret: s }).unwrap();
        assert_eq!(shown, r#"{"secret":"set"}"#);
        assert!(serde_json::from_str::<Secret>("42").is_err(), "text only");
    }
}
