//! Sinks and routes: listed, created or replaced, deleted, while the engine runs. Each change is stored, applied
//! to the router at once (records before it go the old way, records after it the new way, none lost), and
//! audited. Validation follows the configuration file's rules; every bad field is named in `details`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::authorize;
use super::{ApiError, ApiState};
use crate::config::{
    DEFAULT_KAFKA_TIMEOUT, DEFAULT_KAFKA_TOPIC, DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES,
    DEFAULT_NATS_SUBJECT, DEFAULT_NATS_URL, DEFAULT_WEBHOOK_TIMEOUT, KAFKA_SUPPORTED, KafkaConfig,
    NO_KAFKA, Role, RouteConfig, Secret, SinkConfig, SinkKind, check_kafka, check_nats,
    check_nats_url, check_webhook_allow, check_webhook_url, is_valid_sink_name, is_valid_tenant_id,
    split_properties, webhook_key,
};
use crate::router::{ManageError, SinkEntry, sink_settings};
use crate::store::DeadLetter;
use crate::store::RouteRecord;
use crate::tenants;

/// Bodies of these routes are small; the limit is explicit so it holds however the routes are mounted.
const BODY_LIMIT: usize = 1024 * 1024;

/// The routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = || {
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(|e, _| ApiError::invalid(e.to_string()).into())
    };
    cfg.service(
        web::resource("/v1/sinks")
            .app_data(json())
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/v1/sinks/{name}")
            .app_data(json())
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/v1/sinks/{name}/dead-letters")
            .app_data(json())
            .route(web::get().to(dead_letters)),
    )
    .service(
        web::resource("/v1/sinks/{name}/dead-letters/replay")
            .app_data(json())
            .route(web::post().to(replay)),
    )
    .service(
        web::resource("/v1/routes")
            .app_data(json())
            .route(web::get().to(list_routes)),
    )
    .service(
        web::resource("/v1/routes/{id}")
            .app_data(json())
            .route(web::put().to(put_route))
            .route(web::delete().to(delete_route)),
    );
}

/// A sink as written: `{"kind":"stdout"}`, `{"kind":"file","path":...}` with optional limits,
/// `{"kind":"nats","url":...,"subject":...,"stream":...,"createStream":...}` (all optional),
/// `{"kind":"webhook","url":...,"secret":...,"batch":...,"timeoutMs":...,"allow":[...]}`, or
/// `{"kind":"kafka","brokers":[...],"topic":...,"key":...,"createTopic":...,"partitions":...,
/// "replication":...,"timeoutMs":...,"properties":{...}}` (`brokers` required).
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SinkBody {
    /// `file`, `stdout`, `nats`, `webhook` or `kafka`.
    pub kind: String,
    /// The file (kind `file` only; required). A relative path is taken from the service's working directory
    /// and stored absolute.
    pub path: Option<String>,
    /// Rotate past this many bytes (kind `file` only). Default 100 MiB; at least 1.
    pub max_bytes: Option<i64>,
    /// Rotated files kept (kind `file` only). Default 5; at least 1.
    pub max_files: Option<i64>,
    /// The NATS server (kind `nats`; default `nats://127.0.0.1:4222`) or the webhook URL (kind `webhook`;
    /// required).
    pub url: Option<String>,
    /// Subject template with `{tenant}`, `{kind}`, `{family}` (kind `nats` only). Default
    /// `switchboard.{tenant}.{kind}`.
    pub subject: Option<String>,
    /// The JetStream stream (kind `nats` only); required when `createStream` is true.
    pub stream: Option<String>,
    /// Create the stream when it does not exist (kind `nats` only). Default false.
    pub create_stream: Option<bool>,
    /// The signing secret (kind `webhook` only; required): `whsec_<base64>` or any text. Write-only: stored
    /// sealed by the master key, never shown.
    pub secret: Option<String>,
    /// One POST per batch with a JSON array (kind `webhook` only). Default false.
    pub batch: Option<bool>,
    /// How long one POST may take (kind `webhook`; default 10000), or how long a batch may wait for the
    /// broker's acknowledgements before it is sent again (kind `kafka`; default 30000), in milliseconds.
    pub timeout_ms: Option<i64>,
    /// CIDRs, addresses or host names allowed although private or loopback (kind `webhook` only).
    pub allow: Option<Vec<String>>,
    /// The bootstrap brokers, `host:port` (kind `kafka` only; required).
    pub brokers: Option<Vec<String>>,
    /// Topic template with `{tenant}`, `{kind}`, `{family}` (kind `kafka` only). Default
    /// `switchboard.{tenant}`.
    pub topic: Option<String>,
    /// Key template with `{tenant}`, `{kind}`, `{family}`, `{entity}`, `{topic}` (kind `kafka` only).
    /// Default: the tenant and the topic's entity id (`acme/<id>`), the tenant alone when the topic has none.
    pub key: Option<String>,
    /// Create each topic when it does not exist (kind `kafka` only). Default false.
    pub create_topic: Option<bool>,
    /// Partitions of a created topic (kind `kafka` with `createTopic`). Default: the broker's.
    pub partitions: Option<i64>,
    /// Replication factor of a created topic (kind `kafka` with `createTopic`). Default: the broker's.
    pub replication: Option<i64>,
    /// Other librdkafka properties, passed through (kind `kafka` only): `security.protocol`, `sasl.*`,
    /// `ssl.*`... Secret ones (passwords, client secrets, `ssl.key.pem`) are write-only: stored sealed by
    /// the master key, shown as `"set"`. `enable.idempotence`, `acks` and the timeouts are the sink's own.
    pub properties: Option<std::collections::BTreeMap<String, String>>,
}

