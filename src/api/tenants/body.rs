//! What a tenant body is, what the API shows of a tenant, and how a body is validated (ids, clients, base URLs
//! against the outbound address policy, `caFile` in its directory, topics against the catalogue and the bounds).

use std::collections::HashSet;
use std::path::PathBuf;

use actix_web::web;
use serde::{Deserialize, Serialize};

use super::super::{ApiError, ApiState};
use crate::config::{
    ClientConfig, DEFAULT_TEMPLATE_SYNC, Endpoints, MIN_TEMPLATE_SYNC, Secret, TenantConfig,
    TopicConfig, TopicTemplate, is_valid_tenant_id,
};
use crate::egress::Egress;
use crate::gap::backfill::BackfillSettings;
use crate::limits::{MAX_TOPICS_PER_REQUEST, MAX_TOPICS_PER_TENANT};
use crate::topics::template::in_one_line;
use crate::topics::{Catalogue, expand};

const MAX_SECRET: usize = 1024;
const MAX_ID: usize = 128;
const MAX_URL: usize = 2048;

/// A topic: a name, a name with a priority, or a topic template with its selector
/// (`{"template": "v2.users.{id}.presence", "users": "all"}`).
#[derive(Debug, Clone)]
pub enum TopicBody {
    Name(String),
    WithPriority { name: String, priority: i32 },
    Template(TopicTemplate),
}

// By hand, like the deserializer: on the wire a topic is a bare string or an object, never the enum's tagged
// form. `anyOf`, since a `{name, priority}` object is an object too.
impl utoipa::PartialSchema for TopicBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type,
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        AnyOfBuilder::new()
            .description(Some(
                "A topic name, `{name, priority}`, or a template with its selector \
                 (`{\"template\": \"v2.users.{id}.presence\", \"users\": \"all\"}`)",
            ))
            .item(string())
            .item(
                ObjectBuilder::new()
                    .property("name", string())
                    .required("name")
                    // Default 0.
                    .property(
                        "priority",
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32))),
                    ),
            )
            .item(
                ObjectBuilder::new()
                    .property("template", string())
                    .required("template"),
            )
            .into()
    }
}

impl utoipa::ToSchema for TopicBody {}

// By hand: an untagged enum would answer a bad template with "did not match any variant"; this names the field.
impl<'de> Deserialize<'de> for TopicBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TopicBody, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        struct WithPriority {
            name: String,
            #[serde(default)]
            priority: i32,
        }
        let value = serde_json::Value::deserialize(d)?;
        match value {
            serde_json::Value::String(name) => Ok(TopicBody::Name(name)),
            serde_json::Value::Object(ref table) if table.contains_key("template") => {
                TopicTemplate::from_json(&value)
                    .map(TopicBody::Template)
                    .map_err(|errs| D::Error::custom(in_one_line(&errs)))
            }
            serde_json::Value::Object(_) => serde_json::from_value::<WithPriority>(value)
                .map(|p| TopicBody::WithPriority {
                    name: p.name,
                    priority: p.priority,
                })
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "a topic is a name, {\"name\", \"priority\"} or {\"template\", \"users\" or \"queues\"}",
            )),
        }
    }
}

/// Splits topics as written into plain topics and templates.
pub(super) fn split_topics(given: Vec<TopicBody>) -> (Vec<TopicConfig>, Vec<TopicTemplate>) {
    let mut topics = Vec::new();
    let mut templates = Vec::new();
    for t in given {
        match t {
            TopicBody::Name(name) => topics.push(TopicConfig {
                name: name.trim().to_string(),
                priority: 0,
            }),
            TopicBody::WithPriority { name, priority } => topics.push(TopicConfig {
                name: name.trim().to_string(),
                priority,
            }),
            TopicBody::Template(t) => templates.push(t),
        }
    }
    (topics, templates)
}

/// Templates listed twice (the same topic and selector) are named in `details`.
pub(super) fn check_templates(templates: &[TopicTemplate], details: &mut Vec<String>) {
    let mut seen = HashSet::new();
    for t in templates {
        if !seen.insert(t.key()) {
            details.push(format!("topics: the template {} is listed twice", t.key()));
        }
    }
}

/// An OAuth client. `secret` is required when the client is new; leave it out to keep the stored one.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientBody {
    /// 1 to 128 bytes, no `:`.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^:]+$")]
    pub id: String,
    /// 1 to 1024 bytes. Write-only: stored sealed by the master key, shown as `"set"`.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1024)]
    pub secret: Option<Secret>,
}

