//! Which sinks and routes run: kept in the store, changed through the admin API, applied to the running router.
//!
//! Sinks and routes hold no secrets, so the store is their source of truth whether or not a master key is
//! set: on every start, the configuration file's sinks and routes the store has never had are written to it (a seed,
//! as for tenants), then what the store holds runs. [`EngineSinks`] owns the running sink workers. Every change
//! is stored first, then sent to the router as one [`Inbound::Reconfigure`] through the queue the records
//! take, which is what keeps records from being lost or reordered by the switch.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, mpsc, watch};

use super::{Inbound, RouterHandle, RouterTask};
use crate::config::{
    KAFKA_SUPPORTED, KafkaConfig, NO_KAFKA, RouteConfig, Secret, SinkConfig, SinkKind, check_kafka,
    check_nats, check_nats_url, check_webhook_allow, check_webhook_url, webhook_key,
};
use crate::metrics::Metrics;
use crate::secrets::{MasterKey, Sealed};
use crate::sink::{self, Delivery, Sink, SinkHandle, SinkStats};
use crate::store::{RouteRecord, SinkRecord, Store, StoreError};

/// A sink as it runs, for the API: its definition, when it last changed, and its worker's counters.
#[derive(Debug, Clone)]
pub struct SinkEntry {
    pub config: SinkConfig,
    pub updated_at: DateTime<Utc>,
    /// Records written so far by the current worker.
    pub sent: u64,
    /// Records waiting in the worker's queue.
    pub queued: usize,
    /// Records the current worker moved to the dead-letter store.
    pub dead: u64,
    /// Bytes waiting in the sink's spool on disk.
    pub spool_bytes: u64,
    /// Records the current worker wrote to its spool.
    pub spooled: u64,
    /// Whether the spool is full (the sink then takes nothing more; the router waits).
    pub spool_full: bool,
    /// Times the current worker found its spool full.
    pub spool_full_total: u64,
    /// The bound of the sink's spool (0: it has none).
    pub spool_max_bytes: u64,
}

/// Why a change of sinks or routes was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The change is not valid; each entry names the field at fault (`path: ...`, `sinks[0]: ...`).
    #[error("not valid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("not found")]
    NotFound,
    /// The sink is still named by these routes.
    #[error("still used by routes {0:?}")]
    InUse(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A webhook sink's secret can only be stored sealed, and no master key is set.
    #[error("no master key is set to seal the secret")]
    NoMasterKey,
    /// The router has stopped (the engine is shutting down): the change is stored but not running.
    #[error("the router has stopped")]
    Stopped,
}

/// Where a sink writes. Two workers on one destination must not write at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    File(PathBuf),
    Stdout,
    /// A NATS server and subject template: a replacement waits for its predecessor, so that each subject
    /// keeps its records in routing order. Different sinks may share it (each has its own connection).
    Nats(String, String),
    /// A webhook URL: a replacement waits for its predecessor, so that the receiver gets records in order.
    Webhook(String),
    /// Kafka brokers and topic template: a replacement waits for its predecessor, so that each key keeps
    /// its records in routing order.
    Kafka(Vec<String>, String),
}

fn destination(kind: &SinkKind) -> Destination {
    match kind {
        SinkKind::File { path, .. } => Destination::File(path.clone()),
        SinkKind::Stdout => Destination::Stdout,
        SinkKind::Nats { url, subject, .. } => Destination::Nats(url.clone(), subject.clone()),
        SinkKind::Webhook { url, .. } => Destination::Webhook(url.clone()),
        SinkKind::Kafka(k) => Destination::Kafka(k.brokers.clone(), k.topic.clone()),
    }
}

/// A sink worker in service.
struct Running {
    config: SinkConfig,
    updated_at: DateTime<Utc>,
    handle: SinkHandle,
    stats: Arc<SinkStats>,
    /// Turns true when the worker has ended (its queue written).
    done: watch::Receiver<bool>,
}

/// A worker whose sink was removed or replaced, still writing the records it was given.
struct Retiring {
    /// The sink's name, for logs.
    name: String,
    destination: Destination,
    done: watch::Receiver<bool>,
}

struct State {
    sinks: BTreeMap<String, Running>,
    routes: BTreeMap<String, RouteRecord>,
    retiring: Vec<Retiring>,
    /// The router, until [`EngineSinks::drain`] closes it; from then on changes are refused.
    router: Option<RouterTask>,
}

/// How sink workers run.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The capacity of each worker's queue, in records.
    pub queue: usize,
    /// Where each sink keeps its spool (`<dir>/<sink name>`); none: no spool.
    pub spool_dir: Option<PathBuf>,
    /// The most a sink's spool holds on disk; past it the sink takes nothing more (back-pressure).
    pub spool_max_bytes: u64,
}

/// The running sinks and routes, and the way to change them while the engine runs.
///
/// One lock serialises changes, so that each one is checked, stored and applied against the state the
/// previous one left, and the router receives the reconfigurations in the order they were stored.
pub struct EngineSinks {
    state: Mutex<State>,
    router: mpsc::Sender<Inbound>,
    store: Arc<dyn Store>,
    workers: WorkerSettings,
    /// Seals the secrets of webhook sinks stored through the API.
    key: Option<MasterKey>,
    metrics: Arc<Metrics>,
}

