//! Tests of the configuration: parsing into the structs, defaults, regions, syntax errors, several errors at
//! once and the example file. Secrets are tested in `secret_tests`, validation rules in `rule_tests` and
//! `tenant_rule_tests`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::sink::file::FileConfig;

/// Environment seen by the tests that inject one: only these variables exist.
fn fake_env(name: &str) -> Result<Option<String>, ()> {
    match name {
        "SB_TEST_FAKE_SECRET" => Ok(Some("  from-env  \n".to_string())),
        "SB_TEST_FAKE_EMPTY" => Ok(Some("   ".to_string())),
        "SB_TEST_FAKE_BAD_UNICODE" => Err(()),
        _ => Ok(None),
    }
}

/// Parses `text` with config directory `/etc/sb` and [`fake_env`].
pub(crate) fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml_str_with_env(text, Path::new("/etc/sb"), &fake_env)
}

/// The errors of `text`, which must be invalid.
pub(crate) fn errors(text: &str) -> Vec<FieldError> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.errors,
    }
}

/// A fresh directory for one test's files.
pub(crate) fn temp_dir(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("switchboard-config-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A configuration using every key.
pub(crate) const FULL: &str = r#"
[engine]
ping_interval = "5s"
heartbeat_timeout = "20s"
connect_timeout = "2s"
request_timeout = "3s"
token_refresh_margin = "10m"
rollover_margin = "1h"
channels_per_client = 10
reserved_channel_slots = 2
topics_per_channel = 500
combined_topic_counting = "single"
rest_requests_per_minute = 120
router_queue = 1024
sink_queue = 2048
dedup_window = 5000
channel_threads = 2
router_shards = 2
proof_of_life_interval = "2s"

[engine.backoff]
min = "100ms"
max = "10s"
multiplier = 3
jitter = 0.25

[engine.restart]
max_restarts = 3
within = "30s"
healthy_after = "1m"
failed_retry = "2m"

[store]
path = "state/sb.db"

[[tenants]]
id = "acme"
region = "eu-west-1"
paused = true
topics = ["v2.users.u1?presence&routingStatus", { name = "v2.routing.queues.q1.conversations", priority = 10 }]

[[tenants.clients]]
id = "c1"
secret = "  s3cr3t-inline "

[[tenants.clients]]
id = "c2"
secret_env = "SB_TEST_FAKE_SECRET"

[[tenants]]
id = "sim_1"
api_base = "http://127.0.0.1:8090/"
login_base = "http://localhost:8091"

[[tenants.clients]]
id = "c1"
secret = "x"

[[sinks]]
name = "events"
kind = "file"
path = "events.jsonl"
max_bytes = 1000
max_files = 2

[[sinks]]
name = "out"
kind = "stdout"

[[routes]]
sinks = ["events"]

[[routes]]
tenants = ["acme", "*"]
sinks = ["out", "events"]
topics = ["v2.users.*.presence"]
changes_only = true

[egress]
allow = ["10.20.0.0/16", "hooks.internal"]
"#;

#[test]
fn full_config_reads_into_the_expected_structs() {
    let c = parse(FULL).unwrap();
    let expected = Config {
        engine: EnginePolicy {
            ping_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            token_refresh_margin: Duration::from_secs(600),
            rollover_margin: Duration::from_secs(3600),
            backoff: BackoffPolicy {
                min: Duration::from_millis(100),
                max: Duration::from_secs(10),
                multiplier: 3.0,
                jitter: 0.25,
            },
            restart: RestartPolicy {
                max_restarts: 3,
                within: Duration::from_secs(30),
                healthy_after: Duration::from_secs(60),
                failed_retry: Duration::from_secs(120),
            },
            channels_per_client: 10,
            reserved_channel_slots: 2,
            topics_per_channel: 500,
            combined_topic_counting: CombinedCounting::Single,
            rest_requests_per_minute: 120,
            router_queue: 1024,
            sink_queue: 2048,
            dedup_window: 5000,
            proof_of_life_interval: Duration::from_secs(2),
            channel_threads: 2,
            router_shards: 2,
        },
        store: StoreConfig {
            path: PathBuf::from("/etc/sb/state/sb.db"),
            url: None,
            key_file: None,
            spool_dir: None,
            spool_max_bytes: crate::config::DEFAULT_SPOOL_MAX_BYTES,
            dead_letters_max: crate::limits::DEFAULT_DEAD_LETTERS_MAX,
        },
        tenants: vec![
            TenantConfig {
                id: "acme".into(),
                endpoints: Endpoints {
                    region: "eu-west-1".into(),
                    api_base: "https://api.mypurecloud.ie".into(),
                    login_base: "https://login.mypurecloud.ie".into(),
                },
                clients: vec![
                    ClientConfig {
                        id: "c1".into(),
                        secret: Secret::new("s3cr3t-inline"),
                    },
                    ClientConfig {
                        id: "c2".into(),
                        secret: Secret::new("from-env"),
                    },
                ],
                topics: vec![
                    TopicConfig {
                        name: "v2.users.u1?presence&routingStatus".into(),
                        priority: 0,
                    },
                    TopicConfig {
                        name: "v2.routing.queues.q1.conversations".into(),
                        priority: 10,
                    },
                ],
                paused: true,
                ca_file: None,
                backfill: Default::default(),
                templates: vec![],
                template_sync_interval: crate::config::DEFAULT_TEMPLATE_SYNC,
            },
            TenantConfig {
                id: "sim_1".into(),
                endpoints: Endpoints {
                    region: "custom".into(),
                    api_base: "http://127.0.0.1:8090".into(),
                    login_base: "http://localhost:8091".into(),
                },
                clients: vec![ClientConfig {
                    id: "c1".into(),
                    secret: Secret::new("x"),
                }],
                topics: vec![],
                paused: false,
                ca_file: None,
                backfill: Default::default(),
                templates: vec![],
                template_sync_interval: crate::config::DEFAULT_TEMPLATE_SYNC,
            },
        ],
        sinks: vec![
            SinkConfig {
                name: "events".into(),
                kind: SinkKind::File(FileConfig {
                    path: PathBuf::from("/etc/sb/events.jsonl"),
                    max_bytes: 1000,
                    max_files: 2,
                }),
            },
            SinkConfig {
                name: "out".into(),
                kind: SinkKind::Stdout,
            },
        ],
        routes: vec![
            RouteConfig {
                tenants: vec!["*".into()],
                sinks: vec!["events".into()],
                topics: vec!["*".into()],
                changes_only: false,
                filter: None,
            },
            RouteConfig {
                tenants: vec!["acme".into(), "*".into()],
                sinks: vec!["out".into(), "events".into()],
                topics: vec!["v2.users.*.presence".into()],
                changes_only: true,
                filter: None,
            },
        ],
        admin: crate::config::AdminConfig {
            data_dir: PathBuf::from("/etc/sb/"),
            ca_dir: PathBuf::from("/etc/sb/"),
            ..Default::default()
        },
        egress: crate::egress::Egress::new(&["10.20.0.0/16".into(), "hooks.internal".into()])
            .unwrap(),
        cluster: None,
    };
    assert_eq!(c, expected);
}

#[test]
fn empty_config_is_valid_with_safe_defaults() {
    let c = parse("").unwrap();
    assert!(c.tenants.is_empty() && c.sinks.is_empty() && c.routes.is_empty());
    assert_eq!(c.engine, EnginePolicy::default());
    let e = &c.engine;
    assert_eq!(e.ping_interval, Duration::from_secs(15));
    assert_eq!(e.heartbeat_timeout, Duration::from_secs(70));
    assert_eq!(e.connect_timeout, Duration::from_secs(10));
    assert_eq!(e.request_timeout, Duration::from_secs(30));
    assert_eq!(e.token_refresh_margin, Duration::from_secs(1800));
    assert_eq!(e.rollover_margin, Duration::from_secs(1800));
    assert_eq!(e.backoff.min, Duration::from_millis(500));
    assert_eq!(e.backoff.max, Duration::from_secs(60));
    assert_eq!((e.backoff.multiplier, e.backoff.jitter), (2.0, 0.5));
    assert_eq!(e.restart.max_restarts, 5);
    assert_eq!(e.restart.within, Duration::from_secs(60));
    assert_eq!(e.restart.healthy_after, Duration::from_secs(120));
    assert_eq!(e.restart.failed_retry, Duration::from_secs(300));
    assert_eq!((e.channels_per_client, e.reserved_channel_slots), (20, 1));
    assert_eq!(e.topics_per_channel, 1000);
    assert_eq!(e.combined_topic_counting, CombinedCounting::Expanded);
    assert_eq!(e.rest_requests_per_minute, 300);
    assert_eq!((e.router_queue, e.dedup_window), (65536, 200_000));
    assert_eq!(e.proof_of_life_interval, Duration::from_secs(4));
    assert_eq!((e.channel_threads, e.router_shards), (0, 1));
    assert_eq!(c.store.path, PathBuf::from("/etc/sb/switchboard.db"));
}

#[test]
fn a_short_heartbeat_timeout_shortens_the_default_proof_of_life_interval() {
    let e = parse("[engine]\nping_interval = \"200ms\"\nheartbeat_timeout = \"1500ms\"")
        .unwrap()
        .engine;
    assert_eq!(e.proof_of_life_interval, Duration::from_millis(1500));
    // Explicitly as long as the heartbeat timeout: allowed.
    let e = parse("[engine]\nping_interval = \"5s\"\nheartbeat_timeout = \"10s\"\nproof_of_life_interval = \"10s\"")
        .unwrap()
        .engine;
    assert_eq!(e.proof_of_life_interval, Duration::from_secs(10));
}

#[test]
fn regions_resolve_to_the_contract_hosts() {
    for (key, api, login) in [
        (
            "ap-southeast-2",
            "https://api.mypurecloud.com.au",
            "https://login.mypurecloud.com.au",
        ),
        (
            "us-east-2",
            "https://api.use2.us-gov-pure.cloud",
            "https://login.use2.us-gov-pure.cloud",
        ),
        (
            "eusc-de-east-1",
            "https://api.edee1.eusc-pure.cloud",
            "https://login.edee1.eusc-pure.cloud",
        ),
        (
            "us-east-1",
            "https://api.mypurecloud.com",
            "https://login.mypurecloud.com",
        ),
    ] {
        let text = format!(
            "[[tenants]]\nid = \"t\"\nregion = \"{key}\"\n[[tenants.clients]]\nid = \"c\"\nsecret = \"s\"\n"
        );
        let e = &parse(&text).unwrap().tenants[0].endpoints;
        assert_eq!(
            (
                e.region.as_str(),
                e.api_base.as_str(),
                e.login_base.as_str()
            ),
            (key, api, login)
        );
    }
    assert_eq!(REGIONS.len(), 18);
}

#[test]
fn syntax_errors_give_line_column_and_key_path() {
    let text = "[engine]\nping_interval = \"5s\"\n\n[[tenants]]\nid = \"a\"\n[[tenants]]\nid = \"b\"\n\
                [[tenants.clients]]\nid = \"c\"\nsecret = oops\n";
    let e = errors(text);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].path, "tenants[1].clients[0].secret");
    assert!(
        e[0].message.contains("line 10, column 10"),
        "{}",
        e[0].message
    );

    let e = errors("a = \"unterminated\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("line 1"), "{}", e[0].message);

    let e = errors("[engine]\nping_interval = \"5s\"\nping_interval = \"6s\"\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("line 3"), "{e:?}");
}

#[test]
fn several_errors_are_all_reported() {
    let text = r#"
bogus = 1
[engine]
ping_interval = "soon"
[engine.backoff]
jitter = 2.0
[[tenants]]
id = "Bad Id"
region = "mars-1"
[[tenants.clients]]
id = "c"
[[sinks]]
name = "s"
kind = "pigeon"
[[routes]]
sinks = ["nope"]
"#;
    let err = parse(text).unwrap_err();
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "bogus",
        "engine.ping_interval",
        "engine.backoff.jitter",
        "tenants[0].id",
        "tenants[0].region",
        "tenants[0].clients[0].secret",
        "sinks[0].kind",
        "routes[0].sinks[0]",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert_eq!(err.errors.len(), 8, "{err}");
    // Display: one line per error, "path: message".
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 8);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("engine.backoff.jitter: "))
    );
}