/// A tenant as written: a region key, or both base URLs.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantBody {
    /// a-z, 0-9, `_` and `-`, starting with a letter or digit, at most 63 characters.
    #[schema(
        pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$",
        min_length = 1,
        max_length = 63
    )]
    pub id: String,
    /// A Genesys Cloud region key (e.g. `mypurecloud.com`); or give both `apiBase` and `loginBase`.
    pub region: Option<String>,
    /// An http(s) URL of at most 2048 bytes, allowed by `[egress]`.
    #[schema(max_length = 2048)]
    pub api_base: Option<String>,
    /// An http(s) URL of at most 2048 bytes, allowed by `[egress]`.
    #[schema(max_length = 2048)]
    pub login_base: Option<String>,
    #[serde(default)]
    pub paused: bool,
    /// A PEM file in `[admin] ca_dir`.
    pub ca_file: Option<String>,
    /// At least one OAuth client.
    #[schema(min_items = 1)]
    pub clients: Vec<ClientBody>,
    /// At most 10000 in one request; each must be a topic of the catalogue.
    #[serde(default)]
    #[schema(max_items = 10000)]
    pub topics: Vec<TopicBody>,
    /// Backfill of gaps (`onGap`) and periodic reconciliation (`reconcileEvery`); absent: off.
    #[serde(default)]
    pub backfill: Option<BackfillSettings>,
    /// How often topic templates are expanded again, e.g. `"5m"` (the default); at least 5 s.
    #[serde(default, with = "humantime_serde")]
    #[schema(value_type = Option<String>, example = "5m")]
    pub template_sync_interval: Option<std::time::Duration>,
}

/// A client as shown: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub id: String,
    /// Always `"set"`: the secret itself is never shown.
    #[schema(value_type = String, example = "set")]
    pub secret: Secret,
}

/// A tenant as shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub id: String,
    pub region: String,
    pub api_base: String,
    pub login_base: String,
    pub paused: bool,
    pub ca_file: Option<String>,
    pub clients: Vec<ClientView>,
    pub topics: usize,
    /// Absent when backfill is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillSettings>,
    /// Topic templates, as written; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub templates: Vec<TopicTemplate>,
    /// How often the templates are expanded again (`"5m"`); absent when there are no templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_sync_interval: Option<String>,
}

impl From<&TenantConfig> for TenantView {
    fn from(t: &TenantConfig) -> TenantView {
        TenantView {
            id: t.id.clone(),
            region: t.endpoints.region.clone(),
            api_base: t.endpoints.api_base.clone(),
            login_base: t.endpoints.login_base.clone(),
            paused: t.paused,
            ca_file: t.ca_file.as_ref().map(|p| p.display().to_string()),
            backfill: t.backfill.enabled().then_some(t.backfill),
            clients: t
                .clients
                .iter()
                .map(|c| ClientView {
                    id: c.id.clone(),
                    secret: c.secret.clone(),
                })
                .collect(),
            topics: t.topics.len(),
            templates: t.templates.clone(),
            template_sync_interval: (!t.templates.is_empty())
                .then(|| humantime::format_duration(t.template_sync_interval).to_string()),
        }
    }
}

/// Topics to add or remove.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicsBody {
    /// At most 10000 in one request; each must be a topic of the catalogue.
    #[schema(max_items = 10000)]
    pub topics: Vec<TopicBody>,
}

/// Topics as the platform counts them (combined ids expanded).
pub(super) fn expanded_count(topics: &[TopicConfig]) -> usize {
    let catalogue = Catalogue::shipped();
    topics
        .iter()
        .map(|t| expand(catalogue, &t.name).map_or(1, |names| names.len()))
        .sum()
}

/// A tenant may follow at most [`MAX_TOPICS_PER_TENANT`] topics.
pub(super) fn check_tenant_topics(topics: &[TopicConfig]) -> Result<(), ApiError> {
    let n = expanded_count(topics);
    if n > MAX_TOPICS_PER_TENANT {
        return Err(ApiError::invalid(format!(
            "the tenant would follow {n} topics, at most {MAX_TOPICS_PER_TENANT}"
        )));
    }
    Ok(())
}

/// Validates topics; every bad one is named in `details`.
pub(super) fn check_topics(topics: &[TopicConfig], details: &mut Vec<String>) {
    if topics.len() > MAX_TOPICS_PER_REQUEST {
        details.push(format!(
            "topics: {} given, at most {MAX_TOPICS_PER_REQUEST} in one request",
            topics.len()
        ));
        return;
    }
    let catalogue = Catalogue::shipped();
    let mut seen = HashSet::new();
    for (i, t) in topics.iter().enumerate() {
        match expand(catalogue, &t.name) {
            Err(e) => details.push(format!("topics[{i}]: {:?}: {e}", truncate(&t.name))),
            Ok(names) => {
                for n in names {
                    if !seen.insert(n) {
                        details.push(format!(
                            "topics[{i}]: {:?} is listed twice",
                            truncate(&t.name)
                        ));
                    }
                }
            }
        }
    }
}

pub(super) fn truncate(s: &str) -> String {
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(120)])
    } else {
        s.to_string()
    }
}

