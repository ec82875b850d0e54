//! An app under test: an engine configured against the simulator, named by intent.
//!
//! ```ignore
//! let App { engine, scratch, .. } = App::builder(&sim)
//!     .tenant("acme", &topics)
//!     .client("demo", "secret")
//!     .engine("rollover_margin = \"2s\"")
//!     .sink_file()
//!     .admin_token(ADMIN)
//!     .start();
//! ```

use switchboard::config::{Config, hash_token};
use switchboard::engine::{self, EngineHandle};

use super::hex;
use crate::harness::{Scratch, Sim};

/// A running engine with its scratch dir (store, file sink) and, when it has one, its admin API.
pub struct App {
    pub engine: RunningEngine,
    pub scratch: Scratch,
    pub admin: Option<Admin>,
}

/// An engine that keeps its scratch dir (its store) alive as long as it runs: `let App { engine, .. } = ...`
/// drops the other fields at once, and a store deleted under a running engine fails in odd ways later.
pub struct RunningEngine {
    handle: EngineHandle,
    _scratch: Scratch,
}

impl std::ops::Deref for RunningEngine {
    type Target = EngineHandle;
    fn deref(&self) -> &EngineHandle {
        &self.handle
    }
}

impl RunningEngine {
    /// Stops the engine (its scratch dir goes when the last clone of it does).
    pub fn stop(self) {
        self.handle.stop();
    }
}

/// The admin API of an [`App`]: its base URL and the first token configured.
pub struct Admin {
    pub base: String,
    pub token: String,
}

impl App {
    pub fn builder(sim: &Sim) -> AppBuilder<'_> {
        AppBuilder {
            sim,
            scratch: None,
            tenant: ("acme".into(), Vec::new()),
            clients: Vec::new(),
            engine: Vec::new(),
            store: Vec::new(),
            sinks: Vec::new(),
            extra: Vec::new(),
            backfill: None,
            admin_listen: "127.0.0.1:0".into(),
            metrics_listen: None,
            tokens: Vec::new(),
            egress: vec!["127.0.0.0/8".into(), "::1".into()],
            master_key: false,
        }
    }
}

/// What the app under test is made of; [`AppBuilder::start`] runs it, [`AppBuilder::config`] and
/// [`AppBuilder::text`] give the configuration to a test that changes it or runs the binary with a file.
pub struct AppBuilder<'a> {
    sim: &'a Sim,
    scratch: Option<Scratch>,
    tenant: (String, Vec<String>),
    clients: Vec<(String, String)>,
    engine: Vec<String>,
    /// Lines for the `[store]` table, after its path.
    store: Vec<String>,
    /// (name, TOML body after `name`), routed together by one route.
    sinks: Vec<(String, String)>,
    extra: Vec<String>,
    /// The body of the tenant's `[tenants.backfill]` table, when set.
    backfill: Option<String>,
    admin_listen: String,
    /// `[admin] metrics_listen`, when set.
    metrics_listen: Option<String>,
    /// (name, role, token).
    tokens: Vec<(String, String, String)>,
    /// `[egress] allow`: loopback, where the simulator and the tests' receivers run.
    egress: Vec<String>,
    /// A master key file in the scratch dir (tenants can then be managed through the API).
    master_key: bool,
}

impl<'a> AppBuilder<'a> {
    /// The store and the file sink live in `scratch` (default: a new one), e.g. to start the engine again on
    /// the same store.
    pub fn scratch(mut self, scratch: &Scratch) -> Self {
        self.scratch = Some(scratch.clone());
        self
    }

    /// The tenant under test, following `topics`.
    pub fn tenant(mut self, id: &str, topics: &[String]) -> Self {
        self.tenant = (id.to_string(), topics.to_vec());
        self
    }

    /// An OAuth client of the tenant.
    pub fn client(mut self, id: &str, secret: &str) -> Self {
        self.clients.push((id.to_string(), secret.to_string()));
        self
    }

    /// Lines for the `[engine]` table (after the test defaults: fast pings, short timeouts and backoff).
    pub fn engine(mut self, toml: &str) -> Self {
        self.engine.push(toml.to_string());
        self
    }

    /// Lines for the `[store]` table (after the store's path in the scratch dir).
    pub fn store(mut self, toml: &str) -> Self {
        self.store.push(toml.to_string());
        self
    }

    /// The file sink (`scratch.sink()`), routed with the other sinks named here.
    pub fn sink_file(mut self) -> Self {
        let path = format!(
            "kind = \"file\"\npath = \"{}\"\n",
            self.dir().sink().display()
        );
        self.sink("file", &path)
    }

    /// A sink `name` with the table's other keys in `toml`, routed with the other sinks named here.
    pub fn sink(mut self, name: &str, toml: &str) -> Self {
        self.sinks.push((name.to_string(), toml.to_string()));
        self
    }

    /// The tenant's `[tenants.backfill]` table (its body: `on_gap = true`).
    pub fn backfill(mut self, toml: &str) -> Self {
        self.backfill = Some(toml.to_string());
        self
    }

    /// TOML appended after the tenant and the sinks (more tenants, sinks with routes of their own).
    pub fn extra(mut self, toml: &str) -> Self {
        self.extra.push(toml.to_string());
        self
    }