#[test]
fn the_example_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/serve.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.tenants.len(), 1);
    let t = &c.tenants[0];
    assert_eq!(t.endpoints.api_base, "http://127.0.0.1:8090");
    assert_eq!(t.endpoints.login_base, "http://127.0.0.1:8090");
    assert_eq!(t.clients[0].id, "demo");
    assert_eq!(t.clients[0].secret.expose(), "secret");
    assert!(c.sinks.iter().any(|s| s.kind == SinkKind::Stdout));
    assert!(c.sinks.iter().any(|s| matches!(&s.kind,
        SinkKind::File(FileConfig { path: p, .. }) if p.ends_with("target/example/events.jsonl"))));
    assert!(!c.routes.is_empty());
    assert_eq!(c.engine, EnginePolicy::default());

    let summary = check(&path).unwrap();
    assert!(summary.contains("1 tenant"), "{summary}");
    assert!(summary.contains("1 OAuth client"), "{summary}");
    assert!(summary.contains("3 topics"), "{summary}");
    assert!(summary.contains("2 sinks"), "{summary}");
    assert!(summary.contains("2 routes"), "{summary}");
}

#[test]
fn load_reports_an_unreadable_file() {
    let err = Config::load(Path::new("/nonexistent/switchboard.toml")).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert!(
        err.errors[0]
            .message
            .contains("/nonexistent/switchboard.toml")
    );
    assert!(check(Path::new("/nonexistent/switchboard.toml")).is_err());
}