pub(super) fn endpoints(
    body: &TenantBody,
    egress: &Egress,
    details: &mut Vec<String>,
) -> Option<Endpoints> {
    let url_ok = |u: &str| {
        (u.starts_with("https://") || u.starts_with("http://"))
            && u.len() <= MAX_URL
            && !u.contains(char::is_whitespace)
    };
    match (&body.region, &body.api_base, &body.login_base) {
        (Some(r), None, None) => Endpoints::for_region(r).or_else(|| {
            details.push(format!("region: {:?} is not a region key", truncate(r)));
            None
        }),
        (None, Some(a), Some(l)) => {
            if !url_ok(a) {
                details.push("apiBase: must be an http(s) URL".into());
            }
            if !url_ok(l) {
                details.push("loginBase: must be an http(s) URL".into());
            }
            // Hosts written as addresses are refused here; names when they are resolved.
            for (field, base) in [("apiBase", a), ("loginBase", l)] {
                if let Err(e) = egress.check_url(base) {
                    details.push(format!("{field}: {e}"));
                }
            }
            (url_ok(a) && url_ok(l)).then(|| Endpoints {
                region: "custom".into(),
                api_base: a.trim_end_matches('/').to_string(),
                login_base: l.trim_end_matches('/').to_string(),
            })
        }
        _ => {
            details.push("give either region, or both apiBase and loginBase".into());
            None
        }
    }
}

/// A body's `caFile`: below the API's CA directory (`[admin] ca_dir`), a regular file of at most 1 MiB with a
/// PEM certificate, read on a blocking thread (never on the request worker). A tenant keeps the `caFile` it
/// has (one from the config file may be anywhere) when the body repeats it.
pub(super) async fn checked_ca_file(
    state: &ApiState,
    requested: Option<&str>,
    existing: Option<&TenantConfig>,
) -> Result<Option<PathBuf>, String> {
    let Some(requested) = requested else {
        return Ok(None);
    };
    if let Some(kept) = existing.and_then(|t| t.ca_file.as_ref())
        && kept.as_os_str() == requested
    {
        return Ok(Some(kept.clone()));
    }
    let dir = state.ca_dir.clone();
    let requested = requested.to_string();
    web::block(move || {
        let path = crate::files::confine(&dir, &requested)?;
        let pem = crate::files::read_regular(&path, crate::files::MAX_CA_FILE_BYTES)?;
        if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            Ok(Some(path))
        } else {
            Err(format!("{} holds no PEM certificate", path.display()))
        }
    })
    .await
    .map_err(|_| "cannot be read now".to_string())?
}

/// Validates a body into a tenant; `existing` provides the secrets of clients given without one.
pub(super) fn validate(
    body: TenantBody,
    existing: Option<&TenantConfig>,
    ca_file: Result<Option<PathBuf>, String>,
    egress: &Egress,
) -> Result<TenantConfig, ApiError> {
    let mut details = Vec::new();
    if !is_valid_tenant_id(&body.id) {
        details.push(format!(
            "id: {:?} is not a valid tenant id (a-z, 0-9, _ and -, up to 63)",
            truncate(&body.id)
        ));
    }
    let endpoints = endpoints(&body, egress, &mut details);
    if body.clients.is_empty() {
        details.push("clients: at least one OAuth client is required".into());
    }
    let mut clients = Vec::new();
    let mut ids = HashSet::new();
    for (i, c) in body.clients.iter().enumerate() {
        if c.id.trim().is_empty() || c.id.len() > MAX_ID || c.id.contains(':') {
            details.push(format!("clients[{i}].id: 1 to {MAX_ID} characters, no ':'"));
        }
        if !ids.insert(c.id.clone()) {
            details.push(format!(
                "clients[{i}].id: {:?} is listed twice",
                truncate(&c.id)
            ));
        }
        let secret = match &c.secret {
            Some(s) if s.expose().is_empty() || s.expose().len() > MAX_SECRET => {
                details.push(format!("clients[{i}].secret: 1 to {MAX_SECRET} characters"));
                None
            }
            Some(s) => Some(s.clone()),
            None => match existing.and_then(|t| t.clients.iter().find(|x| x.id == c.id)) {
                Some(old) => Some(old.secret.clone()),
                None => {
                    details.push(format!("clients[{i}].secret: required for a new client"));
                    None
                }
            },
        };
        if let Some(secret) = secret {
            clients.push(ClientConfig {
                id: c.id.clone(),
                secret,
            });
        }
    }
    let (topics, templates) = split_topics(body.topics);
    check_topics(&topics, &mut details);
    check_templates(&templates, &mut details);
    let template_sync_interval = body.template_sync_interval.unwrap_or(DEFAULT_TEMPLATE_SYNC);
    if template_sync_interval < MIN_TEMPLATE_SYNC {
        details.push(format!(
            "templateSyncInterval: must be at least {} s",
            MIN_TEMPLATE_SYNC.as_secs()
        ));
    }
    if let Err(e) = check_tenant_topics(&topics) {
        details.push(format!("topics: {}", e.message));
    }
    let ca_file = ca_file.unwrap_or_else(|e| {
        details.push(format!("caFile: {e}"));
        None
    });
    let backfill = body.backfill.unwrap_or_default();
    if let Some((_, why)) = backfill.problem() {
        details.push(format!("backfill.reconcileEvery: {why}"));
    }
    match endpoints {
        Some(endpoints) if details.is_empty() => Ok(TenantConfig {
            id: body.id,
            endpoints,
            clients,
            topics,
            paused: body.paused,
            ca_file,
            backfill,
            templates,
            template_sync_interval,
        }),
        _ => {
            let mut e = ApiError::invalid("the tenant is not valid");
            e.details = details;
            Err(e)
        }
    }
}
