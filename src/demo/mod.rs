//! `switchboard demo`: everything in one command, nothing to set up. A simulator with a small org, the engine
//! with two tenants, a file sink and the admin API, a fault now and then, and a live status table that says
//! where to look. Ctrl-C (or `--seconds`) stops it all cleanly.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use crate::config::{Config, hash_token};
use crate::sim::{self, ClientSpec, SimConfig};

mod screen;
use screen::SinkFile;

/// Options of `switchboard demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the store and the sink file go (default: a new folder in the temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Events per second in the simulated org.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Address of the admin API.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub admin: std::net::SocketAddr,
}

const TOKEN: &str = "demo-admin-token";

/// The faults the demo injects in turn, every `FAULT_EVERY`.
const FAULTS: [(&str, &str); 4] = [
    (
        "socket_closing",
        r#"{"kind":"socket_closing","graceSeconds":2}"#,
    ),
    ("silent stall", r#"{"kind":"stall","durationSeconds":4}"#),
    ("TCP drop", r#"{"kind":"drop"}"#),
    ("429 storm", r#"{"kind":"rate_limit","durationSeconds":3}"#),
];
const FAULT_EVERY: Duration = Duration::from_secs(15);

/// The screen's width: the table and the gap lines are cut to it.
const WIDTH: usize = 80;

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // A taken address is said first, in one line naming the demo's flag, before the simulator starts (the
    // engine's own check names the configuration's setting, which the demo writes for the user).
    drop(crate::api::bind(args.admin, "--admin")?);
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("switchboard-demo-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("while creating {}", dir.display()))?;
    let mut sim_config = SimConfig {
        listen: "127.0.0.1:0".parse()?,
        ..SimConfig::default()
    };
    sim_config.clients = vec![
        ClientSpec::parse_cli("demo-a:secret-a").map_err(anyhow::Error::msg)?,
        ClientSpec::parse_cli("demo-b:secret-b").map_err(anyhow::Error::msg)?,
    ];
    sim_config.workload.rate_per_second = args.rate;
    sim_config.workload.users = 30;
    sim_config.workload.queues = 4;
    sim_config.workload.seed = Some(2026);
    let sim = tokio::task::spawn_blocking(move || sim::spawn(sim_config)).await??;
    let http = reqwest::Client::new();
    let org = |family: &'static str| {
        let http = http.clone();
        let base = sim.base_url.clone();
        async move {
            let v: Value = http
                .get(format!("{base}/sim/v1/org?family={family}"))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(v["topics"].as_array().cloned().unwrap_or_default())
        }
    };
    let mut acme = org("presence").await?;
    acme.extend(org("routingStatus").await?);
    let mut globex = org("queueConversations").await?;
    globex.extend(org("queueObservations").await?);
    let events = dir.join("events.jsonl");
    let text = format!(
        r#"
[engine]
ping_interval = "1s"
heartbeat_timeout = "4s"
[engine.backoff]
min = "200ms"
max = "5s"
[store]
path = "{store}"
# The demo's simulator runs on loopback, which the outbound address policy refuses unless allow-listed.
[egress]
allow = ["127.0.0.1"]
[admin]
listen = "{admin}"
[[admin.tokens]]
name = "demo"
role = "admin"
token_sha256 = "{hash}"
[[tenants]]
id = "acme"
api_base = "{base}"
login_base = "{base}"
topics = {acme}
[[tenants.clients]]
id = "demo-a"
secret = "secret-a"
[[tenants]]
id = "globex"
api_base = "{base}"
login_base = "{base}"
topics = {globex}
[[tenants.clients]]
id = "demo-b"
secret = "secret-b"
[[sinks]]
name = "events"
kind = "file"
path = "{events}"
[[routes]]
sinks = ["events"]
"#,
        store = dir.join("switchboard.db").display(),
        admin = args.admin,
        hash = hash_token(TOKEN)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        base = sim.base_url,
        acme = Value::Array(acme),
        globex = Value::Array(globex),
        events = events.display(),
    );
    let config = Config::from_toml_str(&text, &dir)
        .map_err(|e| anyhow::anyhow!("demo configuration:\n{e}"))?;
    let engine = tokio::task::spawn_blocking(move || crate::engine::start(config)).await??;
    let api = engine
        .admin_addr
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();

    // The CLI's default address is the demo's default: say --url only when it differs.
    let cli = if api == "http://127.0.0.1:8081" {
        format!("switchboard status --token {TOKEN}")
    } else {
        // Two lines, joined by the shell: the screen stays within 80 columns.
        format!("switchboard status --token {TOKEN} \\\n               --url {api}")
    };
    let started = Instant::now();
    let mut next_fault = Instant::now() + FAULT_EVERY;
    let mut fault_index = 0;
    let mut last_fault = String::from("none yet");
    let mut sink_file = SinkFile::new(events.clone());
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if args
            .seconds
            .is_some_and(|s| started.elapsed() >= Duration::from_secs(s))
        {
            break;
        }
        if Instant::now() >= next_fault {
            let (name, body) = FAULTS[fault_index % FAULTS.len()];
            fault_index += 1;
            next_fault = Instant::now() + FAULT_EVERY;
            let body: Value = serde_json::from_str(body)?;
            let _ = http
                .post(format!("{}/sim/v1/faults", sim.base_url))
                .json(&body)
                .send()
                .await;
            last_fault = format!("{name} at {}s", started.elapsed().as_secs());
        }
        let status = engine.status().await?;
        let status = serde_json::to_value(&status)?;
        sink_file.read_new();
        let now = chrono::Utc::now();
        let mut screen = String::from("\x1b[2J\x1b[H");
        let _ = write!(
            screen,
            "switchboard demo — {}s; Ctrl-C stops\n\n\
             {}\n\n\
             records in the sink: {} ({} gaps)   last fault: {last_fault}\n\
             {}\n\
             where to look (token: {TOKEN}):\n  \
             console    {api}/console\n  \
             admin API  {api}/v1/status\n  \
             metrics    {api}/metrics\n  \
             CLI        {cli}\n  \
             sink file  {}\n  \
             simulator  {}/sim/v1/stats\n",
            started.elapsed().as_secs(),
            crate::cli::status_table_fit(&status, now, WIDTH),
            sink_file.records,
            sink_file.gaps.total(),
            sink_file.gaps.render(now, WIDTH),
            events.display(),
            sim.base_url,
        );
        // The reader is gone (`switchboard demo | head`): stop as Ctrl-C would, rather than panic in
        // `println!`.
        if show(&screen).is_err() {
            break;
        }
    }
    let _ = show("\nstopping…\n");
    tokio::task::spawn_blocking(move || {
        engine.stop();
        sim.stop();
    })
    .await?;
    let _ = show(&format!(
        "stopped; the sink file and the store stay in\n  {}\n",
        dir.display()
    ));
    Ok(())
}

/// Writes `text` to standard output at once; an error when nobody reads it any more.
fn show(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
