//! What every sink has, whatever its kind: [`SinkConfig`] (a name and a [`SinkKind`]), the reading of the
//! `[[sinks]]` tables (each into its kind's settings, see [`SinkKind::read`]), the checks of names and
//! templates, and the associated data a sink's sealed secret is bound to.

use std::path::{Path, PathBuf};

use toml::Table;

pub use super::kinds::SinkKind;
use crate::settings::{EnvLookup, Errors, Reader};

/// A named destination for events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// Unique name, `[a-z0-9_-]+`, referred to by routes.
    pub name: String,
    /// What the sink is.
    pub kind: SinkKind,
}

/// The associated data that binds a sink's sealed secret to the sink.
pub fn sink_aad(name: &str) -> String {
    format!("switchboard/sink-secret/v1/{name}")
}

/// Checks a template's placeholders: each `{name}` is one of `placeholders`, braces are paired. Returns the
/// template with every placeholder rendered as `x`, for the destination's own checks. The error does not
/// name the field.
pub fn check_template(template: &str, placeholders: &[&str]) -> Result<String, String> {
    if template.is_empty() {
        return Err("must not be empty".into());
    }
    let mut sample = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        sample.push_str(&rest[..open]);
        if rest.as_bytes()[open] == b'}' {
            return Err(format!("{template:?}: a '}}' without its '{{'"));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{template:?}: a '{{' without its '}}'"))?;
        let name = &after[..close];
        if !placeholders.contains(&name) {
            let expected: Vec<String> = placeholders.iter().map(|p| format!("{{{p}}}")).collect();
            return Err(format!(
                "{template:?}: unknown placeholder {{{name}}} (expected {})",
                or_list(&expected)
            ));
        }
        sample.push('x');
        rest = &after[close + 1..];
    }
    sample.push_str(rest);
    Ok(sample)
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Whether `name` is a valid sink name: `[a-z0-9_-]+`.
pub fn is_valid_sink_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// Reads every `[[sinks]]` table; reports duplicate names and two sinks writing one file or log.
pub(crate) fn read_sinks(
    tables: &[(String, &Table)],
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Vec<SinkConfig> {
    let mut out: Vec<SinkConfig> = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let keys = super::kinds::all_file_keys();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    for (path, table) in tables {
        let r = Reader::new(table, path, &keys, errs);
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
        let kind = r.required_string("kind", errs).and_then(|kind| {
            let named = name.as_deref().unwrap_or("unnamed");
            SinkKind::read(&kind, named, &r, table, base_dir, env, errs)
        });
        let kind = kind.filter(|kind| match kind.local_path() {
            Some((field, local)) => match files.iter().find(|(p, _)| p == local) {
                Some((_, other)) => {
                    errs.push(
                        r.path(field),
                        format!(
                            "{} is already written by the sink at {other}",
                            local.display()
                        ),
                    );
                    false
                }
                None => {
                    files.push((local.to_path_buf(), r.own_path().to_string()));
                    true
                }
            },
            None => true,
        });
        if let (Some(name), Some(kind)) = (name, kind) {
            out.push(SinkConfig { name, kind });
        }
    }
    out
}
