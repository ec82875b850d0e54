//! How a sink kind's one settings type ([`KindSettings`], in `crate::sink::<kind>::config`) is read from the
//! three places settings come from, and written back:
//! - the configuration file's `[[sinks]]` table: snake_case keys (`max_bytes`), plus what only a file can
//!   say (a duration as text, a secret from the environment or a file), paths relative to the file;
//! - the admin API's body: the same fields in camelCase (`maxBytes`), as the view shows them;
//! - the store: the view's form, with secrets sealed (each kind opens its own before it is decoded).
//!
//! The type is decoded by serde; what serde cannot say (a field of another kind, a value out of range, two
//! fields that disagree) is said by the kind's [`KindSettings::check`]. Every bad field is named at once.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::secrets::MasterKey;
use crate::settings::{EnvLookup, Errors, Reader};
use crate::sink::config::SinkConfig;

/// A field at fault and why, in the API's words: `("maxBytes", "must be at least 1")`. The field may go
/// deeper: `brokers[0]`, `properties.acks`.
pub type Fault = (String, String);

/// Where settings come from.
#[derive(Clone, Copy)]
pub enum Origin<'a> {
    /// A `[[sinks]]` table of the configuration file in `base_dir`, which relative paths are taken from.
    File { base_dir: &'a Path },
    /// The admin API's body: relative paths are taken from the working directory (and confined by the API).
    Api,
    /// The store: written by the registry, secrets already opened.
    Store,
}

/// What a kind's check knows besides the settings.
pub struct Context<'a> {
    /// The sink's name (a log's default directory is named after it).
    pub name: &'a str,
    pub origin: Origin<'a>,
    /// The fields written, to tell a value written from a default.
    pub given: Vec<String>,
}

impl Context<'_> {
    /// Whether `field` was written.
    pub fn given(&self, field: &str) -> bool {
        self.given.iter().any(|g| g == field)
    }
}

/// What the store gives a kind to open its sealed secret with.
pub struct Stored<'a> {
    pub name: &'a str,
    /// The master key; without it, secrets are not stored and come from the configuration file.
    pub key: Option<&'a MasterKey>,
    /// The configuration file's sinks, which hold the secrets of sinks stored without them.
    pub file_sinks: &'a [SinkConfig],
}

/// A sink kind's settings: one serde type, camelCase, that is the admin API's body and view and the
/// store's settings, and that a `[[sinks]]` table is read into.
pub trait KindSettings: Serialize + DeserializeOwned + Sized {
    /// `kind = "..."`.
    const KIND: &'static str;
    /// Its fields, as the API, the view and the store name them.
    const FIELDS: &'static [&'static str];
    /// The fields without a default, each with a valid stand-in (JSON) that lets the other fields be checked
    /// while it is missing.
    const REQUIRED: &'static [(&'static str, &'static str)] = &[];
    /// Fields whose key in a `[[sinks]]` table is not their name in snake_case: `(field, key)`.
    const FILE_NAMES: &'static [(&'static str, &'static str)] = &[];
    /// Keys only a `[[sinks]]` table has, turned into fields by [`KindSettings::from_file`].
    const FILE_ONLY: &'static [&'static str] = &[];

    /// Turns what only a `[[sinks]]` table says into fields (a duration's text into milliseconds, a secret
    /// from the environment into its text). Errors are pushed at the table's keys.
    fn from_file(
        _fields: &mut Map<String, Value>,
        _r: &Reader<'_>,
        _base_dir: &Path,
        _env: EnvLookup<'_>,
        _errs: &mut Errors,
    ) {
    }

    /// Opens what the store keeps sealed, and reads what an earlier version stored differently.
    fn from_store(_fields: &mut Map<String, Value>, _stored: &Stored<'_>) -> Result<(), String> {
        Ok(())
    }

    /// Checks the settings together and puts them in their normal form (trimmed, paths resolved).
    fn check(&mut self, cx: &Context<'_>) -> Vec<Fault>;

    /// The settings as the API shows them: credentials in a URL hidden.
    fn shown(self) -> Self {
        self
    }
}