/// The store's form of a sink's settings: `{"path","maxBytes","maxFiles"}` for a file sink, `{}` for stdout,
/// `{"url","subject","stream","createStream"}` for NATS, `{"url","batch","timeoutMs","allow"}` for a webhook
/// (its secret is added sealed by `sink_record`, and never shown), `{"brokers","topic","key","createTopic",
/// "partitions","replication","timeoutMs","properties","secretProperties"}` for Kafka (the names of its
/// secret properties only; their values are added sealed by `sink_record`).
pub fn sink_settings(kind: &SinkKind) -> (&'static str, serde_json::Value) {
    match kind {
        SinkKind::File {
            path,
            max_bytes,
            max_files,
        } => (
            "file",
            serde_json::json!({
                "path": path.display().to_string(),
                "maxBytes": max_bytes,
                "maxFiles": max_files,
            }),
        ),
        SinkKind::Stdout => ("stdout", serde_json::json!({})),
        SinkKind::Nats {
            url,
            subject,
            stream,
            create_stream,
        } => (
            "nats",
            serde_json::json!({
                "url": url,
                "subject": subject,
                "stream": stream,
                "createStream": create_stream,
            }),
        ),
        SinkKind::Webhook {
            url,
            batch,
            timeout,
            allow,
            ..
        } => (
            "webhook",
            serde_json::json!({
                "url": url,
                "batch": batch,
                "timeoutMs": u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                "allow": allow,
            }),
        ),
        SinkKind::Kafka(k) => (
            "kafka",
            serde_json::json!({
                "brokers": k.brokers,
                "topic": k.topic,
                "key": k.key,
                "createTopic": k.create_topic,
                "partitions": k.partitions,
                "replication": k.replication,
                "timeoutMs": u64::try_from(k.timeout.as_millis()).unwrap_or(u64::MAX),
                "properties": k.properties,
                "secretProperties": k.secret_properties.keys().collect::<Vec<_>>(),
            }),
        ),
    }
}

/// The associated data that binds a webhook sink's sealed secret to the sink.
pub fn sink_aad(name: &str) -> String {
    format!("switchboard/sink-secret/v1/{name}")
}

/// Reads a stored sink back. An error says what is wrong (a kind this version does not know, a bad setting).
/// A webhook's secret is opened with `key`; a webhook stored without one takes the secret of the
/// configuration file's sink of the same name.
fn sink_from_record(
    record: &SinkRecord,
    key: Option<&MasterKey>,
    file_sinks: &[SinkConfig],
) -> Result<SinkConfig, String> {
    let kind = match record.kind.as_str() {
        "stdout" => SinkKind::Stdout,
        "file" => {
            let s = &record.settings;
            let path = s["path"]
                .as_str()
                .filter(|p| !p.trim().is_empty())
                .ok_or("settings.path: a non-empty string is required")?;
            let max_bytes = s["maxBytes"]
                .as_u64()
                .filter(|&n| n >= 1)
                .ok_or("settings.maxBytes: a whole number of at least 1 is required")?;
            let max_files = s["maxFiles"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n >= 1)
                .ok_or("settings.maxFiles: a whole number of at least 1 is required")?;
            SinkKind::File {
                path: PathBuf::from(path),
                max_bytes,
                max_files,
            }
        }
        "nats" => {
            let s = &record.settings;
            let url = s["url"]
                .as_str()
                .ok_or("settings.url: a string is required")?;
            check_nats_url(url).map_err(|e| format!("settings.url: {e}"))?;
            let subject = s["subject"]
                .as_str()
                .ok_or("settings.subject: a string is required")?;
            let stream = match &s["stream"] {
                serde_json::Value::Null => None,
                serde_json::Value::String(name) => Some(name.clone()),
                _ => return Err("settings.stream: a string or null is required".into()),
            };
            let create_stream = match &s["createStream"] {
                serde_json::Value::Null => false,
                serde_json::Value::Bool(b) => *b,
                _ => return Err("settings.createStream: true or false is required".into()),
            };
            if let Some((field, e)) = check_nats(subject, stream.as_deref(), create_stream)
                .into_iter()
                .next()
            {
                let field = if field == "create_stream" {
                    "createStream"
                } else {
                    field
                };
                return Err(format!("settings.{field}: {e}"));
            }
            SinkKind::Nats {
                url: url.to_string(),
                subject: subject.to_string(),
                stream,
                create_stream,
            }
        }
        "webhook" => {
            let s = &record.settings;
            let url = s["url"]
                .as_str()
                .ok_or("settings.url: a string is required")?;
            check_webhook_url(url).map_err(|e| format!("settings.url: {e}"))?;
            let batch = s["batch"].as_bool().unwrap_or(false);
            let timeout = s["timeoutMs"]
                .as_u64()
                .filter(|&n| n >= 1)
                .map(std::time::Duration::from_millis)
                .ok_or("settings.timeoutMs: a whole number of at least 1 is required")?;
            let allow: Vec<String> = match &s["allow"] {
                serde_json::Value::Null => Vec::new(),
                v => serde_json::from_value(v.clone())
                    .map_err(|_| "settings.allow: a list of strings is required")?,
            };
            for a in &allow {
                check_webhook_allow(a).map_err(|e| format!("settings.allow: {e}"))?;
            }
            let secret = match &s["secret"] {
                serde_json::Value::String(text) => {
                    let key = key.ok_or(
                        "settings.secret: sealed, but no master key is set to open it",
                    )?;
                    let sealed = Sealed::from_text(text).map_err(|e| format!("settings.secret: {e}"))?;
                    key.open(&sealed, &sink_aad(&record.name))
                        .map_err(|e| format!("settings.secret: {e}"))?
                }
                _ => file_sinks
                    .iter()
                    .find_map(|f| match &f.kind {
                        SinkKind::Webhook { secret, .. } if f.name == record.name => {
                            Some(secret.clone())
                        }
                        _ => None,
                    })
                    .ok_or("settings.secret: not stored, and the configuration file has no webhook sink of this name to take it from")?,
            };
            webhook_key(&secret).map_err(|e| format!("settings.secret: {e}"))?;
            SinkKind::Webhook {
                url: url.to_string(),
                secret,
                batch,
                timeout,
                allow,
            }
        }
        "kafka" => SinkKind::Kafka(kafka_from_settings(record, key, file_sinks)?),
        other => return Err(format!("kind {other:?} is not one this version runs")),
    };
    Ok(SinkConfig {
        name: record.name.clone(),
        kind,
    })
}