    /// The admin API listens on `addr` (default: a free loopback port).
    pub fn admin_listen(mut self, addr: &str) -> Self {
        self.admin_listen = addr.to_string();
        self
    }

    /// `/metrics` also served without a token on `addr` (`[admin] metrics_listen`; `127.0.0.1:0` for a free
    /// port, found in `engine.metrics_addr`).
    pub fn metrics_listen(mut self, addr: &str) -> Self {
        self.metrics_listen = Some(addr.to_string());
        self
    }

    /// An admin API token: `name` with `role` (`admin` or `read`).
    pub fn token(mut self, name: &str, role: &str, token: &str) -> Self {
        self.tokens
            .push((name.to_string(), role.to_string(), token.to_string()));
        self
    }

    /// `[egress] allow` instead of loopback (`&[]`: nothing special-purpose is reachable).
    pub fn egress_allow(mut self, entries: &[&str]) -> Self {
        self.egress = entries.iter().map(|e| e.to_string()).collect();
        self
    }

    /// A master key (`[store] key_file` in the scratch dir), so that tenants can be changed through the API.
    pub fn master_key(mut self) -> Self {
        self.master_key = true;
        self
    }

    /// An admin API token `ops` with the admin role.
    pub fn admin_token(self, token: &str) -> Self {
        self.token("ops", "admin", token)
    }

    /// An admin API token `viewer` with the read role.
    pub fn read_token(self, token: &str) -> Self {
        self.token("viewer", "read", token)
    }

    fn dir(&mut self) -> &Scratch {
        self.scratch.get_or_insert_with(Scratch::new)
    }

    /// The configuration file's text.
    pub fn text(&mut self) -> String {
        let dir = self.dir().0.clone();
        let topics = serde_json::to_string(&self.tenant.1).unwrap();
        let mut text = format!(
            r#"
[engine]
ping_interval = "200ms"
heartbeat_timeout = "1500ms"
connect_timeout = "5s"
request_timeout = "10s"
{engine}

[engine.backoff]
min = "100ms"
max = "1s"

[store]
path = "{store}"
{key_file}
{store_lines}

# The simulator runs on loopback, which the outbound address policy refuses unless allow-listed.
[egress]
allow = {egress}

[[tenants]]
id = "{tenant}"
api_base = "{base}"
login_base = "{base}"
topics = {topics}
"#,
            engine = self.engine.join("\n"),
            store = dir.join("store.db").display(),
            key_file = if self.master_key {
                let key_file = dir.join("master.key");
                if !key_file.exists() {
                    std::fs::write(
                        &key_file,
                        switchboard::secrets::MasterKey::generate().to_base64(),
                    )
                    .unwrap();
                }
                format!("key_file = \"{}\"", key_file.display())
            } else {
                String::new()
            },
            store_lines = self.store.join("\n"),
            tenant = self.tenant.0,
            base = self.sim.base(),
            egress = serde_json::to_string(&self.egress).unwrap(),
        );
        if let Some(backfill) = &self.backfill {
            text.push_str(&format!("\n[tenants.backfill]\n{backfill}\n"));
        }
        for (id, secret) in &self.clients {
            text.push_str(&format!(
                "\n[[tenants.clients]]\nid = \"{id}\"\nsecret = \"{secret}\"\n"
            ));
        }
        for (name, body) in &self.sinks {
            text.push_str(&format!("\n[[sinks]]\nname = \"{name}\"\n{body}"));
        }
        if !self.sinks.is_empty() {
            let names: Vec<&str> = self.sinks.iter().map(|(n, _)| n.as_str()).collect();
            text.push_str(&format!(
                "\n[[routes]]\nsinks = {}\n",
                serde_json::to_string(&names).unwrap()
            ));
        }
        for extra in &self.extra {
            text.push_str(extra);
        }
        if !self.tokens.is_empty() {
            text.push_str(&format!("\n[admin]\nlisten = \"{}\"\n", self.admin_listen));
            if let Some(metrics) = &self.metrics_listen {
                text.push_str(&format!("metrics_listen = \"{metrics}\"\n"));
            }
            for (name, role, token) in &self.tokens {
                text.push_str(&format!(
                    "[[admin.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n",
                    hex(hash_token(token))
                ));
            }
        }
        text
    }

    /// The configuration, for a test that changes it before starting the engine.
    pub fn config(&mut self) -> Config {
        let text = self.text();
        Config::from_toml_str(&text, &self.dir().0)
            .unwrap_or_else(|e| panic!("config:\n{e}\n{text}"))
    }

    /// Starts the engine.
    pub fn start(mut self) -> App {
        let config = self.config();
        let engine = engine::start(config).expect("engine starts");
        let admin = self.tokens.first().map(|(_, _, token)| Admin {
            base: format!("http://{}", engine.admin_addr.expect("admin API")),
            token: token.clone(),
        });
        let scratch = self.dir().clone();
        App {
            engine: RunningEngine {
                handle: engine,
                _scratch: scratch.clone(),
            },
            scratch,
            admin,
        }
    }
}