#[test]
fn admin_tokens_are_kept_hashed_and_a_listen_address_needs_one() {
    let hash = "a".repeat(64);
    let c = parse(&format!(
        "[admin]\nlisten = \"127.0.0.1:8081\"\n[[admin.tokens]]\nname = \"ops\"\nrole = \"admin\"\ntoken_sha256 = \"{hash}\"\n"
    ))
    .unwrap();
    assert_eq!(c.admin.listen, Some("127.0.0.1:8081".parse().unwrap()));
    assert_eq!(c.admin.tokens[0].role, crate::config::Role::Admin);
    assert_eq!(c.admin.tokens[0].sha256, [0xaa; 32]);
    assert!(
        !format!("{:?}", c.admin).contains(&hash),
        "Debug shows no token hash"
    );
    let e = parse("[admin]\nlisten = \"127.0.0.1:8081\"\n").unwrap_err();
    assert!(e.has_path("admin.tokens"), "{e}");
    let e = parse("[admin]\nlisten = \"nowhere\"\n[[admin.tokens]]\nname = \"x\"\nrole = \"boss\"\ntoken_sha256 = \"zz\"\n").unwrap_err();
    for path in [
        "admin.listen",
        "admin.tokens[0].role",
        "admin.tokens[0].token_sha256",
    ] {
        assert!(e.has_path(path), "{path}: {e}");
    }
}