/// A stored Kafka sink's settings. Its secret properties are opened with `key` (sealed together, as one JSON
/// object); stored without a key, they come from the configuration file's sink of the same name.
fn kafka_from_settings(
    record: &SinkRecord,
    key: Option<&MasterKey>,
    file_sinks: &[SinkConfig],
) -> Result<KafkaConfig, String> {
    if !KAFKA_SUPPORTED {
        return Err(NO_KAFKA.into());
    }
    let s = &record.settings;
    let brokers: Vec<String> = serde_json::from_value(s["brokers"].clone())
        .map_err(|_| "settings.brokers: a list of strings is required")?;
    let topic = s["topic"]
        .as_str()
        .ok_or("settings.topic: a string is required")?
        .to_string();
    let key_template = match &s["key"] {
        serde_json::Value::Null => None,
        serde_json::Value::String(k) => Some(k.clone()),
        _ => return Err("settings.key: a string or null is required".into()),
    };
    let count = |field: &str| match &s[field] {
        serde_json::Value::Null => Ok(None),
        v => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or(format!(
                "settings.{field}: a whole number or null is required"
            )),
    };
    let timeout = s["timeoutMs"]
        .as_u64()
        .filter(|&n| n >= 1)
        .map(std::time::Duration::from_millis)
        .ok_or("settings.timeoutMs: a whole number of at least 1 is required")?;
    let properties = match &s["properties"] {
        serde_json::Value::Null => Default::default(),
        v => serde_json::from_value(v.clone())
            .map_err(|_| "settings.properties: an object of strings is required")?,
    };
    let names: Vec<String> = match &s["secretProperties"] {
        serde_json::Value::Null => Vec::new(),
        v => serde_json::from_value(v.clone())
            .map_err(|_| "settings.secretProperties: a list of strings is required")?,
    };
    let secret_properties = match &s["secret"] {
        serde_json::Value::String(text) => {
            let key = key.ok_or("settings.secret: sealed, but no master key is set to open it")?;
            let sealed = Sealed::from_text(text).map_err(|e| format!("settings.secret: {e}"))?;
            let opened = key
                .open(&sealed, &sink_aad(&record.name))
                .map_err(|e| format!("settings.secret: {e}"))?;
            let values: std::collections::BTreeMap<String, String> =
                serde_json::from_str(opened.expose())
                    .map_err(|_| "settings.secret: not the secret properties of a Kafka sink")?;
            values
                .into_iter()
                .map(|(n, v)| (n, Secret::new(v)))
                .collect()
        }
        _ if names.is_empty() => Default::default(),
        _ => file_sinks
            .iter()
            .find_map(|f| match &f.kind {
                SinkKind::Kafka(k) if f.name == record.name => Some(k.secret_properties.clone()),
                _ => None,
            })
            .ok_or("settings.secret: not stored, and the configuration file has no Kafka sink of this name to take the secret properties from")?,
    };
    let config = KafkaConfig {
        brokers,
        topic,
        key: key_template,
        create_topic: s["createTopic"].as_bool().unwrap_or(false),
        partitions: count("partitions")?,
        replication: count("replication")?,
        timeout,
        properties,
        secret_properties,
    };
    if let Some((field, e)) = check_kafka(&config).into_iter().next() {
        let field = if field == "create_topic" {
            "createTopic".to_string()
        } else {
            field
        };
        return Err(format!(
            "settings.{field}: {}",
            e.replace("create_topic", "createTopic")
        ));
    }
    Ok(config)
}

/// The text sealed for a sink: a webhook's secret, or a Kafka sink's secret properties as one JSON object.
/// `None` when the sink has no secret.
fn sink_secret(kind: &SinkKind) -> Option<Secret> {
    match kind {
        SinkKind::Webhook { secret, .. } => Some(secret.clone()),
        SinkKind::Kafka(k) if !k.secret_properties.is_empty() => {
            let values: std::collections::BTreeMap<&str, &str> = k
                .secret_properties
                .iter()
                .map(|(n, v)| (n.as_str(), v.expose()))
                .collect();
            Some(Secret::new(
                serde_json::to_string(&values).unwrap_or_default(),
            ))
        }
        _ => None,
    }
}

/// The store's form of a sink. A sink's secret (see `sink_secret`) is sealed with `key`; without a key it is
/// not stored (the sink then comes from the configuration file, which holds it).
fn sink_record(config: &SinkConfig, at: DateTime<Utc>, key: Option<&MasterKey>) -> SinkRecord {
    let (kind, mut settings) = sink_settings(&config.kind);
    if let Some(secret) = sink_secret(&config.kind) {
        settings["secret"] = match key {
            Some(key) => {
                serde_json::Value::String(key.seal(&secret, &sink_aad(&config.name)).to_text())
            }
            None => serde_json::Value::Null,
        };
    }
    SinkRecord {
        name: config.name.clone(),
        kind: kind.to_string(),
        settings,
        updated_at: at,
    }
}

fn route_config(record: &RouteRecord) -> RouteConfig {
    RouteConfig {
        tenants: record.tenants.clone(),
        sinks: record.sinks.clone(),
        topics: record.topics.clone(),
        changes_only: record.changes_only,
    }
}

/// Now, at the precision the stores keep, so that what the API shows does not change across a restart.
fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Starts a worker, with a flag that turns true once it has ended.
fn start_worker(
    name: &str,
    sink: Box<dyn Sink>,
    store: Arc<dyn Store>,
    workers: &WorkerSettings,
    metrics: &Metrics,
) -> (SinkHandle, watch::Receiver<bool>) {
    let spool = workers.spool_dir.as_ref().map(|dir| sink::SpoolConfig {
        dir: dir.join(name),
        max_bytes: workers.spool_max_bytes,
        segment_bytes: sink::spool::DEFAULT_SEGMENT_BYTES,
    });
    let (handle, task) = sink::spawn_observed(
        name,
        sink,
        workers.queue,
        store,
        spool,
        Some(metrics.sink(name)),
    );
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let _ = task.await;
        let _ = tx.send(true);
    });
    (handle, rx)
}