impl std::fmt::Debug for SinkBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkBody")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field(
                "properties",
                &self
                    .properties
                    .as_ref()
                    .map(|p| p.keys().collect::<Vec<_>>()),
            )
            .finish_non_exhaustive()
    }
}

/// A sink as shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkView {
    pub name: String,
    /// `file`, `stdout`, `nats`, `webhook` or `kafka`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_stream: Option<bool>,
    /// `"set"` for a webhook: the secret itself is never shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brokers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Absent for a Kafka sink with the default key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_topic: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<i32>,
    /// A Kafka sink's librdkafka properties; a secret one shows `"set"`, never its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<std::collections::BTreeMap<String, String>>,
    pub updated_at: DateTime<Utc>,
    /// Records written by the sink's current worker.
    pub sent: u64,
    /// Records waiting to be written.
    pub queued: usize,
}

impl From<SinkEntry> for SinkView {
    fn from(e: SinkEntry) -> SinkView {
        let mut view = SinkView {
            name: e.config.name,
            kind: String::new(),
            path: None,
            max_bytes: None,
            max_files: None,
            url: None,
            subject: None,
            stream: None,
            create_stream: None,
            secret: None,
            batch: None,
            timeout_ms: None,
            allow: None,
            brokers: None,
            topic: None,
            key: None,
            create_topic: None,
            partitions: None,
            replication: None,
            properties: None,
            updated_at: e.updated_at,
            sent: e.sent,
            queued: e.queued,
        };
        view.kind = match e.config.kind {
            SinkKind::File {
                path,
                max_bytes,
                max_files,
            } => {
                view.path = Some(path.display().to_string());
                view.max_bytes = Some(max_bytes);
                view.max_files = Some(max_files);
                "file"
            }
            SinkKind::Stdout => "stdout",
            SinkKind::Nats {
                url,
                subject,
                stream,
                create_stream,
            } => {
                view.url = Some(url);
                view.subject = Some(subject);
                view.stream = stream;
                view.create_stream = Some(create_stream);
                "nats"
            }
            SinkKind::Webhook {
                url,
                batch,
                timeout,
                allow,
                ..
            } => {
                view.url = Some(url);
                view.secret = Some("set");
                view.batch = Some(batch);
                view.timeout_ms = Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
                view.allow = Some(allow);
                "webhook"
            }
            SinkKind::Kafka(k) => {
                view.timeout_ms = Some(u64::try_from(k.timeout.as_millis()).unwrap_or(u64::MAX));
                view.brokers = Some(k.brokers);
                view.topic = Some(k.topic);
                view.key = k.key;
                view.create_topic = Some(k.create_topic);
                view.partitions = k.partitions;
                view.replication = k.replication;
                let mut properties = k.properties;
                for name in k.secret_properties.into_keys() {
                    properties.insert(name, "set".into());
                }
                view.properties = Some(properties);
                "kafka"
            }
        }
        .to_string();
        view
    }
}

/// A route as written. Every event of a listed tenant on a matching topic goes to every listed sink.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteBody {
    /// Tenant ids, or `"*"` for every tenant. Default `["*"]`.
    pub tenants: Option<Vec<String>>,
    /// Names of existing sinks, at least one.
    pub sinks: Vec<String>,
    /// Topic patterns (`*` matches any run of characters, case ignored). Default `["*"]`.
    pub topics: Option<Vec<String>>,
    /// Drop presence and routing-status events whose state equals the last one delivered. Default false.
    #[serde(default)]
    pub changes_only: bool,
}

