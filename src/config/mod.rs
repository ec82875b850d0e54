//! The configuration of `switchboard serve`: one TOML file with the engine policy, the store, the tenants,
//! the sinks and the routes.
//!
//! [`Config::load`] reads, parses, resolves secrets and validates in one pass and reports every problem
//! found, each with the path of its field (`tenants[0].clients[1].secret_env: environment variable X is not
//! set`). Unknown keys are errors. Secrets are held in [`Secret`], which never prints its value.
//!
//! `examples/serve.toml` is a commented example.

mod admin;
mod cluster;
mod egress;
mod policy;
mod region;
mod route;
mod tenant;

#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod secret_tests;
#[cfg(test)]
mod tenant_rule_tests;
#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::topics::{Catalogue, expand};

pub use crate::settings::Secret;
pub use crate::settings::{ConfigErrors, FieldError};
pub use admin::{AdminConfig, AdminToken, Role, hash_token};
pub use cluster::{ClusterConfig, default_instance_id};
pub use policy::{BackoffPolicy, CHANNEL_LIFETIME, CombinedCounting, EnginePolicy, RestartPolicy};
pub use region::{CUSTOM_REGION, Endpoints, REGIONS};
pub use route::{RouteConfig, filter_fault};
// The sinks of the file are read by `crate::sink` (each kind its own table, `crate::sink::<kind>::config`).
pub use crate::sink::{SinkConfig, SinkKind};
pub use crate::topics::{Selector, TopicTemplate};
pub use tenant::{
    ClientConfig, DEFAULT_TEMPLATE_SYNC, MIN_TEMPLATE_SYNC, TenantConfig, TopicConfig,
    is_valid_tenant_id,
};

use crate::settings::{EnvLookup, Errors, Reader};

/// Default store file name, relative to the config file's directory.
pub const DEFAULT_STORE_PATH: &str = "switchboard.db";
/// The default `store.spool_max_bytes`, the bound of a sink's spool: 1 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = crate::sink::spool::DEFAULT_MAX_BYTES;

/// The whole configuration of `switchboard serve`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// Timings, limits and budgets of the engine: `[engine]`.
    pub engine: EnginePolicy,
    /// The state store: `[store]`.
    pub store: StoreConfig,
    /// The tenants: `[[tenants]]`. May be empty: the service can start with none.
    pub tenants: Vec<TenantConfig>,
    /// The sinks: `[[sinks]]`.
    pub sinks: Vec<SinkConfig>,
    /// The routes from tenants and topics to sinks: `[[routes]]`.
    pub routes: Vec<RouteConfig>,
    /// The admin API: `[admin]`.
    pub admin: AdminConfig,
    /// Special-purpose addresses connectors may reach all the same: `[egress] allow`.
    pub egress: crate::egress::Egress,
    /// Several instances on one PostgreSQL store: `[cluster]`; `None` when absent.
    pub cluster: Option<ClusterConfig>,
}

/// The state store: `[store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The database file, resolved against the config file's directory. Default `switchboard.db`.
    pub path: PathBuf,
    /// A PostgreSQL URL (`postgres://...`): when set, used instead of the file. `SWITCHBOARD_STORE` overrides.
    pub url: Option<String>,
    /// The file holding the master key that seals OAuth secrets (base64 of 32 bytes); or `SWITCHBOARD_MASTER_KEY`.
    pub key_file: Option<PathBuf>,
    /// Where sinks spool what their destination cannot take yet (`<dir>/<sink>`); default `spool/` beside the
    /// SQLite file.
    pub spool_dir: Option<PathBuf>,
    /// The most one sink's spool holds; when full, that sink takes nothing more (back-pressure, no loss).
    pub spool_max_bytes: u64,
    /// The most dead letters one sink keeps in the store; past it the oldest are dropped (counted).
    pub dead_letters_max: usize,
}

impl StoreConfig {
    /// What [`crate::store::open`] takes: the URL, else the file path.
    pub fn location(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| self.path.display().to_string())
    }

    /// Where the sinks keep their spools: `spool/` next to the database file (also with a PostgreSQL
    /// store, the spool is local), one directory per sink.
    pub fn spool_dir(&self) -> PathBuf {
        self.spool_dir.clone().unwrap_or_else(|| {
            self.path
                .parent()
                .unwrap_or_else(|| std::path::Path::new("."))
                .join("spool")
        })
    }
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            path: PathBuf::from(DEFAULT_STORE_PATH),
            url: None,
            key_file: None,
            spool_dir: None,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            dead_letters_max: crate::limits::DEFAULT_DEAD_LETTERS_MAX,
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "engine", "store", "tenants", "sinks", "routes", "admin", "egress", "cluster",
];