/// The key of `field` in a `[[sinks]]` table of kind `T`.
pub fn file_key<T: KindSettings>(field: &str) -> String {
    T::FILE_NAMES
        .iter()
        .find(|(f, _)| *f == field)
        .map_or_else(|| snake_case(field), |(_, key)| (*key).to_string())
}

/// Every key a `[[sinks]]` table of kind `T` may have, besides `name` and `kind`.
pub fn file_keys<T: KindSettings>() -> Vec<String> {
    let mut keys: Vec<String> = T::FIELDS.iter().map(|f| file_key::<T>(f)).collect();
    keys.extend(T::FILE_ONLY.iter().map(|k| (*k).to_string()));
    keys
}

/// `maxBytes` → `max_bytes`.
fn snake_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes the fields written in the API's words: required ones first, then serde (a field of the wrong
/// type is named, dropped, and the rest decoded again, so that every bad field is named), then the kind's
/// check.
pub fn decode<T: KindSettings>(
    mut fields: Map<String, Value>,
    cx: &Context<'_>,
    faults: &mut Vec<Fault>,
) -> Option<T> {
    let before = faults.len();
    let mut missing = Vec::new();
    for (field, stand_in) in T::REQUIRED {
        if !fields.contains_key(*field) {
            faults.push((
                (*field).to_string(),
                format!("is required for kind \"{}\"", T::KIND),
            ));
            missing.push(*field);
            fields.insert(
                (*field).to_string(),
                serde_json::from_str(stand_in).unwrap_or_default(),
            );
        }
    }
    let is_required = |head: &str| T::REQUIRED.iter().any(|(f, _)| *f == head);
    let mut settings = loop {
        match serde_path_to_error::deserialize::<_, T>(Value::Object(fields.clone())) {
            Ok(settings) => break settings,
            Err(e) => {
                let path = e.path().to_string();
                let message = in_words(&e.into_inner().to_string());
                let head = path
                    .split(['.', '['])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                faults.push((path, message));
                if is_required(&head) || fields.remove(&head).is_none() {
                    return None;
                }
            }
        }
    };
    let checked = settings.check(cx);
    // A stand-in is not what was written: nothing is said of it.
    faults.extend(checked.into_iter().filter(|(field, _)| {
        let head = field.split(['.', '[']).next().unwrap_or_default();
        !missing.contains(&head)
    }));
    (faults.len() == before).then_some(settings)
}

/// serde's message in the readers' words, without the value (it may be a secret): `invalid type: integer
/// `5`, expected a string` → `expected a string, found an integer`; a negative count says so.
fn in_words(message: &str) -> String {
    let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.rsplit_once(", expected "))
    else {
        return message.to_string();
    };
    let whole = |max: u64| format!("a whole number from 0 to {max}");
    let expected = match expected {
        "u8" => whole(u8::MAX.into()),
        "u16" => whole(u16::MAX.into()),
        "u32" => whole(u32::MAX.into()),
        "u64" | "usize" => whole(u64::MAX),
        "i32" => format!("a whole number from {} to {}", i32::MIN, i32::MAX),
        "i64" => "a whole number".to_string(),
        "a boolean" => "true or false".to_string(),
        other => other.to_string(),
    };
    if found.starts_with("integer `-") && expected.starts_with("a whole number from 0") {
        return format!("must not be negative: {expected} is required");
    }
    let found = match found.split([' ', '`']).next().unwrap_or_default() {
        "integer" => "an integer",
        "floating" => "a number with a fraction",
        "string" => "a string",
        "boolean" => "true or false",
        "sequence" => "a list",
        "map" => "an object",
        "unit" | "null" => "null",
        other => other,
    };
    format!("expected {expected}, found {found}")
}