/// Seeds the file's sinks and routes the store lacks (file routes have no id: the `n`th is `config-n`), then
/// reads back what the store holds. A stored sink that cannot run (unknown kind, bad settings, a file another
/// sink writes) is reported and left out.
async fn seed_and_load(
    store: &dyn Store,
    key: Option<&MasterKey>,
    file_sinks: &[SinkConfig],
    file_routes: &[RouteConfig],
) -> Result<(Vec<(SinkConfig, DateTime<Utc>)>, Vec<RouteRecord>), StoreError> {
    let now = now_millis();
    for s in file_sinks {
        if store.sink(&s.name).await?.is_none()
            && !crate::tenants::known_before(store, &format!("sinks/{}", s.name)).await?
        {
            let record = sink_record(s, now, key);
            store.upsert_sink(&record).await?;
            crate::tenants::audit(
                store,
                "config",
                "sink.seed",
                &format!("sinks/{}", s.name),
                serde_json::json!({"kind": record.kind, "settings": sink_settings(&s.kind).1}),
            )
            .await;
            tracing::info!(sink = %s.name, "sink seeded into the store from the configuration");
        }
    }
    let stored: HashSet<String> = store.routes().await?.into_iter().map(|r| r.id).collect();
    for (i, r) in file_routes.iter().enumerate() {
        let id = format!("config-{}", i + 1);
        if stored.contains(&id)
            || crate::tenants::known_before(store, &format!("routes/{id}")).await?
        {
            continue;
        }
        store
            .upsert_route(&RouteRecord {
                id: id.clone(),
                tenants: r.tenants.clone(),
                sinks: r.sinks.clone(),
                topics: r.topics.clone(),
                changes_only: r.changes_only,
                updated_at: now,
            })
            .await?;
        crate::tenants::audit(
            store,
            "config",
            "route.seed",
            &format!("routes/{id}"),
            serde_json::json!({"tenants": r.tenants, "sinks": r.sinks, "topics": r.topics, "changesOnly": r.changes_only}),
        )
        .await;
        tracing::info!(route = %id, "route seeded into the store from the configuration");
    }
    let mut sinks: Vec<(SinkConfig, DateTime<Utc>)> = Vec::new();
    for record in store.sinks().await? {
        match sink_from_record(&record, key, file_sinks) {
            Ok(config) => {
                let dest = destination(&config.kind);
                if let Some((other, _)) = sinks.iter().find(|(o, _)| {
                    matches!(dest, Destination::File(_)) && destination(&o.kind) == dest
                }) {
                    tracing::error!(sink = %record.name, other = %other.name, "sink left out: another sink writes its file");
                } else {
                    sinks.push((config, record.updated_at));
                }
            }
            Err(e) => tracing::error!(sink = %record.name, error = %e, "sink left out"),
        }
    }
    let routes = store.routes().await?;
    for r in &routes {
        for s in r
            .sinks
            .iter()
            .filter(|s| !sinks.iter().any(|(c, _)| c.name == **s))
        {
            tracing::warn!(route = %r.id, sink = %s, "the route names a sink that is not running; that sink is skipped");
        }
    }
    Ok((sinks, routes))
}

impl EngineSinks {
    /// Seeds the store with the file's sinks and routes, opens every stored sink, and starts the router with
    /// them. Returns the manager, the router, and each starting sink's counters.
    // Each argument is a distinct piece of the engine's wiring, named at the one call site.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        store: Arc<dyn Store>,
        file_sinks: &[SinkConfig],
        file_routes: &[RouteConfig],
        key: Option<MasterKey>,
        workers: WorkerSettings,
        router_queue: usize,
        dedup_window: usize,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<(
        Arc<EngineSinks>,
        RouterHandle,
        Vec<(String, Arc<SinkStats>)>,
    )> {
        let (sinks, routes) = seed_and_load(store.as_ref(), key.as_ref(), file_sinks, file_routes)
            .await
            .context("while loading the sinks and routes from the store")?;
        let mut running = BTreeMap::new();
        for (config, updated_at) in sinks {
            let opened = sink::open(&config)
                .with_context(|| format!("while opening sink {}", config.name))?;
            let (handle, done) =
                start_worker(&config.name, opened, store.clone(), &workers, &metrics);
            running.insert(
                config.name.clone(),
                Running {
                    stats: handle.stats.clone(),
                    config,
                    updated_at,
                    handle,
                    done,
                },
            );
        }
        let stats = running
            .iter()
            .map(|(name, r)| (name.clone(), r.stats.clone()))
            .collect();
        let route_configs: Vec<RouteConfig> = routes.iter().map(route_config).collect();
        let (router, task) = super::spawn(
            &route_configs,
            running.values().map(|r| r.handle.clone()).collect(),
            store.clone(),
            router_queue,
            dedup_window,
            metrics.clone(),
        );
        let manager = EngineSinks {
            state: Mutex::new(State {
                sinks: running,
                routes: routes.into_iter().map(|r| (r.id.clone(), r)).collect(),
                retiring: Vec::new(),
                router: Some(task),
            }),
            router: router.queue.clone(),
            store,
            workers,
            key,
            metrics,
        };
        Ok((Arc::new(manager), router, stats))
    }