impl Config {
    /// Reads, parses, resolves secrets and validates the file at `path`. Every problem is reported (not just
    /// the first), each with its field path. Relative paths in the file are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single("", format!("cannot read {}: {e}", path.display()))
        })?;
        let base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        Config::from_toml_str(&text, base_dir)
    }

    /// Parses, resolves secrets and validates `text`; relative paths are taken from `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
        Config::from_toml_str_with_env(text, base_dir, &crate::settings::process_env)
    }

    /// [`Config::from_toml_str`] with environment variables looked up through `env`.
    pub(crate) fn from_toml_str_with_env(
        text: &str,
        base_dir: &Path,
        env: EnvLookup<'_>,
    ) -> Result<Config, ConfigErrors> {
        let root = parse_toml(text)?;
        let mut errs = Errors::default();
        let r = Reader::new(&root, "", TOP_KEYS, &mut errs);
        let engine = r
            .table("engine", &mut errs)
            .map(|t| policy::read_engine(t, "engine", &mut errs))
            .unwrap_or_default();
        let store = r
            .table("store", &mut errs)
            .map_or_else(StoreConfig::default, |t| read_store(t, &mut errs));
        let mut store = StoreConfig {
            path: base_dir.join(&store.path),
            key_file: store.key_file.map(|k| base_dir.join(k)),
            spool_dir: store.spool_dir.map(|d| base_dir.join(d)),
            spool_max_bytes: store.spool_max_bytes,
            dead_letters_max: store.dead_letters_max,
            url: store.url,
        };
        match env("SWITCHBOARD_STORE").ok().flatten() {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                store.url = Some(s)
            }
            Some(s) if !s.trim().is_empty() => {
                store.url = None;
                store.path = PathBuf::from(s.trim());
            }
            _ => {}
        }
        let tenant_tables = r.tables("tenants", &mut errs);
        let sink_tables = r.tables("sinks", &mut errs);
        let route_tables = r.tables("routes", &mut errs);
        let tenants = tenant::read_tenants(&tenant_tables, base_dir, env, &mut errs);
        let sinks = crate::sink::config::read_sinks(&sink_tables, base_dir, env, &mut errs);
        // Routes are checked against every id and name written, even those of entries with other errors, so
        // that one mistake is not reported twice.
        let tenant_ids = string_fields(&tenant_tables, "id");
        let sink_names = string_fields(&sink_tables, "name");
        let routes = route::read_routes(&route_tables, &tenant_ids, &sink_names, &mut errs);
        let admin_table = r.table("admin", &mut errs);
        let mut admin = admin::read_admin(admin_table, env, &mut errs);
        // Both directories default to the config file's own; relative ones are taken from it.
        admin.data_dir = base_dir.join(&admin.data_dir);
        admin.ca_dir = base_dir.join(&admin.ca_dir);
        let egress_table = r.table("egress", &mut errs);
        let egress = egress::read_egress(egress_table, env, &mut errs);
        egress::check_sink_addresses(&sinks, &sink_names, &egress, &mut errs);
        let cluster = cluster::read_cluster(r.table("cluster", &mut errs), env, &mut errs);
        if cluster.is_some() && store.url.is_none() {
            errs.push(
                "cluster",
                "cluster mode needs a PostgreSQL store ([store] url = \"postgres://...\" or SWITCHBOARD_STORE): \
                 a SQLite file belongs to one process",
            );
        }
        errs.finish(Config {
            engine,
            store,
            tenants,
            sinks,
            routes,
            admin,
            egress,
            cluster,
        })
    }
}

/// Parses TOML; a syntax error becomes one [`FieldError`] with line and column in its message and the key
/// path of the offending line when it can be told. The offending text itself is not quoted: it may be a
/// secret.
fn parse_toml(text: &str) -> Result<Table, ConfigErrors> {
    text.parse::<Table>().map_err(|e| {
        let (path, place) = match e.span() {
            Some(span) => {
                let (line, col) = crate::settings::line_col(text, span.start);
                (
                    crate::settings::syntax_error_path(text, span.start),
                    format!("line {line}, column {col}: "),
                )
            }
            None => (String::new(), String::new()),
        };
        ConfigErrors::single(path, format!("TOML syntax error at {place}{}", e.message()))
    })
}

