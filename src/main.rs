//! The `switchboard` command line.

// Counting allocations costs an increment on a counter of the calling thread's own: `switchboard bench` reports
// heap allocations per event from every build.
#[global_allocator]
static ALLOCATOR: switchboard::bench::alloc::CountingAllocator =
    switchboard::bench::alloc::CountingAllocator;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use switchboard::sim::{
    self, ClientSpec, SimConfig, config::CombinedCounting, config::UnknownChannelSocket,
};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Keeps Genesys Cloud notification channels open and delivers every event"
)]
struct Cli {
    /// How log lines on standard error look: `text` (coloured only on a terminal) or `json` (one object per
    /// line, for log shippers).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "SWITCHBOARD_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: switchboard::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one command: a simulator, the engine with two tenants, a file sink, the admin API,
    /// faults now and then, and a live status table.
    Demo(switchboard::demo::DemoArgs),
    /// Run the Genesys Cloud simulator (OAuth, notifications API, sockets, workload, faults, ledger).
    Sim(Box<SimArgs>),
    /// Run the engine: keep the configured tenants' channels open and deliver their events.
    Serve {
        /// The TOML configuration.
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: PathBuf,
        /// The store: a SQLite file path or a postgres:// URL (overrides [store] and SWITCHBOARD_STORE).
        #[arg(long)]
        store: Option<String>,
    },
    /// Manage tenants (through the admin API).
    Tenants {
        #[command(flatten)]
        client: switchboard::cli::ClientArgs,
        #[command(subcommand)]
        command: switchboard::cli::TenantsCommand,
    },
    /// Manage a tenant's topics (through the admin API).
    Topics {
        #[command(flatten)]
        client: switchboard::cli::ClientArgs,
        #[command(subcommand)]
        command: switchboard::cli::TopicsCommand,
    },
    /// Manage sinks and routes (through the admin API).
    Sinks {
        #[command(flatten)]
        client: switchboard::cli::ClientArgs,
        #[command(subcommand)]
        command: switchboard::cli::SinksCommand,
    },
    /// Master keys that seal OAuth secrets in the store.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Validate a configuration file and report every error with its field path.
    Check {
        /// The TOML configuration.
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: PathBuf,
    },
    /// A table of tenants and channels with their health (through the admin API).
    Status {
        #[command(flatten)]
        client: switchboard::cli::ClientArgs,
        /// Refresh every this many seconds.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
    },
    /// Gap records: what could not be delivered (through the admin API).
    Gaps {
        #[command(flatten)]
        client: switchboard::cli::ClientArgs,
        /// Only this tenant's gaps.
        #[arg(long)]
        tenant: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// The audit log: who changed what, and when (through the admin API).
    Audit {
        #[command(flatten)]
        client: switchboard::cli::ClientArgs,
        #[command(flatten)]
        args: switchboard::cli::AuditArgs,
    },
    /// Records a sink's destination refused for good: list them, send them again (through the admin API).
    DeadLetters {
        #[command(flatten)]
        client: switchboard::cli::ClientArgs,
        #[command(subcommand)]
        command: switchboard::cli::DeadLettersCommand,
    },
    /// Print a tenant's records as they are delivered (through the admin API).
    Tail {
        #[command(flatten)]
        client: switchboard::cli::ClientArgs,
        /// The tenant's id.
        tenant: String,
        /// Only this topic family, e.g. 'v2.users.{id}.presence' (a trailing * matches a prefix).
        #[arg(long)]
        family: Option<String>,
        /// First the records since then: a duration ago ('10m') or an RFC 3339 time (needs a log sink).
        #[arg(long, conflicts_with = "after")]
        since: Option<String>,
        /// First the records after this record id (the SSE id; needs a log sink).
        #[arg(long)]
        after: Option<u64>,
        /// The log sink to read, when several receive the tenant's records.
        #[arg(long)]
        log: Option<String>,
    },
    /// Measure performance and print a table (no subcommand: the standard set, as `bench all`).
    Bench(Box<BenchArgs>),
}

impl Command {
    /// Whether the command only prints what it reads (the admin API's clients, `check`, `keys generate`):
    /// those end quietly on a closed pipe.
    fn prints_for_a_pipe(&self) -> bool {
        !matches!(
            self,
            Command::Demo(_) | Command::Sim(_) | Command::Serve { .. } | Command::Bench(_)
        )
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new random master key (base64 of 32 bytes) for SWITCHBOARD_MASTER_KEY or a key file.
    Generate,
    /// Re-seal every stored secret with a new key (run with the service stopped, or before switching it over).
    Rotate {
        /// The store: a SQLite file path or a postgres:// URL.
        #[arg(long, env = "SWITCHBOARD_STORE")]
        store: String,
        /// File holding the key in use now.
        #[arg(long)]
        old_key_file: PathBuf,
        /// File holding the new key.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    all: switchboard::bench::all::AllBenchArgs,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Throughput, scale, latency and detection in one table (what `bench` alone runs).
    All(switchboard::bench::all::AllBenchArgs),
    /// The simulator: sockets held and events sent per second.
    Sim(switchboard::bench::sim::SimBenchArgs),
    /// Each sink: records per second it takes (file, NATS JetStream, Kafka, webhook).
    Sinks(switchboard::bench::sinks::SinksBenchArgs),
    /// The engine: events per CPU-second socket to file sink, memory per idle channel.
    Engine(switchboard::bench::engine::EngineBenchArgs),
    /// One scale measurement in a fresh process (run by `bench` and `bench engine`).
    #[command(hide = true)]
    IdleProbe(switchboard::bench::scale::IdleProbeArgs),
}

/// Flags override the TOML file given with --config.
#[derive(Args)]
struct SimArgs {
    /// TOML file with simulator settings.
    #[arg(long, env = "SWITCHBOARD_SIM_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// An OAuth client ID:SECRET (repeatable).
    #[arg(long = "client", value_name = "ID:SECRET", value_parser = ClientSpec::parse_cli)]
    clients: Vec<ClientSpec>,
    /// Serve https/wss with a self-signed certificate.
    #[arg(long)]
    tls: bool,
    /// Where to write the certificate when --tls is on.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// How often each socket gets a `heartbeat` frame (default 30s).
    #[arg(long, value_parser = humantime::parse_duration)]
    heartbeat_interval: Option<Duration>,
    /// How long a channel lives before it expires (default 24h).
    #[arg(long, value_parser = humantime::parse_duration)]
    channel_ttl: Option<Duration>,
    /// How far a subscription call pushes a channel's expiry out.
    #[arg(long, value_parser = humantime::parse_duration)]
    subscription_extension: Option<Duration>,
    /// Time between a `socket_closing` frame and the close.
    #[arg(long, value_parser = humantime::parse_duration)]
    socket_closing_grace: Option<Duration>,
    /// Lifetime of the OAuth tokens it issues (default 24h).
    #[arg(long, value_parser = humantime::parse_duration)]
    token_ttl: Option<Duration>,
    /// Topics one channel may hold (default 1000).
    #[arg(long)]
    max_topics_per_channel: Option<usize>,
    /// Channels one OAuth client may hold (default 20).
    #[arg(long)]
    max_channels_per_client: Option<usize>,
    /// How a combined topic (`v2.users.X?presence&routingStatus`) counts against the topic limit.
    #[arg(long, value_enum)]
    combined_topic_counting: Option<CombinedCounting>,
    /// REST requests allowed per token per rate window (default 300 per 60 s).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// The window --rate-limit counts in (default 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    rate_limit_window: Option<Duration>,
    /// What a socket to an unknown or expired channel gets.
    #[arg(long, value_enum)]
    unknown_channel_socket: Option<UnknownChannelSocket>,
    /// Add a `timestamp` field to event frames.
    #[arg(long)]
    event_timestamp: bool,
    /// Whether a channel dies when its token expires (unknown on the platform; default true).
    #[arg(long, value_name = "BOOL")]
    channels_die_with_token: Option<bool>,
    /// Events per second the org produces.
    #[arg(long)]
    rate: Option<f64>,
    /// Users in the org.
    #[arg(long)]
    users: Option<usize>,
    /// Queues in the org.
    #[arg(long)]
    queues: Option<usize>,
    /// Events the ledger keeps (the oldest are dropped past it).
    #[arg(long)]
    ledger_capacity: Option<usize>,
    /// Runtime worker threads.
    #[arg(long)]
    workers: Option<usize>,
}

impl SimArgs {
    fn into_config(self) -> anyhow::Result<SimConfig> {
        let mut c = match &self.config {
            Some(path) => SimConfig::from_toml_file(path)?,
            None => SimConfig::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        c.clients.extend(self.clients);
        c.tls |= self.tls;
        c.event_timestamp |= self.event_timestamp;
        if self.tls_cert.is_some() {
            c.tls_cert_path = self.tls_cert;
        }
        macro_rules! set {
            ($($flag:ident => $field:expr),* $(,)?) => { $( if let Some(v) = self.$flag { $field = v; } )* };
        }
        set!(
            heartbeat_interval => c.heartbeat_interval,
            channel_ttl => c.channel_ttl,
            subscription_extension => c.subscription_extension,
            socket_closing_grace => c.socket_closing_grace,
            token_ttl => c.default_token_ttl,
            max_topics_per_channel => c.max_topics_per_channel,
            max_channels_per_client => c.max_channels_per_client,
            combined_topic_counting => c.combined_topic_counting,
            rate_limit => c.rate_limit_per_window,
            rate_limit_window => c.rate_limit_window,
            unknown_channel_socket => c.unknown_channel_socket,
            channels_die_with_token => c.channels_die_with_token,
            rate => c.workload.rate_per_second,
            users => c.workload.users,
            queues => c.workload.queues,
            ledger_capacity => c.ledger_capacity,
            workers => c.workers,
        );
        c.validate()
            .map_err(|e| anyhow::anyhow!("invalid simulator settings: {e}"))?;
        Ok(c)
    }
}

/// Errors end the process with one message (its causes joined by ": ") and status 1; never a backtrace,
/// which is for bugs, not for a taken port or a refused token.
fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    // One TLS provider for the whole process: the dependency tree could otherwise offer two and panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    switchboard::logging::init(cli.log_format);
    if cli.command.prints_for_a_pipe() {
        // `switchboard tail acme | head`: when the reader goes away, end quietly as Unix tools do, rather
        // than panic on the broken pipe. Only the API clients: the servers keep ignoring SIGPIPE, so a
        // peer that resets a connection never kills them.
        // SAFETY: called before any thread is started; SIG_DFL is a valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Sim(args) => run_sim(args.into_config()?),
        Command::Serve { config, store } => serve(&config, store),
        Command::Demo(args) => {
            tokio::runtime::Runtime::new()?.block_on(switchboard::demo::run(args))
        }
        Command::Tenants { client, command } => {
            tokio::runtime::Runtime::new()?.block_on(switchboard::cli::tenants(&client, command))
        }
        Command::Topics { client, command } => {
            tokio::runtime::Runtime::new()?.block_on(switchboard::cli::topics(&client, command))
        }
        Command::Sinks { client, command } => tokio::runtime::Runtime::new()?
            .block_on(switchboard::cli::sinks_command(&client, command)),
        Command::Keys(KeysCommand::Generate) => {
            println!(
                "{}",
                switchboard::secrets::MasterKey::generate().to_base64()
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate {
            store,
            old_key_file,
            new_key_file,
        }) => tokio::runtime::Runtime::new()?.block_on(rotate_keys(
            &store,
            &old_key_file,
            &new_key_file,
        )),
        Command::Check { config } => match switchboard::config::check(&config) {
            Ok(summary) => {
                println!("{summary}");
                Ok(())
            }
            Err(errors) => {
                eprintln!("{}: {} error(s)", config.display(), errors.errors.len());
                for e in &errors.errors {
                    eprintln!(
                        "  {}: {}",
                        if e.path.is_empty() { "(file)" } else { &e.path },
                        e.message
                    );
                }
                std::process::exit(2);
            }
        },
        Command::Status { client, watch } => {
            tokio::runtime::Runtime::new()?.block_on(switchboard::cli::status(&client, watch))
        }
        Command::Gaps {
            client,
            tenant,
            limit,
        } => tokio::runtime::Runtime::new()?.block_on(switchboard::cli::gaps(
            &client,
            tenant.as_deref(),
            limit,
        )),
        Command::Tail {
            client,
            tenant,
            family,
            since,
            after,
            log,
        } => tokio::runtime::Runtime::new()?.block_on(switchboard::cli::tail(
            &client,
            &tenant,
            family.as_deref(),
            &switchboard::cli::TailFrom { after, since, log },
        )),
        Command::Audit { client, args } => {
            tokio::runtime::Runtime::new()?.block_on(switchboard::cli::audit(&client, &args))
        }
        Command::DeadLetters { client, command } => tokio::runtime::Runtime::new()?
            .block_on(switchboard::cli::dead_letters(&client, command)),
        Command::Bench(bench) => {
            let runtime = tokio::runtime::Runtime::new()?;
            match bench.command.unwrap_or(BenchCommand::All(bench.all)) {
                BenchCommand::All(args) => runtime.block_on(switchboard::bench::all::run(args)),
                BenchCommand::Sinks(args) => runtime.block_on(switchboard::bench::sinks::run(args)),
                BenchCommand::Engine(args) => {
                    runtime.block_on(switchboard::bench::engine::run(args))
                }
                BenchCommand::Sim(args) => runtime.block_on(switchboard::bench::sim::run(args)),
                BenchCommand::IdleProbe(args) => {
                    runtime.block_on(switchboard::bench::scale::probe(args))
                }
            }
        }
    }
}

async fn rotate_keys(
    store: &str,
    old: &std::path::Path,
    new: &std::path::Path,
) -> anyhow::Result<()> {
    let read = |p: &std::path::Path| -> anyhow::Result<switchboard::secrets::MasterKey> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("while reading {}", p.display()))?;
        switchboard::secrets::MasterKey::from_base64(text.trim())
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    };
    let (old, new) = (read(old)?, read(new)?);
    let store = switchboard::store::open(store)
        .await
        .context("while opening the store")?;
    let mut n = switchboard::store::rotate_master_key(store.as_ref(), &old, &new)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    n += reseal_webhook_secrets(store.as_ref(), &old, &new).await?;
    switchboard::tenants::audit(
        store.as_ref(),
        "cli",
        "keys.rotate",
        "keys",
        serde_json::json!({"resealed": n, "key": new.id()}),
    )
    .await;
    println!("{n} secret(s) re-sealed with key {}", new.id());
    Ok(())
}

/// Webhook sinks (their signing secret) and Kafka sinks (their secret properties) keep a secret sealed in
/// their settings: re-seal those with the new key too.
async fn reseal_webhook_secrets(
    store: &dyn switchboard::store::Store,
    old: &switchboard::secrets::MasterKey,
    new: &switchboard::secrets::MasterKey,
) -> anyhow::Result<usize> {
    use switchboard::secrets::Sealed;
    let mut n = 0;
    for mut sink in store.sinks().await.context("while reading the sinks")? {
        let Some(text) = sink
            .settings
            .get("secret")
            .and_then(|v| v.as_str())
            .map(str::to_string)
        else {
            continue;
        };
        let sealed =
            Sealed::from_text(&text).map_err(|e| anyhow::anyhow!("sink {}: {e}", sink.name))?;
        if sealed.key_id == new.id() {
            continue;
        }
        let aad = switchboard::registry::sink_aad(&sink.name);
        let secret = old
            .open(&sealed, &aad)
            .map_err(|e| anyhow::anyhow!("sink {}: {e}", sink.name))?;
        sink.settings["secret"] = serde_json::Value::String(new.seal(&secret, &aad).to_text());
        store
            .upsert_sink(&sink)
            .await
            .context("while storing a re-sealed sink secret")?;
        n += 1;
    }
    Ok(n)
}

fn serve(path: &std::path::Path, store: Option<String>) -> anyhow::Result<()> {
    let mut config = switchboard::config::Config::load(path)
        .map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))?;
    if let Some(s) = store {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            config.store.url = Some(s);
        } else {
            config.store.url = None;
            config.store.path = PathBuf::from(s);
        }
    }
    let engine = switchboard::engine::start(config)?;
    note("switchboard serving; Ctrl-C stops");
    wait_for_signal()?;
    note("switchboard stopping");
    engine.stop();
    Ok(())
}