fn truncate(s: &str) -> String {
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(120)])
    } else {
        s.to_string()
    }
}

fn invalid(what: &str, details: Vec<String>) -> ApiError {
    let mut e = ApiError::invalid(format!("the {what} is not valid"));
    e.details = details;
    e
}

/// Checks a name taken from the path: `[a-z0-9_-]+`, as sink names are in the configuration.
fn check_name(field: &str, name: &str, details: &mut Vec<String>) {
    if !is_valid_sink_name(name) {
        details.push(format!(
            "{field}: {:?} is not valid: use a-z, 0-9, _ and -",
            truncate(name)
        ));
    }
}

fn only_for_file(body: &SinkBody, details: &mut Vec<String>) {
    for (field, given) in [
        ("path", body.path.is_some()),
        ("maxBytes", body.max_bytes.is_some()),
        ("maxFiles", body.max_files.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"file\""));
        }
    }
}

fn only_for_webhook(body: &SinkBody, details: &mut Vec<String>) {
    for (field, given) in [
        ("secret", body.secret.is_some()),
        ("batch", body.batch.is_some()),
        ("allow", body.allow.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"webhook\""));
        }
    }
    if body.timeout_ms.is_some() && body.kind != "kafka" {
        details.push("timeoutMs: only applies to kind \"webhook\" or \"kafka\"".into());
    }
}

fn only_for_kafka(body: &SinkBody, details: &mut Vec<String>) {
    for (field, given) in [
        ("brokers", body.brokers.is_some()),
        ("topic", body.topic.is_some()),
        ("key", body.key.is_some()),
        ("createTopic", body.create_topic.is_some()),
        ("partitions", body.partitions.is_some()),
        ("replication", body.replication.is_some()),
        ("properties", body.properties.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"kafka\""));
        }
    }
}

/// A Kafka sink's body, checked as the configuration file is.
fn validate_kafka(body: SinkBody, details: &mut Vec<String>) -> Option<SinkKind> {
    if !KAFKA_SUPPORTED {
        details.push(format!("kind: {NO_KAFKA}"));
    }
    if body.url.is_some() {
        details.push("url: only applies to kind \"nats\" or \"webhook\"".into());
    }
    // Every field is checked even when one is already wrong, so that all of them are named at once.
    let mut ok = true;
    let mut count = |field: &str, n: Option<i64>| match n.map(i32::try_from) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            details.push(format!("{field}: must be between 1 and {}", i32::MAX));
            ok = false;
            None
        }
    };
    let partitions = count("partitions", body.partitions);
    let replication = count("replication", body.replication);
    let timeout = match body.timeout_ms.map(u64::try_from) {
        None => DEFAULT_KAFKA_TIMEOUT,
        Some(Ok(ms)) if ms >= 1 => std::time::Duration::from_millis(ms),
        Some(_) => {
            details.push("timeoutMs: must be at least 1".into());
            ok = false;
            DEFAULT_KAFKA_TIMEOUT
        }
    };
    let brokers = body.brokers.unwrap_or_else(|| {
        details.push("brokers: is required for kind \"kafka\"".into());
        ok = false;
        // A stand-in, so that the other fields are still checked (and the missing brokers said once).
        vec!["required:1".into()]
    });
    let (properties, secret_properties) = split_properties(body.properties.unwrap_or_default());
    let config = KafkaConfig {
        brokers: brokers.iter().map(|b| b.trim().to_string()).collect(),
        topic: body
            .topic
            .unwrap_or_else(|| DEFAULT_KAFKA_TOPIC.to_string()),
        key: body.key,
        create_topic: body.create_topic.unwrap_or(false),
        partitions,
        replication,
        timeout,
        properties,
        secret_properties,
    };
    let errors = check_kafka(&config);
    for (field, e) in &errors {
        let field = match field.as_str() {
            "timeout" => "timeoutMs",
            f => f,
        };
        let e = e.replace("create_topic", "createTopic");
        details.push(format!("{field}: {}", truncate(&e)));
    }
    (ok && errors.is_empty()).then_some(SinkKind::Kafka(config))
}

fn only_for_nats(body: &SinkBody, details: &mut Vec<String>) {
    if body.url.is_some() && body.kind != "webhook" {
        details.push("url: only applies to kind \"nats\" or \"webhook\"".into());
    }
    for (field, given) in [
        ("subject", body.subject.is_some()),
        ("stream", body.stream.is_some()),
        ("createStream", body.create_stream.is_some()),
    ] {
        if given {
            details.push(format!("{field}: only applies to kind \"nats\""));
        }
    }
}

