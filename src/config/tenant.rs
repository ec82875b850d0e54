//! `[[tenants]]`: one Genesys Cloud organisation each, with its endpoints, OAuth clients and topics.

use std::path::Path;
use std::time::Duration;

use toml::{Table, Value};

use super::region::{Endpoints, read_endpoints};
use crate::gap::backfill::BackfillSettings;
use crate::settings::{EnvLookup, Secret, read_secret};
use crate::settings::{Errors, index};
use crate::settings::{Reader, wrong_type};
use crate::topics::TopicTemplate;
use crate::topics::{Catalogue, TopicError, expand};

/// One tenant: a Genesys Cloud organisation whose notifications are kept flowing.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    /// Unique id, `[a-z0-9][a-z0-9_-]{0,62}`; used in routes, metrics and the store.
    pub id: String,
    /// The platform's REST and OAuth hosts.
    pub endpoints: Endpoints,
    /// OAuth clients (client credentials grant), at least one; ids unique within the tenant.
    pub clients: Vec<ClientConfig>,
    /// Topics to subscribe to, each validated against the shipped catalogue.
    pub topics: Vec<TopicConfig>,
    /// A paused tenant is configured but not run. Default false.
    pub paused: bool,
    /// An extra CA certificate (PEM) to trust for this tenant's HTTPS and WSS, besides the public roots:
    /// for a proxy, a private link or the simulator's `--tls`.
    pub ca_file: Option<std::path::PathBuf>,
    /// `[tenants.backfill]`: backfill of gaps and periodic reconciliation. Default off.
    pub backfill: BackfillSettings,
    /// Topic templates (`{ template = "v2.users.{id}.presence", users = "all" }` in `topics`), expanded
    /// through the platform's REST API and kept in step with the org.
    pub templates: Vec<TopicTemplate>,
    /// How often the templates are expanded again. Default [`DEFAULT_TEMPLATE_SYNC`].
    pub template_sync_interval: Duration,
}

/// How often topic templates are expanded again unless `template_sync_interval` says otherwise.
pub const DEFAULT_TEMPLATE_SYNC: Duration = Duration::from_secs(300);
/// The shortest `template_sync_interval`: each sync lists the org's users or queues, page by page.
pub const MIN_TEMPLATE_SYNC: Duration = Duration::from_secs(5);

/// One OAuth client of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// The OAuth client id.
    pub id: String,
    /// The OAuth client secret, resolved from `secret`, `secret_env` or `secret_file`.
    pub secret: Secret,
}

/// A topic subscription with its placement priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// The subscription id as written (trimmed): a topic name or the combined form
    /// `v2.users.X?presence&routingStatus`.
    pub name: String,
    /// Higher is placed first when not every topic fits. Default 0.
    pub priority: i32,
}

const TENANT_KEYS: &[&str] = &[
    "id",
    "region",
    "api_base",
    "login_base",
    "clients",
    "topics",
    "paused",
    "ca_file",
    "backfill",
    "template_sync_interval",
];