/// A line for the person at the terminal. Unlike `eprintln!`, it does not panic when standard error is a
/// closed pipe: a long-running command must still stop cleanly after its log reader went away.
fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn wait_for_signal() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })
}

fn run_sim(config: SimConfig) -> anyhow::Result<()> {
    let handle = sim::spawn(config).context("while starting the simulator")?;
    if let Some(cert) = &handle.cert_path {
        eprintln!("sim certificate written to {}", cert.display());
    }
    println!("sim listening on {}", handle.base_url);
    wait_for_signal()?;
    note("sim stopping");
    handle.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(args: &[&str]) -> Option<BenchCommand> {
        let cli = Cli::try_parse_from(["switchboard", "bench"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Bench(b) => b.command,
            _ => panic!("not the bench command"),
        }
    }

    /// Every subcommand and every flag says what it is for in `--help`.
    #[test]
    fn every_subcommand_and_flag_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && !sub.is_hide_set() && sub.get_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "switchboard", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn bench_alone_is_the_standard_set_and_the_subcommands_still_parse() {
        assert!(bench(&[]).is_none());
        assert!(bench(&["--quick"]).is_none());
        assert!(matches!(bench(&["all", "--quick"]), Some(BenchCommand::All(a)) if a.quick));
        assert!(
            matches!(bench(&["engine", "--channels", "10,20"]), Some(BenchCommand::Engine(e)) if e.channels == [10, 20])
        );
        assert!(matches!(bench(&["sinks"]), Some(BenchCommand::Sinks(_))));
        assert!(matches!(bench(&["sim"]), Some(BenchCommand::Sim(_))));
        assert!(Cli::try_parse_from(["switchboard", "bench", "--quick", "engine"]).is_err());
    }
}