/// Reads the store's settings of kind `T` back; the error names the setting at fault (`settings.url: ...`).
pub fn from_store<T: KindSettings>(settings: &Value, stored: &Stored<'_>) -> Result<T, String> {
    let mut fields = match settings {
        Value::Object(fields) => fields.clone(),
        _ => return Err("settings: an object is required".into()),
    };
    T::from_store(&mut fields, stored)?;
    // Earlier versions stored an unset optional setting as null.
    fields.retain(|_, v| !v.is_null());
    let cx = Context {
        name: stored.name,
        origin: Origin::Store,
        given: fields.keys().cloned().collect(),
    };
    let mut faults = Vec::new();
    match decode::<T>(fields, &cx, &mut faults) {
        Some(settings) => Ok(settings),
        None => {
            let (field, message) = faults.swap_remove(0);
            Err(format!("settings.{field}: {message}"))
        }
    }
}

/// Reads a `[[sinks]]` table of kind `T` (its keys already checked to be this kind's): keys become fields,
/// the kind turns its file-only keys into fields, and each fault is pushed at its key in the table's words.
pub fn from_file<T: KindSettings>(
    name: &str,
    r: &Reader<'_>,
    table: &toml::Table,
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Option<T> {
    let mut fields = Map::new();
    for (key, value) in table {
        if let Some(field) = T::FIELDS.iter().find(|f| file_key::<T>(f) == *key) {
            fields.insert((*field).to_string(), toml_to_json(value));
        }
    }
    let errors_before = errs.len();
    T::from_file(&mut fields, r, base_dir, env, errs);
    let cx = Context {
        name,
        origin: Origin::File { base_dir },
        given: fields.keys().cloned().collect(),
    };
    let mut faults = Vec::new();
    let settings = decode::<T>(fields, &cx, &mut faults);
    let faults: Vec<(String, String)> = faults
        .into_iter()
        .map(|(field, message)| (file_path::<T>(r, &field), file_words::<T>(&message)))
        // A file-only key already said what is wrong with the field it gives.
        .filter(|(path, _)| !errs.has(path))
        .collect();
    for (path, message) in faults {
        errs.push(path, message);
    }
    settings.filter(|_| errs.len() == errors_before)
}

/// A fault's field as a path in the configuration file: `brokers[0]` → `sinks[0].brokers[0]`,
/// `properties.acks` → `sinks[0].properties."acks"`.
fn file_path<T: KindSettings>(r: &Reader<'_>, field: &str) -> String {
    let cut = field.find(['.', '[']).unwrap_or(field.len());
    let (head, rest) = field.split_at(cut);
    let key = r.path(&file_key::<T>(head));
    match rest.strip_prefix('.') {
        Some(entry) => format!("{key}.{entry:?}"),
        None => format!("{key}{rest}"),
    }
}

/// A message in the configuration file's words: fields named by their keys (`createStream` → `create_stream`).
fn file_words<T: KindSettings>(message: &str) -> String {
    let mut out = message.to_string();
    for field in T::FIELDS {
        let key = file_key::<T>(field);
        if key != *field {
            out = out.replace(field, &key);
        }
    }
    out
}

/// A TOML value as JSON: a date is its text.
fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Reads a `[[sinks]]` duration key (`timeout = "10s"`) into a field in milliseconds (`timeoutMs`).
pub fn duration_key_to_millis(
    fields: &mut Map<String, Value>,
    r: &Reader<'_>,
    key: &str,
    field: &str,
    errs: &mut Errors,
) {
    if r.has(key) {
        let before = errs.len();
        let d = r.duration(key, Duration::ZERO, errs);
        if errs.len() == before {
            fields.insert(field.to_string(), Value::from(millis(d)));
        }
    }
}

/// A duration in whole milliseconds, saturated.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// serde for a duration as whole milliseconds (`"timeoutMs": 10000`).
pub mod as_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(super::millis(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// serde for a duration as text (`"maxAge": "1day"`), such as `"24h"` or `"90m"`.
pub mod as_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| {
            D::Error::custom(format!(
                "{:?} is not a duration such as \"24h\": {e}",
                super::truncate(&text)
            ))
        })
    }
}

/// A value cut to 120 characters for a message.
pub fn truncate(s: &str) -> String {
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(120)])
    } else {
        s.to_string()
    }
}