/// Whether `id` is a valid tenant id: `[a-z0-9][a-z0-9_-]{0,62}`.
pub fn is_valid_tenant_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// Reads every `[[tenants]]` table; reports duplicate ids.
pub(crate) fn read_tenants(
    tables: &[(String, &Table)],
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Vec<TenantConfig> {
    let mut out: Vec<TenantConfig> = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    if tables.len() > crate::limits::MAX_TENANTS {
        errs.push(
            "tenants",
            format!(
                "{} tenants, at most {} per instance",
                tables.len(),
                crate::limits::MAX_TENANTS
            ),
        );
    }
    for (path, table) in tables {
        let r = Reader::new(table, path, TENANT_KEYS, errs);
        let id = r.required_string("id", errs);
        if let Some(id) = &id {
            if !is_valid_tenant_id(id) {
                errs.push(
                    r.path("id"),
                    format!(
                        "{id:?} is not a valid tenant id: 1 to 63 characters from a-z, 0-9, _ and -, \
                         starting with a letter or digit"
                    ),
                );
            } else if let Some((_, other)) = seen.iter().find(|(s, _)| s == id) {
                errs.push(
                    r.path("id"),
                    format!("duplicate tenant id {id:?} (also at {other})"),
                );
            } else {
                seen.push((id.clone(), r.path("id")));
            }
        }
        let endpoints = read_endpoints(&r, errs);
        let clients = read_clients(&r, base_dir, env, errs);
        let (topics, templates) = read_topics(&r, errs);
        let template_sync_interval =
            r.duration("template_sync_interval", DEFAULT_TEMPLATE_SYNC, errs);
        if template_sync_interval < MIN_TEMPLATE_SYNC {
            errs.push(
                r.path("template_sync_interval"),
                format!("must be at least {}s", MIN_TEMPLATE_SYNC.as_secs()),
            );
        }
        let paused = r.bool("paused", false, errs);
        let backfill = read_backfill(&r, errs);
        let ca_file = r.string("ca_file", errs).and_then(|f| {
            let path = base_dir.join(&f);
            match crate::files::read_regular(&path, crate::files::MAX_CA_FILE_BYTES) {
                Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => {
                    Some(path)
                }
                Ok(_) => {
                    errs.push(
                        r.path("ca_file"),
                        format!("{} holds no PEM certificate", path.display()),
                    );
                    None
                }
                Err(e) => {
                    errs.push(r.path("ca_file"), e);
                    None
                }
            }
        });
        if let (Some(id), Some(endpoints)) = (id, endpoints) {
            out.push(TenantConfig {
                id,
                endpoints,
                clients,
                topics,
                paused,
                ca_file,
                backfill,
                templates,
                template_sync_interval,
            });
        }
    }
    out
}

/// `[tenants.backfill]`: `on_gap` (default false) and `reconcile_every` (absent: no periodic pass).
fn read_backfill(tenant: &Reader<'_>, errs: &mut Errors) -> BackfillSettings {
    let Some(table) = tenant.table("backfill", errs) else {
        return BackfillSettings::default();
    };
    let path = tenant.path("backfill");
    let r = Reader::new(table, &path, &["on_gap", "reconcile_every"], errs);
    let settings = BackfillSettings {
        on_gap: r.bool("on_gap", false, errs),
        reconcile_every: r
            .has("reconcile_every")
            .then(|| r.duration("reconcile_every", Duration::ZERO, errs))
            .filter(|d| !d.is_zero()),
    };
    if let Some((key, why)) = settings.problem() {
        errs.push(r.path(key), why);
    }
    settings
}

fn read_clients(
    tenant: &Reader<'_>,
    base_dir: &Path,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Vec<ClientConfig> {
    match tenant.raw("clients") {
        None => errs.push(
            tenant.path("clients"),
            "at least one client is required ([[tenants.clients]] with id and secret)",
        ),
        Some(Value::Array(a)) if a.is_empty() => {
            errs.push(tenant.path("clients"), "at least one client is required")
        }
        _ => {}
    }
    let tables = tenant.tables("clients", errs);
    let keys = ["id", "secret", "secret_env", "secret_file"];
    let mut out: Vec<ClientConfig> = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for (path, table) in &tables {
        let r = Reader::new(table, path, &keys, errs);
        let id = r.required_string("id", errs).and_then(|id| {
            let trimmed = id.trim();
            if trimmed.is_empty() {
                errs.push(r.path("id"), "must not be empty");
                return None;
            }
            if trimmed.len() != id.len() {
                errs.push(r.path("id"), "must not start or end with spaces");
                return None;
            }
            if let Some((_, other)) = seen.iter().find(|(s, _)| *s == id) {
                errs.push(
                    r.path("id"),
                    format!("duplicate client id {id:?} in this tenant (also at {other})"),
                );
                return None;
            }
            seen.push((id.clone(), r.path("id")));
            Some(id)
        });
        let secret = read_secret(&r, base_dir, env, errs);
        if let (Some(id), Some(secret)) = (id, secret) {
            out.push(ClientConfig { id, secret });
        }
    }
    out
}

/// The tenant's `topics`: plain topics, and topic templates (tables with a `template` key).
fn read_topics(tenant: &Reader<'_>, errs: &mut Errors) -> (Vec<TopicConfig>, Vec<TopicTemplate>) {
    let path = tenant.path("topics");
    let items = match tenant.raw("topics") {
        None => return (Vec::new(), Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errs.push(path, wrong_type("a list of topics", other));
            return (Vec::new(), Vec::new());
        }
    };
    let mut templates: Vec<TopicTemplate> = Vec::new();
    let catalogue = Catalogue::shipped();
    let mut out = Vec::with_capacity(items.len());
    // Every individual topic name covered so far, with the path of the entry that covers it.
    let mut covered: std::collections::HashMap<String, String> = Default::default();
    for (i, item) in items.iter().enumerate() {
        let item_path = index(&path, i);
        let (name, priority, name_path) = match item {
            Value::Table(t) if t.contains_key("template") => {
                read_template(t, &item_path, &mut templates, errs);
                continue;
            }
            Value::String(s) => (s.clone(), 0, item_path.clone()),
            Value::Table(t) => {
                let r = Reader::new(t, &item_path, &["name", "priority"], errs);
                let priority = r.i32("priority", 0, errs);
                match r.required_string("name", errs) {
                    Some(name) => (name, priority, r.path("name")),
                    None => continue,
                }
            }
            other => {
                errs.push(
                    item_path,
                    wrong_type(
                        "a topic name, { name = ..., priority = ... } or { template = ..., users = ... }",
                        other,
                    ),
                );
                continue;
            }
        };
        let name = name.trim().to_string();
        let expanded = match expand(catalogue, &name) {
            Ok(names) => names,
            Err(TopicError::Invalid(_)) => {
                errs.push(
                    name_path,
                    format!(
                        "{name:?} is not a valid topic: it matches no template of the topic catalogue"
                    ),
                );
                continue;
            }
            Err(e @ TopicError::TooLong(_)) => {
                errs.push(name_path, e.to_string());
                continue;
            }
        };
        let mut duplicate = false;
        for topic in &expanded {
            if let Some(other) = covered.get(topic) {
                errs.push(
                    &name_path,
                    format!("duplicate topic {topic} (already subscribed by {other})"),
                );
                duplicate = true;
                break;
            }
        }
        if duplicate {
            continue;
        }
        for topic in expanded {
            covered.insert(topic, item_path.clone());
        }
        out.push(TopicConfig { name, priority });
    }
    if covered.len() > crate::limits::MAX_TOPICS_PER_TENANT {
        errs.push(
            path,
            format!(
                "{} topics, at most {} per tenant",
                covered.len(),
                crate::limits::MAX_TOPICS_PER_TENANT
            ),
        );
    }
    (out, templates)
}

/// One `{ template = ..., users = ... }` entry of `topics`; a template listed twice is refused.
fn read_template(table: &Table, path: &str, templates: &mut Vec<TopicTemplate>, errs: &mut Errors) {
    let json = match serde_json::to_value(table) {
        Ok(json) => json,
        Err(e) => {
            errs.push(path, format!("cannot be read: {e}"));
            return;
        }
    };
    match TopicTemplate::from_json(&json) {
        Ok(t) if templates.iter().any(|x| x.key() == t.key()) => {
            errs.push(path, format!("the template {} is listed twice", t.key()));
        }
        Ok(t) => templates.push(t),
        Err(problems) => {
            for (field, message) in problems {
                let at = if field.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}.{field}")
                };
                errs.push(at, message);
            }
        }
    }
}