    /// Ends the flow at shutdown, once nothing more enters the router (the tenants are stopped): closes the
    /// router's queue (what it holds is still routed), then lets every sink worker write its queue and end.
    /// Changes of sinks and routes are refused from now on. Returns the workers (by sink name, `router` for the
    /// router) still at work when `within` ran out: a destination that never answers must not hold the process
    /// forever; what such a worker had moved to its spool is delivered by the next run.
    pub async fn drain(&self, within: std::time::Duration) -> Result<(), Vec<String>> {
        let deadline = tokio::time::Instant::now() + within;
        let (router, workers) = {
            let mut state = self.state.lock().await;
            let router = state.router.take();
            // The manager's own handles keep the workers' queues open: without them (and the router's, which
            // go when it ends) each worker ends once it has written its queue.
            let mut workers: Vec<(String, watch::Receiver<bool>)> =
                std::mem::take(&mut state.sinks)
                    .into_iter()
                    .map(|(name, r)| (name, r.done))
                    .collect();
            workers.extend(
                state
                    .retiring
                    .drain(..)
                    .map(|r| (format!("{} (replaced)", r.name), r.done)),
            );
            (router, workers)
        };
        let mut late = Vec::new();
        if let Some(router) = router {
            match tokio::time::timeout_at(deadline, router.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "the router ended in a panic"),
                Err(_) => late.push("router".to_string()),
            }
        }
        for (name, mut done) in workers {
            // An error means the flag's sender is gone, which only happens once the worker has ended.
            if tokio::time::timeout_at(deadline, done.wait_for(|d| *d))
                .await
                .is_err()
            {
                late.push(name);
            }
        }
        if late.is_empty() { Ok(()) } else { Err(late) }
    }

    /// Refuses a change once [`EngineSinks::drain`] has begun.
    fn open(state: &State) -> Result<(), ManageError> {
        match state.router {
            Some(_) => Ok(()),
            None => Err(ManageError::Stopped),
        }
    }

    /// Every running sink, by name.
    pub async fn sinks(&self) -> Vec<SinkEntry> {
        let state = self.state.lock().await;
        state.sinks.values().map(Running::entry).collect()
    }

    /// The running sink `name`.
    pub async fn sink(&self, name: &str) -> Option<SinkEntry> {
        self.state.lock().await.sinks.get(name).map(Running::entry)
    }

    /// Every route, by id.
    pub async fn routes(&self) -> Vec<RouteRecord> {
        self.state.lock().await.routes.values().cloned().collect()
    }

    /// Creates or replaces a sink (the config is valid in itself; this checks it against the other sinks):
    /// stores it, starts its worker and switches the router to it. Returns the sink and whether it is new.
    ///
    /// A replaced sink's worker finishes the records routed to it before the switch; when the new worker
    /// writes the same destination, it waits for that (and for any other retiring worker on it) before
    /// writing, so a file never has two writers and keeps its lines in routing order.
    pub async fn put_sink(&self, config: SinkConfig) -> Result<(SinkEntry, bool), ManageError> {
        let mut state = self.state.lock().await;
        Self::open(&state)?;
        state.retiring.retain(|r| !*r.done.borrow());
        let dest = destination(&config.kind);
        if let Destination::File(path) = &dest
            && let Some(other) = state
                .sinks
                .values()
                .find(|r| r.config.name != config.name && destination(&r.config.kind) == dest)
        {
            return Err(ManageError::Invalid(vec![format!(
                "path: {} is already written by sink {:?}",
                path.display(),
                other.config.name
            )]));
        }
        // Opening before anything changes reports a file that cannot be written (or settings the Kafka
        // client refuses) as the caller's mistake.
        let opened = sink::open(&config).map_err(|e| {
            ManageError::Invalid(vec![match config.kind {
                SinkKind::File { .. } => format!("path: cannot be opened for writing: {e}"),
                SinkKind::Kafka(_) => format!("properties: {e}"),
                _ => format!("kind: cannot be started: {e}"),
            }])
        })?;
        let now = now_millis();
        if sink_secret(&config.kind).is_some() && self.key.is_none() {
            return Err(ManageError::NoMasterKey);
        }
        self.store
            .upsert_sink(&sink_record(&config, now, self.key.as_ref()))
            .await?;
        let previous = state.sinks.remove(&config.name);
        let mut waiting: Vec<watch::Receiver<bool>> = state
            .retiring
            .iter()
            .filter(|r| r.destination == dest)
            .map(|r| r.done.clone())
            .collect();
        if let Some(p) = previous
            .as_ref()
            .filter(|p| destination(&p.config.kind) == dest)
        {
            waiting.push(p.done.clone());
        }
        let sink: Box<dyn Sink> = if waiting.is_empty() {
            opened
        } else {
            // Re-opened once the others are done, so that the file's size (for rotation) counts their lines.
            drop(opened);
            Box::new(AfterPredecessors {
                waiting,
                config: config.clone(),
                sink: None,
            })
        };
        let (handle, done) = start_worker(
            &config.name,
            sink,
            self.store.clone(),
            &self.workers,
            &self.metrics,
        );
        let created = previous.is_none();
        if let Some(p) = previous {
            state.retiring.push(p.retire());
        }
        let running = Running {
            stats: handle.stats.clone(),
            config,
            updated_at: now,
            handle,
            done,
        };
        let entry = running.entry();
        state.sinks.insert(running.config.name.clone(), running);
        self.apply(&state).await?;
        Ok((entry, created))
    }

    /// Sends the dead letters of sink `name` (at most `limit`, oldest first) to it again and removes them
    /// from the store; returns how many were re-queued. A record rejected again comes back as a new dead
    /// letter.
    pub async fn replay_dead_letters(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<usize, ManageError> {
        let handle = {
            let state = self.state.lock().await;
            Self::open(&state)?;
            state
                .sinks
                .get(name)
                .map(|r| r.handle.clone())
                .ok_or(ManageError::NotFound)?
        };
        let mut letters = self.store.dead_letters(name, limit).await?;
        letters.reverse();
        let mut sent = Vec::with_capacity(letters.len());
        for l in letters {
            #[derive(serde::Deserialize)]
            struct Probe {
                kind: Option<String>,
                tenant: Option<String>,
            }
            let probe: Probe = serde_json::from_str(&l.json).unwrap_or(Probe {
                kind: None,
                tenant: None,
            });
            let kind = match probe.kind.as_deref() {
                Some("gap") => sink::RecordKind::Gap,
                Some("backfill") => sink::RecordKind::Backfill,
                _ => sink::RecordKind::Event,
            };
            let delivery = Delivery {
                kind,
                tenant: probe.tenant.unwrap_or_default().into(),
                json: bytes::Bytes::from(l.json.into_bytes()),
            };
            if !handle.send(delivery).await {
                break;
            }
            sent.push(l.id);
        }
        Ok(self
            .store
            .remove_dead_letters(name, &sent)
            .await?
            .min(sent.len()))
    }

    /// Deletes a sink no route names: forgotten by the store, and its worker ends once it has written what
    /// was routed to it.
    pub async fn delete_sink(&self, name: &str) -> Result<(), ManageError> {
        let mut state = self.state.lock().await;
        Self::open(&state)?;
        state.retiring.retain(|r| !*r.done.borrow());
        let users: Vec<String> = state
            .routes
            .values()
            .filter(|r| r.sinks.iter().any(|s| s == name))
            .map(|r| r.id.clone())
            .collect();
        if !users.is_empty() {
            return Err(ManageError::InUse(users));
        }
        // A stored sink that could not run (see `seed_and_load`) can still be deleted.
        let stored = self.store.delete_sink(name).await?;
        let Some(running) = state.sinks.remove(name) else {
            return if stored {
                Ok(())
            } else {
                Err(ManageError::NotFound)
            };
        };
        state.retiring.push(running.retire());
        self.metrics.remove_sink(name);
        self.apply(&state).await
    }

    /// Creates or replaces the route `id` (valid in itself; this checks that its sinks exist): stores it and
    /// switches the router to it. Returns the route and whether it is new.
    pub async fn put_route(
        &self,
        id: &str,
        route: RouteConfig,
    ) -> Result<(RouteRecord, bool), ManageError> {
        let mut state = self.state.lock().await;
        Self::open(&state)?;
        let unknown: Vec<String> = route
            .sinks
            .iter()
            .enumerate()
            .filter(|(_, s)| !state.sinks.contains_key(s.as_str()))
            .map(|(i, s)| format!("sinks[{i}]: {s:?} is not a sink"))
            .collect();
        if !unknown.is_empty() {
            return Err(ManageError::Invalid(unknown));
        }
        let record = RouteRecord {
            id: id.to_string(),
            tenants: route.tenants,
            sinks: route.sinks,
            topics: route.topics,
            changes_only: route.changes_only,
            updated_at: now_millis(),
        };
        self.store.upsert_route(&record).await?;
        let created = state
            .routes
            .insert(id.to_string(), record.clone())
            .is_none();
        self.apply(&state).await?;
        Ok((record, created))
    }

    /// Deletes the route `id`.
    pub async fn delete_route(&self, id: &str) -> Result<(), ManageError> {
        let mut state = self.state.lock().await;
        Self::open(&state)?;
        let stored = self.store.delete_route(id).await?;
        if state.routes.remove(id).is_none() {
            return if stored {
                Ok(())
            } else {
                Err(ManageError::NotFound)
            };
        }
        self.apply(&state).await
    }

    /// Sends the router the whole current set. Called with the lock held, so the router sees the changes in
    /// the order they were made.
    async fn apply(&self, state: &State) -> Result<(), ManageError> {
        let routes = state.routes.values().map(route_config).collect();
        let sinks = state.sinks.values().map(|r| r.handle.clone()).collect();
        self.router
            .send(Inbound::Reconfigure { routes, sinks })
            .await
            .map_err(|_| ManageError::Stopped)
    }
}