#[test]
fn metrics_listen_is_read_from_the_file_or_the_environment_and_needs_its_own_port() {
    let hash = "a".repeat(64);
    let text = |metrics: &str| {
        format!(
            "[admin]\nlisten = \"127.0.0.1:8081\"\n{metrics}[[admin.tokens]]\nname = \"ops\"\nrole = \"read\"\ntoken_sha256 = \"{hash}\"\n"
        )
    };
    assert_eq!(parse(&text("")).unwrap().admin.metrics_listen, None);
    let c = parse(&text("metrics_listen = \"0.0.0.0:9090\"\n")).unwrap();
    assert_eq!(
        c.admin.metrics_listen,
        Some("0.0.0.0:9090".parse().unwrap())
    );
    let env = |name: &str| -> Result<Option<String>, ()> {
        Ok((name == "SWITCHBOARD_METRICS_LISTEN").then(|| "127.0.0.1:9464".to_string()))
    };
    let c = Config::from_toml_str_with_env(
        &text("metrics_listen = \"0.0.0.0:9090\"\n"),
        Path::new("/etc/sb"),
        &env,
    )
    .unwrap();
    assert_eq!(
        c.admin.metrics_listen,
        Some("127.0.0.1:9464".parse().unwrap()),
        "the environment overrides the file"
    );
    let e = parse(&text("metrics_listen = \"127.0.0.1:8081\"\n")).unwrap_err();
    assert!(e.has_path("admin.metrics_listen"), "{e}");
    let e = parse(&text("metrics_listen = \"nowhere\"\n")).unwrap_err();
    assert!(e.has_path("admin.metrics_listen"), "{e}");
    let bad = |name: &str| -> Result<Option<String>, ()> {
        Ok((name == "SWITCHBOARD_METRICS_LISTEN").then(|| "nowhere".to_string()))
    };
    let e = Config::from_toml_str_with_env(&text(""), Path::new("/etc/sb"), &bad).unwrap_err();
    assert!(e.has_path("SWITCHBOARD_METRICS_LISTEN"), "{e}");
}