/// Validates a sink on its own, as the configuration does (the check against other sinks' files is made
/// when it is applied).
fn validate_sink(name: &str, body: SinkBody) -> Result<SinkConfig, ApiError> {
    let mut details = Vec::new();
    check_name("name", name, &mut details);
    let kind = match body.kind.as_str() {
        "stdout" => {
            only_for_file(&body, &mut details);
            only_for_nats(&body, &mut details);
            only_for_webhook(&body, &mut details);
            only_for_kafka(&body, &mut details);
            Some(SinkKind::Stdout)
        }
        "kafka" => {
            only_for_file(&body, &mut details);
            only_for_webhook(&body, &mut details);
            for (field, given) in [
                ("subject", body.subject.is_some()),
                ("stream", body.stream.is_some()),
                ("createStream", body.create_stream.is_some()),
            ] {
                if given {
                    details.push(format!("{field}: only applies to kind \"nats\""));
                }
            }
            validate_kafka(body, &mut details)
        }
        "webhook" => {
            only_for_file(&body, &mut details);
            only_for_nats(&body, &mut details);
            only_for_kafka(&body, &mut details);
            let url = body.url.as_deref().map(str::trim).map(str::to_string);
            match &url {
                None => details.push("url: is required for kind \"webhook\"".into()),
                Some(u) => {
                    if let Err(e) = check_webhook_url(u) {
                        details.push(format!("url: {}", truncate(&e)));
                    }
                }
            }
            let secret = body.secret.as_deref().map(str::trim).map(Secret::new);
            match &secret {
                None => details.push("secret: is required for kind \"webhook\"".into()),
                Some(s) => {
                    if let Err(e) = webhook_key(s) {
                        details.push(format!("secret: {e}"));
                    }
                }
            }
            let timeout = match body.timeout_ms {
                None => Some(DEFAULT_WEBHOOK_TIMEOUT),
                Some(ms) => match u64::try_from(ms) {
                    Ok(ms) if ms >= 1 => Some(std::time::Duration::from_millis(ms)),
                    _ => {
                        details.push("timeoutMs: must be at least 1".into());
                        None
                    }
                },
            };
            let allow = body.allow.unwrap_or_default();
            for (i, a) in allow.iter().enumerate() {
                if let Err(e) = check_webhook_allow(a) {
                    details.push(format!("allow[{i}]: {}", truncate(&e)));
                }
            }
            match (url, secret, timeout) {
                (Some(url), Some(secret), Some(timeout)) => Some(SinkKind::Webhook {
                    url,
                    secret,
                    batch: body.batch.unwrap_or(false),
                    timeout,
                    allow: allow.into_iter().map(|a| a.trim().to_string()).collect(),
                }),
                _ => None,
            }
        }
        "nats" => {
            only_for_file(&body, &mut details);
            only_for_webhook(&body, &mut details);
            only_for_kafka(&body, &mut details);
            let url = body
                .url
                .as_deref()
                .map_or(DEFAULT_NATS_URL, str::trim)
                .to_string();
            let subject = body
                .subject
                .unwrap_or_else(|| DEFAULT_NATS_SUBJECT.to_string());
            let create_stream = body.create_stream.unwrap_or(false);
            let mut ok = true;
            if let Err(e) = check_nats_url(&url) {
                details.push(format!("url: {}", truncate(&e)));
                ok = false;
            }
            for (field, e) in check_nats(&subject, body.stream.as_deref(), create_stream) {
                let e = e.replace("create_stream", "createStream");
                details.push(format!("{field}: {}", truncate(&e)));
                ok = false;
            }
            ok.then_some(SinkKind::Nats {
                url,
                subject,
                stream: body.stream,
                create_stream,
            })
        }
        "file" => {
            only_for_nats(&body, &mut details);
            only_for_webhook(&body, &mut details);
            only_for_kafka(&body, &mut details);
            let max_bytes = body.max_bytes.map_or(Some(DEFAULT_MAX_BYTES), |n| {
                u64::try_from(n).ok().filter(|&n| n >= 1)
            });
            if max_bytes.is_none() {
                details.push("maxBytes: must be at least 1".into());
            }
            let max_files = body.max_files.map_or(Some(DEFAULT_MAX_FILES), |n| {
                u32::try_from(n).ok().filter(|&n| n >= 1)
            });
            if max_files.is_none() {
                details.push(format!("maxFiles: must be between 1 and {}", u32::MAX));
            }
            let path = match body.path.as_deref().map(str::trim) {
                None => {
                    details.push("path: is required for kind \"file\"".into());
                    None
                }
                Some("") => {
                    details.push("path: must not be empty".into());
                    None
                }
                // Stored absolute, so the same file is meant after a restart from another directory.
                Some(p) => match std::path::absolute(p) {
                    Ok(abs) => Some(abs),
                    Err(e) => {
                        details.push(format!("path: {:?}: {e}", truncate(p)));
                        None
                    }
                },
            };
            match (path, max_bytes, max_files) {
                (Some(path), Some(max_bytes), Some(max_files)) => Some(SinkKind::File {
                    path,
                    max_bytes,
                    max_files,
                }),
                _ => None,
            }
        }
        other => {
            details.push(format!(
                "kind: {:?} is not one of \"file\", \"stdout\", \"nats\", \"webhook\", \"kafka\"",
                truncate(other)
            ));
            None
        }
    };
    match kind {
        Some(kind) if details.is_empty() => Ok(SinkConfig {
            name: name.to_string(),
            kind,
        }),
        _ => Err(invalid("sink", details)),
    }
}