fn read_store(table: &Table, errs: &mut Errors) -> StoreConfig {
    let r = Reader::new(
        table,
        "store",
        &[
            "path",
            "url",
            "key_file",
            "spool_dir",
            "spool_max_bytes",
            "dead_letters_max",
        ],
        errs,
    );
    let mut store = StoreConfig::default();
    match r.string("path", errs) {
        Some(p) if p.trim().is_empty() => errs.push(r.path("path"), "must not be empty"),
        Some(p) => store.path = PathBuf::from(p.trim()),
        None => {}
    }
    match r.string("url", errs) {
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            store.url = Some(u)
        }
        Some(_) => errs.push(
            r.path("url"),
            "must be a postgres:// URL (use `path` for a SQLite file)",
        ),
        None => {}
    }
    store.key_file = r.string("key_file", errs).map(|k| PathBuf::from(k.trim()));
    store.spool_dir = r.string("spool_dir", errs).map(|d| PathBuf::from(d.trim()));
    match r.raw("spool_max_bytes") {
        None => {}
        Some(toml::Value::Integer(n)) if *n >= 1024 * 1024 => store.spool_max_bytes = *n as u64,
        Some(_) => errs.push(
            r.path("spool_max_bytes"),
            "must be a whole number of bytes, at least 1048576",
        ),
    }
    let most = crate::limits::MAX_DEAD_LETTERS_MAX;
    match r.raw("dead_letters_max") {
        None => {}
        Some(toml::Value::Integer(n)) if (1..=most as i64).contains(n) => {
            store.dead_letters_max = *n as usize
        }
        Some(_) => errs.push(
            r.path("dead_letters_max"),
            format!("must be a whole number from 1 to {most}"),
        ),
    }
    store
}

fn string_fields<'a>(tables: &[(String, &'a Table)], key: &str) -> Vec<&'a str> {
    tables
        .iter()
        .filter_map(|(_, t)| match t.get(key) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

/// Loads and validates the file at `path` for `switchboard check --config FILE`, and returns a human
/// summary: tenants, clients, topics, sinks and routes counted.
pub fn check(path: &Path) -> Result<String, ConfigErrors> {
    let config = Config::load(path)?;
    Ok(summary(&config, path))
}

/// A human summary of a valid configuration loaded from `path`.
pub fn summary(config: &Config, path: &Path) -> String {
    let paused = config.tenants.iter().filter(|t| t.paused).count();
    let clients: usize = config.tenants.iter().map(|t| t.clients.len()).sum();
    let topics: usize = config.tenants.iter().map(|t| t.topics.len()).sum();
    // By kind, in the order kinds first appear: "3 sinks (1 file, 1 nats, 1 log)".
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for s in &config.sinks {
        match kinds.iter_mut().find(|(k, _)| *k == s.kind.name()) {
            Some((_, n)) => *n += 1,
            None => kinds.push((s.kind.name(), 1)),
        }
    }
    let by_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut out = format!("{}: configuration is valid\n", path.display());
    out.push_str(&format!(
        "  {}{}\n",
        count(config.tenants.len(), "tenant"),
        if paused > 0 {
            format!(" ({paused} paused)")
        } else {
            String::new()
        }
    ));
    out.push_str(&format!("  {}\n", count(clients, "OAuth client")));
    let expanded: usize = config
        .tenants
        .iter()
        .flat_map(|t| &t.topics)
        .map(|t| expand(Catalogue::shipped(), &t.name).map_or(1, |names| names.len()))
        .sum();
    out.push_str(&format!("  {}", count(topics, "topic")));
    if expanded != topics {
        out.push_str(&format!(" ({expanded} after expanding combined ids)"));
    }
    out.push('\n');
    out.push_str(&format!("  {}", count(config.sinks.len(), "sink")));
    if !by_kind.is_empty() {
        out.push_str(&format!(" ({})", by_kind.join(", ")));
    }
    out.push('\n');
    out.push_str(&format!("  {}\n", count(config.routes.len(), "route")));
    match &config.store.url {
        // The password (if any) is never shown.
        Some(url) => out.push_str(&format!("  store: {}", crate::settings::redact_url(url))),
        None => out.push_str(&format!("  store: {}", config.store.path.display())),
    }
    if let Some(c) = &config.cluster {
        out.push_str(&format!("\n  cluster: instance {}", c.instance_id));
    }
    out
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