#[test]
fn the_spool_has_a_directory_and_a_bound() {
    let c = parse("[store]\npath = \"/var/sb/sb.db\"\nspool_dir = \"/var/spool/sb\"\nspool_max_bytes = 2097152\n").unwrap();
    assert_eq!(
        c.store.spool_dir(),
        std::path::PathBuf::from("/var/spool/sb")
    );
    assert_eq!(c.store.spool_max_bytes, 2_097_152);
    let c = parse("[store]\npath = \"/var/sb/sb.db\"\n").unwrap();
    assert_eq!(
        c.store.spool_dir(),
        std::path::PathBuf::from("/var/sb/spool")
    );
    let e = parse("[store]\nspool_max_bytes = 10\n").unwrap_err();
    assert!(e.has_path("store.spool_max_bytes"), "{e}");
}

#[test]
fn dead_letters_have_a_bound_per_sink() {
    let c = parse("[store]\npath = \"/var/sb/sb.db\"\n").unwrap();
    assert_eq!(c.store.dead_letters_max, 10_000);
    let c = parse("[store]\ndead_letters_max = 50\n").unwrap();
    assert_eq!(c.store.dead_letters_max, 50);
    for bad in ["0", "-1", "1000001", "\"50\"", "1.5"] {
        let e = parse(&format!("[store]\ndead_letters_max = {bad}\n")).unwrap_err();
        assert!(e.has_path("store.dead_letters_max"), "{bad}: {e}");
        assert!(e.to_string().contains("from 1 to 1000000"), "{bad}: {e}");
    }
}

#[test]
fn an_instance_runs_at_most_1000_tenants() {
    let tenant = |i: usize| {
        format!(
            "[[tenants]]\nid = \"t{i}\"\nregion = \"eu-west-1\"\n[[tenants.clients]]\nid = \"c\"\nsecret = \"s\"\n"
        )
    };
    let fits: String = (0..1000).map(tenant).collect();
    assert_eq!(parse(&fits).unwrap().tenants.len(), 1000);
    let over: String = (0..1001).map(tenant).collect();
    let errs = errors(&over);
    assert!(
        errs.iter()
            .any(|e| e.path == "tenants" && e.message.contains("at most 1000")),
        "{errs:?}"
    );
}

#[test]
fn backfill_is_off_unless_asked_and_its_table_is_checked() {
    let tenant = |extra: &str| {
        format!(
            "[[tenants]]\nid = \"acme\"\nregion = \"eu-west-1\"\n{extra}\n\
             [[tenants.clients]]\nid = \"c\"\nsecret = \"s\"\n"
        )
    };
    let off = parse(&tenant("")).unwrap();
    assert!(!off.tenants[0].backfill.enabled());
    let on = parse(&tenant(
        "[tenants.backfill]\non_gap = true\nreconcile_every = \"5m\"",
    ))
    .unwrap();
    let b = on.tenants[0].backfill;
    assert!(b.on_gap);
    assert_eq!(b.reconcile_every, Some(std::time::Duration::from_secs(300)));
    let bad = errors(&tenant(
        "[tenants.backfill]\non_gap = \"yes\"\nreconcile_every = \"1s\"\nevery = 1",
    ));
    let paths: Vec<&str> = bad.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "tenants[0].backfill.every",
            "tenants[0].backfill.on_gap",
            "tenants[0].backfill.reconcile_every"
        ],
        "{bad:?}"
    );
    assert!(bad[2].message.contains("at least 10 s"), "{bad:?}");
    let not_a_table = errors(&tenant("backfill = true"));
    assert_eq!(not_a_table[0].path, "tenants[0].backfill");
}