/// Validates a route on its own, as the configuration does, except that tenants need not exist yet (they
/// come and go through the API); that its sinks exist is checked when it is applied.
fn validate_route(id: &str, body: RouteBody) -> Result<RouteConfig, ApiError> {
    let mut details = Vec::new();
    check_name("id", id, &mut details);
    let tenants = body.tenants.unwrap_or_else(|| vec!["*".into()]);
    if tenants.is_empty() {
        details.push("tenants: must not be empty (leave it out to mean every tenant)".into());
    }
    for (i, t) in tenants.iter().enumerate() {
        if t != "*" && !is_valid_tenant_id(t) {
            details.push(format!(
                "tenants[{i}]: {:?} is not a tenant id (or \"*\")",
                truncate(t)
            ));
        }
    }
    if body.sinks.is_empty() {
        details.push("sinks: must name at least one sink".into());
    }
    let topics = body.topics.unwrap_or_else(|| vec!["*".into()]);
    if topics.is_empty() {
        details.push("topics: must not be empty (leave it out to mean every topic)".into());
    }
    for (i, t) in topics.iter().enumerate() {
        if t.trim().is_empty() {
            details.push(format!("topics[{i}]: must not be empty"));
        } else if t.chars().any(char::is_whitespace) {
            details.push(format!(
                "topics[{i}]: {:?}: a topic pattern has no spaces",
                truncate(t)
            ));
        }
    }
    if !details.is_empty() {
        return Err(invalid("route", details));
    }
    Ok(RouteConfig {
        tenants,
        sinks: body.sinks,
        topics,
        changes_only: body.changes_only,
    })
}

/// The API's form of a refused change.
fn refused(e: ManageError, what: &str, name: &str) -> ApiError {
    match e {
        ManageError::Invalid(details) => invalid(what, details),
        ManageError::NotFound => ApiError::not_found(format!("no {what} {name}")),
        ManageError::InUse(routes) => {
            let mut err = ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "{what} {name} is used by route(s) {}: change or delete them first",
                    routes.join(", ")
                ),
            );
            err.details = routes.into_iter().map(|r| format!("routes/{r}")).collect();
            err
        }
        ManageError::Store(e) => ApiError::unavailable(format!("the store did not answer: {e}")),
        ManageError::Stopped => ApiError::unavailable("the engine is stopping"),
        ManageError::NoMasterKey => ApiError::new(
            StatusCode::CONFLICT,
            "no_master_key",
            "a sink's secret (a webhook's signing secret, a Kafka sink's secret properties) can only be given through the API when a master key is set (SWITCHBOARD_MASTER_KEY or [store] key_file); otherwise define the sink in the configuration file",
        ),
    }
}

/// Every sink.
#[utoipa::path(get, path = "/v1/sinks", security(("bearer" = [])),
    responses((status = 200, body = Vec<SinkView>), (status = 401, body = ApiError)))]
pub async fn list(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let sinks = state.engine_sinks.sinks().await;
    Ok(HttpResponse::Ok().json(sinks.into_iter().map(SinkView::from).collect::<Vec<_>>()))
}

/// One sink.
#[utoipa::path(get, path = "/v1/sinks/{name}", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 200, body = SinkView), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let sink = state
        .engine_sinks
        .sink(&name)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no sink {name}")))?;
    Ok(HttpResponse::Ok().json(SinkView::from(sink)))
}