impl Running {
    fn entry(&self) -> SinkEntry {
        SinkEntry {
            config: self.config.clone(),
            updated_at: self.updated_at,
            sent: self.stats.sent.load(Ordering::Relaxed),
            queued: self.handle.depth(),
            dead: self.stats.dead.load(Ordering::Relaxed),
            spool_bytes: self.stats.spool_bytes.load(Ordering::Relaxed),
            spooled: self.stats.spooled.load(Ordering::Relaxed),
            spool_full: self.stats.spool_full.load(Ordering::Relaxed),
            spool_full_total: self.stats.spool_full_total.load(Ordering::Relaxed),
            spool_max_bytes: self.stats.spool_max_bytes.load(Ordering::Relaxed),
        }
    }

    /// Gives up this handle on the worker; the router's goes with the next reconfiguration, then the worker
    /// writes its queue and ends.
    fn retire(self) -> Retiring {
        Retiring {
            destination: destination(&self.config.kind),
            name: self.config.name,
            done: self.done,
        }
    }
}

/// A sink that writes only once the workers that wrote its destination before it have ended, then opens it.
struct AfterPredecessors {
    waiting: Vec<watch::Receiver<bool>>,
    config: SinkConfig,
    sink: Option<Box<dyn Sink>>,
}

impl AfterPredecessors {
    async fn ready(&mut self) -> std::io::Result<&mut Box<dyn Sink>> {
        while let Some(mut done) = self.waiting.pop() {
            // An error means the flag's sender is gone, which only happens once the worker has ended.
            let _ = done.wait_for(|d| *d).await;
        }
        let sink = match self.sink.take() {
            Some(s) => s,
            // An error here is retried by the worker with this same batch, like any write error.
            None => sink::open(&self.config)?,
        };
        Ok(self.sink.insert(sink))
    }
}