#[test]
fn cluster_mode_reads_its_keys_and_needs_postgresql() {
    let pg = "[store]\nurl = \"postgres://db/sb\"\n";
    let c = parse(&format!(
        "{pg}[cluster]\ninstance_id = \"sb-1\"\nlease_ttl = \"6s\"\nrenew_interval = \"1s\"\n\
         renew_deadline = \"4s\"\nacquire_interval = \"500ms\"\nadvertise_url = \"http://10.0.0.5:8081\"\n"
    ))
    .unwrap();
    let cluster = c.cluster.unwrap();
    assert_eq!(cluster.instance_id, "sb-1");
    assert_eq!(cluster.lease_ttl, std::time::Duration::from_secs(6));
    assert_eq!(
        cluster.acquire_interval,
        std::time::Duration::from_millis(500)
    );
    assert_eq!(
        cluster.advertise_url.as_deref(),
        Some("http://10.0.0.5:8081")
    );
    // Defaults, and an id of its own per process.
    let d = parse(&format!("{pg}[cluster]\n")).unwrap().cluster.unwrap();
    assert_eq!(d.lease_ttl, std::time::Duration::from_secs(15));
    assert_eq!(d.renew_interval, std::time::Duration::from_secs(5));
    assert_eq!(d.renew_deadline, std::time::Duration::from_secs(10));
    assert_eq!(d.acquire_interval, std::time::Duration::from_secs(2));
    assert_ne!(
        d.instance_id,
        parse(&format!("{pg}[cluster]\n"))
            .unwrap()
            .cluster
            .unwrap()
            .instance_id
    );
    // Without [cluster], nothing changes.
    assert!(parse(pg).unwrap().cluster.is_none());
    // SQLite is one process's.
    let sqlite = errors("[cluster]\n");
    assert_eq!(sqlite[0].path, "cluster");
    assert!(sqlite[0].message.contains("PostgreSQL"), "{sqlite:?}");
    // Timers that cannot work, a bad id, a bad URL.
    let bad = errors(&format!(
        "{pg}[cluster]\ninstance_id = \"a b\"\nlease_ttl = \"5s\"\nrenew_deadline = \"5s\"\n\
         renew_interval = \"6s\"\nadvertise_url = \"ftp://x\"\n"
    ));
    let paths: Vec<&str> = bad.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "cluster.instance_id",
            "cluster.renew_deadline",
            "cluster.renew_interval",
            "cluster.advertise_url"
        ],
        "{bad:?}"
    );
}

#[test]
fn topic_templates_sit_beside_plain_topics() {
    let text = r#"
[[tenants]]
id = "t"
region = "eu-west-1"
template_sync_interval = "30s"
topics = [
  "v2.users.u1.presence",
  { template = "v2.users.{id}?presence&routingStatus", users = "all" },
  { template = "v2.routing.queues.{id}.conversations", queues = { name = "Sales*" }, priority = 4 },
]
[[tenants.clients]]
id = "c"
secret = "s"
"#;
    let config = Config::from_toml_str(text, Path::new("/tmp")).expect("valid");
    let t = &config.tenants[0];
    assert_eq!(t.topics.len(), 1);
    assert_eq!(t.template_sync_interval, Duration::from_secs(30));
    assert_eq!(t.templates.len(), 2);
    assert_eq!(t.templates[0].selector, Selector::AllUsers);
    assert_eq!(
        t.templates[1].selector,
        Selector::QueuesNamed("Sales*".into())
    );
    assert_eq!(t.templates[1].priority, 4);
    let default = Config::from_toml_str(
        &text.replace("template_sync_interval = \"30s\"\n", ""),
        Path::new("/tmp"),
    )
    .expect("valid");
    assert_eq!(
        default.tenants[0].template_sync_interval,
        DEFAULT_TEMPLATE_SYNC
    );
}