/// Creates (201) or replaces (200) a sink, live. A replaced sink first writes what was routed to it before.
#[utoipa::path(put, path = "/v1/sinks/{name}", security(("bearer" = [])), params(("name" = String, Path)), request_body = SinkBody,
    responses((status = 200, body = SinkView), (status = 201, body = SinkView), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn put(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<SinkBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    let config = validate_sink(&name, body.into_inner())?;
    let (kind, settings) = sink_settings(&config.kind);
    let (entry, created) = state
        .engine_sinks
        .put_sink(config)
        .await
        .map_err(|e| refused(e, "sink", &name))?;
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "sink.put",
        &format!("sinks/{name}"),
        serde_json::json!({"kind": kind, "settings": settings, "created": created}),
    )
    .await;
    let view = SinkView::from(entry);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Deletes a sink (409 while a route names it). Its worker writes what was routed to it, then ends.
#[utoipa::path(delete, path = "/v1/sinks/{name}", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    state
        .engine_sinks
        .delete_sink(&name)
        .await
        .map_err(|e| refused(e, "sink", &name))?;
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "sink.delete",
        &format!("sinks/{name}"),
        serde_json::json!({}),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// `?limit=` of the dead-letter routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeadLetterQuery {
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<usize>,
}

/// What a replay did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayView {
    /// Dead letters sent to the sink again (and removed from the store).
    pub replayed: usize,
}

fn dead_letter_limit(q: &DeadLetterQuery) -> usize {
    q.limit.unwrap_or(100).min(10_000)
}

/// The records a sink's destination rejected for good, newest first.
#[utoipa::path(get, path = "/v1/sinks/{name}/dead-letters", security(("bearer" = [])),
    params(("name" = String, Path), DeadLetterQuery),
    responses((status = 200, body = Vec<DeadLetter>), (status = 401, body = ApiError), (status = 503, body = ApiError)))]
pub async fn dead_letters(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    query: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    let letters = state
        .store
        .dead_letters(&name, dead_letter_limit(&query))
        .await
        .map_err(|e| ApiError::unavailable(format!("the store did not answer: {e}")))?;
    Ok(HttpResponse::Ok().json(letters))
}

/// Sends a sink's dead letters (the oldest `limit`) to it again and removes them from the store. A record the
/// destination rejects again becomes a new dead letter.
#[utoipa::path(post, path = "/v1/sinks/{name}/dead-letters/replay", security(("bearer" = [])),
    params(("name" = String, Path), DeadLetterQuery),
    responses((status = 200, body = ReplayView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn replay(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    query: web::Query<DeadLetterQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    let replayed = state
        .engine_sinks
        .replay_dead_letters(&name, dead_letter_limit(&query).max(1))
        .await
        .map_err(|e| refused(e, "sink", &name))?;
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "deadletters.replay",
        &format!("sinks/{name}"),
        serde_json::json!({"replayed": replayed}),
    )
    .await;
    Ok(HttpResponse::Ok().json(ReplayView { replayed }))
}

/// Every route. Routes from the configuration file have the ids `config-1`, `config-2`... in file order.
#[utoipa::path(get, path = "/v1/routes", security(("bearer" = [])),
    responses((status = 200, body = Vec<RouteRecord>), (status = 401, body = ApiError)))]
pub async fn list_routes(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state.tokens, Role::Read)?;
    Ok(HttpResponse::Ok().json(state.engine_sinks.routes().await))
}

/// Creates (201) or replaces (200) a route, live. Every sink it names must exist.
#[utoipa::path(put, path = "/v1/routes/{id}", security(("bearer" = [])), params(("id" = String, Path)), request_body = RouteBody,
    responses((status = 200, body = RouteRecord), (status = 201, body = RouteRecord), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn put_route(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<RouteBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    let route = validate_route(&id, body.into_inner())?;
    let (record, created) = state
        .engine_sinks
        .put_route(&id, route)
        .await
        .map_err(|e| refused(e, "route", &id))?;
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "route.put",
        &format!("routes/{id}"),
        serde_json::json!({"tenants": record.tenants, "sinks": record.sinks, "topics": record.topics,
            "changesOnly": record.changes_only, "created": created}),
    )
    .await;
    Ok(if created {
        HttpResponse::Created().json(record)
    } else {
        HttpResponse::Ok().json(record)
    })
}