#[async_trait::async_trait]
impl Sink for AfterPredecessors {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), crate::sink::SinkError> {
        self.ready().await?.write(batch).await
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self.sink.as_mut() {
            Some(s) => s.flush().await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::tests::event;

    fn file_sink(name: &str, path: &std::path::Path, max_bytes: u64) -> SinkConfig {
        SinkConfig {
            name: name.into(),
            kind: SinkKind::File {
                path: path.to_path_buf(),
                max_bytes,
                max_files: 2,
            },
        }
    }

    fn numbers(path: &std::path::Path) -> Vec<u64> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    async fn wait_for_lines(path: &std::path::Path, n: usize) -> Vec<u64> {
        for _ in 0..600 {
            let got = numbers(path);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{} never held {n} lines", path.display());
    }

    #[test]
    fn a_webhook_sink_is_stored_with_its_secret_sealed_or_taken_from_the_file() {
        let config = SinkConfig {
            name: "hook".into(),
            kind: SinkKind::Webhook {
                url: "https://hooks.example.com/x".into(),
                secret: crate::config::Secret::new("whsec_c2VjcmV0LWtleQ=="),
                batch: true,
                timeout: std::time::Duration::from_millis(2500),
                allow: vec!["10.0.0.0/8".into()],
            },
        };
        let key = MasterKey::generate();
        let record = sink_record(&config, now_millis(), Some(&key));
        assert_eq!(record.kind, "webhook");
        assert_eq!(record.settings["timeoutMs"], 2500);
        let stored = record.settings.to_string();
        assert!(!stored.contains("c2VjcmV0LWtleQ"), "{stored}");
        assert_eq!(sink_from_record(&record, Some(&key), &[]).unwrap(), config);
        // Sealed for this sink only, and only the key opens it.
        let e = sink_from_record(&record, None, &[]).unwrap_err();
        assert!(e.starts_with("settings.secret:"), "{e}");
        let mut moved = record.clone();
        moved.name = "other".into();
        assert!(sink_from_record(&moved, Some(&key), &[]).is_err());
        // Without a key the secret is not stored: the file's sink of the same name gives it.
        let plain = sink_record(&config, now_millis(), None);
        assert!(plain.settings["secret"].is_null());
        assert_eq!(
            sink_from_record(&plain, None, std::slice::from_ref(&config)).unwrap(),
            config
        );
        assert!(sink_from_record(&plain, None, &[]).is_err());
    }

    #[test]
    fn a_nats_sink_is_stored_and_read_back() {
        let config = SinkConfig {
            name: "n".into(),
            kind: SinkKind::Nats {
                url: "nats://127.0.0.1:4222".into(),
                subject: "sb.{tenant}.{family}".into(),
                stream: Some("SB".into()),
                create_stream: true,
            },
        };
        let record = sink_record(&config, now_millis(), None);
        assert_eq!(record.kind, "nats");
        assert_eq!(record.settings["createStream"], true);
        assert_eq!(sink_from_record(&record, None, &[]).unwrap(), config);
        let mut bad = record.clone();
        bad.settings["subject"] = "sb.{topic}".into();
        let e = sink_from_record(&bad, None, &[]).unwrap_err();
        assert!(e.starts_with("settings.subject:"), "{e}");
        bad.settings["subject"] = "sb.x".into();
        bad.settings["stream"] = serde_json::Value::Null;
        let e = sink_from_record(&bad, None, &[]).unwrap_err();
        assert!(e.starts_with("settings.stream:"), "{e}");
    }

    fn kafka_config() -> SinkConfig {
        let mut properties = std::collections::BTreeMap::new();
        properties.insert("security.protocol".to_string(), "SASL_SSL".to_string());
        let mut secret_properties = std::collections::BTreeMap::new();
        secret_properties.insert("sasl.password".to_string(), Secret::new("kafka-pass-123"));
        SinkConfig {
            name: "k".into(),
            kind: SinkKind::Kafka(KafkaConfig {
                brokers: vec!["k1:9092".into(), "k2:9092".into()],
                topic: "sb.{tenant}".into(),
                key: Some("{tenant}/{entity}".into()),
                create_topic: true,
                partitions: Some(6),
                replication: None,
                timeout: std::time::Duration::from_secs(7),
                properties,
                secret_properties,
            }),
        }
    }

    #[test]
    fn a_kafka_sink_is_stored_with_its_secret_properties_sealed_or_taken_from_the_file() {
        let config = kafka_config();
        let key = MasterKey::generate();
        let record = sink_record(&config, now_millis(), Some(&key));
        assert_eq!(record.kind, "kafka");
        assert_eq!(record.settings["timeoutMs"], 7000);
        assert_eq!(
            record.settings["secretProperties"],
            serde_json::json!(["sasl.password"])
        );
        assert!(record.settings["replication"].is_null());
        let stored = record.settings.to_string();
        assert!(!stored.contains("kafka-pass-123"), "{stored}");
        let audited = sink_settings(&config.kind).1.to_string();
        assert!(!audited.contains("kafka-pass-123"), "{audited}");
        if !KAFKA_SUPPORTED {
            assert_eq!(
                sink_from_record(&record, Some(&key), &[]).unwrap_err(),
                NO_KAFKA
            );
            return;
        }
        assert_eq!(sink_from_record(&record, Some(&key), &[]).unwrap(), config);
        let e = sink_from_record(&record, None, &[]).unwrap_err();
        assert!(e.starts_with("settings.secret:"), "{e}");
        let mut moved = record.clone();
        moved.name = "other".into();
        assert!(sink_from_record(&moved, Some(&key), &[]).is_err());
        // Without a key the secret properties are not stored: the file's sink of the same name gives them.
        let plain = sink_record(&config, now_millis(), None);
        assert!(plain.settings["secret"].is_null());
        assert_eq!(
            sink_from_record(&plain, None, std::slice::from_ref(&config)).unwrap(),
            config
        );
        assert!(sink_from_record(&plain, None, &[]).is_err());
        // No secret property: nothing sealed, nothing needed.
        let mut open = config.clone();
        if let SinkKind::Kafka(k) = &mut open.kind {
            k.secret_properties.clear();
        }
        assert!(sink_secret(&open.kind).is_none());
        let r = sink_record(&open, now_millis(), None);
        assert_eq!(sink_from_record(&r, None, &[]).unwrap(), open);
        let mut bad = r.clone();
        bad.settings["properties"]["acks"] = "1".into();
        let e = sink_from_record(&bad, None, &[]).unwrap_err();
        assert!(e.starts_with("settings.properties.acks:"), "{e}");
    }

    /// Starts the sinks and routes of `sinks` (each routed everything) with small queues, in `dir`.
    async fn start_flow(
        dir: &std::path::Path,
        sinks: &[SinkConfig],
    ) -> (Arc<EngineSinks>, RouterHandle) {
        let store: Arc<dyn Store> = Arc::new(
            crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
                .await
                .unwrap(),
        );
        let route = RouteConfig {
            tenants: vec!["*".into()],
            sinks: sinks.iter().map(|s| s.name.clone()).collect(),
            topics: vec!["*".into()],
            changes_only: false,
        };
        let (sinks, router, _) = EngineSinks::start(
            store,
            sinks,
            &[route],
            None,
            WorkerSettings {
                queue: 4,
                spool_dir: None,
                spool_max_bytes: sink::spool::DEFAULT_MAX_BYTES,
            },
            4,
            100_000,
            Arc::new(Metrics::new().unwrap()),
        )
        .await
        .unwrap();
        (sinks, router)
    }

    #[tokio::test]
    async fn a_drain_delivers_everything_queued_then_refuses_changes() {
        let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
        let path = dir.join("out.jsonl");
        let (sinks, router) = start_flow(&dir, &[file_sink("f", &path, 1 << 30)]).await;
        for n in 0..500 {
            router
                .queue
                .send(event(n, "v2.users.u.presence"))
                .await
                .unwrap();
        }
        // `router` still holds a sender of the queue: the drain does not need the senders gone.
        sinks
            .drain(std::time::Duration::from_secs(30))
            .await
            .expect("drained");
        assert_eq!(
            numbers(&path),
            (0..500).collect::<Vec<u64>>(),
            "all written when the drain returns"
        );
        assert!(
            router
                .queue
                .send(event(500, "v2.users.u.presence"))
                .await
                .is_err()
        );
        let err = sinks
            .put_sink(file_sink("g", &dir.join("g.jsonl"), 10))
            .await
            .unwrap_err();
        assert!(matches!(err, ManageError::Stopped), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_drain_gives_up_on_a_destination_that_never_answers_and_names_it() {
        let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
        // Connections are accepted by the kernel, never answered.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hook = SinkConfig {
            name: "hook".into(),
            kind: SinkKind::Webhook {
                url: format!("http://{}/", silent.local_addr().unwrap()),
                secret: Secret::new("s"),
                batch: false,
                timeout: std::time::Duration::from_secs(3600),
                allow: vec!["127.0.0.1/32".into()],
            },
        };
        let path = dir.join("out.jsonl");
        let (sinks, router) = start_flow(&dir, &[file_sink("f", &path, 1 << 30), hook]).await;
        router
            .queue
            .send(event(0, "v2.users.u.presence"))
            .await
            .unwrap();
        let late = sinks
            .drain(std::time::Duration::from_millis(500))
            .await
            .expect_err("the webhook never answers");
        assert_eq!(late, vec!["hook".to_string()]);
        assert_eq!(numbers(&path), vec![0], "the other sink drained");
        drop(silent);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_file_sink_replaced_mid_stream_keeps_every_line_in_order_and_changes_are_stored() {
        let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
        let store: Arc<dyn Store> = Arc::new(
            crate::store::sqlite::SqliteStore::open(&dir.join("store.db"))
                .await
                .unwrap(),
        );
        let path = dir.join("out.jsonl");
        let file_route = RouteConfig {
            tenants: vec!["*".into()],
            sinks: vec!["f".into()],
            topics: vec!["*".into()],
            changes_only: false,
        };
        let metrics = Arc::new(Metrics::new().unwrap());
        let (sinks, router, stats) = EngineSinks::start(
            store.clone(),
            &[file_sink("f", &path, 1 << 30)],
            std::slice::from_ref(&file_route),
            None,
            // Small queues keep records in flight in the old worker while the new one starts.
            WorkerSettings {
                queue: 4,
                spool_dir: Some(dir.join("spool")),
                spool_max_bytes: sink::spool::DEFAULT_MAX_BYTES,
            },
            4,
            100_000,
            metrics.clone(),
        )
        .await
        .unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!(store.sink("f").await.unwrap().unwrap().kind, "file");
        assert_eq!(store.routes().await.unwrap()[0].id, "config-1");

        let topic = "v2.users.u.presence";
        for n in 0..2000 {
            router.queue.send(event(n, topic)).await.unwrap();
        }
        // Same name, same file, other limits: the new worker waits for the old one to finish.
        let (entry, created) = sinks
            .put_sink(file_sink("f", &path, 1 << 31))
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(entry.config, file_sink("f", &path, 1 << 31));
        for n in 2000..4000 {
            router.queue.send(event(n, topic)).await.unwrap();
        }
        let got = wait_for_lines(&path, 4000).await;
        assert_eq!(got, (0..4000).collect::<Vec<u64>>());
        // The replacement counts on from where its predecessor stopped (the count follows the flush).
        let mut text = String::new();
        for _ in 0..600 {
            text = metrics.render(None, &sinks.sinks().await).await.unwrap();
            if text.contains("switchboard_sink_sent_total{sink=\"f\"} 4000") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            text.contains("switchboard_sink_sent_total{sink=\"f\"} 4000"),
            "{text}"
        );

        // Another sink may not write the same file; a sink in use may not go.
        let err = sinks.put_sink(file_sink("g", &path, 10)).await.unwrap_err();
        assert!(
            matches!(&err, ManageError::Invalid(d) if d[0].starts_with("path:")),
            "{err}"
        );
        let err = sinks.delete_sink("f").await.unwrap_err();
        assert!(
            matches!(&err, ManageError::InUse(r) if r == &["config-1"]),
            "{err}"
        );
        let err = sinks
            .put_route(
                "r",
                RouteConfig {
                    sinks: vec!["nope".into()],
                    ..file_route.clone()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ManageError::Invalid(d) if d[0].starts_with("sinks[0]:")),
            "{err}"
        );

        // Route and sink deleted: stored, and the file gets nothing more.
        sinks.delete_route("config-1").await.unwrap();
        assert!(matches!(
            sinks.delete_route("config-1").await,
            Err(ManageError::NotFound)
        ));
        sinks.delete_sink("f").await.unwrap();
        assert!(store.sink("f").await.unwrap().is_none());
        let text = metrics.render(None, &sinks.sinks().await).await.unwrap();
        assert!(
            !text.contains("sink=\"f\""),
            "a deleted sink's series go: {text}"
        );
        assert!(store.routes().await.unwrap().is_empty());
        for n in 4000..4100 {
            router.queue.send(event(n, topic)).await.unwrap();
        }
        // The file sink can take the path again (after the old worker is done).
        sinks
            .put_sink(file_sink("g", &path, 1 << 30))
            .await
            .unwrap();
        sinks
            .put_route(
                "r",
                RouteConfig {
                    sinks: vec!["g".into()],
                    ..file_route.clone()
                },
            )
            .await
            .unwrap();
        for n in 4100..4200 {
            router.queue.send(event(n, topic)).await.unwrap();
        }
        let got = wait_for_lines(&path, 4100).await;
        assert_eq!(got, (0..4000).chain(4100..4200).collect::<Vec<u64>>());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_successor_on_the_same_file_writes_only_once_its_predecessors_have_ended() {
        let dir = std::env::temp_dir().join(format!("sb-live-{}", uuid::Uuid::new_v4()));
        let path = dir.join("out.jsonl");
        let line = |n: u64| Delivery {
            kind: crate::sink::RecordKind::Event,
            tenant: Arc::from("acme"),
            json: bytes::Bytes::from(format!(r#"{{"n":{n}}}"#)),
        };
        let (done, rx) = watch::channel(false);
        let mut next = AfterPredecessors {
            waiting: vec![rx],
            config: file_sink("f", &path, 1 << 20),
            sink: None,
        };
        let second = line(2);
        let write = tokio::spawn(async move {
            next.write(&[second]).await.unwrap();
            next.flush().await.unwrap();
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!write.is_finished(), "the successor waits");
        assert!(!path.exists(), "and has not opened the file");
        let mut old = crate::sink::file::FileSink::open(&path, 1 << 20, 2).unwrap();
        old.write(&[line(1)]).await.unwrap();
        old.flush().await.unwrap();
        drop(old);
        done.send(true).unwrap();
        write.await.unwrap();
        assert_eq!(numbers(&path), vec![1, 2]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