/// Deletes a route.
#[utoipa::path(delete, path = "/v1/routes/{id}", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn delete_route(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state.tokens, Role::Admin)?;
    state
        .engine_sinks
        .delete_route(&id)
        .await
        .map_err(|e| refused(e, "route", &id))?;
    tenants::audit(
        state.store.as_ref(),
        &caller.name,
        "route.delete",
        &format!("routes/{id}"),
        serde_json::json!({}),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: Option<&str>, max_bytes: Option<i64>, max_files: Option<i64>) -> SinkBody {
        SinkBody {
            kind: "file".into(),
            path: path.map(Into::into),
            max_bytes,
            max_files,
            ..SinkBody::default()
        }
    }

    fn details(e: ApiError) -> Vec<String> {
        assert_eq!(e.code, "invalid");
        e.details
    }

    #[test]
    fn a_sink_is_checked_like_the_configuration_naming_each_field() {
        let d = details(validate_sink("Bad Name", file(Some(" "), Some(0), Some(-1))).unwrap_err());
        assert!(d.iter().any(|x| x.starts_with("name:")), "{d:?}");
        assert!(d.iter().any(|x| x.starts_with("path:")), "{d:?}");
        assert!(d.iter().any(|x| x.starts_with("maxBytes:")), "{d:?}");
        assert!(d.iter().any(|x| x.starts_with("maxFiles:")), "{d:?}");
        let d = details(validate_sink("s", file(None, None, None)).unwrap_err());
        assert_eq!(d, vec!["path: is required for kind \"file\"".to_string()]);
        let stdout_with_path = SinkBody {
            kind: "stdout".into(),
            ..file(Some("x"), None, None)
        };
        let d = details(validate_sink("s", stdout_with_path).unwrap_err());
        assert_eq!(d, vec!["path: only applies to kind \"file\"".to_string()]);
        let d = details(
            validate_sink(
                "s",
                SinkBody {
                    kind: "carrier-pigeon".into(),
                    ..file(None, None, None)
                },
            )
            .unwrap_err(),
        );
        assert!(d[0].starts_with("kind:"), "{d:?}");

        let ok = validate_sink("a_1-b", file(Some("rel/out.jsonl"), None, None)).unwrap();
        match ok.kind {
            SinkKind::File {
                path,
                max_bytes,
                max_files,
            } => {
                assert!(path.is_absolute() && path.ends_with("rel/out.jsonl"));
                assert_eq!(
                    (max_bytes, max_files),
                    (DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES)
                );
            }
            other => panic!("a file sink, not {other:?}"),
        }
    }

    #[test]
    fn a_nats_sink_is_checked_naming_each_field_and_has_defaults() {
        let nats = |subject: Option<&str>, stream: Option<&str>, create: Option<bool>| SinkBody {
            kind: "nats".into(),
            subject: subject.map(Into::into),
            stream: stream.map(Into::into),
            create_stream: create,
            ..SinkBody::default()
        };
        let ok = validate_sink("n", nats(None, None, None)).unwrap();
        assert_eq!(
            ok.kind,
            SinkKind::Nats {
                url: DEFAULT_NATS_URL.into(),
                subject: DEFAULT_NATS_SUBJECT.into(),
                stream: None,
                create_stream: false,
            }
        );
        let d = details(validate_sink("n", nats(Some("a.{topic}"), None, Some(true))).unwrap_err());
        assert!(d.iter().any(|x| x.starts_with("subject:")), "{d:?}");
        assert!(
            d.iter()
                .any(|x| x.starts_with("stream:") && x.contains("createStream")),
            "{d:?}"
        );
        let d =
            details(validate_sink("n", nats(Some("a b.{kind}"), Some("x.y"), None)).unwrap_err());
        assert!(d.iter().any(|x| x.starts_with("subject:")), "{d:?}");
        assert!(d.iter().any(|x| x.starts_with("stream:")), "{d:?}");
        let d = details(
            validate_sink(
                "n",
                SinkBody {
                    path: Some("x".into()),
                    url: Some("http://x".into()),
                    ..nats(None, None, None)
                },
            )
            .unwrap_err(),
        );
        assert!(
            d.iter().any(|x| x.starts_with("path: only applies")),
            "{d:?}"
        );
        assert!(d.iter().any(|x| x.starts_with("url:")), "{d:?}");
        let d = details(
            validate_sink(
                "s",
                SinkBody {
                    kind: "stdout".into(),
                    ..nats(Some("a"), None, None)
                },
            )
            .unwrap_err(),
        );
        assert_eq!(
            d,
            vec!["subject: only applies to kind \"nats\"".to_string()]
        );
    }

    #[test]
    fn a_kafka_sink_is_checked_naming_each_field_and_has_defaults() {
        let kafka = |brokers: Option<Vec<&str>>| SinkBody {
            kind: "kafka".into(),
            brokers: brokers.map(|b| b.into_iter().map(Into::into).collect()),
            ..SinkBody::default()
        };
        let result = validate_sink("k", kafka(Some(vec!["127.0.0.1:19092"])));
        if !KAFKA_SUPPORTED {
            let d = details(result.unwrap_err());
            assert_eq!(d, vec![format!("kind: {NO_KAFKA}")]);
            return;
        }
        let SinkKind::Kafka(k) = result.unwrap().kind else {
            panic!("a Kafka sink");
        };
        assert_eq!(k.topic, DEFAULT_KAFKA_TOPIC);
        assert_eq!(k.timeout, DEFAULT_KAFKA_TIMEOUT);
        assert_eq!(k.key, None);
        let d = details(validate_sink("k", kafka(None)).unwrap_err());
        assert_eq!(
            d,
            vec!["brokers: is required for kind \"kafka\"".to_string()]
        );
        let mut properties = std::collections::BTreeMap::new();
        properties.insert("acks".to_string(), "1".to_string());
        properties.insert("sasl.password".to_string(), "".to_string());
        let body = SinkBody {
            topic: Some("a b".into()),
            key: Some("{nope}".into()),
            partitions: Some(3),
            timeout_ms: Some(0),
            url: Some("http://x".into()),
            subject: Some("x".into()),
            properties: Some(properties),
            ..kafka(Some(vec!["nohost"]))
        };
        let d = details(validate_sink("k", body).unwrap_err());
        for field in [
            "brokers[0]:",
            "topic:",
            "key:",
            "partitions: only applies when createTopic",
            "timeoutMs:",
            "url:",
            "subject: only applies to kind \"nats\"",
            "properties.acks:",
            "properties.sasl.password: must not be empty",
        ] {
            assert!(d.iter().any(|x| x.starts_with(field)), "{field} in {d:?}");
        }
        let d = details(
            validate_sink(
                "s",
                SinkBody {
                    kind: "stdout".into(),
                    ..kafka(Some(vec!["h:1"]))
                },
            )
            .unwrap_err(),
        );
        assert_eq!(
            d,
            vec!["brokers: only applies to kind \"kafka\"".to_string()]
        );
    }

    #[test]
    fn a_kafka_sink_shows_its_secret_properties_as_set() {
        let mut properties = std::collections::BTreeMap::new();
        properties.insert("sasl.username".to_string(), "sb".to_string());
        properties.insert("sasl.password".to_string(), "kafka-pass-123".to_string());
        let (properties, secret_properties) = split_properties(properties);
        let view = SinkView::from(SinkEntry {
            config: SinkConfig {
                name: "k".into(),
                kind: SinkKind::Kafka(KafkaConfig {
                    brokers: vec!["h:1".into()],
                    topic: DEFAULT_KAFKA_TOPIC.into(),
                    key: None,
                    create_topic: false,
                    partitions: None,
                    replication: None,
                    timeout: DEFAULT_KAFKA_TIMEOUT,
                    properties,
                    secret_properties,
                }),
            },
            updated_at: Utc::now(),
            sent: 0,
            queued: 0,
            dead: 0,
            spool_bytes: 0,
            spool_max_bytes: 0,
            spooled: 0,
            spool_full: false,
            spool_full_total: 0,
        });
        let shown = serde_json::to_value(&view).unwrap();
        assert_eq!(shown["properties"]["sasl.password"], "set");
        assert_eq!(shown["properties"]["sasl.username"], "sb");
        assert_eq!(shown["timeoutMs"], 30000);
        assert!(shown.get("key").is_none(), "the default key");
        assert!(!shown.to_string().contains("kafka-pass-123"), "{shown}");
    }

    #[test]
    fn a_route_is_checked_naming_each_field_and_defaults_to_everything() {
        let body = RouteBody {
            tenants: Some(vec!["acme".into(), "Not A Tenant".into()]),
            sinks: vec![],
            topics: Some(vec!["v2.users.*".into(), "has space".into(), "".into()]),
            changes_only: false,
        };
        let d = details(validate_route("Bad!", body).unwrap_err());
        for field in ["id:", "tenants[1]:", "sinks:", "topics[1]:", "topics[2]:"] {
            assert!(d.iter().any(|x| x.starts_with(field)), "{field} in {d:?}");
        }
        let route = validate_route(
            "r",
            RouteBody {
                tenants: None,
                sinks: vec!["file".into()],
                topics: None,
                changes_only: true,
            },
        )
        .unwrap();
        assert_eq!(route.tenants, vec!["*"]);
        assert_eq!(route.topics, vec!["*"]);
        assert!(route.changes_only);
    }
}
